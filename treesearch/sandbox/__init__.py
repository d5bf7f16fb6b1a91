"""Running untrusted programs: isolated processes, limits, per-test results judged by the parent,
and feedback for prompts.

    from treesearch.sandbox import Sandbox, render_feedback
    with Sandbox() as sandbox:
        result = sandbox.run_sync(code, "function", problem.visible_tests, problem.entry_point)
        print(result.pass_fraction, render_feedback(result))

Without bubblewrap, ``Sandbox()`` raises SandboxError (fail closed) unless asked for "unsafe-rlimit"
or given ``trusted_code=True``; see ``backends``.

Modules: ``backends`` (bubblewrap / rlimit, the probe), ``confine`` (Landlock and seccomp for the
rlimit backend), ``cli`` (``--sandbox``), ``cgroup`` (process cap for root engines),
``process`` (one sandboxed process and its protocol), ``child`` (the harness inside the sandbox),
``harness`` (planning tests), ``runner`` (a run: launches and judging),
``values`` (decoding and comparing values), ``result``, ``feedback``, ``sandbox`` (the async facade).
"""

# split_test_code lives with the problems (their test fields are parsed with it); it stays part of
# the sandbox's documented API because callers split asserts to run them here.
from treesearch.problems import split_test_code
from treesearch.sandbox.backends import CHOICES as BACKEND_CHOICES
from treesearch.sandbox.backends import SandboxError, probe_backend
from treesearch.sandbox.feedback import render_feedback
from treesearch.sandbox.harness import test_fingerprint
from treesearch.sandbox.limits import Limits
from treesearch.sandbox.result import ExecutionResult, TestOutcome
from treesearch.sandbox.sandbox import CallRecord, Sandbox

__all__ = [
    "BACKEND_CHOICES", "CallRecord", "ExecutionResult", "Limits", "Sandbox", "SandboxError", "TestOutcome", "probe_backend",
    "render_feedback", "split_test_code", "test_fingerprint",
]
