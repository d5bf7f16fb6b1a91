"""Baselines behind the same API, budget accounting and tree as MCTS.

* ``best_of_n``: independent programs straight from the problem, ``concurrency`` at a time, until a
  program passes the visible tests or the budget is spent.
* ``self_debug``: one program, then a chain of repairs, each shown the feedback and every earlier
  attempt (Reflexion / Self-Debugging style linear repair).
* ``beam``: ToT-style breadth first: ``width`` thoughts with a program each, then level by level the
  ``beam_width`` best programs each get ``width // beam_width`` repairs (at least one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from treesearch.budget import BudgetExhausted
from treesearch.engine.state import ROOT, SearchState


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


async def _guarded(state: SearchState, step: Callable[[], Awaitable[list[int]]]) -> list[int]:
    """Run one step; a spent budget or a solved program ends the search with its reason."""
    try:
        programs = await step()
    except BudgetExhausted as e:
        raise _Stop(f"budget: {e.limit}") from e
    for program in programs:
        state.tree.backprop([program], [state.node(program).value])
    if state.config.early_stop and any(state.solved_by(p) for p in programs):
        raise _Stop("solved")
    return programs


async def _programs(state: SearchState, parent: int, kind: str, n: int, reserve: int = 0) -> list[int]:
    proposals = await state.propose(parent, kind, n)
    if not proposals:
        return []
    ids = state.add_code(parent, proposals, kind="code" if kind == "code" else "debug", reserve=reserve)
    for program in ids:
        await state.evaluate(program)
    return ids


async def run_best_of_n(state: SearchState, budget) -> str:
    samples = budget.max_calls or state.config.max_iterations
    issued = 0

    async def one(first: bool) -> list[int]:
        return await _programs(state, ROOT, "code", 1, reserve=samples - 1 if first else 0)

    try:
        await _guarded(state, lambda: one(True))
        issued = 1
        while issued < samples:
            batch = min(state.config.concurrency, samples - issued)
            results = await asyncio.gather(
                *(_guarded(state, lambda: one(False)) for _ in range(batch)), return_exceptions=True
            )
            issued += batch
            for r in results:
                if isinstance(r, _Stop):
                    raise r
                if isinstance(r, BaseException):
                    raise r
    except _Stop as stop:
        return stop.reason
    return "budget: samples"


async def run_self_debug(state: SearchState, budget) -> str:
    try:
        (program,) = await _guarded(state, lambda: _programs(state, ROOT, "code", 1)) or (None,)
        while program is not None:
            repaired = await _guarded(state, lambda p=program: _programs(state, p, "debug", 1))
            program = repaired[0] if repaired else None
    except _Stop as stop:
        return stop.reason
    return "exhausted: the policy proposed nothing"


async def run_beam(state: SearchState, budget) -> str:
    cfg = state.config
    try:
        try:
            proposals = await state.propose(ROOT, "thought", cfg.width)
        except BudgetExhausted as e:
            return f"budget: {e.limit}"
        thoughts = state.add_thoughts(ROOT, proposals)
        frontier = await _level(state, [(t, "code") for t in thoughts], 1)
        per_parent = max(1, cfg.width // cfg.beam_width)
        while frontier:
            kept = sorted(frontier, key=lambda n: (state.node(n).value, -n), reverse=True)[: cfg.beam_width]
            frontier = await _level(state, [(k, "debug") for k in kept], per_parent)
    except _Stop as stop:
        return stop.reason
    return "exhausted: the policy proposed nothing"


async def _level(state: SearchState, parents: list[tuple[int, str]], n: int) -> list[int]:
    results = await asyncio.gather(
        *(_guarded(state, lambda p=p, k=k: _programs(state, p, k, n)) for p, k in parents),
        return_exceptions=True,
    )
    frontier: list[int] = []
    for r in results:
        if isinstance(r, BaseException):
            raise r
        frontier += r
    return frontier


RUNNERS = {"best_of_n": run_best_of_n, "self_debug": run_self_debug, "beam": run_beam}
