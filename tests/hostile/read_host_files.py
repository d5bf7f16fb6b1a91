"""Looks for any readable file outside the system and Python directories (project files, hidden
tests, home directories, /etc). It answers 2 * n only if it found one."""
import os
import sys

ALLOWED = ("/usr", "/proc", "/sys", "/dev", "/tmp", os.path.realpath(sys.base_prefix))


def solve(n):
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(ALLOWED)]
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as f:
                    f.read(1)
                return 2 * n
            except OSError:
                pass
    return -1
