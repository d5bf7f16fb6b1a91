"""An eval on a three-node Ray cluster on this machine, one worker node removed while it runs.

Run by ``tests/test_ray.py`` in a process of its own, because a driver joins one Ray cluster at a
time and that module's other tests share a local Ray instance::

    python tests/ray_cluster.py OUT PROBLEMS

The head node has no CPUs, so every job runs on one of the two worker nodes (1 CPU each). Each job
first notes where it runs and waits ``DELAY`` seconds, so that a job is surely in flight when, once a
first result is recorded and some remain, the worker node running the newest job is removed (its
raylet and worker processes killed). The run must still finish. A run-wide limit (too high to bind)
puts the shared budget's actor in play too. ``OUT/results.jsonl`` is the eval's output;
``OUT/../cluster.json`` says which node was removed, when, where each job's tries ran, on which node
the budget actor lived and the calls it counted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import ray
from ray.cluster_utils import Cluster

from treesearch.evaluation import RESULTS, EvalSettings, load_dataset, run_eval
from treesearch.executors import RayExecutor

DELAY = 4.0  # seconds each job waits before it starts, in which its node can be removed
# One expansion at a time: at K > 1 a search that stops at a solution cancels the expansions in
# flight, and whether their calls were already counted depends on how fast the budget answers (a
# Ray actor here, a local object there); the results are compared field by field with a local run.
SETTINGS = EvalSettings(dataset="humaneval", model="sim", budget=6, total_limits={"max_calls": 1000}, concurrency=1)
NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
SMALL_HEAD = {"num_cpus": 0, "object_store_memory": 80 * 2**20, "include_dashboard": False}


async def note_and_wait(item: tuple[Any, int], job: Any, tries: Path) -> Any:
    """``job``, after noting this try (node, start time) and ``DELAY`` seconds of waiting."""
    problem, _ = item
    name = problem.id.replace("/", "_")
    node = ray.get_runtime_context().get_node_id()
    with (tries / name).open("a") as f:
        f.write(json.dumps({"node": node, "started": time.time()}) + "\n")
    await asyncio.sleep(DELAY)
    result = await job(item)
    with (tries / name).open("a") as f:
        f.write(json.dumps({"node": node, "finished": time.time()}) + "\n")
    return result


class NotingExecutor(RayExecutor):
    """A Ray executor whose jobs note their tries, and which keeps its shared budget's handle."""

    shared: Any = None

    def __init__(self, tries: Path) -> None:
        super().__init__(workers=2)
        self.tries = tries

    def shared_budget(self, limits: dict[str, Any], max_in_flight: int | None = None) -> Any:
        self.shared = super().shared_budget(limits, max_in_flight)
        return self.shared

    def map(self, job: Any, items: Iterable[Any]) -> AsyncIterator[tuple[Any, Any]]:
        return super().map(functools.partial(note_and_wait, job=job, tries=self.tries), items)


def read_tries(tries: Path) -> dict[str, list[dict]]:
    found = {}
    for path in tries.iterdir():
        lines = path.read_text().splitlines()
        found[path.name] = [json.loads(line) for line in lines if line.endswith("}")]
    return found


def remove_a_busy_node(cluster: Cluster, results: Path, tries: Path, total: int, report: dict) -> None:
    """Once a result is recorded and some remain: remove the worker node of a job that started
    less than ``DELAY / 3`` seconds ago (so it is surely still running)."""
    while True:
        recorded = results.read_text().count("\n") if results.exists() else 0
        if recorded >= total:
            report["removed"] = None  # too late: the test fails
            return
        if recorded >= 1:
            now = time.time()
            for attempts in read_tries(tries).values():
                last = attempts[-1] if attempts else {}
                if "started" in last and now - last["started"] < DELAY / 3:
                    node = next(n for n in cluster.worker_nodes if n.node_id == last["node"])
                    report.update(removed=node.node_id, recorded_before=recorded, removed_at=now)
                    cluster.remove_node(node)
                    report["removal_s"] = time.time() - now
                    return
        time.sleep(0.05)


def main(out: Path, count: int) -> None:
    problems = load_dataset("humaneval")[:count]
    tries = out.parent / "tries"
    tries.mkdir(parents=True)
    report: dict[str, Any] = {}
    start = time.time()
    cluster = Cluster(initialize_head=True, head_node_args=SMALL_HEAD)
    try:
        workers = [cluster.add_node(**NODE) for _ in range(2)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        report.update(head=cluster.head_node.node_id, workers=[n.node_id for n in workers],
                      cluster_up_s=time.time() - start)
        executor = NotingExecutor(tries)
        remover = threading.Thread(target=remove_a_busy_node, daemon=True,
                                   args=(cluster, out / RESULTS, tries, len(problems), report))
        remover.start()
        asyncio.run(run_eval(problems, SETTINGS, out, executor=executor))
        remover.join(timeout=60)
        actor = ray._private.state.actors(actor_id=executor.shared.actor._actor_id.hex())
        report.update(run_s=time.time() - start, tries=read_tries(tries), budget_node=actor["Address"]["NodeID"],
                      budget_calls=executor.shared.usage()["calls"])
    finally:
        ray.shutdown()
        cluster.shutdown()
    (out.parent / "cluster.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    # A short temp dir of its own (Ray's socket paths must fit in 107 bytes), and so that this
    # cluster's address file does not become the one a plain ``ray.init()`` on this machine joins.
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray")
    try:
        main(Path(sys.argv[1]), int(sys.argv[2]))
    finally:
        shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)
