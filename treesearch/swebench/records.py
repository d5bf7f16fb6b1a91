"""Reading a file of JSON records: a JSON document holding a list, or JSON lines (one record a line).

Shared by the instance files (:func:`treesearch.swebench.problem.load_instances`) and the predictions
files (:func:`treesearch.swebench.evaluate.load_predictions`); each caller checks the records itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_records(path: Path, what: str, error_type: type[Exception], *, lines: bool, item: str, expected: str,
                 mapping: bool = False) -> list[tuple[str, Any]]:
    """The records of ``path`` as ``(where, record)`` pairs, ``where`` being ``"line N"`` (JSON lines,
    blank lines skipped) or ``"<item> #i"`` (a JSON document). ``what`` names the file in the message
    when it cannot be read; ``expected`` describes the list a JSON document must be; with ``mapping``
    a JSON object is taken as its values (``{id: record}``). Errors are ``error_type``, naming the file
    and the line or position."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise error_type(f"{path}: cannot read the {what}: {e.strerror or e}") from e
    if lines:
        records: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((f"line {number}", json.loads(line)))
                except json.JSONDecodeError as e:
                    raise error_type(f"{path}: line {number} is not valid JSON: {e.msg}") from e
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise error_type(f"{path}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    if mapping and isinstance(data, dict):
        data = list(data.values())
    if not isinstance(data, list):
        raise error_type(f"{path}: expected {expected}, got {type(data).__name__}")
    return [(f"{item} #{i}", record) for i, record in enumerate(data)]
