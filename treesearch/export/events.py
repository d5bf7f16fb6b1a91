"""The append-only event log of a search: one JSON line per step, replayable by the viewer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


class EventLog:
    """Writes each event as one complete line (``events.jsonl``) and keeps it in memory.

    Every event has ``seq`` (0, 1, ...), ``t`` (seconds since the log opened) and ``type``. A crash
    never leaves a half-written line that a reader would mistake for an event: each line is written
    with a single ``write`` call of bytes ending in a newline, and flushed.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._start = time.monotonic()
        self._file = open(path, "ab") if path is not None else None  # noqa: SIM115 - closed in close()

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": len(self.events), "t": round(time.monotonic() - self._start, 4), "type": type, **fields}
        self.events.append(event)
        if self._file is not None:
            self._file.write(event_line(event))
            self._file.flush()
        for listener in self.listeners:
            listener(event)
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def event_line(event: dict[str, Any]) -> bytes:
    """One event as a complete ``events.jsonl`` line."""
    return orjson.dumps(event, default=repr, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS) + b"\n"


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every complete event line of an ``events.jsonl`` file (a torn last line is ignored)."""
    events = []
    for line in Path(path).read_bytes().splitlines():
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return events
