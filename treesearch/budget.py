"""The budget of one search: LLM calls, tokens, cost in USD and wall time.

Every model call — a real one through :class:`treesearch.llm.LLMClient` or a simulated one — first
*reserves* its worst case, then *settles* with what it actually used (or *releases* the reservation if
it failed). A reservation is granted only while

    settled usage + open reservations + this estimate <= limit      (for every limit that is set)

so no limit is ever exceeded, however many calls are in flight, provided each estimate bounds its
call (the LLM client reserves the prompt's JSON size plus ``max_tokens`` per sample; a token never
takes less than a byte). A call counts against ``max_calls`` when it is reserved, once per sample: a
request for ``n`` samples is ``n`` calls, so strategies that ask for several programs at once and
those that ask one at a time compare at equal budgets.

When a request cannot fit even with nothing in flight (``settled usage + estimate > limit``), or the
wall time is spent, :class:`BudgetExhausted` names the limit; the engine catches it and ends the search
with the best result so far. When it would fit once in-flight calls settle — their actual usage is
usually well under their estimate — ``reserve`` waits for them instead of ending the search early.

The budget is shared by threads and asyncio tasks: state sits behind one lock; ``reserve`` blocks a
thread, ``areserve`` suspends a task, and settling wakes both kinds of waiter.

Usage (a simulated coder does the same with its simulated token counts)::

    budget = Budget(max_calls=16, max_cost_usd=0.50)
    reservation = await budget.areserve(est_tokens=3000, est_cost=0.002)
    try:
        ...  # the call
    except Exception:
        budget.release(reservation)
        raise
    budget.settle(reservation, prompt_tokens=1200, completion_tokens=300, cost_usd=0.0007)
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

LIMITS = ("max_calls", "max_tokens", "max_cost_usd", "max_wall_s")


class BudgetExhausted(Exception):
    """A search budget is spent; ``limit`` is one of :data:`LIMITS`."""

    def __init__(self, limit: str, usage: dict | None = None) -> None:
        self.limit = limit
        self.usage = usage or {}
        super().__init__(f"budget exhausted: {limit}")


@dataclass(frozen=True)
class Reservation:
    """What one call holds against the budget until it settles or is released."""

    id: int
    calls: int
    tokens: int
    cost_usd: float


class Budget:
    """Limits on LLM calls, tokens (prompt + completion), cost in USD and wall time; ``None`` is unlimited.

    Wall time counts from construction. Unknown costs (``cost_usd=None`` at settlement, e.g. a model
    missing from litellm's cost map) add nothing to the cost and clear ``usage["cost_known"]``.
    """

    def __init__(
        self,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_wall_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.max_wall_s = max_wall_s
        self._clock = clock
        self._started = clock()
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._open: dict[int, Reservation] = {}
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._cost_usd = 0.0
        self._cost_known = True

    @property
    def wall_s(self) -> float:
        return self._clock() - self._started

    @property
    def wall_remaining_s(self) -> float | None:
        return None if self.max_wall_s is None else self.max_wall_s - self.wall_s

    @property
    def usage(self) -> dict:
        """A snapshot: calls (settled), prompt_tokens, completion_tokens, cost_usd, cost_known, wall_s, in_flight."""
        with self._cond:
            return self._usage()

    def exhausted(self) -> str | None:
        """The first limit that settled calls (or the clock) have used up, else None."""
        with self._cond:
            for name, amount in self._used(in_flight=False).items():
                limit = getattr(self, name)
                if limit is not None and amount >= limit:
                    return name
            return self._wall_over()

    def reserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        """Reserve a call's worst case, blocking while in-flight reservations stand in the way."""
        with self._cond:
            while True:
                reservation = self._try_reserve(calls, est_tokens, est_cost)
                if reservation is not None:
                    return reservation
                self._cond.wait(timeout=self.wall_remaining_s)

    async def areserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        """Like :meth:`reserve`, suspending the task instead of blocking the thread."""
        loop = asyncio.get_running_loop()
        while True:
            event = asyncio.Event()
            with self._cond:
                reservation = self._try_reserve(calls, est_tokens, est_cost)
                if reservation is not None:
                    return reservation
                self._async_waiters.append((loop, event))
            try:
                await asyncio.wait_for(event.wait(), timeout=self.wall_remaining_s)
            except asyncio.TimeoutError:
                pass  # the wall limit passed: the next try raises

    def settle(
        self,
        reservation: Reservation,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = 0.0,
    ) -> None:
        """Replace a reservation by the call's actual usage (``cost_usd=None``: unknown)."""
        with self._cond:
            self._close(reservation)
            self._calls += reservation.calls
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
            if cost_usd is None:
                self._cost_known = False
            else:
                self._cost_usd += cost_usd
            self._wake()

    def release(self, reservation: Reservation) -> None:
        """Give a reservation back unused: the call failed and was not billed."""
        with self._cond:
            self._close(reservation)
            self._wake()

    # -- internals; the caller holds self._cond --

    def _try_reserve(self, calls: int, tokens: int, cost: float) -> Reservation | None:
        """A reservation, None to wait for in-flight calls, or BudgetExhausted."""
        extra = {"max_calls": calls, "max_tokens": tokens, "max_cost_usd": cost}
        limit = self._first_over(extra, in_flight=False)
        if limit is not None:
            raise BudgetExhausted(limit, self._usage())
        if self._first_over(extra, in_flight=True) is not None:
            return None
        reservation = Reservation(id=next(self._ids), calls=calls, tokens=tokens, cost_usd=cost)
        self._open[reservation.id] = reservation
        return reservation

    def _first_over(self, extra: dict[str, float], in_flight: bool) -> str | None:
        """The first limit that ``extra`` more would break, counting open reservations if in_flight."""
        for name, amount in self._used(in_flight).items():
            limit = getattr(self, name)
            if limit is not None and amount + extra[name] > limit:
                return name
        return self._wall_over()

    def _used(self, in_flight: bool) -> dict[str, float]:
        held = list(self._open.values()) if in_flight else []
        return {
            "max_calls": self._calls + sum(r.calls for r in held),
            "max_tokens": self._prompt_tokens + self._completion_tokens + sum(r.tokens for r in held),
            "max_cost_usd": self._cost_usd + sum(r.cost_usd for r in held),
        }

    def _wall_over(self) -> str | None:
        return "max_wall_s" if self.max_wall_s is not None and self.wall_s >= self.max_wall_s else None

    def _usage(self) -> dict:
        return {
            "calls": self._calls,
            "prompt_tokens": self._prompt_tokens,
            "completion_tokens": self._completion_tokens,
            "cost_usd": self._cost_usd,
            "cost_known": self._cost_known,
            "wall_s": self.wall_s,
            "in_flight": len(self._open),
        }

    def _close(self, reservation: Reservation) -> None:
        if self._open.pop(reservation.id, None) is None:
            raise ValueError(f"reservation {reservation.id} was already settled or released")

    def _wake(self) -> None:
        self._cond.notify_all()
        waiters, self._async_waiters = self._async_waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
