"""Judging one patch with an instance's own tests, the way the official harness runs them.

In a worktree at the base commit: the patch is applied (``git apply``, then GNU ``patch --fuzz=5``
as the harness falls back to), the test files the test patch touches are put back to the base commit
and the test patch applied; the spec's test command runs on those test files, in the sandbox (the
patch is untrusted code), with the worktree's Python: the instance environment's overlay when the
environment has one (so the tests import the patched checkout). The log is read with the harness's
parser for the repository, and every FAIL_TO_PASS and PASS_TO_PASS test id is looked up in it:

* by its exact name, as the harness does;
* else by prefix: SWE-bench's lists cut parametrised ids at their first space (``test_x[a-f("b",``),
  so every test of the log whose name starts with the id counts, and passes only if all of them pass;
* else, for a unittest-style id (``test_a (pkg.test_x.TestX)``), as the pytest node id naming the same
  test, when the log is pytest's.

A test that fails with a network error (the sandbox has no network: name resolution, unreachable
network, refused proxies...) is ``needs_network``, not a failure of the patch. The verdict:
``resolved`` (every listed test passes), ``unresolved`` (one fails), ``needs_network`` (none fails
but some could not reach the network) or ``error`` (the patch or the test patch does not apply).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import subprocess
from pathlib import PurePosixPath
from typing import Any

from treesearch.sandbox.command import COMMAND_LIMITS
from treesearch.swebench.environment import RepoEnvironment, Worktree
from treesearch.swebench.patches import PatchError, parse_patch
from treesearch.swebench.problem import RepoProblem
from treesearch.swebench.repos import GitError, git
from treesearch.swebench.specs import PASSING, HarnessSpec, harness_command, log_parser, test_files

# The harness gives an instance's tests 30 minutes; the whole log is kept (its summary is at the end).
TEST_LIMITS = dataclasses.replace(COMMAND_LIMITS, wall_s=1800.0, cpu_s=1800.0, output_bytes=64 << 20)
NETWORK_ERROR = re.compile(
    r"Temporary failure in name resolution|Name or service not known|nodename nor servname|Network is unreachable"
    r"|No route to host|getaddrinfo failed|socket\.gaierror|NewConnectionError|Failed to establish a new connection"
    r"|ConnectTimeout|\[Errno 101\]|\[Errno -[23]\]|ProxyError|MaxRetryError")
# pytest cuts a failure's summary message to the terminal's width; the network check reads it whole.
TEST_ENV = {"COLUMNS": "2000"}
_UNITTEST_ID = re.compile(r"^(\w+) \(([\w.]+)\)$")
_SUMMARY = re.compile(r"^(FAILED|ERROR) (.+?) - (.*)$")
VERDICTS = ("resolved", "unresolved", "error", "needs_network")


async def judge(problem: RepoProblem, patch: str, env: RepoEnvironment, spec: HarnessSpec) -> dict[str, Any]:
    """The verdict on ``patch`` (see the module docstring): {"status", "error", "fail_to_pass": {id:
    {"status", ...}}, "pass_to_pass": {...}, "test_command", "log"} (``log``: the test output)."""
    verdict: dict[str, Any] = {"status": "error", "error": None, "fail_to_pass": {}, "pass_to_pass": {},
                               "test_command": None, "log": ""}
    if not problem.fail_to_pass:
        verdict["error"] = "the instance lists no FAIL_TO_PASS tests"
        return verdict
    files = test_files(problem)
    command = harness_command(spec.test_cmd, files)
    verdict["test_command"] = command
    async with env.worktree("", None) as tree:
        tree.state = None  # whatever happens below, the next user of this worktree resets it
        problem_with_it = await asyncio.to_thread(_apply, tree, patch, problem)
        if problem_with_it is not None:
            verdict["error"] = problem_with_it
            return verdict
        result = await tree.run(command, limits=TEST_LIMITS, env=TEST_ENV)
    verdict["log"] = result.output
    statuses = log_parser(spec.repo)(result.output)
    messages = failure_messages(result.output)
    for field, tests in (("fail_to_pass", problem.fail_to_pass), ("pass_to_pass", problem.pass_to_pass)):
        verdict[field] = {t: grade(t, statuses, messages) for t in tests}
    outcomes = [r["status"] for field in ("fail_to_pass", "pass_to_pass") for r in verdict[field].values()]
    if any(s not in ("passed", "needs_network") for s in outcomes):
        verdict["status"] = "unresolved"
    else:
        verdict["status"] = "needs_network" if "needs_network" in outcomes else "resolved"
    if result.ended != "exited":
        verdict["error"] = f"the tests were stopped: {result.summary()}"
    return verdict


def grade(test: str, statuses: dict[str, str], messages: dict[str, str]) -> dict[str, Any]:
    """One listed test's result from the parsed log (see the module docstring)."""
    cut = "[" in test and not test.endswith("]")
    names = [test] if test in statuses else [n for n in statuses if cut and n.startswith(test)]
    how = "exact" if names == [test] else "prefix"
    if not names and (node := _node_id(test)) is not None:
        names, how = [n for n in statuses if n == node or n.startswith(node + "[")], "node id"
    if not names:
        return {"status": "missing", "detail": "not in the test log"}
    failing = [n for n in names if statuses[n] not in PASSING]
    entry: dict[str, Any] = {"status": "passed"}
    if how != "exact":
        entry["matched"] = names
    if failing:
        reasons = [messages.get(n, "") for n in failing]
        network = all(NETWORK_ERROR.search(r) for r in reasons)
        entry = {**entry, "status": "needs_network" if network else statuses[failing[0]].lower(),
                 "detail": next((r for r in reasons if r), "")[:500]}
    return entry


