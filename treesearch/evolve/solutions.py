"""Solution evolution (``strategy="evolve"``): an archive of programs for a problem scored by a number.

Where a problem's answer is not pass/fail but a score — the speed of a correct program, a quality
measure — :func:`evolve_solution` keeps an archive of programs (:mod:`treesearch.archive`) and grows it
the way OpenEvolve and ShinkaEvolve do: first programs from the model, then generation after
generation a parent drawn by score and child count is edited by the model, or two parents are
crossed; every child is scored by the evaluator in the sandbox (never in this process), stage by
stage, and kept if it is a valid program and no duplicate, even when it scores worse than its parent.
The best is the best *confirmed* score: a program that tops the record is measured again first.

The run directory (``out``) holds ``archive.sqlite`` (a second call with the same ``out`` resumes,
and may ask for more generations), ``tree.json`` / ``tree.html`` (the lineage, with each program's
scores and the diff that made it), ``config.json`` and ``result.json``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from treesearch.api import BestProgram
from treesearch.archive import Archive, StageResult, Variant
from treesearch.budget import Budget
from treesearch.evolve.loop import EvolutionSettings, GenerationRecord, generation_records, run_evolution
from treesearch.evolve.programs import ProgramFormat
from treesearch.evolve.report import write_views
from treesearch.evolve.scoring import FunctionEvaluator, ProgramEvaluator
from treesearch.problems import CodeProblem

ARCHIVE_FILE = "archive.sqlite"


@dataclass
class EvolutionResult:
    """What solution evolution found; the fields :class:`treesearch.api.SearchResult` shares mean
    the same here. ``best.value`` is the program's score (mean of its final-stage evaluations) and
    ``best.node_id`` its variant id; ``best_trusted`` says whether that score was confirmed by
    re-evaluation (else no program reached the final stage often enough, and ``best`` is simply the
    top score). ``history`` has the trusted best after each generation."""

    problem_id: str
    solved: bool
    best: BestProgram | None
    best_trusted: bool
    stopped_because: str
    stats: dict[str, Any]
    model: str
    seed: int
    history: list[GenerationRecord]
    run_dir: Path | None = None
    strategy: str = "evolve"

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id, "solved": self.solved,
            "best": None if self.best is None else {"code": self.best.code, "value": self.best.value,
                                                    "node_id": self.best.node_id, "trusted": self.best_trusted},
            "stopped_because": self.stopped_because, "stats": self.stats, "model": self.model,
            "strategy": self.strategy, "seed": self.seed, "history": [asdict(r) for r in self.history],
        }


def evolve_solution(problem: CodeProblem | str | Path | dict, evaluator: Any, **kwargs: Any) -> EvolutionResult:
    """:func:`aevolve_solution` for callers without an event loop."""
    return asyncio.run(aevolve_solution(problem, evaluator, **kwargs))


async def aevolve_solution(
    problem: CodeProblem | str | Path | dict,
    evaluator: ProgramEvaluator | Callable[[str, Any], Awaitable[float]] | None,
    model: str | None = None,
    generations: int = 6,
    children_per_generation: int = 4,
    first_programs: int = 4,
    initial: list[str] | None = None,
    selection: str = "median",
    sharpness: float | None = None,
    crossover_rate: float = 0.25,
    confirmations: int = 2,
    attempts: int = 3,
    budget: int | Budget | dict | None = None,
    seed: int = 0,
    out: str | Path | None = None,
    api_base: str | None = None,
    sandbox: Any = None,
    cache: Any = True,
    on_generation: Callable[[GenerationRecord], None] | None = None,
    sandbox_backend: str = "auto",
) -> EvolutionResult:
    """Evolve programs for ``problem`` (a :class:`CodeProblem`, a problem file, or its dict) scored
    by ``evaluator``.

    evaluator: a :class:`~treesearch.evolve.scoring.ProgramEvaluator` (e.g. ``BenchmarkEvaluator``),
        or an ``async (code, sandbox) -> float`` function, one stage.
    model: a litellm model string, ``"sim"`` (the simulated editor: the problem needs a reference),
        or None for ``$TREESEARCH_MODEL``. budget: max model calls (int), a :class:`Budget` or a dict
        of its limits.
    generations / children_per_generation / first_programs: the size of the run; ``initial``: start
        from these programs instead of the model's first ones. selection: the
        parent-selection rule (``median`` is robust to the score's scale), crossover_rate: the share of
        children made by crossing two parents, confirmations: final-stage evaluations before a
        record is trusted, attempts: proposals per child before its slot is given up.
    out: the run directory (resumed when it holds an archive). on_generation: hears each
        generation's :class:`GenerationRecord` as it completes. sandbox_backend: for the sandbox
        built here (see :func:`treesearch.search`): "auto" stops before any model call where
        bubblewrap cannot run (but ``"sim"`` may fall back), "unsafe-rlimit" accepts the rlimit backend.
    """
    from treesearch.config import resolve_model_name
    from treesearch.sandbox import Sandbox

    started = time.monotonic()
    if evaluator is None:
        raise ValueError("solution evolution needs an evaluator: a ProgramEvaluator (e.g. BenchmarkEvaluator) or "
                         "an async (code, sandbox) -> float function")
    if isinstance(problem, dict):
        problem = CodeProblem.from_dict(problem)
    elif not isinstance(problem, CodeProblem):
        problem = CodeProblem.from_file(problem)
    scorer = evaluator if hasattr(evaluator, "stages") else FunctionEvaluator(evaluator)
    stages = tuple(scorer.stages)
    if isinstance(budget, dict):
        budget = Budget(**budget)
    elif isinstance(budget, int):
        budget = Budget(max_calls=budget)
    budget = budget or Budget()
    settings = EvolutionSettings(generations, children_per_generation, selection, sharpness, confirmations,
                                 crossover_rate, attempts, seed)
    model_name = resolve_model_name(model)
    run_dir = Path(out) if out is not None else None
    identity = {"problem_id": problem.id, "model": model_name, "seed": seed, "selection": selection,
                "sharpness": sharpness, "crossover_rate": crossover_rate, "confirmations": confirmations,
                "first_programs": first_programs, "initial": initial, "children_per_generation": children_per_generation,
                "stages": [asdict(s) for s in stages]}
    own_sandbox = sandbox is None
    # First: without an isolating sandbox, no model is asked for code (and no archive is started).
    sandbox = sandbox or Sandbox(sandbox_backend, trusted_code=model_name == "sim")
    archive = Archive(run_dir / ARCHIVE_FILE if run_dir is not None else ":memory:",
                      ProgramFormat(problem.entry_point if problem.kind == "function" else None), identity)
    runs_before = len(sandbox.call_log)

    async def evaluate(variant: Variant, stage: int, _seed: int) -> StageResult:
        return await scorer.evaluate(variant.payload["code"], stage, sandbox)

    try:
        proposer = _editor(model_name, problem, scorer.goal, archive, first_programs, initial, seed, budget,
                           api_base, cache, run_dir)
        stopped_because = await run_evolution(archive, proposer, stages, evaluate, settings,
                                              on_generation=on_generation)
        best = archive.best(len(stages), confirmations)
        trusted = best is not None
        if best is None:
            scored = [v for v in archive.variants("done") if v.score is not None]
            best = max(scored, key=lambda v: (v.score, -v.id)) if scored else None
        solved = False
        if best is not None:
            check = await sandbox.run(best.payload["code"], problem.kind, problem.visible_tests, problem.entry_point,
                                    prelude=problem.prelude)
            solved = check.all_passed
        usage = budget.usage
        result = EvolutionResult(
            problem_id=problem.id, solved=solved,
            best=None if best is None else BestProgram(best.payload["code"], float(best.score), best.id, solved),
            best_trusted=trusted, stopped_because=stopped_because,
            stats={"llm_calls": usage["calls"], "prompt_tokens": usage["prompt_tokens"],
                   "completion_tokens": usage["completion_tokens"],
                   "cost_usd": usage["cost_usd"] if usage.get("cost_known", True) else None,
                   "executions": len(sandbox.call_log) - runs_before, "wall_s": round(time.monotonic() - started, 3),
                   "variants": len(archive), "rejected": len(archive.rejections())},
            model=model_name, seed=seed, history=generation_records(archive, len(stages), confirmations),
            run_dir=run_dir,
        )
        if run_dir is not None:
            write_views(archive, run_dir, problem.id, stages, {**identity, "generations": generations,
                                                                "strategy": "evolve"}, result.to_dict())
        return result
    finally:
        archive.close()
        if own_sandbox:
            sandbox.close()


def _editor(model: str, problem: CodeProblem, goal: str, archive: Archive, first_programs: int,
            initial: list[str] | None, seed: int, budget: Budget, api_base: str | None, cache: Any,
            run_dir: Path | None) -> Any:
    """The simulated editor for ``sim``, else an LLM editor over :class:`treesearch.llm.LLMClient`."""
    if model == "sim":
        from treesearch.evolve.program_proposers import SimulatedProgramEditor

        return SimulatedProgramEditor(problem, first_programs, seed, budget, initial=initial)
    from treesearch.config import llm_client
    from treesearch.evolve.program_proposers import LLMProgramEditor

    client = llm_client(model, api_base, budget=budget, log_dir=run_dir, cache=cache)
    return LLMProgramEditor(client, problem, goal, archive, first_programs, initial=initial)
