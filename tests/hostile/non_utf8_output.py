"""Prints bytes that are not UTF-8 and strings with lone surrogates."""
import os
import sys


def solve(n):
    os.write(1, b"\xff\xfe\xfd\x80")
    print("\udcff\ud800")
    sys.stderr.write("\udc80")
    return b"\xff\xfe"
