"""ExecutionValue: the visible-test pass fraction, with partial credit for partly passing programs."""

from __future__ import annotations

from typing import Any

from treesearch.contracts import Candidate, Evaluation
from treesearch.problems import CodeProblem


class ExecutionValue:
    r"""Value :math:`= p / n` for :math:`p` of :math:`n` visible tests passed (0 when the program does
    not even load: a syntax error, a missing entry point)."""

    async def evaluate(self, problem: CodeProblem, node: Candidate, feedback: Any) -> Evaluation:
        fraction = float(feedback.pass_fraction) if feedback.total else 0.0
        return Evaluation(
            value=fraction,
            components={"pass_fraction": fraction},
            explanation=f"{feedback.passed}/{feedback.total} visible tests passed ({feedback.status})",
        )
