"""Allocates 8 GB at once."""


def solve(n):
    return len(bytearray(8 * 1024**3))
