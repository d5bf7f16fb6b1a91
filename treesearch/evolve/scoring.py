r"""Scoring programs by a number: the evaluators of solution evolution.

An evaluator runs a candidate program *in the sandbox* — never in this process — and turns what
came back into a score, higher is better. It has evaluation ``stages`` (see
:mod:`treesearch.archive`) and a ``goal`` sentence telling a model what the score rewards.

:class:`BenchmarkEvaluator` scores speed: a program that fails a visible test or a benchmark test
scores 0; a correct one scores :math:`1 / t`, runs per second, with :math:`t` the time the sandbox's
harness measured for the benchmark tests (its own timer, taken before the candidate loads, so a
program cannot doctor it). Stage "check" runs the visible tests and the benchmark once; stage
"benchmark", reached only by correct programs, runs the benchmark ``repeats`` more times and keeps
the fastest run, as ``timeit`` does — the least disturbed by whatever else the machine was doing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from treesearch.archive import Stage, StageResult
from treesearch.problems import CodeProblem, TestCase
from treesearch.sandbox import ExecutionResult, Limits

# A stage threshold that every positive score reaches and 0 does not.
ANY_POSITIVE = 1e-12


class ProgramEvaluator(Protocol):
    stages: Sequence[Stage]
    goal: str

    async def evaluate(self, code: str, stage: int, sandbox: Any) -> StageResult:
        """Score ``code`` at ``stage`` by running it in ``sandbox``."""
        ...


@dataclass
class BenchmarkEvaluator:
    """Runs per second of a correct program on ``benchmark`` (see the module docstring).
    ``timeout_s`` is the hard wall-clock limit on one stage; ``limits`` those of each sandbox run."""

    problem: CodeProblem
    benchmark: list[TestCase]
    repeats: int = 3
    limits: Limits | None = None
    timeout_s: float = 120.0
    goal: str = ("the score is the number of runs per second on benchmark inputs, and 0 for a program that "
                 "fails any test: make the program faster while keeping it correct")

    def __post_init__(self) -> None:
        if not self.benchmark:
            raise ValueError("a benchmark evaluator needs at least one benchmark test")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (Stage("check", ANY_POSITIVE, self.timeout_s), Stage("benchmark", None, self.timeout_s))

    async def evaluate(self, code: str, stage: int, sandbox: Any) -> StageResult:
        p = self.problem
        if stage == 0:
            visible = await sandbox.run(code, p.kind, p.visible_tests, p.entry_point, self.limits, prelude=p.prelude)
            if not visible.all_passed:
                return StageResult(0.0, {"visible": f"{visible.passed}/{visible.total}", "status": visible.status})
            runs = 1
        else:
            runs = self.repeats
        times = []
        for _ in range(runs):
            result = await sandbox.run(code, p.kind, self.benchmark, p.entry_point, self.limits, prelude=p.prelude)
            if not result.all_passed:
                return StageResult(0.0, {"benchmark": f"{result.passed}/{result.total}", "status": result.status})
            times.append(benchmark_time(result))
        best = min(times)
        return StageResult(1.0 / best, {"benchmark_s": round(best, 6), "runs_s": [round(t, 6) for t in times]})


def benchmark_time(result: ExecutionResult) -> float:
    """Seconds the benchmark tests took inside the sandbox (never 0: a timer tick at least)."""
    return max(sum(o.time_s for o in result.outcomes), 1e-6)


@dataclass
class FunctionEvaluator:
    """A plain ``async (code, sandbox) -> float`` evaluator as one stage under ``timeout_s``."""

    function: Callable[[str, Any], Awaitable[float]]
    timeout_s: float = 120.0
    goal: str = "make the program score higher while keeping it correct"

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (Stage("score", None, self.timeout_s),)

    async def evaluate(self, code: str, stage: int, sandbox: Any) -> StageResult:
        return StageResult(float(await self.function(code, sandbox)))
