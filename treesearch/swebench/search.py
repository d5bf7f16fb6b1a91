"""Searching one instance: the MCTS loop over :func:`~treesearch.swebench.agent.expand`, the final
pick, and the run directory.

The loop is :func:`treesearch.engine.mcts.run_mcts`'s, with the repository agent's expansion: select
up to ``concurrency`` leaves in one kernel call (in-flight expansions count as visits), expand each
as a task, back up every finished expansion's value in one call, release failed ones; stop at the
first attempt that passes every check with the value agent's approval (``early_stop``), when the
budget is spent, or when nothing is left to expand. The final patch is the best-valued finished
attempt's, or the discriminator's choice among the best ``discriminator_top`` distinct patches.

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

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treesearch.budget import Budget, BudgetExhausted
from treesearch.engine.nodes import ThoughtNode
from treesearch.export.events import EventLog
from treesearch.export.files import write_atomic, write_json
from treesearch.swebench.agent import RepoSearch, RepoSearchConfig, expand
from treesearch.swebench.environment import RepoEnvironment
from treesearch.swebench.nodes import StepNode
from treesearch.swebench.problem import RepoProblem

# Steps in a row that only re-visit terminal leaves, with nothing else running, before the search
# gives up (each re-visit only backs the same value up again).
MAX_IDLE_STEPS = 20


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


async def run_repo_mcts(search: RepoSearch, budget: Budget) -> str:
    """Run the search until it stops; returns why it stopped."""
    from treesearch.llm import LLMError

    cfg, tree = search.config, search.tree
    pending: dict[asyncio.Task, int] = {}
    stop: str | None = None
    idle = step = 0
    while True:
        free = cfg.concurrency - len(pending)
        if stop is None and free > 0:
            if (limit := budget.exhausted()) is not None:
                stop = f"budget: {limit}"
            else:
                leaves, collisions = tree.select(free)
                if leaves.size:
                    search.events.emit("select", step=step, leaves=leaves.tolist(), collisions=collisions,
                                       in_flight=len(pending))
                for leaf in leaves.tolist():
                    # Not: a hypothesis another expansion is trying right now, or a terminal leaf while
                    # expansions that may open new leaves are still running (re-visiting it would
                    # spin the loop and pile visits on it until they end).
                    if leaf in search.busy or (pending and tree.stats(leaf)["terminal"]):
                        tree.release([leaf])
                        continue
                    pending[asyncio.ensure_future(expand(search, leaf))] = leaf
        if not pending:
            return stop or "exhausted: no expandable leaf left"
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        nodes, values, selected, released = [], [], [], []
        for task in done:
            leaf = pending.pop(task)
            try:
                result = task.result()
            except BudgetExhausted as e:
                stop = stop or f"budget: {e.limit}"
                released.append(leaf)
                continue
            except LLMError as e:
                search.stats.expansion_errors += 1
                search.events.emit("error", node=leaf, error=str(e)[:1000])
                released.append(leaf)
                if search.stats.expansion_errors >= 3 * cfg.concurrency:
                    stop = stop or f"error: {e}"
                continue
            if result is None:  # the policy had nothing for this leaf: a dead end, never expanded again
                search.events.emit("empty_expansion", node=leaf)
                tree.mark_terminal(leaf)
                nodes.append(leaf)
                values.append(0.0)
                selected.append(leaf)
                idle += 1
                continue
            nodes += result.nodes
            values += result.values
            selected.append(leaf)
            idle = 0 if result.called_model else idle + 1
            if result.solved and cfg.early_stop:
                stop = "solved"
        tree.backprop(nodes, values, selected)
        tree.release(released)
        if nodes:
            search.events.emit("backprop", step=step, nodes=nodes, values=values, selected=selected)
        step += 1
        if stop is None and (idle >= MAX_IDLE_STEPS or step >= cfg.max_iterations):
            stop = "exhausted: only terminal leaves left" if idle >= MAX_IDLE_STEPS else "max_iterations"
        if stop == "solved" and pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            tree.release(list(pending.values()))
            pending.clear()


async def final_pick(search: RepoSearch, discriminator: Any = None) -> int | None:
    """The best-valued finished attempt; with a discriminator, its choice among the best few
    distinct patches."""
    distinct: dict[str, int] = {}
    for node_id in search.ranked():
        distinct.setdefault(search.node(node_id).patch, node_id)
    top = list(distinct.values())[: max(1, search.config.discriminator_top)]
    if discriminator is None or len(top) < 2:
        return top[0] if top else None
    try:
        index, why = await discriminator.choose(search.view, [search.node(n).patch for n in top])
    except BudgetExhausted:
        return top[0]
    search.events.emit("discriminate", candidates=top, chosen=top[index], explanation=why[:1000])
    return top[index]


def trajectory(search: RepoSearch, node_id: int | None) -> list[dict[str, Any]]:
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
    config: RepoSearchConfig, out: Path, model: str, discriminator: Any = None, seed: int = 0,
    run_config: dict[str, Any] | None = None,
) -> InstanceResult:
    """Search ``problem`` in ``env`` and write its run directory ``out`` (see the module docstring).
    ``run_config``: further settings to record in ``config.json``."""
    from treesearch.export.html import write_viewer
    from treesearch.export.tree_json import save_tree_json

    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"instance_id": problem.instance_id, "repo": problem.repo,
                                     "base_commit": problem.base_commit, "model": model, "seed": seed,
                                     "search": config.to_dict(), **(run_config or {})})
    events = EventLog(out / "events.jsonl")
    search = RepoSearch(problem, env, policy, value_model, config, events, seed)
    events.emit("start", problem_id=problem.instance_id, model=model, strategy=config.strategy, seed=seed)
    try:
        stopped_because = await run_repo_mcts(search, budget)
        best = await final_pick(search, discriminator)
        events.emit("stop", reason=stopped_because, best=best)
    finally:
        events.close()

    node = search.node(best) if best is not None else None
    usage = budget.usage
    stats = {
        "llm_calls": usage["calls"], "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "cost_usd": usage["cost_usd"] if usage.get("cost_known", True) else None,
        "attempts": search.stats.attempts, "steps": search.stats.steps, "checks": search.stats.checks,
        "rethinks_tried": search.stats.rethinks_tried, "rethinks_helped": search.stats.rethinks_helped,
        "expansion_errors": search.stats.expansion_errors, "nodes": len(search.tree.nodes()),
        "wall_s": round(time.monotonic() - started, 3),
    }
    result = InstanceResult(
        instance_id=problem.instance_id, patch=node.patch if node else "", node_id=best,
        value=node.value if node else None, checks_passed=bool(node and node.passed_all),
        stopped_because=stopped_because, stats=stats, model=model, strategy=config.strategy, seed=seed,
    )
    save_tree_json(search.tree, out / "tree.json")
    write_json(out / "trajectory.json", trajectory(search, best))
    write_atomic(out / "patch.diff", result.patch.encode())
    write_json(out / "result.json", result.to_dict())
    write_viewer(out)
    return result
