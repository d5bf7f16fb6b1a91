"""Leaves processes behind: a child in a new session, a subprocess that replaced its command line,
and a thread; then answers wrongly."""
import os
import subprocess
import sys
import threading
import time


def solve(n):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(1000)
        os._exit(0)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)", "treesearch-hostile-leftover"])
    threading.Thread(target=time.sleep, args=(1000,)).start()
    return -1
