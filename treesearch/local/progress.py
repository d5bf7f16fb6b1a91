"""Plain progress lines on stderr for the long first-use steps (download, build, server start).

Lines, not a live bar: they show the same in a terminal, a CI log or a file, and never mix with the
search's own progress bar on stdout.
"""

from __future__ import annotations

import sys
import time

MB = 1_000_000


def say(message: str) -> None:
    print(f"treesearch: {message}", file=sys.stderr, flush=True)


class ProgressLine:
    """``update(done)`` prints ``label: 40% (196/491 MB)`` each time ``step`` more percent is done,
    and at least every ``every_s`` seconds while anything changes."""

    def __init__(self, label: str, total: float, unit: str = "MB", scale: float = MB, step: int = 10,
                 every_s: float = 15.0) -> None:
        self.label, self.total, self.unit, self.scale = label, max(total, 1), unit, scale
        self.step, self.every_s = step, every_s
        self._shown_pct = -step
        self._shown_at = time.monotonic()

    def update(self, done: float) -> None:
        pct = int(100 * min(done, self.total) / self.total)
        now = time.monotonic()
        if pct >= self._shown_pct + self.step or (now - self._shown_at >= self.every_s and pct > self._shown_pct):
            self._shown_pct, self._shown_at = pct, now
            if self.unit:
                say(f"{self.label}: {pct}% ({done / self.scale:.0f}/{self.total / self.scale:.0f} {self.unit})")
            else:
                say(f"{self.label}: {pct}%")
