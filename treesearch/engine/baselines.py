"""Baselines behind the same API, budget accounting and tree as MCTS, on the code domain.

* ``best_of_n``: independent programs straight from the problem, ``concurrency`` at a time, until a
  program passes the visible tests or the budget is spent.
* ``self_debug``: one program, then a chain of repairs, each shown the feedback and every earlier
  attempt (Reflexion / Self-Debugging style linear repair).
* ``beam``: ToT-style breadth first: ``width`` thoughts with a program each, then level by level the
  ``beam_width`` best programs each get ``width // beam_width`` repairs (at least one).

A step returns the programs it made, or the :class:`~treesearch.contracts.StopReason` that ends the
search (a spent budget, a solved program).
"""

from __future__ import annotations

import asyncio

from treesearch.budget import Budget, BudgetExhausted
from treesearch.contracts import StopReason
from treesearch.engine.state import ROOT, SearchState

Step = list[int] | StopReason


async def _programs(state: SearchState, parent: int, kind: str, n: int, reserve: int = 0) -> Step:
    """``n`` programs (or repairs) below ``parent``, checked and backed up one by one."""
    domain = state.domain
    try:
        proposals = await state.propose(parent, kind, n)
        ids = domain.add_programs(state, parent, proposals, kind, reserve=reserve) if proposals else []
        for program in ids:
            await domain.check(state, program)
    except BudgetExhausted as e:
        return StopReason("budget", e.limit)
    for program in ids:
        state.tree.backprop([program], [state.node(program).value])
    if state.config.early_stop and any(state.solved_by(p) for p in ids):
        return StopReason("solved")
    return ids


async def _together(state: SearchState, steps: list[tuple[int, str, int]]) -> Step:
    """Steps run at once, read in order: the first stop ends the search, the first error is raised
    (after every step has ended, so none is left running); else all their programs."""
    results = await asyncio.gather(*(_programs(state, p, k, n) for p, k, n in steps), return_exceptions=True)
    programs: list[int] = []
    for result in results:
        if isinstance(result, (StopReason, BaseException)):
            if isinstance(result, StopReason):
                return result
            raise result
        programs += result
    return programs


async def run_best_of_n(state: SearchState, budget: Budget) -> StopReason:
    samples = budget.max_calls or state.config.max_iterations
    first = await _programs(state, ROOT, "code", 1, reserve=samples - 1)
    if isinstance(first, StopReason):
        return first
    issued = 1
    while issued < samples:
        batch = min(state.config.concurrency, samples - issued)
        step = await _together(state, [(ROOT, "code", 1)] * batch)
        issued += batch
        if isinstance(step, StopReason):
            return step
    return StopReason("budget", "samples")


async def run_self_debug(state: SearchState, budget: Budget) -> StopReason:
    step = await _programs(state, ROOT, "code", 1)
    while not isinstance(step, StopReason) and step:
        step = await _programs(state, step[0], "debug", 1)
    return step if isinstance(step, StopReason) else StopReason("exhausted", "the policy proposed nothing")


async def run_beam(state: SearchState, budget: Budget) -> StopReason:
    cfg = state.config
    try:
        proposals = await state.propose(ROOT, "thought", cfg.width)
    except BudgetExhausted as e:
        return StopReason("budget", e.limit)
    thoughts = state.add_thoughts(ROOT, proposals)
    frontier = await _together(state, [(t, "code", 1) for t in thoughts])
    per_parent = max(1, cfg.width // cfg.beam_width)
    while isinstance(frontier, list) and frontier:
        kept = sorted(frontier, key=lambda n: (state.node(n).value, -n), reverse=True)[: cfg.beam_width]
        frontier = await _together(state, [(k, "debug", per_parent) for k in kept])
    return frontier if isinstance(frontier, StopReason) else StopReason("exhausted", "the policy proposed nothing")


RUNNERS = {"best_of_n": run_best_of_n, "self_debug": run_self_debug, "beam": run_beam}
