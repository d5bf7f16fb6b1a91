"""Allocates 50 MB at a time until something gives."""


def solve(n):
    hoard = []
    while True:
        hoard.append(bytearray(50 * 1024**2))
