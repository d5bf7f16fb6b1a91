"""MCTS over thoughts and attempts, with K expansions in flight, for any domain.

The loop (:class:`Search`), with every change to the tree made in turns
(:mod:`treesearch.engine.turns`), so that the same seed and the same replies give the same tree at
any K:

1. **Select**, whenever a turn ends with fewer than K expansions in flight, up to the free number of
   leaves in one kernel call. Pending expansions count as visits in the exploration term and as
   value-0 visits in Q (virtual loss), exhausted subtrees are passed by, and a thought can take
   several expansions writing its programs at once, so the K slots spread over the tree.
2. **Expand** each leaf as a task (:func:`expand_leaf`): the root (and thoughts above
   ``thought_depth``) get ``width`` thoughts, and the one with the highest prior is rolled out at
   once (with ``plain_first``, after a program written straight from the problem); below a thought
   the domain makes fresh attempts, below a failed attempt a repair. Model
   calls and sandbox runs are waited for outside the turn, concurrently. Execution first
   (``thought_depth`` 0): the root's children are programs, and with ``root_widening`` the root
   keeps taking fresh ones (progressive widening, :meth:`Search.fresh_samples`) while selection
   weighs repairs of the failing ones; with thoughts, such fresh programs join the root's thoughts
   once its own expansion has begun.
3. **Check** each new attempt (the domain: visible tests, a repository's checks) and value it;
   **rethink** failing ones (:mod:`treesearch.engine.rethink`).
4. **Commit** an expansion that ended, in its own turn: back its values up, releasing its in-flight
   count; a failed expansion (a call that failed for good) is released without a value and costs only
   itself, unless failures come ``3 K`` in a row.
5. **Stop** at the first attempt that counts as solved (``early_stop``; with ``oracle``, one that also
   behaves like the policy's brute-force oracle on inputs the policy writes; with ``confirm`` = c, at the
   first c distinct solved attempts that behave alike on those inputs; the expansions still
   in flight are cancelled), when the budget is spent (those in flight finish), or when nothing is left
   to expand: the root is exhausted and nothing is in flight.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from treesearch.budget import BudgetExhausted
from treesearch.contracts import ProposalError, StopReason
from treesearch.engine.nodes import RootNode, ThoughtNode
from treesearch.engine.rethink import rethink
from treesearch.engine.state import SearchState
from treesearch.engine.turns import Turns
from treesearch.tree import ROOT

# Programs the root keeps room for with root_widening (a search without a call limit stops widening there).
MAX_ROOT_PROGRAMS = 256


@dataclass
class Expansion:
    """The nodes whose values an expansion backs up (several when a thought gets several programs)."""

    nodes: list[int]
    values: list[float]
    solved: bool = False


async def expand_leaf(state: SearchState, leaf: int) -> Expansion | None:
    """Grow ``leaf`` by one step and value what it produced; None when the policy proposed nothing."""
    payload = state.node(leaf)
    if leaf == ROOT and state.tree.children(ROOT):
        return await attempt(state, ROOT)  # a fresh sample (root_widening): the root is expanded once
    if isinstance(payload, (RootNode, ThoughtNode)) and len(state.thought_path(leaf)) < state.config.thought_depth:
        plain = None
        if leaf == ROOT and state.config.plain_first and not state.tree.children(ROOT):
            plain = await attempt(state, ROOT)
            if plain is not None and plain.solved:
                return plain
        async with state.rollout(leaf) as thought:
            if thought is not None:
                return _joined(plain, await attempt(state, thought))
        if plain is not None:
            return plain
        # No thought could be had (a reply no parser could read): attempt straight from the problem
        # rather than give the leaf up for one bad reply.
    return await attempt(state, leaf)


def _joined(first: Expansion | None, second: Expansion | None) -> Expansion | None:
    """Both expansions' nodes, backed up together."""
    if first is None or second is None:
        return first or second
    return Expansion(first.nodes + second.nodes, first.values + second.values, second.solved)


