"""From a program and its tests to an :class:`ExecutionResult`: plan the tests, run them in as few
sandboxed processes as possible, judge what comes back, and put words on everything that went wrong.

All tests of a candidate run in one process, in order. If that process dies or hangs in the middle
of a test (a segfault, ``os._exit``, a loop in C that ignores the harness's timer), that test fails
with the reason and the remaining tests run in a fresh process, within the run's wall-time limit.
If the program never gets as far as loading, no test runs: loading would fail again.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from typing import Any

from treesearch.problems import TestCase
from treesearch.pysource import compile_quietly
from treesearch.sandbox import process
from treesearch.sandbox.backends import Backend, BwrapBackend, SandboxError
from treesearch.sandbox.harness import INPUT_CHARS, TestPlan, plan_test
from treesearch.sandbox.limits import Limits
from treesearch.sandbox.result import ExecutionResult, TestOutcome
from treesearch.sandbox.values import (
    Opaque,
    ProtocolError,
    decode_value,
    excerpt,
    normalise_output,
    short_repr,
    values_equal,
)

EXCERPT_CHARS = 2000
TRACE_LINE_CHARS = 300
_MISSING = object()
# What an exception's type says about how the test ended ("TimeoutError" is the harness's per-test
# timer, "OutputLimitExceeded" its cap on printing).
EXCEPTION_STATUS = {"TimeoutError": "timeout", "MemoryError": "memory", "OutputLimitExceeded": "output_limit"}


def execute(
    backend: Backend, code: str, kind: str, tests: list[TestCase], entry_point: str | None,
    limits: Limits, trace_first_failure: bool, prelude: str = "",
) -> ExecutionResult:
    start = time.monotonic()
    try:
        plans = [plan_test(t, kind, entry_point) for t in tests]
    except (ValueError, SyntaxError) as e:
        raise SandboxError(f"malformed test: {e}") from e
    run = _Run(backend, code, kind, entry_point, plans, limits, start + limits.wall_s, prelude)
    problem = _syntax_error(code)
    if problem is not None:
        run.fail_before_tests("syntax_error", problem, "not run: the program does not compile")
    else:
        run.run_tests()
        if trace_first_failure:
            run.trace_first_failure()
    return run.result(time.monotonic() - start)


def _syntax_error(code: str) -> str | None:
    try:
        compile_quietly(code, ast_only=False)
    except SyntaxError as e:
        where = f"line {e.lineno}: " if e.lineno else ""
        text = f"\n    {e.text.strip()}" if e.text and e.text.strip() else ""
        return f"{type(e).__name__}: {where}{e.msg}{text}"
    except (ValueError, MemoryError, RecursionError) as e:  # null bytes; absurdly nested source
        return f"SyntaxError: {type(e).__name__}: {e}"
    return None


@dataclass
class _Exception:
    type: str
    message: str
    traceback: list[str]


class _Run:
    def __init__(self, backend: Backend, code: str, kind: str, entry_point: str | None,
                 plans: list[TestPlan], limits: Limits, deadline: float, prelude: str = "") -> None:
        self.backend = backend
        self.code = code
        self.prelude = prelude
        self.kind = kind
        self.entry_point = entry_point
        self.plans = plans
        self.limits = limits
        self.deadline = deadline
        self.outcomes: list[TestOutcome | None] = [None] * len(plans)
        self.status: str | None = None  # set when the program failed before any test
        self.error: str | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.launches = 0

    # -- running ----------------------------------------------------------------------------------

    def _launch(self, plans: list[TestPlan], trace: bool, deadline: float) -> process.Launch:
        job = {"code": self.code, "prelude": self.prelude, "kind": self.kind, "entry": self.entry_point,
               "tests": [p.spec for p in plans], "trace": trace}
        self.launches += 1
        launch = process.launch(self.backend, job, self.limits, deadline)
        for kept, data in ((self.stdout, launch.stdout), (self.stderr, launch.stderr)):
            if data:
                kept.append(data.decode("utf-8", "replace"))
        return launch

    def run_tests(self) -> None:
        first = 0
        while first < len(self.plans):
            if time.monotonic() >= self.deadline:
                self._not_run_from(first, f"not run: the run reached its {self.limits.wall_s:g} s wall-time limit")
                return
            launch = self._launch(self.plans[first:], False, self.deadline)
            frames = launch.frames
            if frames and frames[0]["t"] == "load_error":
                self._load_failed(frames[0])
                return
            if not frames:  # the program never finished loading: it would not in a new process either
                status, reason = self._death(launch, loading=True)
                self.fail_before_tests(status, reason, f"not run: {reason}")
                return
            self._keep_output(frames[0])
            reached = first
            for frame in frames[1:]:
                if frame["t"] != "test":
                    continue
                try:
                    self.outcomes[reached] = self._judge(self.plans[reached], frame)
                except ProtocolError as e:
                    launch.ended, launch.detail = "protocol_error", f"the sandboxed process sent malformed results: {e}"
                    break
                reached += 1
            if reached == len(self.plans) or launch.finished and launch.ended == "exited":
                return
            status, reason = self._death(launch, loading=False)
            self.outcomes[reached] = self._outcome(self.plans[reached], status=status, error=reason,
                                                   stderr=excerpt(launch.stderr.decode("utf-8", "replace"), EXCERPT_CHARS))
            first = reached + 1

    def trace_first_failure(self) -> None:
        """Run the first failing test again, alone, with the line-level trace on; attach the trace."""
        index = next((i for i, o in enumerate(self.outcomes) if o is not None and o.status not in ("passed", "not_run")), None)
        if index is None:
            return
        launch = self._launch([self.plans[index]], True, time.monotonic() + process.STARTUP_S + self.limits.test_s)
        test = next((f for f in launch.frames if f["t"] == "test"), None)
        if test is None:
            return
        if self.kind == "stdio":
            trace = _report(test.get("report")).get("trace")
        else:
            trace = test.get("trace")
        if isinstance(trace, list) and all(isinstance(line, str) for line in trace):
            self.outcomes[index].trace = [excerpt(line, TRACE_LINE_CHARS) for line in trace]

    # -- judging ----------------------------------------------------------------------------------

    def _judge(self, plan: TestPlan, frame: dict[str, Any]) -> TestOutcome:
        if self.kind == "stdio":
            return self._judge_program(plan, frame)
        exc = _exception(frame.get("exc"))
        actual = decode_value(frame["v"]) if "v" in frame else _MISSING
        error = None
        if plan.judge == "parent":
            if exc is not None:
                status = EXCEPTION_STATUS.get(exc.type, "error")
            elif actual is _MISSING:
                raise ProtocolError("a test result without a value")
            else:
                status = "passed" if values_equal(actual, plan.expected, plan.strict_types) else "failed"
        else:
            ok = frame.get("ok")
            if not isinstance(ok, bool):
                raise ProtocolError("an assert result without a verdict")
            if ok and exc is None:
                status = "passed"
            else:
                status = EXCEPTION_STATUS.get(exc.type, "error") if exc and exc.type != "AssertionError" else "failed"
        if isinstance(actual, Opaque) and status == "failed":
            error = f"the function returned {actual.reason}, which cannot be compared with the expected value"
        return self._outcome(
            plan, status=status, exc=exc, error=error,
            actual=None if actual is _MISSING else short_repr(actual, INPUT_CHARS),
            stdout=_text(frame.get("out")), stderr=_text(frame.get("err")), time_s=_seconds(frame.get("time")),
        )

    def _judge_program(self, plan: TestPlan, frame: dict[str, Any]) -> TestOutcome:
        output, truncated = frame.get("v"), frame.get("truncated")
        code, sig, timed_out = frame.get("exit"), frame.get("sig"), frame.get("timeout")
        if not (isinstance(output, str) and isinstance(truncated, bool) and isinstance(timed_out, bool)
                and (code is None or isinstance(code, int)) and (sig is None or isinstance(sig, int))):
            raise ProtocolError("a malformed program result")
        try:
            exc = _exception(_report(frame.get("report")).get("exc"))
        except ProtocolError:
            exc = None
        error = None
        if timed_out:
            status, error = "timeout", f"the program did not finish within the {self.limits.test_s:g} s limit"
        elif truncated or sig == signal.SIGXFSZ:
            status, error = "output_limit", f"the program printed more than {self.limits.output_bytes} bytes"
        elif sig is not None:
            status, error = "crashed", f"the program was killed by {_signal_name(sig)}"
        elif exc is not None:
            status = EXCEPTION_STATUS.get(exc.type, "error")
        elif code != 0:
            status, error = "error", f"the program exited with status {code}"
        else:
            status = "passed" if normalise_output(output) == normalise_output(plan.expected) else "failed"
        return self._outcome(
            plan, status=status, exc=exc, error=error, actual=excerpt(output, INPUT_CHARS),
            stdout=excerpt(output, EXCERPT_CHARS), stderr=_text(frame.get("err")), time_s=_seconds(frame.get("time")),
        )

    def _death(self, launch: process.Launch, loading: bool) -> tuple[str, str]:
        """(status, reason) for a process that ended before reporting everything."""
        during = "while loading the program" if loading else "during this test"
        limits = self.limits
        if not launch.started:  # only a timeout ends a launch before the harness is ready
            return "timeout", f"the sandbox did not start within {process.STARTUP_S + limits.test_s:g} s (an overloaded machine?)"
        if launch.ended == "test_timeout":
            what = "loading the program" if loading else "the test"
            return "timeout", f"{what} did not finish within the {limits.test_s:g} s limit and was stopped"
        if launch.ended == "wall_timeout":
            return "timeout", f"the run reached its {limits.wall_s:g} s wall-time limit {during}"
        if launch.ended in ("output_limit", "protocol_error"):
            return ("output_limit" if launch.ended == "output_limit" else "crashed"), launch.detail
        stderr = launch.stderr.decode("utf-8", "replace")
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return "memory", f"the process ran out of memory (limit {limits.memory_mb} MB) {during}"
        code = launch.returncode or 0
        # bubblewrap reports a signal that killed the sandboxed process as exit status 128 + signal.
        sig = -code if code < 0 else code - 128 if code > 128 and isinstance(self.backend, BwrapBackend) else None
        if sig == signal.SIGXCPU:
            return "timeout", f"the process used up its {limits.cpu_s:g} s of CPU time {during}"
        if sig == signal.SIGXFSZ:
            return "output_limit", f"the program wrote a file larger than {limits.file_size_mb} MB {during}"
        if sig is not None:
            return "crashed", f"the process was killed by {_signal_name(sig)} {during}"
        return "crashed", f"the process exited (status {code}) {during}"

    # -- bookkeeping ------------------------------------------------------------------------------

    def _outcome(self, plan: TestPlan, status: str, exc: _Exception | None = None, **fields: Any) -> TestOutcome:
        if exc is not None:
            fields.update(exception_type=exc.type, exception_message=exc.message, traceback=exc.traceback)
        return TestOutcome(input=plan.input_text, expected=plan.expected_text, passed=status == "passed",
                           status=status, judge=plan.judge, **{"actual": None, **fields})

    def _keep_output(self, frame: dict[str, Any]) -> None:
        for kept, key in ((self.stdout, "out"), (self.stderr, "err")):
            text = _text(frame.get(key))
            if text:
                kept.insert(0, text)

    def _load_failed(self, frame: dict[str, Any]) -> None:
        self._keep_output(frame)
        exc = _exception(frame.get("exc"))
        if exc is None:
            reason = "the program failed to load"
        else:
            where = "".join(f"\n    {line}" for line in exc.traceback)
            reason = f"{exc.type}: {exc.message}{where}"
        status = EXCEPTION_STATUS.get(exc.type, "load_error") if exc else "load_error"
        self.fail_before_tests(status, reason, "not run: the program failed to load")

    def fail_before_tests(self, status: str, error: str, reason: str) -> None:
        self.status, self.error = status, error
        self._not_run_from(0, reason)

    def _not_run_from(self, first: int, reason: str) -> None:
        for i in range(first, len(self.plans)):
            if self.outcomes[i] is None:
                self.outcomes[i] = self._outcome(self.plans[i], status="not_run", error=reason)

    def result(self, wall_s: float) -> ExecutionResult:
        outcomes = [o for o in self.outcomes if o is not None]
        assert len(outcomes) == len(self.plans), "every test has an outcome"
        status = self.status or next(
            (o.status for o in outcomes if o.status in ("timeout", "memory", "output_limit", "crashed")), "ok"
        )
        return ExecutionResult(
            backend=self.backend.name, status=status, outcomes=outcomes, error=self.error, wall_s=wall_s,
            stdout=excerpt("".join(self.stdout), EXCERPT_CHARS), stderr=excerpt("".join(self.stderr), EXCERPT_CHARS),
            launches=self.launches,
        )


# -- validating frame fields --------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProtocolError("text field that is not text")
    return excerpt(value, EXCERPT_CHARS)


def _seconds(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ProtocolError("time field that is not a number")
    return float(value)


def _exception(value: Any) -> _Exception | None:
    if value is None:
        return None
    try:
        kind, message, frames = value["type"], value["msg"], value["tb"]
        if not (isinstance(kind, str) and isinstance(message, str) and isinstance(frames, list)):
            raise TypeError
        lines = [f"line {int(n)}, in {str(name)[:80]}: {str(src)[:200]}" for n, name, src in frames[:20]]
    except (KeyError, TypeError, ValueError) as e:
        raise ProtocolError("malformed exception") from e
    return _Exception(kind[:100], excerpt(message, EXCERPT_CHARS), lines)


def _report(text: Any) -> dict[str, Any]:
    """A stdio program's report (exception, trace), written by the program's own process: anything
    malformed is ignored, never trusted."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        report = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return report if isinstance(report, dict) else {}


def _signal_name(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    descriptions = {"SIGSEGV": "segmentation fault", "SIGABRT": "abort", "SIGKILL": "kill",
                    "SIGBUS": "bus error", "SIGFPE": "arithmetic error", "SIGILL": "illegal instruction"}
    return f"{name} ({descriptions[name]})" if name in descriptions else name
