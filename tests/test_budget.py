"""Budget: reservations, settlement, limits, and waiting for in-flight calls (threads and asyncio)."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from treesearch.budget import Budget, BudgetExhausted


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_settlement_replaces_the_reservation_with_actual_usage():
    budget = Budget(max_tokens=1000, max_cost_usd=1.0)
    reservation = budget.reserve(est_tokens=600, est_cost=0.5)
    assert budget.usage["in_flight"] == 1 and budget.usage["calls"] == 0
    budget.settle(reservation, prompt_tokens=100, completion_tokens=50, cost_usd=0.01)
    usage = budget.usage
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"], usage["in_flight"]) == (1, 100, 50, 0)
    assert usage["cost_usd"] == pytest.approx(0.01) and usage["cost_known"] is True
    assert budget.exhausted() is None


def test_released_reservations_cost_nothing():
    budget = Budget(max_calls=1)
    budget.release(budget.reserve())
    budget.settle(budget.reserve())
    assert budget.usage["calls"] == 1
    assert budget.exhausted() == "max_calls"


def test_a_reservation_closes_once():
    budget = Budget()
    reservation = budget.reserve()
    budget.settle(reservation)
    with pytest.raises(ValueError, match="already"):
        budget.release(reservation)


@pytest.mark.parametrize(
    ("limits", "usage", "limit"),
    [
        ({"max_calls": 2}, {"calls": 2}, "max_calls"),
        ({"max_tokens": 100}, {"prompt_tokens": 60, "completion_tokens": 40}, "max_tokens"),
        ({"max_cost_usd": 0.05}, {"cost_usd": 0.05}, "max_cost_usd"),
    ],
)
def test_each_limit_is_named_when_used_up(limits, usage, limit):
    budget = Budget(**limits)
    for _ in range(usage.get("calls", 1)):
        budget.settle(
            budget.reserve(),
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            cost_usd=usage.get("cost_usd", 0.0),
        )
    assert budget.exhausted() == limit
    with pytest.raises(BudgetExhausted) as raised:
        budget.reserve(est_tokens=1, est_cost=0.001)
    assert raised.value.limit == limit and str(raised.value) == f"budget exhausted: {limit}"


def test_the_wall_limit_counts_from_construction():
    clock = FakeClock()
    budget = Budget(max_wall_s=10, clock=clock)
    budget.settle(budget.reserve())
    clock.now += 10
    assert budget.exhausted() == "max_wall_s"
    assert budget.wall_remaining_s == 0
    with pytest.raises(BudgetExhausted, match="max_wall_s"):
        budget.reserve()


def test_an_estimate_that_can_never_fit_is_refused_at_once():
    budget = Budget(max_tokens=100)
    budget.settle(budget.reserve(est_tokens=50), prompt_tokens=30)
    budget.reserve(est_tokens=70)  # fits exactly: 30 + 70
    with pytest.raises(BudgetExhausted) as raised:
        budget.reserve(est_tokens=71)  # 30 + 71 > 100 whatever happens to the one in flight
    assert raised.value.limit == "max_tokens" and raised.value.usage["prompt_tokens"] == 30


def test_unknown_costs_are_flagged():
    budget = Budget(max_cost_usd=1.0)
    budget.settle(budget.reserve(), cost_usd=None)
    budget.settle(budget.reserve(), cost_usd=0.25)
    assert budget.usage["cost_known"] is False and budget.usage["cost_usd"] == 0.25


def test_a_thread_waits_for_in_flight_calls_to_settle():
    budget = Budget(max_tokens=100)
    held = budget.reserve(est_tokens=80)
    granted = threading.Event()

    def second_call() -> None:
        budget.settle(budget.reserve(est_tokens=50), prompt_tokens=10)
        granted.set()

    thread = threading.Thread(target=second_call)
    thread.start()
    assert not granted.wait(0.1)  # 80 in flight + 50 > 100: it waits rather than ends the search
    budget.settle(held, prompt_tokens=20)  # the call used far less than it reserved
    assert granted.wait(5)
    thread.join()
    assert budget.usage["prompt_tokens"] == 30


def test_a_task_waits_for_in_flight_calls_and_then_sees_what_is_left():
    async def run() -> list:
        budget = Budget(max_calls=3)
        held = [await budget.areserve() for _ in range(3)]

        async def more() -> object:
            try:
                reservation = await budget.areserve()
            except BudgetExhausted as exc:
                return exc
            budget.settle(reservation)
            return reservation

        waiting = [asyncio.ensure_future(more()) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)
        budget.release(held[0])  # a failed call gives its place back: one waiter gets it ...
        budget.settle(held[1])
        budget.settle(held[2])
        return await asyncio.gather(*waiting)  # ... and the other waits for it, then gives up

    outcomes = asyncio.run(run())
    assert sum(isinstance(o, BudgetExhausted) for o in outcomes) == 1
    assert [o.limit for o in outcomes if isinstance(o, BudgetExhausted)] == ["max_calls"]


def test_a_waiting_task_gives_up_when_the_wall_limit_passes():
    async def run() -> None:
        budget = Budget(max_calls=1, max_wall_s=0.2)
        await budget.areserve()  # never settles
        with pytest.raises(BudgetExhausted, match="max_wall_s"):
            await budget.areserve()

    asyncio.run(run())


def test_no_limit_is_exceeded_under_concurrent_threads():
    budget = Budget(max_calls=500, max_tokens=20_000, max_cost_usd=2.0)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while True:
                est = rng.randint(50, 400)
                reservation = budget.reserve(est_tokens=est, est_cost=est / 10_000)
                time.sleep(rng.random() / 1000)
                if rng.random() < 0.1:
                    budget.release(reservation)
                    continue
                used = rng.randint(0, est)
                budget.settle(reservation, prompt_tokens=used // 2, completion_tokens=used - used // 2, cost_usd=used / 10_000)
        except BudgetExhausted:
            pass
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    usage = budget.usage
    assert not errors
    assert usage["in_flight"] == 0
    assert usage["calls"] <= 500
    assert usage["prompt_tokens"] + usage["completion_tokens"] <= 20_000
    assert usage["cost_usd"] <= 2.0 + 1e-9
    assert budget.exhausted() is not None or usage["prompt_tokens"] + usage["completion_tokens"] + 400 > 20_000
