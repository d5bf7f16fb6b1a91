"""Prints about a gigabyte."""


def solve(n):
    for _ in range(1000):
        print("x" * 1_000_000)
    return -1
