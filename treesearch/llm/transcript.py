"""The transcript: every call of a client appended to a JSON-lines file (``llm_calls.jsonl`` in the
run directory)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson


class Transcript:
    """An append-only JSON-lines file. Each record is one ``write`` to an ``O_APPEND`` descriptor,
    so lines from concurrent writers (threads or processes) never interleave."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict) -> None:
        line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
