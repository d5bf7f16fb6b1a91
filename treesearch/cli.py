"""The ``treesearch`` command line: ``demo``, ``solve``, ``eval``, ``view``, ``swebench``, ``swebench-eval``,
``evolve`` and ``local``.

Every bad input — a malformed problem file, an unknown model, a missing key, a bad argument — ends
with one clear ``error:`` line on stderr and exit status 2; a model service that keeps failing ends
with status 1.

Model-written code runs only in bubblewrap: where it cannot run, ``solve``, ``demo``, ``eval``,
``swebench`` and ``evolve`` stop before the first model call, saying why and how to fix it, unless
``--sandbox unsafe-rlimit`` accepts the rlimit backend (no namespaces). ``--model sim`` runs mutations
of each problem's reference solution, which may fall back to the rlimit backend by themselves (a
note says so).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from treesearch.export.files import safe_name
from treesearch.local import serve_if_local
from treesearch.sandbox.cli import (
    add_sandbox_argument,
    open_sandbox,
    positive_int,
    whole_number,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "problems"
DEMO_MODEL = "local/qwen2.5-coder-0.5b"
# On a real model on two CPU cores a call takes 5-30 s: the demo takes a few problems and a small
# budget (chosen before any run, as the easiest-sounding four); the simulated coder takes them all.
DEMO_PROBLEMS = ("fizzbuzz", "two_sum", "run_length_encoding", "balanced_brackets")
DEMO_BUDGET = {"sim": 16, "real": 6}


class CLIError(Exception):
    """A user error the CLI reports in one line."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - turned into one clear line below
        return _report(e)


def _report(error: Exception) -> int:
    from treesearch.config import ConfigError
    from treesearch.datasets import DatasetError
    from treesearch.llm import LLMError
    from treesearch.problems import ProblemError
    from treesearch.sandbox import SandboxError
    from treesearch.tree import TreeError

    user_errors = (CLIError, ConfigError, DatasetError, ProblemError, SandboxError, TreeError, ValueError,
                   FileNotFoundError)
    if isinstance(error, user_errors):
        print(f"error: {error}", file=sys.stderr)
        return 2
    if isinstance(error, LLMError):
        print(f"error: the model service failed: {error}", file=sys.stderr)
        from treesearch.local.server import running_servers

        for server in running_servers():
            if (ended := server.describe_exit()) is not None:
                print(f"error: {ended}", file=sys.stderr)
        return 1
    raise error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="treesearch", description="MCTS over thoughts and code for LLM coding agents")
    sub = parser.add_subparsers(dest="command")

    def model_args(p: argparse.ArgumentParser, default_budget: int | None = 16, repeat_seed: bool = False) -> None:
        p.add_argument("--model", help="litellm model string, local/<name or path.gguf> for a model served here, "
                                       "or 'sim' for the simulated coder (default: $TREESEARCH_MODEL)")
        p.add_argument("--api-base", help="OpenAI-compatible server URL (default: $TREESEARCH_API_BASE)")
        p.add_argument("--strategy", default="mcts", choices=["mcts", "best_of_n", "self_debug", "beam", "s_star"])
        p.add_argument("--budget", type=positive_int("LLM calls"), default=default_budget,
                       help="max LLM calls per problem")
        p.add_argument("--concurrency", type=positive_int("expansions"), default=4, help="expansions in flight")
        if repeat_seed:
            p.add_argument("--seed", type=whole_number, action="append", dest="seeds", help="repeatable (default 0)")
        else:
            p.add_argument("--seed", type=whole_number, default=0)
        p.add_argument("--value", default="hybrid", choices=["hybrid", "execution"])
        p.add_argument("--prompts", type=Path, metavar="DIR",
                       help="prompt templates replacing the LLM policy's of the same names (policies/prompts/*.txt; "
                            "an empty system.txt sends no system message)")
        add_sandbox_argument(p)

    demo = sub.add_parser("demo", help=f"the example problems, on the local model ({DEMO_MODEL}) or --model sim")
    model_args(demo, default_budget=None)
    demo.add_argument("--problems", type=Path, nargs="+",
                      help=f"problem files or directories of them (default: {', '.join(DEMO_PROBLEMS)} from "
                           f"{EXAMPLES.relative_to(REPO)} on a real model, all of them with --model sim)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    # One expansion at a time: the same table on every run. With several in flight, which finishes
    # first depends on the sandbox's timing, and so does the rest of the search.
    demo.set_defaults(concurrency=1)
    demo.set_defaults(run=run_demo)

    solve = sub.add_parser("solve", help="search for a solution to one problem file")
    solve.add_argument("problem", type=Path)
    model_args(solve)
    solve.add_argument("--out", type=Path, help="run directory (default runs/solve-<id>-<time>)")
    solve.add_argument("--judge", action="store_true", help="run the final program on the hidden tests once")
    solve.set_defaults(run=run_solve)

    from treesearch.evolve.cli import add_evolve_parser
    from treesearch.executors import add_executor_arguments
    from treesearch.export.view import add_view_parser
    from treesearch.local.cli import add_local_parser
    from treesearch.swebench.cli import add_swebench_parser
    from treesearch.swebench.eval_cli import add_swebench_eval_parser

    add_view_parser(sub)
    add_swebench_parser(sub)
    add_swebench_eval_parser(sub)
    add_evolve_parser(sub)
    add_local_parser(sub)

    ev = sub.add_parser("eval", help="a strategy over HumanEval, HumanEval+ or MBPP, judged on hidden tests")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=["humaneval", "humaneval+", "mbpp"])
    source.add_argument("--problems", type=Path, nargs="+", metavar="FILE_OR_DIR",
                        help="your own problem files (see README, Problem files), or directories of them")
    ev.add_argument("--data-dir", type=Path, help="where the data files are (default: $TREESEARCH_DATA, the user cache)")
    ev.add_argument("--limit", type=positive_int("problems"), help="the first N problems")
    ev.add_argument("--ids", nargs="+", help="these problem ids (e.g. HumanEval/0)")
    model_args(ev, repeat_seed=True)
    ev.add_argument("--workers", type=positive_int("problems searched at once"), default=2,
                    help="problems searched at once")
    add_executor_arguments(ev)
    ev.add_argument("--out", type=Path, required=True, help="results directory (resumed if it exists)")
    ev.set_defaults(run=run_eval_command)
    return parser


