"""The simulated repository coder on its own: attempts that rebuild the gold patch through the
agent's actions (edits widened until unique, new and deleted files), real mutations that the critic
sees, repairs, hypotheses and rethink, the budget, and 'sim' on everything."""

from __future__ import annotations

import ast
import asyncio
import difflib

import pytest

from policies.simulated import SimParams, SimulatorError
from policies.simulated_repo import SimulatedRepoCoder
from treesearch.budget import Budget, BudgetExhausted
from treesearch.contracts import Candidate
from treesearch.swebench.agent import RepoContext
from treesearch.swebench.problem import RepoProblem
from value_models.simulated_critic import SimulatedCritic

BASE = {
    "pkg/core.py": "def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x + 1\n\n\ndef h(values):\n"
                   "    total = 0\n    for v in values:\n        total += v\n    return total\n",
    "pkg/legacy.py": "OLD = 1\n",
}
GOLD = {
    "pkg/core.py": BASE["pkg/core.py"].replace("def g(x):\n    return x + 1", "def g(x):\n    if x < 0:\n        return 0\n    return x + 2"),
    "pkg/new.py": "NEW = 2\n",
    "pkg/legacy.py": None,
}
PROBLEM = RepoProblem("acme__pkg-1", "acme/pkg", "a" * 40, "g() is wrong for negative and positive numbers")


def diff(before: dict, after: dict) -> str:
    out = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        lines = list(difflib.unified_diff((old or "").splitlines(True), (new or "").splitlines(True),
                                          "/dev/null" if old is None else f"a/{path}", "/dev/null" if new is None else f"b/{path}"))
        out.append(f"diff --git a/{path} b/{path}\n" + "".join(lines))
    return "".join(out)


def attempt(coder: SimulatedRepoCoder, quality: float, files: dict, repair_of: tuple | None = None) -> tuple[dict, list, dict]:
    """Run one attempt on an in-memory checkout; returns the files, the actions and the last metadata."""
    files = dict(files)
    ctx = RepoContext(problem=PROBLEM.search_view(), thoughts=["[sim] hypothesis"],
                      thought_metadata=[{"sim": {"quality": quality}}], read_file=files.get, read_base=BASE.get)
    if repair_of is not None:
        ctx.code, ctx.code_metadata, ctx.feedback, ctx.feedback_text, ctx.attempts = repair_of
    actions = []
    while True:
        (proposal,) = asyncio.run(coder.propose(ctx, "action", 1))
        action = proposal.metadata["action"]
        assert proposal.metadata["model"] == "sim" and proposal.content.startswith("[sim]")
        actions.append(action)
        if action["action"] == "edit":
            assert files[action["path"]].count(action["old"]) == 1  # the edit is unique, as the action requires
            files[action["path"]] = files[action["path"]].replace(action["old"], action["new"])
        elif action["action"] == "create":
            files[action["path"]] = action["content"]
        elif action["action"] == "run":
            files.pop(action["command"].split()[-1])
        elif action["action"] == "submit":
            return files, actions, proposal.metadata
        ctx.steps.append((action, "ok"))
        assert len(actions) < 12


def test_a_good_attempt_rebuilds_the_gold_patch_through_actions():
    coder = SimulatedRepoCoder(diff(BASE, GOLD), seed=0)
    files, actions, metadata = attempt(coder, 0.999, BASE)
    assert files == {k: v for k, v in GOLD.items() if v is not None}
    kinds = [a["action"] for a in actions]
    assert kinds[:2] == ["search", "view"] and kinds[-1] == "submit"
    assert {"create", "run"} <= set(kinds) and actions[0]["pattern"] == "def g"
    edit = next(a for a in actions if a["action"] == "edit")
    assert "def g(x):" in edit["old"]  # "return x + 1" alone occurs twice: the edit took context
    assert metadata["sim"]["mutations"] == []


def test_weak_attempts_carry_real_mutations_the_critic_reads():
    coder = SimulatedRepoCoder(diff(BASE, GOLD), seed=0, params=SimParams())
    seen_faults = 0
    for seed in range(12):
        coder.seed = seed
        files, _, metadata = attempt(coder, 0.05, BASE)
        faults = metadata["sim"]["mutations"]
        if files["pkg/core.py"] != GOLD["pkg/core.py"]:
            assert faults, "a patch that differs from the gold one says why"
            ast.parse(files["pkg/core.py"])  # mutated code still parses
        for fault in faults:
            assert fault.startswith(("pkg/core.py::g::", "drop::")) and "h" not in fault.split("::")[1]
        seen_faults += bool(faults)
        score = asyncio.run(SimulatedCritic(seed=seed).evaluate(PROBLEM, Candidate("patch", [], metadata), None))
        assert "[sim]" in score.explanation
    assert seen_faults >= 6  # q = 0.05: about three faults per attempt on average


def test_a_repair_removes_faults_and_hypotheses_and_rethink_say_sim():
    coder = SimulatedRepoCoder(diff(BASE, GOLD), seed=3)
    files, _, metadata = attempt(coder, 0.3, BASE)
    counts, earlier = [len(metadata["sim"]["mutations"])], []
    while counts[-1] and len(earlier) < 30:  # each repair removes a fault w.p. 0.5 (adds one w.p. 0.1)
        feedback = type("Feedback", (), {"informative": True, "status": "tests_broken"})()
        patch = diff(BASE, files)
        files, _, metadata = attempt(coder, 0.3, files, (patch, metadata, feedback, "checks: failing", list(earlier)))
        earlier.append((patch, "checks: failing"))
        counts.append(len(metadata["sim"]["mutations"]))
    assert counts[0] > 0 and counts[-1] == 0
    assert files == {k: v for k, v in GOLD.items() if v is not None}  # no fault left: the gold patch

    budget = Budget(max_calls=2)
    coder = SimulatedRepoCoder(diff(BASE, GOLD), seed=0, budget=budget)
    ctx = RepoContext(problem=PROBLEM.search_view())
    hypotheses = asyncio.run(coder.propose(ctx, "thought", 3))
    assert len(hypotheses) == 3 and abs(sum(h.prior for h in hypotheses) - 1) < 1e-9
    assert all(h.content.startswith("[sim] hypothesis") and "pkg/core.py" in h.content for h in hypotheses)
    ctx.thoughts, ctx.thought_metadata = [hypotheses[0].content], [hypotheses[0].metadata]
    ctx.feedback = type("Feedback", (), {"informative": True, "status": "reproduction_fails"})()
    (rethought,) = asyncio.run(coder.propose(ctx, "rethink", 1))
    assert rethought.content.startswith("[sim]") and budget.usage["calls"] == 2
    if rethought.target == 0:
        assert rethought.metadata["sim"]["quality"] > hypotheses[0].metadata["sim"]["quality"]
    with pytest.raises(BudgetExhausted):
        asyncio.run(coder.propose(ctx, "thought", 1))


def test_the_simulator_needs_a_gold_patch():
    with pytest.raises(SimulatorError, match="needs the instance's gold patch"):
        SimulatedRepoCoder("")
    with pytest.raises(SimulatorError, match="needs the instance's gold patch"):
        SimulatedRepoCoder(diff({"tests/test_a.py": "x = 1\n"}, {"tests/test_a.py": "x = 2\n"}))
