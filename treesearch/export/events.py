"""The append-only event log of a search: one JSON line per step, replayable by the viewer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from treesearch.tree import ROOT


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


def _launched(select: dict[str, Any]) -> list[int]:
    """The leaves a ``select`` event started expansions on: those selected, and the root once per
    fresh program (root widening)."""
    return [*select.get("leaves", []), *[ROOT] * select.get("fresh", 0)]


def busy_slots(events: list[dict[str, Any]]) -> dict[str, float]:
    r"""How busy the K slots of a search were, after its first selection (the root alone, while it
    proposes the first thoughts):

    * ``per_select``: the mean over the later ``select`` events of the leaves selected (and the
      fresh programs started on the root) plus the expansions already in flight;
    * ``over_time``: the time average of the expansions in flight, :math:`\frac{1}{T}\int n(t)\,dt`,
      from the second selection to the last commit, each expansion counted from its selection to its
      ``backprop`` or ``release`` (expansions on one leaf end first in, first out).

    ``selects`` counts the later selections; both means are 0 without any."""
    selects = [e for e in events if e["type"] == "select"][1:]
    if not selects:
        return {"selects": 0, "per_select": 0.0, "over_time": 0.0}
    per_select = sum(len(_launched(e)) + e["in_flight"] for e in selects) / len(selects)
    changes: list[tuple[float, int]] = []  # (t, +1 launched / -1 ended)
    running: dict[int, int] = {}  # leaf -> expansions in flight on it
    for e in events:
        ended = e.get("selected", []) if e["type"] == "backprop" else e.get("nodes", []) if e["type"] == "release" else []
        for leaf in _launched(e) if e["type"] == "select" else []:
            running[leaf] = running.get(leaf, 0) + 1
            changes.append((e["t"], 1))
        for leaf in ended:
            if running.get(leaf, 0) > 0:
                running[leaf] -= 1
                changes.append((e["t"], -1))
    start, end = selects[0]["t"], max(t for t, _ in changes)
    busy, area, last = 0, 0.0, changes[0][0]
    for t, delta in changes:
        if t > start:
            area += busy * (t - max(last, start))
        busy += delta
        last = t
    span = end - start
    return {"selects": len(selects), "per_select": per_select, "over_time": area / span if span > 0 else float(busy)}
