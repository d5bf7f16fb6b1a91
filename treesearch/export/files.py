"""Writing run files so that a kill never leaves a half-written one.

Every file of a run directory gets the mode a plain ``open(path, "w")`` would give it: 0666 less the
process's umask (0644 under the usual 022), whether written whole here or appended to
(``events.jsonl``, ``results.jsonl``...).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

import orjson


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then rename it over
    ``path``: readers see the old file or the new one, never a torn one. The temporary file is
    created as ``open`` creates files (mode 0666 less the umask), not private as ``tempfile``'s are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, value: Any) -> None:
    write_atomic(path, orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=repr) + b"\n")


def safe_name(text: str) -> str:
    """``text`` as one file-name component (problem ids hold slashes: ``HumanEval/0``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "unnamed"
