"""The value model protocol: a score in [0, 1] for a program, with its parts and an explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from treesearch.problems import CodeProblem


@dataclass
class Candidate:
    """The program being valued, with the thoughts it was written from and the policy's metadata."""

    code: str
    thoughts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    """``value`` in [0, 1]; ``components`` holds each part (``pass_fraction``, ``critique``, ...)."""

    value: float
    components: dict[str, float] = field(default_factory=dict)
    explanation: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"an evaluation's value must be in [0, 1], got {self.value}")


@runtime_checkable
class ValueModel(Protocol):
    async def evaluate(self, problem: CodeProblem, node: Candidate, feedback: Any) -> Evaluation:
        """Value ``node`` given its execution ``feedback`` (a sandbox ExecutionResult on the
        visible tests)."""
        ...
