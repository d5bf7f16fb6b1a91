"""Where the problems of a run are worked on: here (``local``) or as Ray tasks (``ray``).

``treesearch eval``, ``treesearch swebench`` and ``treesearch evolve`` hand an executor a *job* — a
module-level async function, usually a :func:`functools.partial`, so that it pickles — and the items
to run it on. :meth:`map` yields ``(item, result)`` as each finishes; the caller (the driver) alone
writes the output files, so resume and the no-loss guarantees are the same whichever executor runs
the jobs. Items are pulled from the iterable only when a slot is free (at most ``workers`` jobs in
flight), so a driver may decide per item, at the moment it starts, whether to start it at all.

A Ray job runs in a worker process of whichever node Ray picks, in its own event loop; sandboxes
start there. A worker that dies is replaced and its job re-run: first by Ray
(``max_retries``), then by the driver, which resubmits a job lost to a crashed worker or node up to
``RESUBMITS`` more times. An exception the job itself raised is re-raised in the driver as it is.
When the driver stops waiting for a job (a stage timeout, a failed sibling), its Ray task is cancelled.

Limits across all jobs — LLM calls, tokens, cost, calls in flight — live in one place: a
:class:`~treesearch.budget.Budget` in this process for ``local``, a :class:`GlobalBudget` Ray actor
for ``ray``, kept on the driver's node so that the loss of another node does not lose it. Each
search's own :class:`LinkedBudget` reserves every call from its per-problem limits *and* from that
shared budget, so a per-problem budget still applies and the total across all workers is never
exceeded. A call reserved by a worker that then dies stays reserved: the shared budget
under-spends, it never over-spends.

``ray`` is imported only when a Ray executor is built.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from treesearch.budget import Budget, BudgetExhausted, Reservation

Item = TypeVar("Item")
Result = TypeVar("Result")
Job = Callable[[Item], Awaitable[Result]]

EXECUTORS = ("local", "ray")
RAY_MISSING = "--executor ray needs Ray: pip install 'treesearch[ray]'"
TASK_RETRIES = 2
RESUBMITS = 2


class SharedBudget(Protocol):
    """What a :class:`LinkedBudget` consults: a :class:`Budget`, or :class:`GlobalBudgetHandle`."""

    async def areserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation: ...
    def reserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation: ...
    def settle(self, reservation: Reservation, prompt_tokens: int = 0, completion_tokens: int = 0,
               cost_usd: float | None = 0.0) -> None: ...
    def release(self, reservation: Reservation) -> None: ...


class Executor(Protocol):
    workers: int

    def shared_budget(self, limits: dict[str, Any], max_in_flight: int | None = None) -> SharedBudget: ...
    def map(self, job: Job, items: Iterable[Item]) -> AsyncIterator[tuple[Item, Result]]: ...


class LinkedBudget(Budget):
    """A per-search budget whose every reservation is also taken from ``shared``."""

    def __init__(self, shared: SharedBudget, **limits: Any) -> None:
        super().__init__(**limits)
        self.shared = shared
        self._shared_reservations: dict[int, Reservation] = {}

    def reserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        own = super().reserve(est_tokens, est_cost, calls)
        try:
            self._shared_reservations[own.id] = self.shared.reserve(est_tokens, est_cost, calls)
        except BaseException:
            super().release(own)
            raise
        return own

    async def areserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        own = await super().areserve(est_tokens, est_cost, calls)
        try:
            self._shared_reservations[own.id] = await self.shared.areserve(est_tokens, est_cost, calls)
        except BaseException:
            super().release(own)
            raise
        return own

    def settle(self, reservation: Reservation, prompt_tokens: int = 0, completion_tokens: int = 0,
               cost_usd: float | None = 0.0) -> None:
        super().settle(reservation, prompt_tokens, completion_tokens, cost_usd)
        self.shared.settle(self._shared_reservations.pop(reservation.id), prompt_tokens, completion_tokens, cost_usd)

    def release(self, reservation: Reservation) -> None:
        super().release(reservation)
        self.shared.release(self._shared_reservations.pop(reservation.id))


def linked_budget(shared: SharedBudget | None, **limits: Any) -> Budget:
    """A search's budget: its own ``limits``, and ``shared``'s too when there is one."""
    return Budget(**limits) if shared is None else LinkedBudget(shared, **limits)


# ---------------------------------------------------------------------- local
class LocalExecutor:
    """Jobs as asyncio tasks in this process, ``workers`` at a time."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def shared_budget(self, limits: dict[str, Any], max_in_flight: int | None = None) -> SharedBudget:
        # In one process the per-search LLM clients already bound what is in flight.
        return Budget(**limits)

    async def map(self, job: Job, items: Iterable[Item]) -> AsyncIterator[tuple[Item, Result]]:
        async def run(item: Item) -> tuple[Item, Result]:
            return item, await job(item)

        async for item, result in _bounded(items, self.workers, run):
            yield item, result


async def _bounded(items: Iterable[Item], workers: int,
                   start: Callable[[Item], Awaitable[tuple[Item, Result]]]) -> AsyncIterator[tuple[Item, Result]]:
    """``start`` on each item with at most ``workers`` in flight, pulling items lazily; yields as they finish."""
    pending: set[asyncio.Task] = set()
    source = iter(items)
    try:
        while True:
            for item in source:
                pending.add(asyncio.ensure_future(start(item)))
                if len(pending) >= workers:
                    break
            if not pending:
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                yield task.result()
    finally:
        for task in pending:
            task.cancel()


