"""``--executor ray``: the same results as ``local``, a killed worker's problem re-run, a removed
node's problem re-run, a global budget.

One local Ray instance (2 CPUs, no dashboard) serves the whole module; the commands join it because
this process already did ``ray.init``. The three-node cluster of the removed-node test lives in a
process of its own (``tests/ray_cluster.py``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.repo_fixtures import CALC, WORDS, build_instance, write_instances
from tests.test_eval import needs_data
from treesearch.cli import main as treesearch_main
from treesearch.evaluation import EvalSettings, load_dataset, run_eval
from treesearch.executors import TASK_RETRIES, RayExecutor

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(240)

TIMING = {"wall_s", "started", "finished", "time_s", "elapsed_s"}


@pytest.fixture(scope="module")
def ray_instance():
    from ray import cloudpickle

    temp_dir = tempfile.mkdtemp(prefix="ray")  # short: Ray's socket paths must fit in 107 bytes
    # Started as from a shell script's background job, which ignores SIGINT: the workers inherit
    # that, and Ray's cancellation of a running task is a simulated SIGINT
    # (test_the_remote_jobs_stop_when_the_run_ends_early).
    interrupts = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
    finally:
        signal.signal(signal.SIGINT, interrupts)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def records_by_problem(out: Path) -> dict[tuple[str, int], dict]:
    """``results.jsonl`` by (problem, seed), timings left out."""
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_problem = {(r["problem_id"], r["seed"]): without_timing(r) for r in records}
    assert len(by_problem) == len(records), "a (problem, seed) has more than one result"
    return by_problem


@needs_data
def test_eval_on_ray_gives_the_local_results(ray_instance, tmp_path, capsys):
    def command(executor: str) -> list[str]:
        return ["eval", "--dataset", "humaneval", "--model", "sim", "--budget", "8", "--limit", "10",
                "--workers", "2", "--executor", executor, "--out", str(tmp_path / executor)]

    assert treesearch_main(command("local")) == 0
    local_output = capsys.readouterr().out
    assert treesearch_main(command("ray")) == 0
    ray_output = capsys.readouterr().out

    local, on_ray = records_by_problem(tmp_path / "local"), records_by_problem(tmp_path / "ray")
    assert len(local) == 10 and on_ray == local
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["records"] == 10 and summary["base"] == json.loads((tmp_path / "local" / "summary.json")
                                                                      .read_text())["base"]
    assert "pass@1" in ray_output and ray_output.count("pass@1") == local_output.count("pass@1")
    assert len(list((tmp_path / "ray" / "runs").iterdir())) == 10  # each search's run directory


def test_swebench_on_ray_gives_the_local_results(ray_instance, tmp_path):
    from treesearch.swebench.cli import main as swebench_main

    repos = tmp_path / "repos"
    repos.mkdir()
    calc, words = build_instance(repos, CALC), build_instance(repos, WORDS, layout="mirror")
    instances = write_instances(tmp_path / "instances.json", [calc, words, {**calc, "instance_id": "acme__calc-2"}])
    results = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        assert swebench_main(["--instances", str(instances), "--repos-dir", str(repos), "--model", "sim",
                              "--budget", "30", "--workers", "2", "--executor", executor, "--out", str(out)]) == 0
        predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        results[executor] = (
            sorted(predictions, key=lambda p: p["instance_id"]),
            {p.name: without_timing(json.loads((p / "result.json").read_text())) for p in (out / "instances").iterdir()},
        )
    predictions, records = results["ray"]
    assert [p["instance_id"] for p in predictions] == ["acme__calc-1", "acme__calc-2", "acme__textutil-1"]
    assert all(p["model_patch"] for p in predictions)
    assert results["ray"] == results["local"]
    assert all(r["status"] == "searched" for r in records.values())


# ---------------------------------------------------------------------- a worker dies
async def crash_first_tries(item: tuple[Any, int], job: Any, markers: Path, crashes: dict[str, int]) -> Any:
    """``job``, after this worker process SIGKILLs itself on the first ``crashes[problem id]`` tries."""
    problem, _ = item
    marker = markers / problem.id.replace("/", "_")
    tries = int(marker.read_text()) if marker.exists() else 0
    if tries < crashes.get(problem.id, 0):
        marker.write_text(str(tries + 1))
        os.kill(os.getpid(), signal.SIGKILL)
    return await job(item)


class CrashingWorkers(RayExecutor):
    """A Ray executor whose jobs kill their worker on their first tries."""

    def __init__(self, markers: Path, crashes: dict[str, int]) -> None:
        super().__init__(workers=2)
        self.markers, self.crashes = markers, crashes

    def map(self, job: Any, items: Iterable[Any]) -> AsyncIterator[tuple[Any, Any]]:
        return super().map(functools.partial(crash_first_tries, job=job, markers=self.markers,
                                             crashes=self.crashes), items)


@needs_data
def test_a_killed_worker_has_its_problem_run_again(ray_instance, tmp_path):
    problems = load_dataset("humaneval")[:6]
    markers = tmp_path / "markers"
    markers.mkdir()
    # one problem's worker dies once (Ray retries it); another's more often than Ray retries (the driver resubmits)
    crashes = {problems[1].id: 1, problems[4].id: TASK_RETRIES + 1}
    settings = EvalSettings(dataset="humaneval", model="sim", budget=6)
    out = tmp_path / "eval"
    asyncio.run(run_eval(problems, settings, out, executor=CrashingWorkers(markers, crashes)))

    records = records_by_problem(out)
    assert sorted(records) == sorted((p.id, 0) for p in problems)  # every problem: exactly one result
    assert {m.name: int(m.read_text()) for m in markers.iterdir()} == {
        problem_id.replace("/", "_"): count for problem_id, count in crashes.items()}  # the workers did die
    asyncio.run(run_eval(problems, settings, tmp_path / "local"))
    assert records == records_by_problem(tmp_path / "local")


# ---------------------------------------------------------------------- a node leaves
@needs_data
def test_a_node_removed_mid_run_loses_and_repeats_no_problem(tmp_path):
    """A head and two 1-CPU worker nodes on this machine; once a result is recorded, the worker node
    running a job is removed. Run by ``tests/ray_cluster.py`` in a process of its own: a driver joins
    one cluster at a time, and this module's other tests share ``ray_instance``."""
    from tests.ray_cluster import SETTINGS

    problems = load_dataset("humaneval")[:6]
    out = tmp_path / "eval"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("ray_cluster.py")), str(out),
                             str(len(problems))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the cluster it started
        output, _ = proc.communicate()
        pytest.fail(f"the run on the cluster did not finish:\n{output[-3000:]}")
    assert proc.returncode == 0, output[-3000:]

    report = json.loads((tmp_path / "cluster.json").read_text())
    removed = report["removed"]
    assert removed in report["workers"] and 1 <= report["recorded_before"] < len(problems), report
    (kept,) = set(report["workers"]) - {removed}
    records = records_by_problem(out)
    assert sorted(records) == sorted((p.id, 0) for p in problems)  # every problem: exactly one result
    tries = {name: ([t["node"] for t in entries if "started" in t], [t["node"] for t in entries if "finished" in t])
             for name, entries in report["tries"].items()}
    assert len(tries) == len(problems) and all(len(finished) == 1 for _, finished in tries.values())
    # the one job on the removed node was run again, on the other node; no other job ran twice
    assert [t for t in tries.values() if t[0] != t[1]] == [([removed, kept], [kept])]
    # the run's shared budget lived on the head node, and counted exactly the recorded calls
    assert report["budget_node"] == report["head"]
    assert report["budget_calls"] == sum(r["llm_calls"] for r in records.values())

    asyncio.run(run_eval(problems, SETTINGS, tmp_path / "local"))
    assert records == records_by_problem(tmp_path / "local")


