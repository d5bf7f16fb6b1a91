"""Turns: K expansions run at once, yet the tree changes in an order that never depends on timing.

An expansion touches the tree only while it holds *the turn*. It gives the turn up to wait for
something outside the tree (a model call, a sandbox run, a critic) with :func:`outside`, taking a
ticket as it goes; when that wait is over it takes the turn back as soon as every earlier ticket has
been served. Tickets are handed out by whoever holds the turn, so they are issued in an order fixed
by the tree alone, and every selection, node id, request and sample index follows from the seed and
the tree, not from which reply came back first. The waits themselves overlap: that is the
concurrency. A reply that is slow holds back the turns of the tickets after it, not their calls.

::

    ticket  holder of the turn
    0       the loop: select two leaves, launch A (ticket 1) and B (ticket 2)
    1       A: ask for thoughts, take ticket 3  ── A's call ──────────┐
    2       B: ask for a repair, take ticket 4  ── B's call ──┐       │  (both in flight)
    3       A: add the thoughts, ...                          │  ◄────┘
    4       B: add the repair, ...                      ◄─────┘  (B's reply came back first)

A wait that does not go through :func:`outside` keeps the turn: it is serial, and still exact. What
runs inside :func:`outside` must not touch the tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

# The turn the running task holds: (turns, ticket), None outside any turn (a baseline, a test, or
# the waits inside :func:`outside` itself).
_held: ContextVar[tuple[Turns, int] | None] = ContextVar("treesearch_turn", default=None)


class Turns:
    """The tickets of one search; ticket 0 is served first. ``on_leave`` runs whenever a task leaves
    its turn to wait outside, still holding the turn (the search fills free slots there)."""

    def __init__(self, on_leave: Callable[[], None] | None = None) -> None:
        self.on_leave = on_leave
        self._issued = 0
        self._serving = 0
        self._waiters: dict[int, asyncio.Future] = {}

    def take(self) -> int:
        """The next ticket; only the holder of the turn takes tickets, so their order is exact."""
        ticket = self._issued
        self._issued += 1
        return ticket

    async def wait(self, ticket: int) -> None:
        """Until ``ticket`` is served; the calling task holds the turn from then on."""
        if ticket != self._serving:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters[ticket] = waiter
            try:
                await waiter
            finally:
                del self._waiters[ticket]
        _held.set((self, ticket))

    def release(self) -> None:
        """The calling task gives the turn up; the next ticket is served."""
        held = _held.get()
        if held is None or held[0] is not self or held[1] != self._serving:
            raise RuntimeError("release() by a task that does not hold the turn")
        _held.set(None)
        self._serving += 1
        waiter = self._waiters.get(self._serving)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def outside(awaitable: Awaitable[T]) -> T:
    """Await ``awaitable`` (which must not touch the tree) without the turn, then take the turn back
    in ticket order. Outside any turn it is a plain ``await``. An exception is raised once the turn is
    back; a cancelled search waits for no turn."""
    held = _held.get()
    if held is None:
        return await awaitable
    turns, _ = held
    if turns.on_leave is not None:
        turns.on_leave()
    ticket = turns.take()
    turns.release()
    # Runs at once, before any other task: what it does up to its first real wait (an LLM client
    # claims its sample index) happens in ticket order too.
    try:
        result = await awaitable
    except Exception:
        await turns.wait(ticket)
        raise
    await turns.wait(ticket)
    return result
