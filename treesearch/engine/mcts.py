"""MCTS over thoughts and code, with K expansions in flight.

One step:

1. **Select** up to ``K - in_flight`` leaves in one kernel call; pending expansions count as visits
   in the exploration term, so the batch spreads over the tree.
2. **Expand** each leaf as a task: the root (and thoughts above ``thought_depth``) get ``width``
   thoughts, and the one with the highest prior is rolled out at once by writing its code; a thought
   gets ``code_samples`` programs; a failing program gets a debug child.
3. **Evaluate** each new program on the visible tests and value it; **rethink** failing ones.
4. **Backprop** the values of every expansion that finished, in one kernel call, releasing their
   in-flight counts; failed expansions are released without a value.
5. **Stop** at the first program that passes the visible tests (``early_stop``), when the budget is
   spent, or when nothing is left to expand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from treesearch.budget import BudgetExhausted
from treesearch.engine.nodes import CodeNode, RootNode, ThoughtNode
from treesearch.engine.rethink import rethink
from treesearch.engine.state import SearchState

# Steps in a row that only re-visit terminal leaves, with nothing else running, before the search
# gives up (each re-visit only backs the same value up again).
MAX_IDLE_STEPS = 50


@dataclass
class Expansion:
    """The nodes whose values an expansion backs up (several when a thought gets several programs)."""

    nodes: list[int]
    values: list[float]
    solved: bool = False
    called_model: bool = True


async def expand_leaf(state: SearchState, leaf: int) -> Expansion | None:
    """Grow ``leaf`` by one step and value what it produced; None when the policy proposed nothing."""
    payload = state.node(leaf)
    if state.tree.stats(leaf)["terminal"]:
        if isinstance(payload, CodeNode):
            return Expansion([leaf], [payload.value], state.solved_by(leaf), called_model=False)
        return Expansion([leaf], [0.0], called_model=False)  # a dead end: the policy had nothing
    if isinstance(payload, RootNode) or (
        isinstance(payload, ThoughtNode) and len(state.thought_path(leaf)) < state.config.thought_depth
    ):
        rollout = await state.think(leaf)  # held: this expansion writes its code
        if rollout is None:
            return None
        try:
            return await write_code(state, rollout)
        finally:
            state.tree.release([rollout])
    if isinstance(payload, ThoughtNode):
        return await write_code(state, leaf)
    proposals = await state.propose(leaf, "debug", 1)
    if not proposals:
        return None
    return await value_programs(state, state.add_code(leaf, proposals[:1], kind="debug"))


async def write_code(state: SearchState, thought: int) -> Expansion | None:
    proposals = await state.propose(thought, "code", state.config.code_samples)
    if not proposals:
        return None
    return await value_programs(state, state.add_code(thought, proposals, kind="code"))


async def value_programs(state: SearchState, programs: list[int]) -> Expansion:
    """Evaluate new programs (rethinking the failing ones) and collect the values to back up."""
    nodes, values, solved = [], [], False
    for program in programs:
        await state.evaluate(program)
        if state.config.rethink and not state.node(program).passed_all:
            program = await rethink(state, program)
        nodes.append(program)
        values.append(state.node(program).value)
        solved = solved or state.solved_by(program)
        if solved and state.config.early_stop:
            break
    return Expansion(nodes, values, solved)


async def run_mcts(state: SearchState, budget, expand: Callable[[Any, int], Awaitable[Expansion | None]] = expand_leaf) -> str:
    """Run the search until it stops; returns why it stopped.

    ``state`` needs ``config`` (concurrency, early_stop, max_iterations, log_selection_terms),
    ``tree``, ``events`` and ``stats.expansion_errors``; ``expand`` grows one selected leaf (the
    repository agent brings its own, see :mod:`treesearch.swebench`).
    """
    from treesearch.llm import LLMError

    cfg, tree = state.config, state.tree
    pending: dict[asyncio.Task, int] = {}
    stop: str | None = None
    idle = 0
    step = 0
    while True:
        free = cfg.concurrency - len(pending)
        if stop is None and free > 0:
            if (limit := budget.exhausted()) is not None:
                stop = f"budget: {limit}"
            else:
                leaves, collisions = tree.select(free)
                if leaves.size:
                    terms = _selection_terms(state, leaves.tolist()) if cfg.log_selection_terms else None
                    state.events.emit("select", step=step, leaves=leaves.tolist(), collisions=collisions,
                                      in_flight=len(pending), terms=terms)
                for leaf in leaves.tolist():
                    # A terminal leaf while expansions run would only be valued again at once, spinning
                    # the loop until they end: leave it until they have (they may open new leaves).
                    if pending and tree.stats(leaf)["terminal"]:
                        tree.release([leaf])
                        continue
                    pending[asyncio.ensure_future(expand(state, leaf))] = leaf
        if not pending:
            return stop or "exhausted: no expandable leaf left"
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        nodes, values, selected, released = [], [], [], []
        for task in [t for t in pending if t in done]:  # in launch order: the same values, summed in the same order
            leaf = pending.pop(task)
            try:
                result = task.result()
            except BudgetExhausted as e:
                stop = stop or f"budget: {e.limit}"
                released.append(leaf)
                continue
            except LLMError as e:
                state.stats.expansion_errors += 1
                state.events.emit("error", node=leaf, error=str(e)[:1000])
                released.append(leaf)
                if state.stats.expansion_errors >= 3 * cfg.concurrency:
                    stop = stop or f"error: {e}"
                continue
            if result is None:
                # The policy had nothing for this leaf: a dead end, valued 0, never expanded again.
                state.events.emit("empty_expansion", node=leaf)
                tree.mark_terminal(leaf)
                result = Expansion([leaf], [0.0])
            nodes += result.nodes
            values += result.values
            selected.append(leaf)
            idle = 0 if result.called_model else idle + 1
            if result.solved and cfg.early_stop:
                stop = "solved"
        tree.backprop(nodes, values, selected)
        tree.release(released)
        if nodes:
            state.events.emit("backprop", step=step, nodes=nodes, values=values, selected=selected)
        if released:
            state.events.emit("release", step=step, nodes=released)
        step += 1
        if stop is None and (idle >= MAX_IDLE_STEPS or step >= cfg.max_iterations):
            stop = "exhausted: only terminal leaves left" if idle >= MAX_IDLE_STEPS else "max_iterations"
        if stop == "solved":
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            tree.release(list(pending.values()))
            state.events.emit("release", step=step, nodes=list(pending.values()))
            pending.clear()


def _selection_terms(state: SearchState, leaves: list[int]) -> dict[int, list[dict]]:
    """The score terms (Q, exploration, score) of every child of every inner node on the selected
    paths, as the selection saw them (in-flight counts of this batch included)."""
    terms: dict[int, list[dict]] = {}
    for leaf in leaves:
        for node in state.tree.path_to(leaf)[:-1]:
            if node not in terms:
                terms[node] = state.tree.score_terms(node)
    return terms
