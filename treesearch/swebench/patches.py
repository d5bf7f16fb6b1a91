"""Unified diffs as ``git diff`` writes them: split into files and hunks, applied to text.

The repository search keeps each node's state as such a diff against the base commit; the simulated
coder reads the gold patch hunk by hunk; and no patch the search returns may touch a test file
(:func:`is_test_path`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# SWE-bench's notion of a test file: a directory named like one, or a file named like one.
TEST_DIRS = frozenset({"test", "tests", "testing", "e2e"})
_TEST_FILE = re.compile(r"^(test_.*\.py|.*_test\.py|tests?\.py|conftest\.py)$")


class PatchError(ValueError):
    """A diff that cannot be read or does not apply."""


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block: where it applies and its lines, each with its ``' '``, ``'-'`` or ``'+'`` mark
    (``'\\'`` lines, "No newline at end of file", are kept as they are)."""

    old_start: int
    new_start: int
    header: str  # the ``@@ ... @@`` line as written
    lines: tuple[str, ...]

    @property
    def old_lines(self) -> list[str]:
        return [line[1:] for line in self.lines if line[:1] in (" ", "-")]

    @property
    def new_lines(self) -> list[str]:
        return [line[1:] for line in self.lines if line[:1] in (" ", "+")]

    @property
    def text(self) -> str:
        return self.header + "\n" + "".join(line + "\n" for line in self.lines)


@dataclass(frozen=True)
class FilePatch:
    """The part of a diff about one file: its header lines and hunks. ``old_path``/``new_path`` are
    None for a created/deleted file."""

    header: tuple[str, ...]
    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.header) + "".join(h.text for h in self.hunks)


def parse_patch(text: str) -> list[FilePatch]:
    """The files of a ``git diff``-style unified diff, in order; :class:`PatchError` if it is not one."""
    files: list[FilePatch] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("diff --git "):
            if lines[i].strip():
                raise PatchError(f"line {i + 1}: expected 'diff --git', got {lines[i][:60]!r}")
            i += 1
            continue
        header = [lines[i]]
        i += 1
        while i < len(lines) and not lines[i].startswith(("@@", "diff --git ")):
            header.append(lines[i])
            i += 1
        hunks = []
        while i < len(lines) and lines[i].startswith("@@"):
            match = _HUNK.match(lines[i])
            if match is None:
                raise PatchError(f"line {i + 1}: malformed hunk header {lines[i][:60]!r}")
            body_start, old_left, new_left = i + 1, int(match.group(2) or 1), int(match.group(4) or 1)
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
                mark = lines[i][:1]
                if mark not in (" ", "-", "+", "\\", ""):
                    raise PatchError(f"line {i + 1}: unexpected line in a hunk: {lines[i][:60]!r}")
                old_left -= mark in (" ", "-", "")
                new_left -= mark in (" ", "+", "")
                i += 1
            body = tuple(line if line else " " for line in lines[body_start:i])  # a blank context line
            hunks.append(Hunk(int(match.group(1)), int(match.group(3)), lines[body_start - 1], body))
        files.append(FilePatch(tuple(header), *_paths(header), tuple(hunks)))
    return files


def _paths(header: list[str]) -> tuple[str | None, str | None]:
    old = new = None
    for line in header:
        if line.startswith("--- "):
            old = None if line[4:].strip() == "/dev/null" else _strip_prefix(line[4:], "a/")
        elif line.startswith("+++ "):
            new = None if line[4:].strip() == "/dev/null" else _strip_prefix(line[4:], "b/")
    if old is None and new is None:  # a mode change or binary file: the names are on the diff line
        parts = header[0].split(" ")
        old, new = _strip_prefix(parts[2], "a/"), _strip_prefix(parts[-1], "b/")
    return old, new


def _strip_prefix(name: str, prefix: str) -> str:
    name = name.strip().split("\t")[0]
    return name[len(prefix):] if name.startswith(prefix) else name


def is_test_path(path: str) -> bool:
    """Whether ``path`` is one of the repository's tests (which no returned patch may change)."""
    parts = PurePosixPath(path).parts
    return any(part in TEST_DIRS for part in parts[:-1]) or bool(parts and _TEST_FILE.match(parts[-1]))


def apply_hunks(text: str, hunks: list[Hunk] | tuple[Hunk, ...]) -> tuple[str, list[int]]:
    """``text`` with ``hunks`` (of one file, in order; a subset of a diff's hunks is fine) applied
    where they say, allowing for the lines earlier hunks added or removed; and the line numbers
    (1-based, in the result) of the lines they added. :class:`PatchError` when a hunk's old lines
    are not there."""
    lines = text.splitlines()
    added: list[int] = []
    offset = 0
    for hunk in hunks:
        old = hunk.old_lines
        start = hunk.old_start - 1 + offset if old else hunk.old_start + offset
        if lines[start:start + len(old)] != old:
            raise PatchError(f"hunk at line {hunk.old_start} does not apply")
        lines[start:start + len(old)] = hunk.new_lines
        position = start
        for line in hunk.lines:
            if line[:1] == "+":
                added.append(position + 1)
            if line[:1] in (" ", "+"):
                position += 1
        offset += len(hunk.new_lines) - len(old)
    result = "\n".join(lines) + ("\n" if lines and (text.endswith("\n") or not text) else "")
    return result, added