def _model(args: argparse.Namespace, default: str | None = None) -> str:
    model = args.model or os.environ.get("TREESEARCH_MODEL") or default
    if not model:
        raise CLIError("no model configured: pass --model (a litellm model string, or 'sim' for the "
                       "offline simulated coder) or set TREESEARCH_MODEL")
    from treesearch.config import check_model

    return check_model(model, args.api_base)  # fails now, with what to set, not after the first call


def _search_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """The search settings given on the command line beyond the named arguments (checked now, before
    any model call): the prompts directory."""
    if args.prompts is None:
        return None
    from treesearch.api import check_prompts

    return {"prompts": str(check_prompts(args.prompts).resolve())}


async def _search_and_judge(problem: Any, args: argparse.Namespace, model: str, config: dict[str, Any] | None,
                            out: Path, sandbox: Any, progress: Any = None):
    from treesearch.api import asearch
    from treesearch.judgement import judge

    result = await asearch(
        problem, model=model, strategy=args.strategy, budget=args.budget, concurrency=args.concurrency,
        seed=args.seed, value=args.value, out=out, api_base=args.api_base, sandbox=sandbox, on_event=progress,
        config=config,
    )
    judgement = await judge(problem, result.best.code if result.best else None, sandbox)
    return result, judgement


def run_solve(args: argparse.Namespace) -> int:

    from treesearch.problems import CodeProblem

    problem = CodeProblem.from_file(args.problem)
    model = _model(args)
    config = _search_config(args)
    console = _console(stderr=True)
    sandbox = open_sandbox(args.sandbox, model, console)
    out = args.out or Path("runs") / f"solve-{safe_name(problem.id)}-{time.strftime('%Y%m%d-%H%M%S')}"
    with sandbox, _Progress(console, args.budget, problem.id) as progress:
        result, judgement = asyncio.run(_search_and_judge(problem, args, model, config, out, sandbox, progress.on_event))
    if result.best is not None:
        print(result.best.code)
    console.print(
        f"[bold]{problem.id}[/]: {'solved' if result.solved else 'not solved'} on the visible tests"
        + (f"; hidden tests {'passed' if judgement.passed_base else 'failed'}" if args.judge and judgement.passed_base is not None else "")
        + f"; stopped because {result.stopped_because}; model {result.model}"
    )
    console.print(_stats_line(result.stats))
    console.print(f"run directory: {out}")
    return 0 if result.solved else 3


def _console(stderr: bool = False) -> Any:
    """A rich console at least 120 columns wide, so tables stay readable when piped."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=max(console.width, 160))
    return console


def _demo_files(paths: list[Path] | None, simulated: bool) -> list[Path]:
    if not paths:
        return sorted(EXAMPLES.glob("*.json")) if simulated else [EXAMPLES / f"{name}.json" for name in DEMO_PROBLEMS]
    return _problem_files(paths)


def _problem_files(paths: list[Path]) -> list[Path]:
    """The problem files named, directories standing for the ``*.json`` files in them."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise CLIError(f"no problem files (*.json) in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise CLIError(f"no problem file or directory at {path}")
    return files


