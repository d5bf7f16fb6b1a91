"""A stdin/stdout program that kills the process that started it, then answers wrongly."""
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)
print(-1)
