"""``treesearch evolve``: Darwin-style evolution of the agent's configuration over a benchmark.

Each variant is an agent configuration (:mod:`treesearch.evolve.agents`); a meta-model reads a
parent's configuration and the logs of problems it failed and proposes a change
(:mod:`treesearch.evolve.agent_proposers`); each child is scored with the ``treesearch eval``
machinery on nested subsets of the dataset, the larger one only above a threshold; the archive keeps
every valid child (:mod:`treesearch.archive`). Everything lands in ``--out``: ``archive.sqlite``
(running the same command again resumes after a kill, and a larger ``--generations`` extends a
finished run), ``variants/v<id>/`` (each variant's eval results and search runs), ``tree.json`` /
``tree.html`` (the lineage), ``best_config.json``, ``config.json``, ``result.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from treesearch.archive import SELECTION_RULES
from treesearch.executors import add_executor_arguments
from treesearch.sandbox.cli import (
    add_sandbox_argument,
    count,
    number,
    open_sandbox,
    positive_float,
    positive_int,
    whole_number,
)

ARCHIVE_FILE = "archive.sqlite"


def add_evolve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``evolve`` subcommand on ``subparsers`` (from ``add_subparsers``)."""
    p = subparsers.add_parser(
        "evolve", help="evolve the agent's configuration over a benchmark (Darwin Gödel Machine style)",
        description="Evolve agent configurations (search parameters and prompt templates): a meta-model proposes "
                    "changed children of parents drawn from an archive, each scored on a small subset of the "
                    "dataset and, above a threshold, on a larger one. Resumes when --out holds a run.")
    p.add_argument("--dataset", required=True, choices=["humaneval", "humaneval+", "mbpp"])
    p.add_argument("--data-dir", type=Path, help="where the data files are (default: $TREESEARCH_DATA, the user cache)")
    p.add_argument("--model", help="the agent's model: a litellm model string, or 'sim' (default: $TREESEARCH_MODEL)")
    p.add_argument("--api-base", help="OpenAI-compatible server URL for --model")
    p.add_argument("--meta-model", help="the model that proposes changes (default: 'sim' with --model sim, else --model)")
    p.add_argument("--meta-api-base", help="OpenAI-compatible server URL for --meta-model")
    p.add_argument("--generations", type=count(0, "generations"), default=5)
    p.add_argument("--children-per-generation", type=positive_int("children"), default=2)
    p.add_argument("--stage-sizes", type=positive_int("problems"), nargs="+", default=[10, 30], metavar="N",
                   help="problems per evaluation stage, nested: the first N of the dataset (default 10 30)")
    p.add_argument("--thresholds", type=number, nargs="*", default=[0.4], metavar="SCORE",
                   help="score a stage needs for the next one, one per stage but the last (default 0.4)")
    p.add_argument("--stage-timeout", type=positive_float("seconds"), default=1800.0, metavar="S",
                   help="hard wall-clock limit on one stage's evaluation of one variant (default 1800 s)")
    p.add_argument("--budget", type=positive_int("LLM calls"), default=4,
                   help="LLM calls per problem, the same for every variant")
    p.add_argument("--workers", type=positive_int("problems searched at once"), default=2,
                   help="problems searched at once")
    add_executor_arguments(p)
    p.add_argument("--selection", choices=SELECTION_RULES, default="dgm", help="parent-selection rule (default dgm)")
    p.add_argument("--confirmations", type=positive_int("evaluations"), default=2,
                   help="final-stage evaluations (seeds) a new best needs before it is trusted (default 2)")
    p.add_argument("--crossover-rate", type=number, default=0.0, help="share of children crossing two parents")
    p.add_argument("--attempts", type=positive_int("proposals"), default=3,
                   help="proposals per child before its slot is given up")
    p.add_argument("--meta-budget", type=positive_int("meta-model calls"), help="max meta-model calls in this invocation")
    p.add_argument("--seed", type=whole_number, default=0)
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed when it holds a run)")
    add_sandbox_argument(p)
    p.set_defaults(run=run_evolve)
    return p


