"""Judging a final program on the hidden tests: once, after the search, never during it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from treesearch.problems import CodeProblem
from treesearch.sandbox.limits import Limits


@dataclass
class Judgement:
    """``passed_base``: every hidden test passes (None when the problem has none); ``passed_plus``:
    every plus test passes (None when it has none)."""

    passed_base: bool | None
    passed_plus: bool | None
    base_feedback: Any = None
    plus_feedback: Any = None


async def judge(problem: CodeProblem, code: str | None, sandbox: Any, limits: Limits | None = None) -> Judgement:
    """Run ``code`` on the hidden tests, then on the plus tests: one sandbox run for each set, each
    under :func:`suite_limits` of ``limits`` (default :class:`Limits`)."""
    if code is None:
        return Judgement(False if problem.hidden_tests else None, False if problem.plus_tests else None)
    base = plus = None
    if problem.hidden_tests:
        base = await sandbox.run(code, problem.kind, problem.hidden_tests, problem.entry_point,
                                 limits=suite_limits(len(problem.hidden_tests), limits), prelude=problem.prelude)
    if problem.plus_tests:
        plus = await sandbox.run(code, problem.kind, problem.plus_tests, problem.entry_point,
                                 limits=suite_limits(len(problem.plus_tests), limits), prelude=problem.prelude)
    return Judgement(
        None if base is None else bool(base.all_passed),
        None if plus is None else bool(plus.all_passed),
        base, plus,
    )


def suite_limits(tests: int, limits: Limits | None = None) -> Limits:
    """``limits`` with the run's wall and CPU time raised to ``test_s`` per test.

    A hidden suite holds up to hundreds of tests, some heavy (HumanEval+ calls HumanEval/15's
    ``string_sequence`` 135 times with n near 10⁶), in one sandbox run. Under the 10 s a run of
    visible tests gets, a correct program's verdict would depend on how busy the machine is; each
    test keeps its own ``test_s``, so a program that hangs still fails."""
    limits = limits or Limits()
    total = limits.test_s * max(1, tests)
    return dataclasses.replace(limits, wall_s=max(limits.wall_s, total), cpu_s=max(limits.cpu_s, total))
