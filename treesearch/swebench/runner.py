"""The SWE-bench runner: many instances, each searched on its own, resumable, with one predictions file.

Output directory::

    predictions.jsonl           one {"instance_id", "model_name_or_path", "model_patch"} per finished
                                instance: the official format, appended with one write + fsync, so a
                                kill never leaves a broken line (a torn last line is cut on resume)
    instances/<instance_id>/    the instance's run directory (see treesearch.swebench.search):
                                tree.json + tree.html, events.jsonl, trajectory.json, patch.diff,
                                result.json (also for an instance that failed: status "error")
    summary.json                the run's figures, rewritten at the end

An instance is *finished* once its line is in ``predictions.jsonl``; starting the same command
again skips finished instances and redoes the others from scratch (their directory is cleared
first), so a kill at any moment loses no finished work and duplicates nothing. An instance that
cannot run — its repository or base commit is missing, its gold patch does not apply for ``--model
sim`` — gets ``result.json`` with the error and no prediction, and the run goes on.

Budgets: ``budget`` LLM calls and ``max_cost`` USD per instance; ``max_total_cost`` across the run
(instances already finished count): each instance starting claims its cost cap from what is left
and gives back what it did not use, so the total is never exceeded however many run at once, and
instances that find nothing left are not started (a later run with a larger cap picks them up).
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from treesearch.budget import Budget
from treesearch.engine.state import SearchConfig
from treesearch.evaluation import ResultsFile
from treesearch.executors import Executor, LocalExecutor
from treesearch.export.files import safe_name, write_json
from treesearch.swebench.problem import RepoProblem

PREDICTIONS = "predictions.jsonl"
SUMMARY = "summary.json"
SIM_MODEL = "sim"


@dataclass
class RunSettings:
    """Everything about a run but the instances. ``python``: the interpreter the repositories' code
    runs with in the sandbox (default: the engine's own)."""

    model: str
    api_base: str | None = None
    strategy: str = "mcts"
    budget: int = 40
    max_cost: float | None = None
    max_total_cost: float | None = None
    workers: int = 1
    concurrency: int = 2
    width: int = 2
    max_steps: int = 12
    seed: int = 0
    repos_dir: Path | None = None
    clone_missing: bool = False
    local_eval: bool = False
    python: str | None = None
    instance_envs: bool = False  # check and judge in each instance's environment (treesearch.swebench.venvs)
    env_dir: Path | None = None  # where those are cached (default: the user cache)
    cache: Any = True
    sandbox_backend: str = "auto"  # see CommandRunner: "sim" may fall back to the rlimit backend on "auto"

    @property
    def model_name_or_path(self) -> str:
        """How predictions name the model (``treesearch/sim`` for the simulator)."""
        return f"treesearch/{self.model}"

    def search_config(self) -> SearchConfig:
        return SearchConfig.for_repository(self.strategy, width=self.width, max_steps=self.max_steps,
                                           concurrency=self.concurrency)


class CostCap:
    """``max_total_cost`` shared by the instances of a run (see the module docstring)."""

    def __init__(self, limit: float | None, spent: float) -> None:
        self.limit = limit
        self.spent = spent
        self.held = 0.0

    def claim(self, per_instance: float | None) -> float | None:
        """The cost cap for an instance about to start (None: unlimited); :class:`CostCapReached`
        when nothing is left."""
        if self.limit is None:
            return per_instance
        left = self.limit - self.spent - self.held
        if left <= 0:
            raise CostCapReached(f"the run's --max-total-cost of ${self.limit:.2f} is spent")
        cap = left if per_instance is None else min(per_instance, left)
        self.held += cap
        return cap

    def settle(self, claimed: float | None, used: float | None) -> None:
        if self.limit is not None and claimed is not None:
            self.held -= claimed
            self.spent += used or 0.0


class CostCapReached(Exception):
    pass


async def run_instances(problems: list[RepoProblem], settings: RunSettings, out: Path,
                        on_record: Callable[[dict[str, Any]], None] | None = None,
                        executor: Executor | None = None) -> list[dict[str, Any]]:
    """Search every instance of ``problems`` not finished in ``out``; returns the records of all of
    them (finished before or now, failed, skipped), in the order given. ``executor`` runs the
    searches (default: here, ``settings.workers`` at a time); this process alone writes
    ``predictions.jsonl`` and each ``result.json``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / PREDICTIONS).touch()  # the official command's input exists even before anything finished
    predictions = ResultsFile(out / PREDICTIONS)
    finished = {r["instance_id"] for r in predictions.records}
    records = {p.instance_id: read_record(out, p.instance_id) for p in problems if p.instance_id in finished}
    costs = CostCap(settings.max_total_cost, sum(r.get("stats", {}).get("cost_usd") or 0.0 for r in records.values()))
    executor = executor or LocalExecutor(settings.workers)

    def finish(problem: RepoProblem, record: dict[str, Any]) -> None:
        write_json(instance_dir(out, problem.instance_id) / "result.json", record)
        if record["status"] == "searched":
            predictions.append({"instance_id": problem.instance_id,
                                "model_name_or_path": settings.model_name_or_path, "model_patch": record["patch"]})
        records[problem.instance_id] = record
        if on_record is not None:
            on_record(record)

    def starting() -> Iterator[tuple[RepoProblem, float | None]]:
        """The instances to start, each with its cost cap claimed as it starts (the executor pulls
        the next one only when a worker is free); one that finds nothing left is skipped."""
        for problem in problems:
            if problem.instance_id in finished:
                continue
            directory = instance_dir(out, problem.instance_id)
            if directory.exists():
                shutil.rmtree(directory)  # an unfinished earlier try: start it again from scratch
            directory.mkdir(parents=True)
            try:
                cap = costs.claim(settings.max_cost)
            except CostCapReached as e:
                finish(problem, {"instance_id": problem.instance_id, "status": "skipped", "error": str(e)})
                continue
            yield problem, cap

    job = functools.partial(solve_in_worker, settings=settings, out=out)
    async for (problem, cap), record in executor.map(job, starting()):
        costs.settle(cap, record.get("stats", {}).get("cost_usd"))
        finish(problem, record)
    return [records[p.instance_id] for p in problems if p.instance_id in records]


async def solve_in_worker(item: tuple[RepoProblem, float | None], settings: RunSettings, out: Path) -> dict[str, Any]:
    """One instance with its cost cap, wherever the executor runs it: its repository is looked up in
    ``settings.repos_dir`` there, and its commands run in a sandbox there."""
    from treesearch.sandbox.command import CommandRunner

    problem, cap = item
    directory = instance_dir(out, problem.instance_id)
    directory.mkdir(parents=True, exist_ok=True)  # the driver made it, but on another node's disk it may not be
    runner = CommandRunner(settings.sandbox_backend, python=settings.python, max_concurrency=settings.concurrency,
                           trusted_code=settings.model == SIM_MODEL)
    try:
        return await solve(problem, settings, directory, runner, cap)
    finally:
        runner.close()


async def solve(problem: RepoProblem, settings: RunSettings, directory: Path, runner: Any,
                cost_cap: float | None) -> dict[str, Any]:
    """Search one instance; its record (``result.json``): the search's result, or status "error"."""
    import traceback

    from treesearch.config import ConfigError
    from treesearch.swebench.environment import RepoEnvironment, WorkspaceError
    from treesearch.swebench.local_eval import local_eval
    from treesearch.swebench.repos import RepoSourceError, find_repository, require_commit
    from treesearch.swebench.search import search_instance
    from treesearch.swebench.specs import SpecError, spec_for
    from treesearch.swebench.venvs import EnvBuildError, EnvCache

    def failed(error: str, **extra: Any) -> dict[str, Any]:
        return {"instance_id": problem.instance_id, "status": "error", "error": error, **extra}

    config = settings.search_config()
    try:
        source = await asyncio.to_thread(find_repository, problem.repo, settings.repos_dir, settings.clone_missing)
        await asyncio.to_thread(require_commit, source, problem.base_commit, problem.repo)
        instance_env = None
        if settings.instance_envs:
            instance_env = await asyncio.to_thread(EnvCache(settings.env_dir).get, spec_for(problem), source,
                                                   problem.environment_setup_commit or problem.base_commit)
        env = await asyncio.to_thread(RepoEnvironment(source, problem.base_commit, runner, config.concurrency,
                                                      instance_env=instance_env).open)
    except (RepoSourceError, WorkspaceError, SpecError, EnvBuildError) as e:
        return failed(str(e))
    try:
        budget = Budget(max_calls=settings.budget, max_cost_usd=cost_cap)
        policy, value_model, discriminator = build_model_parts(problem, settings, env, budget, directory, config)
        result = await search_instance(
            problem, env, policy, value_model, budget, config, directory, settings.model, discriminator,
            settings.seed, run_config={"api_base": settings.api_base, "budget": {"max_calls": settings.budget,
                                       "max_cost_usd": cost_cap}, "sandbox_backend": runner.backend},
        )
        record = result.to_dict()
        if settings.local_eval:
            record["local_eval"] = await local_eval(problem, result.patch, env)
        return record
    except (ConfigError, WorkspaceError) as e:
        return failed(str(e))
    except Exception as e:  # noqa: BLE001 - one instance's failure must not end a run over hundreds
        return failed(f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    finally:
        env.close()


def build_model_parts(problem: RepoProblem, settings: RunSettings, env: Any, budget: Budget, directory: Path,
                      config: SearchConfig) -> tuple[Any, Any, Any]:
    """(policy, value model, discriminator or None) for ``settings.model``."""
    from value_models.repo_value import hybrid_repo_value

    if settings.model == SIM_MODEL:
        from policies.simulated import SimulatorError
        from policies.simulated_repo import SimulatedRepoCoder
        from value_models.simulated_critic import SimulatedCritic

        if not problem.patch.strip():
            raise SimulatorError("--model sim works from the gold patch, and this instance has none")
        if (why_not := env.check_applies(problem.patch)) is not None:
            raise SimulatorError(f"--model sim works from the gold patch, which does not apply to "
                                 f"{problem.base_commit[:12]}: {why_not}")
        policy = SimulatedRepoCoder(problem.patch, seed=settings.seed, budget=budget)
        return policy, hybrid_repo_value(SimulatedCritic(seed=settings.seed, budget=budget)), None
    from policies.repo_policy import RepoPolicy
    from treesearch.config import llm_client
    from value_models.repo_value import RepoDiscriminator, RepoValueAgent

    client = llm_client(settings.model, settings.api_base, budget=budget, concurrency=config.concurrency,
                        log_dir=directory, cache=settings.cache, seed=settings.seed)
    discriminator = RepoDiscriminator(client) if config.discriminator_top > 1 else None
    return RepoPolicy(client), hybrid_repo_value(RepoValueAgent(client)), discriminator


def instance_dir(out: Path, instance_id: str) -> Path:
    return out / "instances" / safe_name(instance_id)


def read_record(out: Path, instance_id: str) -> dict[str, Any]:
    """A finished instance's ``result.json`` (a stub if it went missing)."""
    try:
        return orjson.loads((instance_dir(out, instance_id) / "result.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {"instance_id": instance_id, "status": "searched", "patch": None}


def summarise(records: list[dict[str, Any]], settings: RunSettings, selected: int) -> dict[str, Any]:
    searched = [r for r in records if r["status"] == "searched"]
    local = [r["local_eval"] for r in searched if isinstance(r.get("local_eval"), dict)]
    costs = [r.get("stats", {}).get("cost_usd") for r in searched]
    return {
        "model": settings.model, "simulated": settings.model == SIM_MODEL, "strategy": settings.strategy,
        "budget_calls": settings.budget, "instances": selected, "finished": len(searched),
        "with_patch": sum(bool(r.get("patch")) for r in searched),
        "checks_passed": sum(bool(r.get("checks_passed")) for r in searched),
        "errors": {r["instance_id"]: r["error"] for r in records if r["status"] == "error"},
        "skipped": [r["instance_id"] for r in records if r["status"] == "skipped"],
        "local_eval_unofficial": None if not local else {"evaluated": len(local),
                                                        "resolved": sum(bool(e.get("resolved")) for e in local)},
        "llm_calls": sum(r.get("stats", {}).get("llm_calls", 0) for r in searched),
        "cost_usd": None if any(c is None for c in costs) else sum(costs),
    }


def evaluation_command(out: Path, dataset_name: str) -> str:
    """The official SWE-bench evaluation of ``out``'s predictions (it needs Docker)."""
    return official_command(out / PREDICTIONS, dataset_name, out)


def official_command(predictions: Path, dataset_name: str, out: Path) -> str:
    """The official SWE-bench evaluation of a predictions file (it needs Docker); the run is named after ``out``."""
    return (f"python -m swebench.harness.run_evaluation --dataset_name {dataset_name} "
            f"--predictions_path {predictions} --max_workers 4 --run_id {safe_name(out.resolve().name)}")
