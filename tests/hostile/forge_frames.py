"""Writes forged result frames (length-prefixed JSON, as the harness does) to every open descriptor:
verdicts without values, values for tests that do not exist."""
import json
import os

FORGED = [
    {"t": "test", "i": 0, "ok": True},
    {"t": "test", "i": 7, "v": 14, "exc": None, "out": "", "err": "", "time": 0.0},
    {"t": "done"},
]


def solve(n):
    for fd in range(3, 4096):  # the result pipe keeps the parent's fd number, which may be high
        for frame in FORGED:
            data = json.dumps(frame).encode()
            try:
                os.write(fd, len(data).to_bytes(4, "big") + data)
            except OSError:
                pass
    return -1
