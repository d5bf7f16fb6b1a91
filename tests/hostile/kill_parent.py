"""Kills its parent process, then answers wrongly."""
import os
import signal


def solve(n):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(os.getppid(), sig)
        except OSError:
            pass
    return -1
