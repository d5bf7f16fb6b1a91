"""Writes many 1 MB files (64 MB in all), then answers wrongly."""


def solve(n):
    written = 0
    for i in range(64):
        try:
            with open(f"fill-{n}-{i}.bin", "wb") as f:
                f.write(b"\0" * (1 << 20))
            written += 1
        except OSError:
            break
    return -written