# ---------------------------------------------------------------------- ray
class RayExecutor:
    """Jobs as Ray tasks, one per item, ``workers`` at a time, on the cluster at ``address`` (or the
    one this process already joined, or a new local one)."""

    def __init__(self, workers: int, address: str | None = None) -> None:
        ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.workers = workers
        self._task = ray.remote(max_retries=TASK_RETRIES)(run_job)

    def shared_budget(self, limits: dict[str, Any], max_in_flight: int | None = None) -> SharedBudget:
        ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # On the driver's own node, taking no CPU: a worker node that leaves the cluster must not take
        # the run's totals with it (the driver's node leaving ends the run anyway).
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        actor = ray.remote(GlobalBudget).options(num_cpus=0, scheduling_strategy=here).remote(limits, max_in_flight)
        return GlobalBudgetHandle(actor)

    async def map(self, job: Job, items: Iterable[Item]) -> AsyncIterator[tuple[Item, Result]]:
        async for item, result in _bounded(items, self.workers, lambda item: self._run(job, item)):
            yield item, result

    async def _run(self, job: Job, item: Item) -> tuple[Item, Result]:
        from ray.exceptions import NodeDiedError, ObjectLostError, RayTaskError, WorkerCrashedError

        resubmits = 0
        while True:
            task = self._task.remote(job, item)
            try:
                return item, await task
            except asyncio.CancelledError:
                import_ray().cancel(task)  # a stage timeout or a failed sibling: stop the remote work too
                raise
            except RayTaskError as e:
                raise e.as_instanceof_cause() from None  # the job's own error, as a local run raises it
            except (WorkerCrashedError, NodeDiedError, ObjectLostError):
                if resubmits == RESUBMITS:
                    raise
                resubmits += 1


def run_job(job: Job, item: Item) -> Result:
    """The body of a Ray task: the job in this worker's own event loop, cancellable."""
    _heed_interrupts()
    return asyncio.run(job(item))


def _heed_interrupts() -> None:
    """Ray cancels a running task by simulating SIGINT in its worker (``_thread.interrupt_main``),
    which does nothing while SIGINT is ignored. Workers inherit that from the driver's process, and a
    shell script's background job (``treesearch eval … &``) starts with SIGINT ignored: its remote jobs
    would run on after the run stopped waiting for them."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        signal.signal(signal.SIGINT, signal.default_int_handler)


class GlobalBudget:
    """The Ray actor behind a run's shared budget: a :class:`Budget` of the run's total limits, and
    ``max_in_flight`` slots each call holds from reservation until it settles."""

    def __init__(self, limits: dict[str, Any], max_in_flight: int | None) -> None:
        self.budget = Budget(**limits)
        self.slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None

    async def reserve(self, est_tokens: int, est_cost: float, calls: int) -> Reservation | tuple[str, dict]:
        """A reservation, or (limit, usage) when exhausted: a plain value, because Ray re-creates a
        raised exception by calling its class with its message only."""
        if self.slots is not None:
            await self.slots.acquire()
        try:
            return await self.budget.areserve(est_tokens, est_cost, calls)
        except BudgetExhausted as e:
            self._free_slot()
            return e.limit, e.usage

    def settle(self, reservation: Reservation, prompt_tokens: int, completion_tokens: int,
               cost_usd: float | None) -> None:
        self.budget.settle(reservation, prompt_tokens, completion_tokens, cost_usd)
        self._free_slot()

    def release(self, reservation: Reservation) -> None:
        self.budget.release(reservation)
        self._free_slot()

    def usage(self) -> dict:
        return self.budget.usage

    def _free_slot(self) -> None:
        if self.slots is not None:
            self.slots.release()


class GlobalBudgetHandle:
    """A :class:`GlobalBudget` actor seen as a :class:`SharedBudget`; pickles into Ray tasks."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def areserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        answer = self.actor.reserve.remote(est_tokens, est_cost, calls).future()
        try:
            return _granted(await asyncio.shield(asyncio.wrap_future(answer)))
        except asyncio.CancelledError:
            # The search stopped (a solution was found) while the actor was still deciding: a
            # reservation it grants now would hold its call and slot for good; give it back.
            answer.add_done_callback(self._give_back)
            raise

    def _give_back(self, answer: concurrent.futures.Future) -> None:
        if not answer.cancelled() and answer.exception() is None and isinstance(answer.result(), Reservation):
            self.actor.release.remote(answer.result())

    def reserve(self, est_tokens: int = 0, est_cost: float = 0.0, calls: int = 1) -> Reservation:
        return _granted(import_ray().get(self.actor.reserve.remote(est_tokens, est_cost, calls)))

    # Settling waits for the actor so that a task's usage is counted before the task returns.
    def settle(self, reservation: Reservation, prompt_tokens: int = 0, completion_tokens: int = 0,
               cost_usd: float | None = 0.0) -> None:
        import_ray().get(self.actor.settle.remote(reservation, prompt_tokens, completion_tokens, cost_usd))

    def release(self, reservation: Reservation) -> None:
        import_ray().get(self.actor.release.remote(reservation))

    def usage(self) -> dict:
        return import_ray().get(self.actor.usage.remote())


def _granted(answer: Reservation | tuple[str, dict]) -> Reservation:
    if isinstance(answer, Reservation):
        return answer
    raise BudgetExhausted(*answer)


# ---------------------------------------------------------------------- choosing
def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--executor", default="local", choices=EXECUTORS,
                        help="run the problems here (local) or as Ray tasks, one per problem (ray)")
    parser.add_argument("--ray-address", help="with --executor ray: the cluster to join (auto, HEAD:6379; "
                                              "default: the running one, else a new one on this machine)")


def make_executor(name: str, workers: int, ray_address: str | None = None) -> Executor:
    """``local`` or ``ray`` (``ray_address``: a running cluster, e.g. ``auto`` or ``HEAD:6379``)."""
    if name == "local":
        if ray_address is not None:
            raise ValueError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, ray_address)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
