"""Writes garbage, and a length prefix of 4 GB, to every open descriptor."""
import os


def solve(n):
    for fd in range(3, 4096):  # the result pipe keeps the parent's fd number, which may be high
        try:
            os.write(fd, b"\xff\xff\xff\xff" + b"\x00garbage" * 100)
        except OSError:
            pass
    return -1