def run_demo(args: argparse.Namespace) -> int:
    from rich.table import Table

    from treesearch.export.files import write_json
    from treesearch.problems import CodeProblem

    model = _model(args, default=DEMO_MODEL)
    config = _search_config(args)
    simulated = model == "sim"
    problems = [CodeProblem.from_file(f) for f in _demo_files(args.problems, simulated)]
    if args.budget is None:
        args.budget = DEMO_BUDGET["sim" if simulated else "real"]
    console = _console()
    sandbox = open_sandbox(args.sandbox, model, console)  # before the local model server starts
    if simulated:
        console.print("[dim]model: sim — the built-in simulated coder (a model of an LLM coder, offline); "
                      "these are simulator results, not an LLM's[/]")
    else:
        serve_if_local(model, args.concurrency, args.out)
    rows = []
    for problem in problems:
        out = args.out / safe_name(problem.id)
        with _Progress(console, args.budget, problem.id) as progress:
            result, judgement = asyncio.run(
                _search_and_judge(problem, args, model, config, out, sandbox, progress.on_event))
        rows.append({
            "problem_id": problem.id, "solved_visible": result.solved, "passed_hidden": judgement.passed_base,
            "value": result.best.value if result.best else None, "stopped_because": result.stopped_because,
            "model": result.model, "strategy": result.strategy, "run_dir": str(out), **result.stats,
        })
    table = Table(title=f"treesearch demo — model {model}, strategy {args.strategy}, budget {args.budget} calls")
    for col in ("problem", "visible", "hidden", "value", "calls", "tokens", "execs", "rethinks (helped)", "wall s",
                "stopped"):
        table.add_column(col, justify="left" if col in ("problem", "stopped") else "right")
    for r in rows:
        table.add_row(
            r["problem_id"], _mark(r["solved_visible"]), _mark(r["passed_hidden"]),
            "-" if r["value"] is None else f"{r['value']:.2f}", str(r["llm_calls"]),
            str(r["prompt_tokens"] + r["completion_tokens"]), str(r["executions"]),
            f"{r['rethinks_tried']} ({r['rethinks_helped']})", f"{r['wall_s']:.1f}", r["stopped_because"],
        )
    console.print(table)
    hidden = sum(1 for r in rows if r["passed_hidden"])
    sandbox.close()
    console.print(f"{hidden}/{len(rows)} final programs pass their hidden tests; run directories under {args.out}/")
    write_json(args.out / "summary.json", {"model": model, "strategy": args.strategy, "budget": args.budget, "problems": rows})
    return 0


def _eval_problems(args: argparse.Namespace) -> list:
    """A built-in dataset's problems, or those of ``--problems`` files (ids must be distinct)."""
    from treesearch.evaluation import load_dataset
    from treesearch.problems import CodeProblem

    if args.dataset:
        return load_dataset(args.dataset, args.data_dir)
    files = _problem_files(args.problems)
    problems = [CodeProblem.from_file(f) for f in files]
    seen: dict[str, Path] = {}
    for problem, file in zip(problems, files):
        if problem.id in seen:
            raise CLIError(f"problem id {problem.id!r} is in both {seen[problem.id]} and {file}: results are kept "
                           "per id, so ids must be distinct")
        seen[problem.id] = file
    return problems


def run_eval_command(args: argparse.Namespace) -> int:

    from treesearch.evaluation import (
        EvalSettings,
        process_sandbox,
        run_eval,
        select_problems,
        summarise,
        write_summary,
    )
    from treesearch.executors import make_executor

    model = _model(args)
    config = _search_config(args)
    console = _console()
    # This process's sandbox (the local executor's searches share it; Ray workers check their own):
    # where it cannot isolate the model's code, the run stops here, before any model call.
    open_sandbox(args.sandbox, model, console, lambda: process_sandbox(args.sandbox, model == "sim"))
    executor = make_executor(args.executor, args.workers, args.ray_address)
    if args.executor == "local":
        serve_if_local(model, args.workers * args.concurrency, args.out)
    problems = select_problems(_eval_problems(args), args.ids, args.limit)
    settings = EvalSettings(
        dataset=args.dataset or "problem files", model=model, strategy=args.strategy, budget=args.budget,
        seeds=tuple(args.seeds or [0]), workers=args.workers, concurrency=args.concurrency,
        value=args.value, api_base=args.api_base, sandbox_backend=args.sandbox, config=config,
    )
    if model == "sim":
        console.print("[dim]model: sim — simulated coder; these are simulator figures, not an LLM's[/]")
    total = len(problems) * len(settings.seeds)
    with _EvalProgress(console, total, args.out) as progress:
        records = asyncio.run(run_eval(problems, settings, args.out, progress.on_record, executor))
    summary = summarise(records, settings, [p.id for p in problems])
    write_summary(args.out, summary)
    _print_summary(console, summary)
    return 0


