"""What a sandboxed run reports: one :class:`TestOutcome` per test and the :class:`ExecutionResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Per-test statuses. "failed": ran and gave a wrong answer; "error": raised an exception; "not_run":
# never started (the program did not load, or the run ended before it).
TEST_STATUSES = ("passed", "failed", "error", "timeout", "memory", "output_limit", "crashed", "not_run")
# Whole-run statuses. "ok": every test ran to completion (whether it passed or not); otherwise the
# first thing that went wrong: the program did not compile or load, or a limit or crash cut tests short.
RUN_STATUSES = ("ok", "syntax_error", "load_error", "timeout", "memory", "output_limit", "crashed")


@dataclass
class TestOutcome:
    """One test: what went in, what was expected and what came out, ready to show (all text is
    repr-safe and truncated). ``expected`` is None for general asserts, where the assert is the
    expectation (``input`` shows it). ``judge`` is "parent" when the parent compared the value the
    candidate computed, "sandbox" when a general assert decided inside the sandbox (see
    ``harness.py``). ``error`` says in words why the test did not run to completion."""

    __test__ = False  # not a pytest class

    input: str
    expected: str | None
    actual: str | None
    passed: bool
    status: str
    exception_type: str | None = None
    exception_message: str | None = None
    traceback: list[str] = field(default_factory=list)  # "line 5, in f: return xs[i]"
    stdout: str = ""
    stderr: str = ""
    time_s: float = 0.0
    judge: str = "parent"
    error: str | None = None
    trace: list[str] | None = None  # execution trace, for the first failing test when asked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OutcomeTally:
    """``passed`` and ``total`` over ``outcomes``, a list of results that each have a ``passed`` flag."""

    outcomes: list[Any]

    @property
    def passed(self) -> int:
        return sum(o.passed for o in self.outcomes)

    @property
    def total(self) -> int:
        return len(self.outcomes)


@dataclass
class ExecutionResult(OutcomeTally):
    """One candidate run on a list of tests. ``stdout``/``stderr`` hold what the program wrote outside
    the tests' captured output (at load, or straight to the file descriptors); ``launches`` counts
    the sandboxed processes used (more than one when a crash or a hang cut a process short and the
    remaining tests ran in a fresh one)."""

    backend: str
    status: str
    outcomes: list[TestOutcome]
    error: str | None = None
    wall_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    launches: int = 0

    @property
    def pass_fraction(self) -> float:
        return self.passed / self.total if self.outcomes else 0.0

    @property
    def all_passed(self) -> bool:
        return bool(self.outcomes) and self.passed == self.total

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "status": self.status, "error": self.error, "wall_s": self.wall_s,
            "passed": self.passed, "total": self.total, "stdout": self.stdout, "stderr": self.stderr,
            "launches": self.launches, "outcomes": [o.to_dict() for o in self.outcomes],
        }
