"""Judging a final program on the hidden tests: once, after the search, never during it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from treesearch.problems import CodeProblem


@dataclass
class Judgement:
    """``passed_base``: every hidden test passes (None when the problem has none); ``passed_plus``:
    every plus test passes (None when it has none)."""

    passed_base: bool | None
    passed_plus: bool | None
    base_feedback: Any = None
    plus_feedback: Any = None


async def judge(problem: CodeProblem, code: str | None, sandbox: Any) -> Judgement:
    """Run ``code`` on the hidden tests, then on the plus tests: one sandbox run for each set."""
    if code is None:
        return Judgement(False if problem.hidden_tests else None, False if problem.plus_tests else None)
    base = plus = None
    if problem.hidden_tests:
        base = await sandbox.run(code, problem.kind, problem.hidden_tests, problem.entry_point, prelude=problem.prelude)
    if problem.plus_tests:
        plus = await sandbox.run(code, problem.kind, problem.plus_tests, problem.entry_point, prelude=problem.prelude)
    return Judgement(
        None if base is None else bool(base.all_passed),
        None if plus is None else bool(plus.all_passed),
        base, plus,
    )
