"""MCTS over thoughts and attempts, with K expansions in flight, for any domain.

One step:

1. **Select** up to ``K - in_flight`` leaves in one kernel call; pending expansions count as visits
   in the exploration term, so the batch spreads over the tree.
2. **Expand** each leaf as a task (:func:`expand_leaf`): the root (and thoughts above
   ``thought_depth``) get ``width`` thoughts, and the one with the highest prior is rolled out at
   once; below a thought the domain makes fresh attempts, below a failed attempt a repair.
3. **Check** each new attempt (the domain: visible tests, a repository's checks) and value it;
   **rethink** failing ones (:mod:`treesearch.engine.rethink`).
4. **Backprop** the values of every expansion that finished, in one kernel call, releasing their
   in-flight counts; failed expansions (a call that failed for good) are released without a value
   and cost only themselves, unless failures come ``3 K`` in a row.
5. **Stop** at the first attempt that counts as solved (``early_stop``), or with ``confirm`` = c at
   the first c distinct solved attempts that behave alike on inputs the policy writes; when the
   budget is spent, or when nothing is left to expand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from treesearch.budget import BudgetExhausted
from treesearch.contracts import ProposalError, StopReason
from treesearch.engine.nodes import RootNode, ThoughtNode
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
        if state.is_attempt(leaf):  # valued again; if it is solved, that was told when it was made
            return Expansion([leaf], [payload.value], called_model=False)
        return Expansion([leaf], [0.0], called_model=False)  # a dead end: the policy had nothing
    if isinstance(payload, RootNode) or (
        isinstance(payload, ThoughtNode) and len(state.thought_path(leaf)) < state.config.thought_depth
    ):
        async with state.rollout(leaf) as thought:
            if thought is not None:
                return await attempt(state, thought)
        # No thought could be had (a reply no parser could read): attempt straight from the problem
        # rather than give the leaf up for one bad reply.
    return await attempt(state, leaf)


async def attempt(state: SearchState, start: int) -> Expansion | None:
    """The domain's attempts below ``start``, each rethought while it fails; None when there was none."""
    nodes, values, solved = [], [], False
    async with aclosing(state.domain.attempts(state, start)) as ends:
        async for end in ends:
            if state.config.rethink and not state.node(end).passed_all:
                end = await rethink(state, end)
            nodes.append(end)
            values.append(state.node(end).value)
            solved = solved or state.solved_by(end)
            if solved and state.config.early_stop:
                break
    return Expansion(nodes, values, solved) if nodes else None


class InFlight:
    """The expansions running, and the in-flight counts they hold in the tree: a selection adds
    them, and every way an expansion ends gives them back (backprop, release, cancel)."""

    def __init__(self, state: SearchState, expand: Callable[[Any, int], Awaitable[Expansion | None]]) -> None:
        self.state = state
        self.expand = expand
        self.tasks: dict[asyncio.Task, int] = {}

    def __len__(self) -> int:
        return len(self.tasks)

    def launch(self, leaves: list[int]) -> None:
        tree = self.state.tree
        for leaf in leaves:
            # A terminal leaf while expansions run would only be valued again at once, spinning the
            # loop until they end: leave it until they have (they may open new leaves).
            if self.tasks and tree.stats(leaf)["terminal"]:
                tree.release([leaf])
                continue
            self.tasks[asyncio.ensure_future(self.expand(self.state, leaf))] = leaf

    async def finished(self) -> list[tuple[int, asyncio.Task]]:
        """The expansions that ended, in launch order (so values are summed in the same order)."""
        done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
        return [(self.tasks.pop(task), task) for task in [t for t in self.tasks if t in done]]

    def settle(self, step: int, nodes: list[int], values: list[float], selected: list[int],
               released: list[int]) -> None:
        tree, events = self.state.tree, self.state.events
        tree.backprop(nodes, values, selected)
        tree.release(released)
        if nodes:
            events.emit("backprop", step=step, nodes=nodes, values=values, selected=selected)
        if released:
            events.emit("release", step=step, nodes=released)

    async def cancel(self, step: int) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        leaves = list(self.tasks.values())
        self.state.tree.release(leaves)
        self.state.events.emit("release", step=step, nodes=leaves)
        self.tasks.clear()


async def run_mcts(state: SearchState, budget: Any,
                   expand: Callable[[Any, int], Awaitable[Expansion | None]] = expand_leaf) -> StopReason:
    """Run the search until it stops; returns why it stopped."""
    cfg, tree = state.config, state.tree
    flights = InFlight(state, expand)
    stop: StopReason | None = None
    idle = 0
    step = 0
    while True:
        free = cfg.concurrency - len(flights)
        if stop is None and free > 0:
            if (limit := budget.exhausted()) is not None:
                stop = StopReason("budget", limit)
            else:
                leaves, collisions = tree.select(free)
                if leaves.size:
                    terms = _selection_terms(state, leaves.tolist()) if cfg.log_selection_terms else None
                    state.events.emit("select", step=step, leaves=leaves.tolist(), collisions=collisions,
                                      in_flight=len(flights), terms=terms)
                flights.launch(leaves.tolist())
        if not len(flights):
            return stop or StopReason("exhausted", "no expandable leaf left")
        nodes, values, selected, released = [], [], [], []
        for leaf, task in await flights.finished():
            try:
                result = task.result()
            except BudgetExhausted as e:
                stop = stop or StopReason("budget", e.limit)
                released.append(leaf)
                continue
            except ProposalError as e:
                released.append(leaf)
                if (failed := state.failed(leaf, e)) is not None:
                    stop = stop or failed
                continue
            state.failures_in_a_row = 0
            if result is None:
                # The policy had nothing for this leaf: a dead end, valued 0, never expanded again.
                state.events.emit("empty_expansion", node=leaf)
                tree.mark_terminal(leaf)
                result = Expansion([leaf], [0.0])
            nodes += result.nodes
            values += result.values
            selected.append(leaf)
            idle = 0 if result.called_model else idle + 1
            if result.solved and cfg.early_stop and stop is None:
                stop = await _confirmed(state)
        flights.settle(step, nodes, values, selected, released)
        step += 1
        if stop is None and idle >= MAX_IDLE_STEPS:
            stop = StopReason("exhausted", "only terminal leaves left")
        elif stop is None and step >= cfg.max_iterations:
            stop = StopReason("max_iterations")
        if stop is not None and stop.kind == "solved":
            await flights.cancel(step)


async def _confirmed(state: SearchState) -> StopReason | None:
    """"solved" once the solved attempts are confirmed (``confirm``), else None (the search goes on);
    the spent budget when asking for inputs finds it spent."""
    if state.config.confirm <= 1:
        return StopReason("solved")
    try:
        return StopReason("solved") if await state.confirmed() else None
    except BudgetExhausted as e:
        return StopReason("budget", e.limit)
    except ProposalError:  # no inputs could be had: the solved attempt stands alone
        state.inputs = False
        return StopReason("solved")


def _selection_terms(state: SearchState, leaves: list[int]) -> dict[int, list[dict]]:
    """The score terms (Q, exploration, score) of every child of every inner node on the selected
    paths, as the selection saw them (in-flight counts of this batch included)."""
    terms: dict[int, list[dict]] = {}
    for leaf in leaves:
        for node in state.tree.path_to(leaf)[:-1]:
            if node not in terms:
                terms[node] = state.tree.score_terms(node)
    return terms
