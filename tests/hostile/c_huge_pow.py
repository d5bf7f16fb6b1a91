"""A huge power: long multiplications in C."""


def solve(n):
    return pow(3, 10**9) % 7
