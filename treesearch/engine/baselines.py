"""Baselines behind the same API, budget accounting and tree as MCTS, on the code domain.

* ``best_of_n``: independent programs straight from the problem, ``concurrency`` at a time, until a
  program passes the visible tests or the budget is spent.
* ``self_debug``: one program, then a chain of repairs, each shown the feedback and every earlier
  attempt (Reflexion / Self-Debugging style linear repair).
* ``beam``: ToT-style breadth first: ``width`` thoughts with a program each, then level by level the
  ``beam_width`` best programs each get ``width // beam_width`` repairs (at least one).
* ``s_star``: S* (Li et al. 2025): :func:`s_star_plan` chains, each a program and its repairs until it
  passes the visible tests, run ``concurrency`` at a time; then the discriminator (the application
  gives S* one that runs the candidates on inputs the model writes) picks among those that pass.

A step returns the programs it made, or the :class:`~treesearch.contracts.StopReason` that ends the
search (a spent budget, a solved program, failed calls ``3 K`` in a row). A call that failed for good
costs only itself: the step is tried again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from treesearch.budget import Budget, BudgetExhausted
from treesearch.contracts import ProposalError, StopReason
from treesearch.engine.state import ROOT, SearchState

Step = list[int] | StopReason
T = TypeVar("T")


async def _retried(state: SearchState, node_id: int, make: Callable[[], Awaitable[T]]) -> T | StopReason:
    """``make()`` until it does not fail for good: a failed call costs only itself, unless failures
    come ``3 K`` in a row (:meth:`SearchState.failed`); a spent budget stops."""
    while True:
        try:
            result = await make()
        except BudgetExhausted as e:
            return StopReason("budget", e.limit)
        except ProposalError as e:
            if (stop := state.failed(node_id, e)) is not None:
                return stop
            continue
        state.failures_in_a_row = 0
        return result


async def _programs(state: SearchState, parent: int, kind: str, n: int, reserve: int = 0,
                    stop_when_solved: bool = True) -> Step:
    """``n`` programs (or repairs) below ``parent``, checked and backed up one by one; a solved one
    stops the search (with ``early_stop`` and ``stop_when_solved``)."""
    domain = state.domain

    async def make() -> list[int]:
        proposals = await state.propose(parent, kind, n)
        if not proposals:  # a reply nothing could be read from: another sample may do
            raise ProposalError(f"the policy proposed no usable {kind}")
        ids = domain.add_programs(state, parent, proposals, kind, reserve=reserve)
        for program in ids:
            await domain.check(state, program)
        return ids

    ids = await _retried(state, parent, make)
    if isinstance(ids, StopReason):
        return ids
    for program in ids:
        state.tree.backprop([program], [state.node(program).value])
    if stop_when_solved and state.config.early_stop and any(state.solved_by(p) for p in ids):
        return StopReason("solved")
    return ids


async def _together(state: SearchState, steps: list[tuple[int, str, int, int]]) -> Step:
    """Steps run at once, read in order: the first stop ends the search, the first error is raised
    (after every step has ended, so none is left running); else all their programs."""
    results = await asyncio.gather(*(_programs(state, *step) for step in steps), return_exceptions=True)
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
    # Whichever sample first gives the root a program makes the block the others fill.
    reserve = samples - 1
    first = await _programs(state, ROOT, "code", 1, reserve)
    if isinstance(first, StopReason):
        return first
    issued = 1
    while issued < samples:
        batch = min(state.config.concurrency, samples - issued)
        step = await _together(state, [(ROOT, "code", 1, reserve)] * batch)
        issued += batch
        if isinstance(step, StopReason):
            return step
    return StopReason("budget", "samples")


async def run_self_debug(state: SearchState, budget: Budget) -> StopReason:
    step = await _programs(state, ROOT, "code", 1)
    for _ in range(state.config.max_iterations):
        if isinstance(step, StopReason):
            return step
        step = await _programs(state, step[0], "debug", 1)
    return StopReason("max_iterations")


async def run_beam(state: SearchState, budget: Budget) -> StopReason:
    cfg = state.config
    proposals = await _retried(state, ROOT, lambda: state.propose(ROOT, "thought", cfg.width))
    if isinstance(proposals, StopReason):
        return proposals
    if proposals:
        thoughts = state.add_thoughts(ROOT, proposals)
        frontier = await _together(state, [(t, "code", 1, 0) for t in thoughts])
    else:  # no thought could be had: the first level is written straight from the problem
        frontier = await _programs(state, ROOT, "code", cfg.width)
    per_parent = max(1, cfg.width // cfg.beam_width)
    for _ in range(cfg.max_iterations):
        if isinstance(frontier, StopReason):
            return frontier
        kept = sorted(frontier, key=lambda n: (state.node(n).value, -n), reverse=True)[: cfg.beam_width]
        frontier = await _together(state, [(k, "debug", per_parent, 0) for k in kept])
    return StopReason("max_iterations")


def s_star_plan(max_calls: int) -> tuple[int, int]:
    r"""(chains, calls per chain) for S* at a budget of ``max_calls``: :math:`n = \max(1, \lfloor B/4 \rfloor)`
    chains, and what is left after the pick's :math:`n` calls (one for the inputs, at most
    :math:`n - 1` comparisons) shared among them: :math:`\lfloor (B - r)/n \rfloor` with :math:`r = n`
    when :math:`n > 1`, else 0. B = 8: 2 chains of 3 calls; B = 16: 4 chains of 3 calls."""
    chains = max(1, max_calls // 4)
    reserve = chains if chains > 1 else 0
    return chains, max(1, (max_calls - reserve) // chains)


async def run_s_star(state: SearchState, budget: Budget) -> StopReason:
    chains, length = s_star_plan(budget.max_calls or state.config.max_iterations)

    async def chain() -> StopReason | None:
        step = await _programs(state, ROOT, "code", 1, reserve=chains - 1, stop_when_solved=False)
        for _ in range(length - 1):
            if isinstance(step, StopReason) or state.node(step[0]).passed_all:
                break
            step = await _programs(state, step[0], "debug", 1, stop_when_solved=False)
        return step if isinstance(step, StopReason) else None

    for first in range(0, chains, state.config.concurrency):
        stops = await asyncio.gather(*(chain() for _ in range(min(state.config.concurrency, chains - first))))
        if (stop := next((s for s in stops if s is not None), None)) is not None:
            return stop
    return StopReason("budget", "chains")


RUNNERS = {"best_of_n": run_best_of_n, "self_debug": run_self_debug, "beam": run_beam, "s_star": run_s_star}
