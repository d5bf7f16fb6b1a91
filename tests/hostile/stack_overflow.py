"""Lifts the recursion limit and recurses inside C (repr of a list nested 300 000 deep) until the
C stack overflows: a segfault."""
import sys

sys.setrecursionlimit(10**8)


def solve(n):
    value = []
    for _ in range(300_000):
        value = [value]
    return len(repr(value))
