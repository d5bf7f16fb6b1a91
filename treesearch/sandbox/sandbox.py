"""The sandbox as the engine sees it: run a program on tests, concurrently, and keep a log of what ran."""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from treesearch.problems import KINDS, TestCase
from treesearch.sandbox.backends import Backend, SandboxError, bwrap_problems, probe_backend
from treesearch.sandbox.harness import test_fingerprint
from treesearch.sandbox.limits import Limits
from treesearch.sandbox.result import ExecutionResult
from treesearch.sandbox.runner import execute


@dataclass(frozen=True)
class CallRecord:
    """One call of :meth:`Sandbox.run`: when, how many tests, and which (by content fingerprint, see
    :func:`~treesearch.sandbox.harness.test_fingerprint`), so a test can show that hidden tests never
    ran during a search."""

    time: float
    kind: str
    n_tests: int
    fingerprints: tuple[str, ...]


class Sandbox:
    """Runs untrusted programs on tests in isolated processes.

    ``backend``: "auto" (bubblewrap; where it cannot run, SandboxError saying why and how to fix it,
    unless ``trusted_code``), "bwrap" (the same, without the exception) or "unsafe-rlimit" (the
    rlimit backend, without namespaces: see ``backends.py`` for what it still confines; "rlimit" is
    its old name). ``trusted_code``: the caller vouches for the programs (the simulated coder's
    mutations of a reference solution), so "auto" may fall back to the rlimit backend; it says so
    with a RuntimeWarning, as the rlimit backend always does. Runs go through a pool of
    ``max_concurrency`` worker threads, each waiting on one sandboxed process, so at most that many
    sandboxes run at once however many coroutines call :meth:`run`. The default is two per CPU: a
    run spends part of its life blocked (starting processes, setting up and tearing down
    namespaces), and with one run per CPU the CPUs idle through it (bench/sandbox_bench.py measures
    both).
    Cancelling a coroutine does not stop its sandbox early; the run's wall-time limit bounds it.
    ``python``: the interpreter that runs candidates, by default the engine's own; another must be
    the same Python version (a distribution's optimised, statically linked build starts faster).
    """

    def __init__(self, backend: str = "auto", limits: Limits | None = None,
                 max_concurrency: int | None = None, python: str | None = None, trusted_code: bool = False) -> None:
        self._backend: Backend = probe_backend(backend, python, trusted_code)
        self.requested = backend
        self._python = python
        if self._backend.warnings:
            warnings.warn("sandbox: " + self.describe(), RuntimeWarning, stacklevel=2)
        self.limits = limits or Limits()
        self.max_concurrency = max_concurrency or 2 * (os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="sandbox")
        self.call_log: list[CallRecord] = []
        self._log_lock = threading.Lock()

    @property
    def backend(self) -> str:
        """The backend's name, as reported in every result: "bwrap" or "rlimit"."""
        return self._backend.name

    @property
    def warnings(self) -> tuple[str, ...]:
        """What this backend does not isolate here (empty for a fully working bubblewrap)."""
        return self._backend.warnings

    @property
    def isolates(self) -> frozenset[str]:
        """Which of "files", "network", "signals", "secrets" the backend keeps candidates from here."""
        return self._backend.isolates

    def describe(self) -> str:
        """One line: the backend, why it is the rlimit one, and what it does not isolate."""
        if self._backend.name != "rlimit":
            return "; ".join((f"backend {self.backend}", *self.warnings))
        why = ("chosen with unsafe-rlimit" if self.requested in ("unsafe-rlimit", "rlimit") else
               "trusted code, bubblewrap unavailable (" + "; ".join(bwrap_problems(self._python)) + ")")
        kept = ", ".join(sorted(self.isolates)) or "nothing"
        return "; ".join((f"backend rlimit ({why}); it confines: {kept}", *self.warnings))

    async def run(
        self, code: str, problem_kind: str, tests: list[TestCase], entry_point: str | None = None,
        limits: Limits | None = None, trace_first_failure: bool = False, prelude: str = "",
    ) -> ExecutionResult:
        """Run ``code`` on ``tests`` in one sandbox (more only after a crash or hang) and judge it.

        ``problem_kind`` is "function" (``entry_point`` is called on each test's inputs, or the
        test's assert code runs) or "stdio" (each test's input is the program's stdin). With
        ``trace_first_failure`` the first failing test runs again with a line-level trace.
        ``prelude`` (a function problem's :attr:`~treesearch.problems.CodeProblem.prelude`) runs
        first in the program's namespace, as the benchmark harnesses run the prompt before the
        completion; its errors are ignored, and the program's line numbers stay its own.
        """
        call = self._prepare(code, problem_kind, tests, entry_point, limits, trace_first_failure, prelude)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def run_sync(
        self, code: str, problem_kind: str, tests: list[TestCase], entry_point: str | None = None,
        limits: Limits | None = None, trace_first_failure: bool = False, prelude: str = "",
    ) -> ExecutionResult:
        """:meth:`run` for callers without an event loop (same pool, same concurrency bound)."""
        call = self._prepare(code, problem_kind, tests, entry_point, limits, trace_first_failure, prelude)
        return self._pool.submit(call).result()

    def _prepare(self, code: str, kind: str, tests: list[TestCase], entry_point: str | None,
                 limits: Limits | None, trace: bool, prelude: str = "") -> functools.partial[ExecutionResult]:
        if kind not in KINDS:
            raise SandboxError(f"problem_kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "function" and not entry_point:
            raise SandboxError("a function problem needs entry_point, the name of the function to test")
        if not isinstance(code, str):
            raise SandboxError(f"code must be a string, got {type(code).__name__}")
        tests = list(tests)
        record = CallRecord(time.time(), kind, len(tests), tuple(test_fingerprint(t) for t in tests))
        with self._log_lock:
            self.call_log.append(record)
        return functools.partial(execute, self._backend, code, kind, tests, entry_point,
                                 limits or self.limits, trace, prelude)

    def close(self) -> None:
        """Wait for running sandboxes and stop the worker threads."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