async def fail_on_three(item: int) -> int:
    if item == 3:
        raise ValueError(f"no good: {item}")
    return item * item


def test_a_jobs_own_error_reaches_the_driver_as_it_is(ray_instance):
    async def collect() -> list[tuple[int, int]]:
        return [pair async for pair in RayExecutor(workers=2).map(fail_on_three, range(3))]

    assert sorted(asyncio.run(collect())) == [(0, 0), (1, 1), (2, 4)]

    async def run_all() -> None:
        async for _ in RayExecutor(workers=2).map(fail_on_three, range(5)):
            pass

    with pytest.raises(ValueError, match="no good: 3"):  # not retried as a crash, not wrapped
        asyncio.run(run_all())


async def slow_unless_first(item: int, markers: Path) -> int:
    """Job 0 fails once job 1 is running (Ray may start their workers seconds apart on a busy
    machine); job 1 would finish 3 s later, leaving a marker, unless it is cancelled."""
    if item == 0:
        while not (markers / "started").exists():
            await asyncio.sleep(0.05)
        raise ValueError("the first job fails")
    (markers / "started").touch()
    await asyncio.sleep(3)
    (markers / str(item)).touch()
    return item


def test_the_remote_jobs_stop_when_the_run_ends_early(ray_instance, tmp_path):
    async def run_all() -> None:
        job = functools.partial(slow_unless_first, markers=tmp_path)
        async for _ in RayExecutor(workers=2).map(job, range(2)):
            pass

    with pytest.raises(ValueError):
        asyncio.run(run_all())
    time.sleep(4)
    assert [p.name for p in tmp_path.iterdir()] == ["started"]  # job 1 was cancelled, not left running


