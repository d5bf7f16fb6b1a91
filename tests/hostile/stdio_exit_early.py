"""A stdin/stdout program that exits with status 0 before printing anything."""
import sys

sys.exit(0)
print(2 * int(input()))
