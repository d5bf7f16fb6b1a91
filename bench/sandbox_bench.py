"""Sandbox throughput: isolated executions per second and per-run overhead, for each backend.

For each backend that works here (``bwrap``, ``rlimit``):

* ``trivial``: a one-line function with one test. Executions per second through ``Sandbox.run`` with
  all runs submitted at once (the pool runs ``concurrency`` sandboxes at a time: one per core, and
  two per core, the default); the latency of one run at a time (the per-run overhead); and the CPU
  time per run, the engine's and the sandboxes' (``getrusage``).
* ``humaneval``: every canonical solution with its full official tests (split into one test per
  assert, all tests of a candidate in one sandbox), all submitted at once: candidates and tests per second.

With ``bwrap``, the same again with the distribution's build of this Python version, if there is one
(``Sandbox(python=...)``; Debian's is statically linked and optimised, and starts faster).

Plus the floor under any sandbox: starting the bare interpreter (``python -I -S -c pass``), and the
same in bubblewrap with the sandbox's namespaces and mounts, one at a time. The load average before
and after is printed: other work on the machine lowers every figure. ``--quick`` runs fewer
executions and 40 HumanEval problems (under a minute); ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine_info import cores, cpu_model  # noqa: E402
from treesearch.problems import TestCase  # noqa: E402
from treesearch.sandbox import Limits, Sandbox, SandboxError, split_test_code  # noqa: E402
from treesearch.sandbox.backends import BwrapBackend, probe_backend  # noqa: E402

TRIVIAL = "def inc(x):\n    return x + 1\n"
TARGET = 100  # isolated executions per second on 2 cores with bubblewrap (DESIGN.md)


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the sandboxes) so far."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def _gather(sandbox: Sandbox, jobs: list[tuple[str, list[TestCase], str]]) -> list:
    return await asyncio.gather(*[sandbox.run(code, "function", tests, entry) for code, tests, entry in jobs])


def throughput(sandbox: Sandbox, jobs: list[tuple[str, list[TestCase], str]]) -> tuple[float, list]:
    """(wall seconds, results) for ``jobs`` all submitted at once."""
    start = time.perf_counter()
    results = asyncio.run(_gather(sandbox, jobs))
    return time.perf_counter() - start, results


def trivial_jobs(n: int) -> list[tuple[str, list[TestCase], str]]:
    return [(TRIVIAL, [TestCase(input=[i], output=i + 1)], "inc") for i in range(n)]


def trivial(backend: str, python: str | None, runs: int, sequential: int) -> dict:
    cores = os.cpu_count() or 1
    row: dict = {"backend": backend, "python": python}  # None: the engine's own
    for label, concurrency in (("cores", cores), ("2x_cores", 2 * cores)):
        with Sandbox(backend, max_concurrency=concurrency, python=python) as sandbox:
            throughput(sandbox, trivial_jobs(concurrency))  # warm the pool's threads
            before = cpu_seconds()
            seconds, results = throughput(sandbox, trivial_jobs(runs))
            cpu = cpu_seconds() - before
        assert all(r.all_passed for r in results), "a trivial run failed"
        row[f"per_s_{label}"] = runs / seconds
        row[f"concurrency_{label}"] = concurrency
        if label == "cores":
            row["cpu_ms_per_run"] = 1000 * cpu / runs
    with Sandbox(backend, max_concurrency=1, python=python) as sandbox:
        latencies = []
        for code, tests, entry in trivial_jobs(sequential):
            start = time.perf_counter()
            result = sandbox.run_sync(code, "function", tests, entry)
            latencies.append(time.perf_counter() - start)
            assert result.all_passed
    row["latency_ms_median"] = 1000 * statistics.median(latencies)
    row["latency_ms_mean"] = 1000 * statistics.fmean(latencies)
    return row


def humaneval(backend: str, python: str | None, limit: int | None) -> dict | None:
    data = Path(os.environ.get("TREESEARCH_DATA") or REPO.parent / "shared" / "data") / "HumanEval.jsonl.gz"
    if not data.exists():
        return None
    with gzip.open(data, "rt") as f:
        problems = [json.loads(line) for line in f][:limit]
    jobs = [(p["prompt"] + p["canonical_solution"], split_test_code(p["test"], p["entry_point"]), p["entry_point"])
            for p in problems]
    with Sandbox(backend, python=python) as sandbox:
        seconds, results = throughput(sandbox, jobs)
    tests = sum(r.total for r in results)
    return {"backend": backend, "python": python, "problems": len(problems), "all_passed": sum(r.all_passed for r in results),
            "tests": tests, "problems_per_s": len(problems) / seconds, "tests_per_s": tests / seconds,
            "launches": sum(r.launches for r in results)}


def floor(runs: int) -> dict:
    """One interpreter start at a time, bare and inside bubblewrap as the sandbox sets it up."""
    python = [probe_backend("auto").python, "-I", "-S", "-c", "pass"]
    starts = {"python -I -S -c pass": lambda: subprocess.run(python, check=True)}
    try:
        bwrap = probe_backend("bwrap")
        starts["bwrap + python -I -S -c pass"] = lambda: _in_bwrap(bwrap, python)
    except SandboxError:
        pass
    out = {}
    for name, start_one in starts.items():
        start_one()
        times, before = [], cpu_seconds()
        for _ in range(runs):
            start = time.perf_counter()
            start_one()
            times.append(time.perf_counter() - start)
        out[name] = {"latency_ms_median": 1000 * statistics.median(times),
                     "cpu_ms_per_run": 1000 * (cpu_seconds() - before) / runs}
    return out


def _in_bwrap(bwrap: BwrapBackend, command: list[str]) -> None:
    spawn = bwrap.spawn(command, Limits())
    try:
        subprocess.run(spawn.argv, env=spawn.env, pass_fds=spawn.pass_fds, check=True)
    finally:
        for fd in spawn.pass_fds:
            os.close(fd)
        bwrap.cleanup(spawn)


def machine() -> dict:
    cpu = cpu_model()
    bwrap = shutil.which("bwrap")
    version = subprocess.run([bwrap, "--version"], capture_output=True, text=True).stdout.strip() if bwrap else None
    return {"cpu": cpu, "cores": cores(), "python": f"{platform.python_version()} ({sys.executable})",
            "kernel": platform.release(), "bwrap": version, "euid": os.geteuid(), "load_before": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # the rlimit backend's caveats are listed below
    result: dict = {"machine": machine(), "backends": {}, "trivial": [], "humaneval": [], "floor": {}}
    configurations = []
    for name in ("bwrap", "rlimit"):
        try:
            backend = probe_backend(name)
        except SandboxError as e:
            result["backends"][name] = {"available": False, "why": str(e)}
            continue
        configurations.append((name, None))
        result["backends"][name] = {"available": True, "warnings": list(backend.warnings)}
    distribution_python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if ("bwrap", None) in configurations and os.path.realpath(distribution_python) != probe_backend("bwrap").python:
        try:
            probe_backend("bwrap", distribution_python)
            configurations.append(("bwrap", distribution_python))
        except SandboxError:
            pass
    runs, sequential = (200, 30) if args.quick else (1000, 100)
    for name, python in configurations:
        result["trivial"].append(trivial(name, python, runs, sequential))
        row = humaneval(name, python, 40 if args.quick else None)
        if row:
            result["humaneval"].append(row)
    result["floor"] = floor(30 if args.quick else 100)
    result["machine"]["load_after"] = os.getloadavg()
    bwrap_row = result["trivial"][0] if result["trivial"] and result["trivial"][0]["backend"] == "bwrap" else None
    result["target"] = {"per_s": TARGET, "concurrency": "2x_cores (the default)", "python": "the engine's",
                        "met": bool(bwrap_row and bwrap_row["per_s_2x_cores"] >= TARGET)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_tables(result)


def _label(row: dict) -> str:
    return row["backend"] if row["python"] is None else f"{row['backend']}, {row['python']}"


def print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    m = result["machine"]
    console.print(f"machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
                  f"{m['bwrap'] or 'no bubblewrap'}, euid {m['euid']}")
    console.print(f"load average before: {m['load_before'][0]:.2f}, after: {m['load_after'][0]:.2f} "
                  "(other work on the machine lowers every figure)")
    for name, info in result["backends"].items():
        note = "; ".join(info.get("warnings", [])) or "full isolation" if info["available"] else info["why"]
        console.print(f"backend {name}: {'available' if info['available'] else 'unavailable'} - {note}")

    table = Table(title="trivial program, one test")
    for column in ("backend", "exec/s, 1 per core", "exec/s, 2 per core (default)", "latency median",
                   "latency mean", "CPU/run"):
        table.add_column(column, justify="right")
    for r in result["trivial"]:
        table.add_row(_label(r), f"{r['per_s_cores']:.1f}", f"{r['per_s_2x_cores']:.1f}",
                      f"{r['latency_ms_median']:.1f} ms", f"{r['latency_ms_mean']:.1f} ms", f"{r['cpu_ms_per_run']:.1f} ms")
    console.print(table)
    if result["humaneval"]:
        table = Table(title="HumanEval canonical solutions, full official tests")
        for column in ("backend", "problems", "all passed", "tests", "problems/s", "tests/s", "sandboxes"):
            table.add_column(column, justify="right")
        for r in result["humaneval"]:
            table.add_row(_label(r), str(r["problems"]), str(r["all_passed"]), str(r["tests"]),
                          f"{r['problems_per_s']:.1f}", f"{r['tests_per_s']:.0f}", str(r["launches"]))
        console.print(table)
    table = Table(title="floor: one process at a time, no harness")
    for column in ("command", "latency median", "CPU/run"):
        table.add_column(column, justify="right")
    for name, r in result["floor"].items():
        table.add_row(name, f"{r['latency_ms_median']:.1f} ms", f"{r['cpu_ms_per_run']:.1f} ms")
    console.print(table)
    target = result["target"]
    console.print(f"target: >= {target['per_s']} isolated executions/s with bwrap, the engine's Python, default "
                  f"concurrency (2 per core): {'met' if target['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
