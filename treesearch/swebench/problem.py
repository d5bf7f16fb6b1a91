"""SWE-bench instances: :class:`RepoProblem` and the loader for instance files (JSON or JSON lines).

An instance is a GitHub issue against a repository at a commit, in the SWE-bench format::

    {"instance_id": "owner__name-123", "repo": "owner/name", "base_commit": "<sha>",
     "problem_statement": "...", "hints_text": "...", "patch": "<gold diff>", "test_patch": "<diff>",
     "FAIL_TO_PASS": "[\\"tests/test_x.py::test_a\\"]", "PASS_TO_PASS": "[...]",
     "version": "1.0", "environment_setup_commit": "<sha>", "created_at": "..."}

``FAIL_TO_PASS`` / ``PASS_TO_PASS`` are JSON strings holding lists (as in the published datasets;
real lists are accepted too). Fields other than these are ignored: the datasets' variants add their
own (``difficulty``, ``created_at``...).

The gold ``patch`` and the ``test_patch`` (and the two test lists) never reach the search: it works
on :meth:`RepoProblem.search_view`. Only the simulated coder is given the gold patch, as the reference
solution it mutates, and only ``--local-eval`` reads the tests, after the search.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treesearch.swebench.records import read_records

REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement")
TEXT_FIELDS = ("hints_text", "patch", "test_patch", "version", "environment_setup_commit")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


class InstanceError(ValueError):
    """An instance file or an instance is malformed; the message names the field."""


@dataclass(frozen=True)
class RepoProblem:
    """One SWE-bench instance."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    hints_text: str = ""
    patch: str = ""
    test_patch: str = ""
    fail_to_pass: tuple[str, ...] = ()
    pass_to_pass: tuple[str, ...] = ()
    version: str = ""
    environment_setup_commit: str = ""

    @property
    def id(self) -> str:
        return self.instance_id

    @property
    def prompt(self) -> str:
        """The task as a coder is given it: the issue (and the hints, when there are any)."""
        hints = f"\n\nHints:\n{self.hints_text.strip()}" if self.hints_text.strip() else ""
        return self.problem_statement.strip() + hints

    def search_view(self) -> RepoProblem:
        """This instance without what the search must not see: the gold patch and the tests."""
        return dataclasses.replace(self, patch="", test_patch="", fail_to_pass=(), pass_to_pass=())

    @classmethod
    def from_dict(cls, data: Any) -> RepoProblem:
        """An instance from its SWE-bench dict; :class:`InstanceError` names a missing or ill-typed field."""
        if not isinstance(data, dict):
            raise InstanceError(f"an instance must be a JSON object, got {type(data).__name__}")
        name = data.get("instance_id") if isinstance(data.get("instance_id"), str) else "an instance"
        for field in REQUIRED:
            if field not in data:
                raise InstanceError(f"{name}: missing required field {field!r}")
            if not isinstance(data[field], str) or not data[field].strip():
                raise InstanceError(f"{name}: field {field!r} must be a non-empty string")
        for field in TEXT_FIELDS:
            if data.get(field) is not None and not isinstance(data[field], str):
                raise InstanceError(f"{name}: field {field!r} must be a string")
        if not _REPO.match(data["repo"]):
            raise InstanceError(f"{name}: field 'repo' must be 'owner/name', got {data['repo']!r}")
        if not _SHA.match(data["base_commit"]):
            raise InstanceError(f"{name}: field 'base_commit' must be a commit hash, got {data['base_commit']!r}")
        return cls(
            instance_id=data["instance_id"], repo=data["repo"], base_commit=data["base_commit"].lower(),
            problem_statement=data["problem_statement"],
            **{field: data.get(field) or "" for field in TEXT_FIELDS},
            fail_to_pass=_test_list(data, "FAIL_TO_PASS", name), pass_to_pass=_test_list(data, "PASS_TO_PASS", name),
        )


def issue_section(problem: RepoProblem) -> str:
    """The task as every repository prompt starts with it."""
    return f"## Repository\n{problem.repo} at commit {problem.base_commit[:12]}\n\n## Issue\n{problem.prompt}\n"


def _test_list(data: dict[str, Any], field: str, name: str) -> tuple[str, ...]:
    raw = data.get(field)
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InstanceError(f"{name}: field {field!r} must be a JSON list of test names: {e.msg}") from e
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise InstanceError(f"{name}: field {field!r} must be a list of test names (strings)")
    return tuple(raw)


def load_instances(path: str | Path) -> list[RepoProblem]:
    """Every instance in a ``.json`` file (a list of instances) or a ``.jsonl`` file (one per line).
    Errors name the file, the line or position, and the field; a duplicate instance id is an error."""
    path = Path(path)
    records = read_records(path, "instance file", InstanceError, lines=path.suffix == ".jsonl", item="instance",
                           expected="a JSON list of instances (or a .jsonl file)")
    problems, seen = [], set()
    for where, record in records:
        try:
            problem = RepoProblem.from_dict(record)
        except InstanceError as e:
            raise InstanceError(f"{path}: {where}: {e}") from e
        if problem.instance_id in seen:
            raise InstanceError(f"{path}: {where}: instance id {problem.instance_id!r} appears twice")
        seen.add(problem.instance_id)
        problems.append(problem)
    return problems
