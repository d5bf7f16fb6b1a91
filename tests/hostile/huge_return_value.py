"""Returns a list of ten million items."""


def solve(n):
    return [0] * 10**7
