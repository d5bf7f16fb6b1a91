"""Searching one instance: the engine's MCTS on the repository domain
(:class:`~treesearch.swebench.agent.RepoDomain`), and the run directory.

The search stops at the first attempt that passes every check with the value agent's approval
(``early_stop``), when the budget is spent, or when nothing is left to expand. The final patch is the
best-valued finished attempt's, or the discriminator's choice among the best ``discriminator_top``
distinct patches.

The run directory of an instance (the same files as ``treesearch solve`` writes, so
``treesearch view`` draws it)::

    config.json      the settings
    events.jsonl     one line per search step (append-only)
    llm_calls.jsonl  every model call (LLM models)
    tree.json        the tree (treesearch.export.tree_json's schema), tree.html its viewer
    trajectory.json  the path to the final patch: the hypothesis, each action, what it observed
    patch.diff       the final patch
    result.json      the outcome (InstanceResult.to_dict)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treesearch.budget import Budget
from treesearch.engine.mcts import run_mcts
from treesearch.engine.nodes import ThoughtNode
from treesearch.engine.state import SearchConfig, SearchState
from treesearch.export.events import EventLog
from treesearch.export.files import write_atomic, write_json
from treesearch.swebench.agent import RepoDomain
from treesearch.swebench.environment import RepoEnvironment
from treesearch.swebench.nodes import StepNode
from treesearch.swebench.problem import RepoProblem


@dataclass
class InstanceResult:
    """What the search of one instance found. ``checks_passed``: the final patch passes every
    check the search could run (not the hidden tests)."""

    instance_id: str
    patch: str
    node_id: int | None
    value: float | None
    checks_passed: bool
    stopped_because: str
    stats: dict[str, Any]
    model: str
    strategy: str
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id, "problem_id": self.instance_id, "status": "searched",
            "patch": self.patch, "checks_passed": self.checks_passed,
            "best": None if self.node_id is None else {"node_id": self.node_id, "value": self.value},
            "stopped_because": self.stopped_because, "stats": self.stats, "model": self.model,
            "strategy": self.strategy, "seed": self.seed,
        }


def trajectory(search: SearchState, node_id: int | None) -> list[dict[str, Any]]:
    """The path from the issue to ``node_id``: hypotheses and steps, as the agent lived them."""
    if node_id is None:
        return []
    out: list[dict[str, Any]] = []
    for n in search.tree.path_to(node_id)[1:]:
        payload = search.node(n)
        if isinstance(payload, ThoughtNode):
            out.append({"node": n, "kind": "thought", "text": payload.text,
                        "superseded_versions": [v.text for v in payload.versions[:-1]]})
        elif isinstance(payload, StepNode):
            entry = {"node": n, "kind": "action", "reasoning": payload.reasoning, "action": payload.action,
                     "observation": payload.observation}
            if payload.finished:
                entry.update(value=payload.value, checks=payload.feedback.to_dict(),
                             explanation=payload.evaluation.explanation)
            out.append(entry)
    return out


async def search_instance(
    problem: RepoProblem, env: RepoEnvironment, policy: Any, value_model: Any, budget: Budget,
    config: SearchConfig, out: Path, model: str, discriminator: Any = None, seed: int = 0,
    run_config: dict[str, Any] | None = None,
) -> InstanceResult:
    """Search ``problem`` in ``env`` and write its run directory ``out`` (see the module docstring).
    ``run_config``: further settings to record in ``config.json``."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"instance_id": problem.instance_id, "repo": problem.repo,
                                     "base_commit": problem.base_commit, "model": model, "seed": seed,
                                     "search": config.to_dict(), **(run_config or {})})
    events = EventLog(out / "events.jsonl")
    search = SearchState(RepoDomain(problem, env), policy, value_model, config, events, seed)
    stopped_because, best = await search.run(run_mcts, budget, discriminator, problem_id=problem.instance_id,
                                             model=model, strategy=config.strategy, seed=seed)
    node = search.node(best) if best is not None else None
    stats = search.result_stats(budget.usage, time.monotonic() - started)
    result = InstanceResult(
        instance_id=problem.instance_id, patch=node.patch if node else "", node_id=best,
        value=node.value if node else None, checks_passed=bool(node and node.passed_all),
        stopped_because=stopped_because, stats=stats, model=model, strategy=config.strategy, seed=seed,
    )
    write_json(out / "trajectory.json", trajectory(search, best))
    write_atomic(out / "patch.diff", result.patch.encode())
    search.save(out, result.to_dict())
    return result
