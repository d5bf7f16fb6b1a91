"""Exits cleanly from inside the function."""
import sys


def solve(n):
    sys.exit(0)