def run_evolve(args: argparse.Namespace) -> int:
    """The ``evolve`` command; user errors end with one ``error:`` line and status 2."""
    from treesearch.config import ConfigError
    from treesearch.datasets import DatasetError
    from treesearch.llm import LLMError
    from treesearch.sandbox import SandboxError

    try:
        return _evolve(args)
    except (ValueError, FileNotFoundError, ConfigError, DatasetError, SandboxError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LLMError as e:
        print(f"error: the model service failed: {e}", file=sys.stderr)
        return 1


def _evolve(args: argparse.Namespace) -> int:
    from rich.console import Console

    from treesearch.archive import Archive, Stage
    from treesearch.budget import Budget
    from treesearch.config import check_model, llm_client
    from treesearch.evaluation import EvalSettings, load_dataset, process_sandbox
    from treesearch.evolve.agent_proposers import AgentProposer, LLMMetaModel, SimulatedMetaModel
    from treesearch.evolve.agents import AgentEvaluator, AgentFormat, describe_params
    from treesearch.evolve.loop import EvolutionSettings, generation_records, run_evolution
    from treesearch.evolve.report import archive_table, format_scores, lineage, write_views
    from treesearch.executors import make_executor
    from treesearch.export.files import write_json

    model = check_model(args.model, args.api_base)  # fails now, with what to set, not after the first call
    # The agents' code runs only isolated: where it cannot be, stop now, before any model call (this
    # process's sandbox is the one the local executor's evaluations use; Ray workers check their own).
    open_sandbox(args.sandbox, model, None, lambda: process_sandbox(args.sandbox, model == "sim"))
    meta_model = args.meta_model or ("sim" if model == "sim" else model)
    if len(args.thresholds) != len(args.stage_sizes) - 1:
        raise ValueError(f"{len(args.stage_sizes)} stage(s) need {len(args.stage_sizes) - 1} threshold(s), "
                         f"got {len(args.thresholds)}")
    problems = load_dataset(args.dataset, args.data_dir)
    stages = [Stage(f"stage{k + 1}", args.thresholds[k] if k < len(args.thresholds) else None, args.stage_timeout)
              for k in range(len(args.stage_sizes))]
    settings = EvolutionSettings(args.generations, args.children_per_generation, args.selection, None,
                                 args.confirmations, args.crossover_rate, args.attempts, args.seed)
    identity = {"dataset": args.dataset, "model": model, "meta_model": meta_model, "budget": args.budget,
                "stage_sizes": args.stage_sizes, "thresholds": args.thresholds, "selection": args.selection,
                "confirmations": args.confirmations, "crossover_rate": args.crossover_rate, "seed": args.seed,
                "children_per_generation": args.children_per_generation}
    evaluator = AgentEvaluator(problems, args.stage_sizes, args.out,
                               EvalSettings(dataset=args.dataset, model=model, budget=args.budget,
                                            workers=args.workers, api_base=args.api_base,
                                            sandbox_backend=args.sandbox),
                               make_executor(args.executor, args.workers, args.ray_address))
    meta_budget = Budget(max_calls=args.meta_budget)
    if meta_model == "sim":
        meta = SimulatedMetaModel(meta_budget)
    else:
        meta = LLMMetaModel(llm_client(meta_model, args.meta_api_base, budget=meta_budget, log_dir=args.out,
                                       transcript="meta_calls.jsonl"))
    archive = Archive(args.out / ARCHIVE_FILE, AgentFormat(), identity)
    console = Console(width=max(Console().width, 140))
    try:
        resumed = len(archive)
        console.print(f"evolve: {args.dataset}, agent model {model}, meta-model {meta_model}, stages "
                      f"{' -> '.join(map(str, args.stage_sizes))} problems, budget {args.budget} calls per problem"
                      + (f"; resuming {resumed} variants from {args.out}" if resumed else ""))
        if "sim" in (model, meta_model):
            console.print("[dim]sim: the simulated coder and/or the simulated meta-model (random local moves in the "
                          "search parameters); these are simulator figures, not an LLM's[/]")

        def on_variant(v: Any) -> None:
            scores = "; ".join(f"{stages[k].name} {format_scores(s)}" for k, s in enumerate(v.scores)) or "no score"
            status = "" if v.status == "done" else f" [{v.status}: {v.reason}]"
            origin = "" if v.parent is None else f", from #{v.parent}"
            console.print(f"  #{v.id} (gen {v.generation}{origin}): {scores}{status} — {v.change}",
                          highlight=False, markup=False)

        def on_generation(record: Any) -> None:
            best = "none trusted yet" if record.best_id is None else f"#{record.best_id} at {record.best_score:.4g}"
            console.print(f"generation {record.generation} done: best {best}", highlight=False)

        stopped = asyncio.run(run_evolution(archive, AgentProposer(meta, evaluator, args.seed), stages, evaluator,
                                            settings, on_variant, on_generation))
        best = archive.best(len(stages), args.confirmations)
        title = f"evolve {args.dataset}"
        result = {
            "problem_id": title, "stopped_because": stopped, "model": model, "meta_model": meta_model,
            "strategy": "evolve", "best": None if best is None else {"node_id": best.id, "value": best.score,
                                                                      "config": best.payload["params"]},
            "history": [asdict(r) for r in generation_records(archive, len(stages), args.confirmations)],
            "variants": len(archive), "rejected": len(archive.rejections()),
        }
        doc = write_views(archive, args.out, title, stages, {**identity, "generations": args.generations}, result)
        if best is not None:
            write_json(args.out / "best_config.json", best.payload)
        console.print(archive_table(archive, stages, best, lambda v: describe_params(v.payload["params"]),
                                    f"archive — {title}, stages {' -> '.join(map(str, args.stage_sizes))} problems"))
        console.print("lineage (v = score at the deepest stage reached):", highlight=False)
        console.print(lineage(doc, console.width), highlight=False, markup=False)
        summary = "none trusted" if best is None else \
            f"#{best.id} at {best.score:.4g} ({describe_params(best.payload['params'])})"
        console.print(f"stopped: {stopped}; {len(archive)} variants, {result['rejected']} proposals rejected; "
                      f"best {summary}", highlight=False)
        console.print(f"files: {args.out}/tree.html (lineage viewer), best_config.json, archive.sqlite", highlight=False)
    finally:
        archive.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m treesearch.evolve.cli evolve ...``: the command on its own."""
    parser = argparse.ArgumentParser(prog="treesearch")
    add_evolve_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