async def attempt(state: SearchState, start: int) -> Expansion | None:
    """The domain's attempts below ``start``, each rethought while it fails; None when there was none.
    ``solved`` when one of them ends the search (see :meth:`SearchState.confirmed`)."""
    nodes, values, solved = [], [], False
    async with aclosing(state.domain.attempts(state, start)) as ends:
        async for end in ends:
            if state.config.rethink and not state.node(end).passed_all:
                end = await rethink(state, end)
            nodes.append(end)
            values.append(state.node(end).value)
            if state.solved_by(end) and state.config.early_stop:
                solved = await state.confirmed()
            if solved:
                break
    return Expansion(nodes, values, solved) if nodes else None


class Search:
    """The loop of one search: up to K expansions in flight, each taking turns on the tree
    (:mod:`treesearch.engine.turns`). Whenever a turn ends with slots free, the slots are filled by
    one selection; an expansion that ends is committed (backed up, or released) in its own turn.
    Every in-flight count a selection adds is given back, however the expansion ends."""

    def __init__(self, state: SearchState, budget: Any,
                 expand: Callable[[Any, int], Awaitable[Expansion | None]]) -> None:
        self.state, self.budget, self.expand = state, budget, expand
        self.turns = Turns(on_leave=self.fill)
        self.tasks: dict[asyncio.Task, int] = {}
        self.stop: StopReason | None = None
        self.step = 0  # expansions committed
        self.ended: asyncio.Future[StopReason] = asyncio.get_running_loop().create_future()
        cfg = state.config
        thoughts = cfg.width if cfg.thought_depth > 0 else 0  # the root's thoughts share its block
        if cfg.root_widening > 0:  # each fresh program costs a call at least
            calls = getattr(budget, "max_calls", None) or cfg.max_iterations
            state.root_room = min(calls, MAX_ROOT_PROGRAMS) * cfg.code_samples + thoughts
        elif cfg.plain_first and thoughts:
            state.root_room = cfg.code_samples + thoughts

    async def run(self) -> StopReason:
        await self.turns.wait(self.turns.take())
        self.end_turn()
        try:
            return await self.ended
        finally:
            await self.cancel()

    def fill(self) -> None:
        """Select leaves for the free slots and launch their expansions (in the turn, so the
        selection sees exactly the tree the earlier turns left)."""
        cfg, tree = self.state.config, self.state.tree
        free = cfg.concurrency - len(self.tasks)
        if self.stop is not None or free <= 0 or self.ended.done():
            return
        if (limit := self.budget.exhausted()) is not None:
            self.stop = StopReason("budget", limit)
            return
        fresh = self.fresh_samples(free)
        selected, collisions = [], 0
        if free > fresh:
            leaves, collisions = tree.select(free - fresh)
            selected = leaves.tolist()
        # A slot that selection cannot fill (everything below the root is in flight or exhausted)
        # takes a fresh sample rather than stay idle.
        fresh += self.fresh_samples(free - fresh - len(selected), anyway=True)
        if not selected and not fresh:
            return
        terms = _selection_terms(self.state, selected) if cfg.log_selection_terms else None
        self.state.events.emit("select", step=self.step, leaves=selected, collisions=collisions,
                               in_flight=len(self.tasks), terms=terms, **({"fresh": fresh} if fresh else {}))
        for leaf in [ROOT] * fresh + selected:
            self.tasks[asyncio.ensure_future(self.expansion(leaf, self.turns.take()))] = leaf

    def fresh_samples(self, slots: int, anyway: bool = False) -> int:
        r"""How many of ``slots`` go to fresh programs from the root (``root_widening`` = :math:`\alpha`),
        each held in flight on the root: while the root has fewer than :math:`\lceil (N + 1)^\alpha \rceil`
        programs, finished or pending, where :math:`N` counts the expansions started below it (or,
        ``anyway``, as long as room is left). With thoughts, once the root's own expansion has begun:
        the fresh programs, written straight from the problem, compete with the thoughts' lines."""
        state, tree, cfg = self.state, self.state.tree, self.state.config
        children = tree.children(ROOT)
        if cfg.root_widening <= 0 or slots <= 0 or (cfg.thought_depth > 0 and not children):
            return 0
        thoughts = sum(1 for c in children if isinstance(state.node(c), ThoughtNode))
        # The root's own expansion may still be on its way to adding its thoughts: their slots stay free.
        thoughts_due = cfg.width if cfg.thought_depth > 0 and not thoughts else 0
        pending = sum(1 for leaf in self.tasks.values() if leaf == ROOT)
        per_expansion = cfg.code_samples
        programs = len(children) - thoughts + per_expansion * pending
        fresh = 0
        while (fresh < slots and programs < state.root_room
               and tree.can_add(ROOT, per_expansion * (pending + fresh + 1) + thoughts_due)):
            started = float(tree.arrays.visits[ROOT] + tree.arrays.in_flight[ROOT])
            if not anyway and programs >= math.ceil((started + 1.0) ** cfg.root_widening - 1e-9):
                break
            tree.hold(ROOT)
            programs += per_expansion
            fresh += 1
        return fresh

    def end_turn(self) -> None:
        """Fill the free slots, end the search when nothing is left in flight, give up the turn."""
        self.fill()
        if not self.tasks and not self.ended.done():
            self.ended.set_result(self.stop or StopReason("exhausted", "no expandable leaf left"))
        if not (self.stop is not None and self.stop.kind == "solved"):
            self.turns.release()  # after a solution no turn follows: the rest is cancelled

    async def expansion(self, leaf: int, ticket: int) -> None:
        await self.turns.wait(ticket)
        try:
            result: Expansion | None | Exception = await self.expand(self.state, leaf)
        except (BudgetExhausted, ProposalError) as e:
            result = e
        except Exception as e:  # a bug: the search ends with it rather than waiting forever
            if not self.ended.done():
                self.ended.set_exception(e)
            return
        del self.tasks[asyncio.current_task()]
        self.commit(leaf, result)
        self.end_turn()

    def commit(self, leaf: int, result: Expansion | None | Exception) -> None:
        """Back up what the expansion of ``leaf`` produced, or release it; note why to stop."""
        state, tree, cfg = self.state, self.state.tree, self.state.config
        nodes, values, selected, released = [], [], [], []
        if isinstance(result, BudgetExhausted):
            self.stop = self.stop or StopReason("budget", result.limit)
            released.append(leaf)
        elif isinstance(result, ProposalError):
            released.append(leaf)
            if (failed := state.failed(leaf, result)) is not None:
                self.stop = self.stop or failed
        else:
            state.failures_in_a_row = 0
            if result is None:
                # The policy had nothing for this leaf: a dead end, valued 0, never expanded again.
                state.events.emit("empty_expansion", node=leaf)
                tree.mark_terminal(leaf)
                result = Expansion([leaf], [0.0])
            nodes, values, selected = result.nodes, result.values, [leaf]
            if result.solved and cfg.early_stop:
                self.stop = StopReason("solved")
        tree.backprop(nodes, values, selected)
        tree.release(released)
        if nodes:
            state.events.emit("backprop", step=self.step, nodes=nodes, values=values, selected=selected)
        if released:
            state.events.emit("release", step=self.step, nodes=released)
        self.step += 1
        if self.stop is None and self.step >= cfg.max_iterations:
            self.stop = StopReason("max_iterations")
        if self.stop is not None and self.stop.kind == "solved":
            self.ended.set_result(self.stop)

    async def cancel(self) -> None:
        """Cancel the expansions still in flight (after a solution, or an error in one of them) and give
        their selections back."""
        if not self.tasks:
            return
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        leaves = list(self.tasks.values())
        self.state.tree.release(leaves)
        self.state.events.emit("release", step=self.step, nodes=leaves)
        self.tasks.clear()


async def run_mcts(state: SearchState, budget: Any,
                   expand: Callable[[Any, int], Awaitable[Expansion | None]] = expand_leaf) -> StopReason:
    """Run the search until it stops; returns why it stopped. At any concurrency the same seed and
    the same replies give the same tree: see :mod:`treesearch.engine.turns`."""
    return await Search(state, budget, expand).run()


def _selection_terms(state: SearchState, leaves: list[int]) -> dict[int, list[dict]]:
    """The score terms (Q, exploration, score) of every child of every inner node on the selected
    paths, as the selection saw them (in-flight counts of this batch included)."""
    terms: dict[int, list[dict]] = {}
    for leaf in leaves:
        for node in state.tree.path_to(leaf)[:-1]:
            if node not in terms:
                terms[node] = state.tree.score_terms(node)
    return terms