def _print_summary(console: Any, summary: dict[str, Any]) -> None:
    from rich.table import Table

    from treesearch.evaluation import mixed_engines_warning

    table = Table(title=f"{summary['dataset']} — model {summary['model']}, strategy {summary['strategy']}, "
                        f"budget {summary['budget']} calls, seeds {summary['seeds']}")
    table.add_column("tests")
    table.add_column("pass@1 mean ± std", justify="right")
    table.add_column("per seed", justify="right")
    table.add_column("pass@k", justify="right")
    for suite in ("base", "plus"):
        s = summary.get(suite)
        if not s:
            continue
        table.add_row(suite, f"{100 * s['pass@1_mean']:.1f}% ± {100 * s['pass@1_std']:.1f}",
                      " ".join(f"{100 * v:.1f}%" for v in s["pass@1_per_seed"].values()),
                      " ".join(f"@{k}: {100 * v:.1f}%" for k, v in s["pass@k"].items()))
    console.print(table)
    if warning := mixed_engines_warning(summary.get("engines", [])):
        console.print(f"[yellow]warning: {warning}[/]", highlight=False)
    pp = summary.get("per_problem")
    if pp:
        console.print(f"per problem: {pp['llm_calls']:.1f} LLM calls, {pp['tokens']:.0f} tokens, "
                      f"{pp['executions']:.1f} executions, {pp['wall_s']:.2f} s wall, "
                      f"{pp['rethinks_tried']:.2f} rethinks ({pp['rethinks_helped']:.2f} helped); "
                      f"{summary['records']} records over {summary['problems']} problems")


class _EvalProgress:
    """A progress bar over (problem, seed) pairs with the running hidden-test pass rate."""

    def __init__(self, console: Any, total: int, out: Path) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from treesearch.evaluation import RESULTS, ResultsFile

        self.done = ResultsFile(out / RESULTS).records if (out / RESULTS).exists() else []
        self.passed = sum(bool(r["passed_base"]) for r in self.done)
        self.progress = Progress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("pass {task.fields[rate]}"), TimeElapsedColumn(), console=console,
                                 disable=not console.is_terminal)
        self.task = self.progress.add_task("eval", total=total, completed=min(total, len(self.done)),
                                           rate=self._rate())

    def _rate(self) -> str:
        return f"{100 * self.passed / len(self.done):.1f}%" if self.done else "-"

    def on_record(self, record: dict[str, Any]) -> None:
        self.done.append(record)
        self.passed += bool(record["passed_base"])
        self.progress.update(self.task, advance=1, rate=self._rate())

    def __enter__(self) -> _EvalProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _mark(value: bool | None) -> str:
    return "-" if value is None else ("pass" if value else "FAIL")


def _stats_line(stats: dict[str, Any]) -> str:
    cost = "unknown" if stats["cost_usd"] is None else f"${stats['cost_usd']:.4f}"
    return (f"LLM calls {stats['llm_calls']}, tokens {stats['prompt_tokens']}+{stats['completion_tokens']}, "
            f"cost {cost}, executions {stats['executions']}, rethinks {stats['rethinks_tried']} "
            f"(helped {stats['rethinks_helped']}), wall {stats['wall_s']:.1f} s")


class _Progress:
    """A progress bar over the LLM-call budget, with the best value so far; where the output is not a
    terminal (a log, CI), a plain line per model call instead."""

    def __init__(self, console: Any, budget: int, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console, self.budget, self.label = console, budget, label
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("calls · best {task.fields[best]}"), TimeElapsedColumn(),
                                 console=console, transient=True, disable=not console.is_terminal)
        self.task = self.progress.add_task(label, total=budget, best="-")
        self.best = None
        self.calls = 0
        self.started = time.monotonic()

    def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "propose":
            self.progress.advance(self.task)
            self.calls += 1
            if not self.console.is_terminal:
                best = "-" if self.best is None else f"{self.best:.2f}"
                self.console.print(f"{self.label}: {event.get('kind', '?')} proposed ({self.calls} so far, budget "
                                   f"{self.budget} calls), best value {best}, {time.monotonic() - self.started:.0f} s",
                                   highlight=False)
        elif event["type"] == "evaluate":
            self.best = max(self.best or 0.0, event["value"])
            self.progress.update(self.task, best=f"{self.best:.2f}")

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


if __name__ == "__main__":
    sys.exit(main())
