"""Writes about a gigabyte straight to file descriptors 1 and 2, past Python's sys.stdout."""
import os


def solve(n):
    block = b"x" * 65536
    for _ in range(16384):
        os.write(1, block)
        os.write(2, block)
    return -1
