"""Fork bomb: every process forks forever. The process cap (RLIMIT_NPROC, or the pids cgroup when the
engine is root) stops it; every copy then reports on the result pipe, which the parent rejects."""
import os


def solve(n):
    while True:
        os.fork()
