r"""``treesearch eval``: a strategy over a benchmark, judged honestly, resumable.

Each (problem, seed) is searched with the visible tests only; its one final program is then run
once on the hidden tests (``passed_base``) and once on HumanEval+'s extra tests (``passed_plus``,
null where the dataset has none). One line per (problem, seed) is appended to ``results.jsonl``;
killing the run at any moment and starting the same command again skips every finished line,
drops a torn last line, and never runs a finished problem twice.

The summary reports pass@1 per seed, its mean ± std over seeds, and, with :math:`n` samples per
problem (one per seed) of which :math:`c` pass, the unbiased estimator

.. math:: \text{pass@}k = \mathbb{E}_{\text{problems}}\left[1 - \binom{n - c}{k} \Big/ \binom{n}{k}\right]

for :math:`k \le n`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from treesearch.executors import Executor, LocalExecutor, SharedBudget, linked_budget
from treesearch.export.files import safe_name, write_json
from treesearch.problems import CodeProblem

DATASETS = ("humaneval", "humaneval+", "mbpp")
RESULTS = "results.jsonl"


def load_dataset(name: str, data_dir: str | Path | None = None) -> list[CodeProblem]:
    from treesearch import datasets

    if name == "humaneval":
        return datasets.load_humaneval(data_dir)
    if name == "humaneval+":
        return datasets.load_humaneval(data_dir, plus=True)
    if name == "mbpp":
        return datasets.load_mbpp(data_dir)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def select_problems(problems: list[CodeProblem], ids: Sequence[str] | None, limit: int | None) -> list[CodeProblem]:
    """``ids`` (in the given order; an unknown id is an error), else the first ``limit``."""
    if ids:
        by_id = {p.id: p for p in problems}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise ValueError(f"unknown problem id(s): {', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
        problems = [by_id[i] for i in ids]
    return problems[:limit] if limit is not None else problems


# ---------------------------------------------------------------------- the results file
class ResultsFile:
    """``results.jsonl``: append-only, one complete JSON line per finished (problem, seed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        if path.exists():
            self._recover()

    def _recover(self) -> None:
        """Read every complete line; cut a torn last line (a kill mid-write) off the file."""
        data = self.path.read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                self.records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                break
            good += len(line)
        if good < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good)

    def done(self) -> set[tuple[str, int]]:
        return {(r["problem_id"], r["seed"]) for r in self.records}

    def append(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records.append(record)


# ---------------------------------------------------------------------- running
@dataclass
class EvalSettings:
    dataset: str
    model: str
    strategy: str = "mcts"
    budget: int = 16
    seeds: tuple[int, ...] = (0,)
    workers: int = 2
    concurrency: int = 4
    value: str = "hybrid"
    api_base: str | None = None
    config: dict[str, Any] | None = None
    total_limits: dict[str, Any] | None = None  # Budget limits across every search of the run
    sandbox_backend: str = "auto"  # see treesearch.sandbox.Sandbox; "sim" may fall back to rlimit on "auto"


async def run_eval(
    problems: list[CodeProblem], settings: EvalSettings, out: Path,
    on_record: Callable[[dict[str, Any]], None] | None = None, executor: Executor | None = None,
) -> list[dict[str, Any]]:
    """Search and judge every (problem, seed) not yet in ``out/results.jsonl``; returns all records.

    ``executor`` runs the searches (default: here, ``settings.workers`` at a time); this process
    alone appends to ``results.jsonl``. ``settings.total_limits`` caps LLM calls, tokens or cost
    across all of them."""
    out.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out / RESULTS)
    finished = results.done()
    todo = [(p, s) for s in settings.seeds for p in problems if (p.id, s) not in finished]
    executor = executor or LocalExecutor(settings.workers)
    shared = None
    if settings.total_limits is not None:
        shared = executor.shared_budget(settings.total_limits, max_in_flight=executor.workers * settings.concurrency)
    job = functools.partial(search_and_judge, settings=settings, out=out, shared=shared)
    async for _, record in executor.map(job, todo):
        results.append(record)
        if on_record is not None:
            on_record(record)
    return results.records


async def search_and_judge(item: tuple[CodeProblem, int], settings: EvalSettings, out: Path,
                           shared: SharedBudget | None) -> dict[str, Any]:
    """One (problem, seed): searched with the visible tests, its final program judged on the hidden
    ones; its record for ``results.jsonl``. Runs wherever the executor puts it."""
    from treesearch.api import asearch
    from treesearch.judgement import judge

    problem, seed = item
    sandbox = process_sandbox(settings.sandbox_backend, settings.model == "sim")  # before any model call
    result = await asearch(
        problem, model=settings.model, strategy=settings.strategy,
        budget=linked_budget(shared, max_calls=settings.budget),
        concurrency=settings.concurrency, seed=seed, value=settings.value,
        out=out / "runs" / f"{safe_name(problem.id)}-s{seed}",
        api_base=settings.api_base, config=settings.config, sandbox=sandbox,
    )
    verdict = await judge(problem, result.best.code if result.best else None, sandbox)
    stats = result.stats
    return {
        "problem_id": problem.id, "seed": seed,
        "passed_base": verdict.passed_base, "passed_plus": verdict.passed_plus,
        "solved_visible": result.solved,
        "llm_calls": stats["llm_calls"], "tokens": stats["prompt_tokens"] + stats["completion_tokens"],
        "cost_usd": stats["cost_usd"], "executions": stats["executions"], "wall_s": stats["wall_s"],
        "rethinks_tried": stats["rethinks_tried"], "rethinks_helped": stats["rethinks_helped"],
        "parse_failures": stats["parse_failures"], "replies": stats.get("replies", {}),
        "stopped_because": result.stopped_because, "model": result.model, "strategy": result.strategy,
        "budget": settings.budget, "engine": engine_fingerprint(),
    }


