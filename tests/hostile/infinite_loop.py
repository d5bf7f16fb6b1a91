"""A plain infinite loop in Python."""


def solve(n):
    while True:
        n += 1
