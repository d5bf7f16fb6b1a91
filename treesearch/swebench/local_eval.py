"""``--local-eval``: an *unofficial* check of a final patch with the instance's own tests.

After the search (never during it), a worktree at the base commit gets the model's patch, then the
instance's ``test_patch``; the ``FAIL_TO_PASS`` and ``PASS_TO_PASS`` tests run in the sandbox with
the environment's Python, and the instance counts as resolved when every one of them passes. This
needs the repository's dependencies installed for that Python (``--python``); it is not the
official harness (which builds a Docker image per repository and version), so its verdicts are
reported as unofficial.

Test ids are run with pytest (``python -m pytest -rA``) and read from its summary lines, as the
official harness reads pytest logs: pytest node ids (``tests/test_x.py::test_a``) as they are, and
unittest-style ids (``test_a (tests.test_x.TestX)``) as the node id of the module they name when that
file exists. Other forms (Django's runner, sympy's bin/test) cannot run here and count as not passed.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from treesearch.swebench.checks import TEST_ENV
from treesearch.swebench.environment import RepoEnvironment, Worktree
from treesearch.swebench.problem import RepoProblem
from treesearch.swebench.repos import GitError, git

_UNITTEST_ID = re.compile(r"^(\w+) \(([\w.]+)\)$")
_SUMMARY = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")


async def local_eval(problem: RepoProblem, patch: str, env: RepoEnvironment) -> dict[str, Any]:
    """{"unofficial": True, "resolved", "fail_to_pass": {id: status}, "pass_to_pass": {...}, "error"}."""
    report: dict[str, Any] = {"unofficial": True, "resolved": False, "fail_to_pass": {}, "pass_to_pass": {}, "error": None}
    if not patch.strip():
        report["error"] = "empty patch"
        return report
    if not problem.fail_to_pass:
        report["error"] = "the instance lists no FAIL_TO_PASS tests"
        return report
    async with env.worktree("", None) as tree:
        tree.state = None  # whatever happens below, the next user of this worktree resets it
        for name, diff in (("the patch", patch), ("the test patch", problem.test_patch)):
            if not diff.strip():
                continue
            try:
                await asyncio.to_thread(git, "apply", "--whitespace=nowarn", "-", cwd=tree.path, input=diff)
            except GitError as e:
                report["error"] = f"{name} does not apply: {e}"
                return report
        wanted = [*problem.fail_to_pass, *problem.pass_to_pass]
        statuses = await _run_tests(tree, wanted)
    report["fail_to_pass"] = {t: statuses[t] for t in problem.fail_to_pass}
    report["pass_to_pass"] = {t: statuses[t] for t in problem.pass_to_pass}
    report["resolved"] = all(s == "passed" for s in statuses.values())
    return report


async def _run_tests(tree: Worktree, tests: list[str]) -> dict[str, str]:
    node_ids = {t: pytest_node_id(t, tree) for t in tests}
    runnable = sorted({n for n in node_ids.values() if n})
    outcome: dict[str, str] = {}
    detail = ""
    if runnable:
        result = await tree.run("python -m pytest -rA -p no:cacheprovider " + " ".join(map(shlex.quote, runnable)),
                                env=TEST_ENV)
        for line in result.output.splitlines():
            if match := _SUMMARY.match(line):
                outcome[match.group(2)] = match.group(1).lower()
        detail = f"not reported ({result.summary()})"
    return {t: "cannot run this test id here" if n is None else outcome.get(n, detail) for t, n in node_ids.items()}


def pytest_node_id(test: str, tree: Worktree) -> str | None:
    """The pytest node id that runs SWE-bench test id ``test``, or None if it cannot be run here."""
    if "::" in test:
        return test
    match = _UNITTEST_ID.match(test)
    if match:
        method, dotted = match.groups()
        parts = dotted.split(".")
        for split in range(len(parts) - 1, 0, -1):  # the longest module prefix that is a file
            path = PurePosixPath(*parts[:split]).with_suffix(".py")
            if (tree.path / path).is_file():
                return "::".join([str(path), *parts[split:], method])
    return None
