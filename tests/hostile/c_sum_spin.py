"""A loop inside C that never checks for signals, so the harness's timer cannot stop it."""


def solve(n):
    return sum(range(10**15))
