"""Unbounded recursion."""


def solve(n):
    return solve(n + 1)
