"""Starts as many sleeping children as it can, then returns a wrong answer."""
import os
import time


def solve(n):
    for _ in range(10_000):
        try:
            if os.fork() == 0:
                time.sleep(1000)
                os._exit(0)
        except OSError:
            break
    return -1
