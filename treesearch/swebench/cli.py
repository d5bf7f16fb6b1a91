"""``treesearch swebench`` and ``python bench/run_swebench.py``: the same command.

Wiring: ``add_swebench_parser(subparsers)`` registers the subcommand (``run`` is set to
:func:`run_swebench`); :func:`main` is the standalone script. A user error (a malformed instance
file, an unknown id, a model without its key) ends with one ``error:`` line and exit status 2; a run
in which some instances failed (missing repository, base commit, unusable gold patch) finishes the
others, reports each failure, and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from treesearch.executors import add_executor_arguments
from treesearch.sandbox.cli import (
    add_sandbox_argument,
    positive_float,
    positive_int,
    print_sandbox_note,
    whole_number,
)

LITE_FILE = "SWE-bench_Lite-test.json"


def add_instance_arguments(parser: argparse.ArgumentParser, *, ids_help: str = "these instance ids, in this order",
                           limit_help: str = "the first N instances (after --ids)", repos_required: bool = False) -> None:
    """The options that choose the instances and where their repositories are (``swebench`` and ``swebench-eval``):
    ``--instances``, ``--data-dir``, ``--ids``, ``--limit``, ``--repos-dir``."""
    parser.add_argument("--instances", type=Path,
                        help=f"SWE-bench instances, .json or .jsonl (default: {LITE_FILE} from --data-dir, $TREESEARCH_DATA "
                             "or the user cache)")
    parser.add_argument("--data-dir", type=Path, help="where to look for the default instance file")
    parser.add_argument("--ids", nargs="+", help=ids_help)
    parser.add_argument("--limit", type=positive_int("instances"), help=limit_help)
    parser.add_argument("--repos-dir", type=Path, required=repos_required,
                        help="local clones or bare mirrors: DIR/<owner>__<name>[.git] or DIR/<owner>/<name>[.git]")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_instance_arguments(parser)
    parser.add_argument("--clone-missing", action="store_true",
                        help="clone a repository missing from --repos-dir from GitHub into the cache (needs the network)")
    parser.add_argument("--model", help="litellm model string, or 'sim' for the simulated coder (default: $TREESEARCH_MODEL)")
    parser.add_argument("--api-base", help="OpenAI-compatible server URL (default: $TREESEARCH_API_BASE)")
    parser.add_argument("--strategy", default="mcts",
                        help="mcts (tree search over hypotheses and attempts) or linear (one hypothesis, an attempt "
                             "and its repairs in a row)")
    parser.add_argument("--workers", type=positive_int("instances searched at once"), default=1,
                        help="instances searched at once")
    add_executor_arguments(parser)
    parser.add_argument("--concurrency", type=positive_int("expansions"), default=2,
                        help="expansions in flight per instance")
    parser.add_argument("--budget", type=positive_int("LLM calls"), default=40, help="max LLM calls per instance")
    parser.add_argument("--max-cost", type=positive_float("USD"), help="max USD per instance")
    parser.add_argument("--max-total-cost", type=positive_float("USD"), help="max USD for the whole run")
    parser.add_argument("--width", type=positive_int("hypotheses"), default=2,
                        help="hypotheses per expansion of the issue")
    parser.add_argument("--max-steps", type=positive_int("actions"), default=12, help="actions per attempt")
    parser.add_argument("--seed", type=whole_number, default=0)
    parser.add_argument("--python", help="the interpreter the repositories' code and tests run with (default: this one)")
    parser.add_argument("--instance-envs", action="store_true",
                        help="build each instance's environment from the swebench package's specification (a venv per "
                             "repository, version and Python, cached) and run the search's checks and --local-eval in it")
    parser.add_argument("--env-dir", type=Path,
                        help="where --instance-envs builds and caches environments (default: "
                             "$XDG_CACHE_HOME/treesearch/swebench-envs)")
    parser.add_argument("--local-eval", action="store_true",
                        help="after the search, run FAIL_TO_PASS and PASS_TO_PASS here (unofficial; needs the repository's "
                             "environment installed for --python)")
    parser.add_argument("--dataset-name", default="princeton-nlp/SWE-bench_Lite",
                        help="the dataset named in the printed official evaluation command")
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumed if it exists)")
    add_sandbox_argument(parser)


def add_swebench_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``swebench`` on ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser(
        "swebench", help="resolve SWE-bench issues by tree search; writes predictions.jsonl (resumable)",
        description="Search each SWE-bench instance in its repository and write predictions.jsonl in the official "
                    "format, one run directory per instance, and a summary. Resumes an existing --out.")
    add_arguments(parser)
    parser.set_defaults(run=run_swebench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python bench/run_swebench.py ...``."""
    parser = argparse.ArgumentParser(prog="run_swebench.py", description="The SWE-bench runner (= treesearch swebench).")
    add_arguments(parser)
    try:
        return run_swebench(parser.parse_args(argv))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_swebench(args: argparse.Namespace) -> int:
    from treesearch.config import ConfigError
    from treesearch.datasets import DatasetError
    from treesearch.sandbox import SandboxError
    from treesearch.swebench.problem import InstanceError

    try:
        problems, settings = _prepare(args)
    except (InstanceError, ConfigError, DatasetError, SandboxError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return _run(problems, settings, args)


def _prepare(args: argparse.Namespace) -> tuple[list[Any], Any]:
    from treesearch.datasets import find_data_file
    from treesearch.evaluation import select_problems
    from treesearch.sandbox.command import CommandRunner
    from treesearch.swebench.problem import load_instances
    from treesearch.swebench.runner import SIM_MODEL, RunSettings

    model = (args.model or os.environ.get("TREESEARCH_MODEL") or "").strip()
    if not model:
        raise ValueError("no model configured: pass --model (a litellm model string, or 'sim' for the offline "
                         "simulated coder) or set TREESEARCH_MODEL")
    if model != SIM_MODEL:
        from treesearch.config import check_model

        check_model(model, args.api_base)  # fails now, saying what to set, not at the first call
    # The model's commands run only isolated: where they cannot be, stop now (SandboxError), before
    # anything is loaded or any model asked. Workers open their own runners (on Ray, on their machine).
    with CommandRunner(args.sandbox, max_concurrency=1, trusted_code=model == SIM_MODEL) as runner:
        if runner.backend != "bwrap" or runner.warnings:
            print_sandbox_note(f"backend {runner.backend}; " + "; ".join(runner.warnings))
    path = args.instances or find_data_file(LITE_FILE, args.data_dir)
    problems = select_problems(load_instances(path), args.ids, args.limit)
    if args.repos_dir is not None and not args.repos_dir.is_dir():
        raise ValueError(f"--repos-dir {args.repos_dir} is not a directory")
    if args.python is not None and not os.access(args.python, os.X_OK):
        raise ValueError(f"--python {args.python} is not an executable")
    settings = RunSettings(
        model=model, api_base=args.api_base, strategy=args.strategy, budget=args.budget, max_cost=args.max_cost,
        max_total_cost=args.max_total_cost, workers=args.workers, concurrency=args.concurrency, width=args.width,
        max_steps=args.max_steps, seed=args.seed, repos_dir=args.repos_dir, clone_missing=args.clone_missing,
        local_eval=args.local_eval, python=args.python, sandbox_backend=args.sandbox,
        instance_envs=args.instance_envs, env_dir=args.env_dir,
    )
    settings.search_config()  # a bad combination of knobs is a ValueError now
    return problems, settings


def _run(problems: list[Any], settings: Any, args: argparse.Namespace) -> int:
    from treesearch.executors import make_executor
    from treesearch.export.files import write_json
    from treesearch.local import serve_if_local
    from treesearch.swebench.runner import SUMMARY, evaluation_command, run_instances, summarise

    executor = make_executor(args.executor, settings.workers, args.ray_address)
    if args.executor == "local":
        serve_if_local(settings.model, settings.workers * settings.concurrency, args.out)
    console = _console()
    if settings.model == "sim":
        console.print("[dim]model: sim — the simulated coder works from each instance's gold patch; these are "
                      "simulator results, not an LLM's[/]")
    with _Progress(console, len(problems), args.out) as progress:
        records = asyncio.run(run_instances(problems, settings, args.out, progress.on_record, executor))
    summary = summarise(records, settings, len(problems))
    write_json(args.out / SUMMARY, summary)
    _print_summary(console, records, summary)
    console.print("Official evaluation (needs Docker and the swebench package):\n  "
                  + evaluation_command(args.out, args.dataset_name), soft_wrap=True)
    return 1 if summary["errors"] else 0


def _print_summary(console: Any, records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"SWE-bench — model {summary['model']}, strategy {summary['strategy']}, "
                        f"budget {summary['budget_calls']} calls per instance")
    for column in ("instance", "status", "patch", "checks", "value", "calls", "local eval (unofficial)", "stopped / error"):
        table.add_column(column, justify="right" if column in ("value", "calls") else "left")
    for r in records:
        best = r.get("best") or {}
        local = r.get("local_eval")
        table.add_row(
            r["instance_id"], r["status"],
            "-" if r.get("patch") is None else (f"{len(r['patch'].splitlines())} lines" if r["patch"] else "empty"),
            "" if r["status"] != "searched" else ("pass" if r.get("checks_passed") else "fail"),
            f"{best['value']:.2f}" if isinstance(best.get("value"), float) else "-",
            str(r.get("stats", {}).get("llm_calls", "-")),
            "-" if not isinstance(local, dict) else ("resolved" if local["resolved"] else local.get("error") or "not resolved"),
            "see below" if r.get("error") else r.get("stopped_because", ""),
        )
    console.print(table)
    for r in records:
        if r.get("error"):  # whole, on one line each: a table cell would cut or wrap them
            console.print(f"{r['status']}: {r['instance_id']}: {r['error']}", soft_wrap=True, markup=False)
    local = summary["local_eval_unofficial"]
    cost = "unknown" if summary["cost_usd"] is None else f"${summary['cost_usd']:.4f}"
    console.print(
        f"{summary['finished']}/{summary['instances']} instances finished, {summary['with_patch']} with a patch, "
        f"{summary['checks_passed']} passing every check; {len(summary['errors'])} failed, {len(summary['skipped'])} "
        f"skipped; {summary['llm_calls']} LLM calls, cost {cost}"
        + (f"; local evaluation (unofficial): {local['resolved']}/{local['evaluated']} resolved" if local else ""))


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 140))


class _Progress:
    """A progress bar over instances, counting those with a patch passing every check."""

    def __init__(self, console: Any, total: int, out: Path) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from treesearch.evaluation import ResultsFile
        from treesearch.swebench.runner import PREDICTIONS

        done = len(ResultsFile(out / PREDICTIONS).records) if (out / PREDICTIONS).exists() else 0
        self.passed = 0
        self.progress = Progress(TextColumn("swebench"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("checks pass {task.fields[passed]} · last {task.fields[last]}"),
                                 TimeElapsedColumn(), console=console, disable=not console.is_terminal)
        self.task = self.progress.add_task("swebench", total=total, completed=min(done, total), passed=0, last="-")

    def on_record(self, record: dict[str, Any]) -> None:
        self.passed += bool(record.get("checks_passed"))
        self.progress.update(self.task, advance=1, passed=self.passed, last=f"{record['instance_id']} {record['status']}")

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
