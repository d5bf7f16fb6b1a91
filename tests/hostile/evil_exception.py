"""Raises an exception whose message never finishes rendering."""


class Endless(Exception):
    def __str__(self):
        while True:
            pass


def solve(n):
    raise Endless()
