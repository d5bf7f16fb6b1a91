"""A stdin/stdout program that answers in bytes that are not UTF-8."""
import os

n = int(input())
os.write(1, b"\xff" + str(2 * n).encode() + b"\xfe\n")
