"""``--local-eval``: an *unofficial* check of a search's final patch with the instance's own tests.

After the search (never during it), the patch is judged as ``treesearch swebench-eval`` judges a
prediction (:func:`treesearch.swebench.judge.judge`: the harness's test files, command and log parser,
in the sandbox), in the instance's environment when the run built one (``--instance-envs``), else
with the run's Python (``--python``), which then must hold the repository's dependencies. It is not
the official harness (which builds a Docker image per repository and version), so its verdicts are
reported as unofficial.
"""

from __future__ import annotations

from typing import Any

from treesearch.swebench.environment import RepoEnvironment
from treesearch.swebench.judge import judge
from treesearch.swebench.problem import RepoProblem
from treesearch.swebench.specs import SpecError, spec_for


async def local_eval(problem: RepoProblem, patch: str, env: RepoEnvironment) -> dict[str, Any]:
    """{"unofficial": True, "resolved", "status", "fail_to_pass": {id: status}, "pass_to_pass": {...}, "error"}."""
    report: dict[str, Any] = {"unofficial": True, "resolved": False, "status": "error", "fail_to_pass": {},
                              "pass_to_pass": {}, "error": None}
    if not patch.strip():
        report["error"] = "empty patch"
        return report
    try:
        spec = spec_for(problem)
    except SpecError as e:
        report["error"] = str(e)
        return report
    verdict = await judge(problem, patch, env, spec)
    report.update(status=verdict["status"], resolved=verdict["status"] == "resolved", error=verdict["error"],
                  **{f: {t: r["status"] for t, r in verdict[f].items()} for f in ("fail_to_pass", "pass_to_pass")})
    return report