@functools.cache
def engine_fingerprint() -> str:
    """12 hex digits of the SHA-256 of the engine's code and prompts (the ``treesearch``, ``policies``
    and ``value_models`` packages, ``.py`` and ``.txt``). Each result records it, so that a run
    resumed under a changed engine can be told from one made by a single engine throughout."""
    digest = hashlib.sha256()
    for package in ("treesearch", "policies", "value_models"):
        spec = importlib.util.find_spec(package)  # located, not imported: the engine does not load its plugins here
        for location in (spec.submodule_search_locations or []) if spec else []:
            root = Path(location)
            for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".txt") and "__pycache__" not in p.parts):
                digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@functools.cache
def process_sandbox(backend: str = "auto", trusted_code: bool = False) -> Any:
    """One sandbox pool per process (and choice), shared by the searches that run in it (the
    driver's for ``local``, each Ray worker's own for ``ray``). A SandboxError where ``backend``
    cannot run: "auto" without bubblewrap, unless ``trusted_code`` (the simulated coder's)."""
    from treesearch.sandbox import Sandbox

    return Sandbox(backend, trusted_code=trusted_code)


# ---------------------------------------------------------------------- the summary
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples of which ``c`` pass (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def summarise(records: list[dict[str, Any]], settings: EvalSettings, problem_ids: Sequence[str]) -> dict[str, Any]:
    """pass@1 (base, plus) per seed with mean ± std over seeds, pass@k over seeds, and costs."""
    wanted = set(problem_ids)
    rows = [r for r in records if r["problem_id"] in wanted and r["seed"] in settings.seeds]
    summary: dict[str, Any] = {
        "dataset": settings.dataset, "model": settings.model, "strategy": settings.strategy,
        "budget": settings.budget, "seeds": list(settings.seeds), "problems": len(wanted), "records": len(rows),
        "simulated": settings.model == "sim",
        "engines": engines_of(rows),
    }
    for suite in ("base", "plus"):
        key = f"passed_{suite}"
        scored = [r for r in rows if r[key] is not None]
        if not scored:
            summary[suite] = None
            continue
        per_seed = {}
        for seed in settings.seeds:
            seed_rows = [r for r in scored if r["seed"] == seed]
            if seed_rows:
                per_seed[seed] = sum(bool(r[key]) for r in seed_rows) / len(seed_rows)
        values = list(per_seed.values())
        by_problem: dict[str, list[bool]] = {}
        for r in scored:
            by_problem.setdefault(r["problem_id"], []).append(bool(r[key]))
        n_min = min(len(v) for v in by_problem.values())
        summary[suite] = {
            "pass@1_per_seed": per_seed,
            "pass@1_mean": statistics.fmean(values),
            "pass@1_std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "pass@k": {k: statistics.fmean(pass_at_k(len(v), sum(v), k) for v in by_problem.values())
                       for k in sorted({1, n_min}) if k <= n_min},
        }
    if rows:
        summary["per_problem"] = {
            "llm_calls": statistics.fmean(r["llm_calls"] for r in rows),
            "tokens": statistics.fmean(r["tokens"] for r in rows),
            "executions": statistics.fmean(r["executions"] for r in rows),
            "wall_s": statistics.fmean(r["wall_s"] for r in rows),
            "rethinks_tried": statistics.fmean(r["rethinks_tried"] for r in rows),
            "rethinks_helped": statistics.fmean(r["rethinks_helped"] for r in rows),
        }
        costs = [r["cost_usd"] for r in rows]
        summary["cost_usd_total"] = None if any(c is None for c in costs) else sum(costs)
    return summary


def engines_of(records: list[dict[str, Any]]) -> list[str]:
    """The engine fingerprints the records were made by (records from before fingerprints: none)."""
    return sorted({r["engine"] for r in records if r.get("engine")})


def mixed_engines_warning(engines: list[str]) -> str | None:
    if len(engines) < 2:
        return None
    return (f"these results were made by {len(engines)} versions of the engine ({', '.join(engines)}): the run was "
            "resumed after the engine changed; a new --out measures one version")


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    write_json(out / "summary.json", summary)