# ---------------------------------------------------------------------- the global budget
class KeepsBudget(RayExecutor):
    """A Ray executor that lets the test read its shared budget after the run."""

    shared: Any = None

    def shared_budget(self, limits: dict[str, Any], max_in_flight: int | None = None) -> Any:
        self.shared = super().shared_budget(limits, max_in_flight)
        return self.shared


@needs_data
def test_the_global_call_cap_holds_across_workers(ray_instance, tmp_path):
    problems = load_dataset("humaneval")[10:18]
    settings = EvalSettings(dataset="humaneval", model="sim", budget=8, total_limits={"max_calls": 20})
    executor = KeepsBudget(workers=2)
    asyncio.run(run_eval(problems, settings, tmp_path / "eval", executor=executor))

    records = records_by_problem(tmp_path / "eval")
    calls = [r["llm_calls"] for r in records.values()]
    assert len(records) == len(problems)
    assert sum(calls) <= 20 and max(calls) <= 8  # the global cap and each problem's own
    assert sum(calls) == executor.shared.usage()["calls"]  # every call went through the actor
    assert sum(r["stopped_because"] == "budget: max_calls" and r["llm_calls"] < 8 for r in records.values()) >= 1, \
        "the global cap should have cut some searches short"


# ---------------------------------------------------------------------- without ray
def test_ray_is_imported_only_for_the_ray_executor(tmp_path, monkeypatch, capsys):
    check = "import sys, treesearch, treesearch.cli; treesearch.cli.build_parser(); print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True).stdout.strip() == "False"

    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    status = treesearch_main(["eval", "--dataset", "humaneval", "--model", "sim", "--executor", "ray",
                              "--out", str(tmp_path / "out")])
    assert status == 2
    assert "pip install 'treesearch[ray]'" in capsys.readouterr().err


@needs_data
def test_evolve_on_ray_scores_children_as_locally(ray_instance, tmp_path, capsys):
    for executor in ("local", "ray"):
        assert treesearch_main(["evolve", "--dataset", "humaneval", "--model", "sim", "--generations", "1",
                                "--children-per-generation", "2", "--stage-sizes", "3", "5", "--thresholds", "0.3",
                                "--budget", "4", "--executor", executor, "--out", str(tmp_path / executor)]) == 0
    capsys.readouterr()
    variants = sorted(p.name for p in (tmp_path / "ray" / "variants").iterdir())
    assert len(variants) >= 2  # the initial agent and at least one child were evaluated
    assert variants == sorted(p.name for p in (tmp_path / "local" / "variants").iterdir())
    for variant in variants:
        assert records_by_problem(tmp_path / "ray" / "variants" / variant) == \
            records_by_problem(tmp_path / "local" / "variants" / variant)
