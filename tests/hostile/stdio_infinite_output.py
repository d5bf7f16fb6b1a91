"""A stdin/stdout program that prints forever."""
while True:
    print("2" * 10_000)