def failure_messages(log: str) -> dict[str, str]:
    """{test name: message} from pytest's ``-rA`` summary (``FAILED id - message``)."""
    out = {}
    for line in log.splitlines():
        if match := _SUMMARY.match(line):
            out[match.group(2).split()[0]] = match.group(3)
            out[match.group(2)] = match.group(3)
    return out


def _node_id(test: str) -> str | None:
    """``test_a (pkg.test_x.TestX)`` as ``pkg/test_x.py::TestX::test_a``."""
    match = _UNITTEST_ID.match(test)
    if not match:
        return None
    method, dotted = match.groups()
    module, _, cls = dotted.rpartition(".")
    return f"{PurePosixPath(*module.split('.'))}.py::{cls}::{method}" if module else None


def _apply(tree: Worktree, patch: str, problem: RepoProblem) -> str | None:
    """Apply the patch, then the test patch over the test files at the base commit; the error, or None."""
    if patch.strip():
        try:
            git("apply", "--whitespace=nowarn", "-", cwd=tree.path, input=patch)
        except GitError as e:
            fuzzy = _fuzzy_apply(tree, patch)
            if fuzzy is not None:
                return f"the patch does not apply: {e}; patch --fuzz=5: {fuzzy}"
    try:
        tests = [f.path for f in parse_patch(problem.test_patch)]
    except PatchError as e:
        return f"the test patch cannot be read: {e}"
    for path in tests:
        try:
            git("checkout", problem.base_commit, "--", path, cwd=tree.path)
        except GitError:
            pass  # a file the test patch creates
    try:
        git("apply", "--whitespace=nowarn", "-", cwd=tree.path, input=problem.test_patch)
    except GitError as e:
        return f"the test patch does not apply: {e}"
    return None


def _fuzzy_apply(tree: Worktree, patch: str) -> str | None:
    done = subprocess.run(["patch", "--batch", "--fuzz=5", "-p1", "--forward", "--no-backup-if-mismatch"],
                          cwd=tree.path, input=patch, capture_output=True, text=True, timeout=120)
    if done.returncode == 0:
        return None
    git("reset", "--quiet", "--hard", tree.base_commit, cwd=tree.path)  # a half-applied patch is no state
    return (done.stdout.strip().splitlines() or ["failed"])[-1]
