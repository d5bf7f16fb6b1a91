"""A stdin/stdout program that sleeps (in C, interruptible only by being killed)."""
import time

time.sleep(1000)
