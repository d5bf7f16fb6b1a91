"""``treesearch swebench-eval``: judge a predictions file on this machine (unofficial).

A user error (a malformed predictions or instance file, a prediction for an unknown instance, a
missing ``--repos-dir``, a sandbox that cannot isolate) ends with one ``error:`` line and exit status
2 before anything runs; a run in which some instances could not be judged (repository or Python
missing, an environment that does not build, a patch that does not apply) judges the others, writes
the report, and exits with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from treesearch.sandbox.cli import add_sandbox_argument
from treesearch.swebench.cli import LITE_FILE, add_instance_arguments


def add_swebench_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``swebench-eval`` on ``subparsers`` (from ``add_subparsers``)."""
    parser = subparsers.add_parser(
        "swebench-eval", help="judge SWE-bench predictions locally in per-instance environments (unofficial)",
        description="Judge each prediction with its instance's FAIL_TO_PASS and PASS_TO_PASS tests, run as the "
                    "official harness runs them, in a virtual environment per (repository, version, Python) built "
                    "from the swebench package's specifications, in the sandbox. Writes report.json (unofficial); "
                    "resumes an existing --out.")
    parser.add_argument("--predictions", type=Path, required=True,
                        help="predictions in the official format (.jsonl, or a .json list)")
    add_instance_arguments(parser, ids_help="judge only these instances' predictions",
                           limit_help="the first N predictions (after --ids)", repos_required=True)
    parser.add_argument("--env-dir", type=Path,
                        help="where environments are built and cached (default: $XDG_CACHE_HOME/treesearch/swebench-envs)")
    parser.add_argument("--dataset-name", default="princeton-nlp/SWE-bench_Lite",
                        help="the dataset named in the printed official evaluation command")
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumed if it exists)")
    add_sandbox_argument(parser)
    parser.set_defaults(run=run_swebench_eval)
    return parser


def run_swebench_eval(args: argparse.Namespace) -> int:
    from treesearch.datasets import DatasetError, find_data_file
    from treesearch.sandbox import SandboxError
    from treesearch.sandbox.command import CommandRunner
    from treesearch.swebench.evaluate import (
        UNOFFICIAL,
        PredictionsError,
        evaluate,
        load_predictions,
        write_report,
    )
    from treesearch.swebench.problem import InstanceError, load_instances
    from treesearch.swebench.runner import official_command
    from treesearch.swebench.venvs import EnvCache

    try:
        if not args.repos_dir.is_dir():
            raise ValueError(f"--repos-dir {args.repos_dir} is not a directory")
        problems = {p.instance_id: p for p in load_instances(args.instances or find_data_file(LITE_FILE, args.data_dir))}
        predictions = load_predictions(args.predictions, set(problems))
        if args.ids:
            unknown = sorted(set(args.ids) - {p["instance_id"] for p in predictions})
            if unknown:
                raise ValueError(f"--ids: no prediction for {', '.join(unknown[:5])}")
            predictions = [p for p in predictions if p["instance_id"] in set(args.ids)]
        predictions = predictions[: args.limit] if args.limit else predictions
        # The predictions are model-written code: they run only where the sandbox isolates them.
        runner = CommandRunner(args.sandbox, max_concurrency=1)
    except (InstanceError, PredictionsError, DatasetError, SandboxError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = official_command(args.predictions, args.dataset_name, args.out)
    print(f"swebench-eval ({UNOFFICIAL}); {len(predictions)} predictions, sandbox {runner.backend}", flush=True)
    try:
        records = asyncio.run(evaluate(predictions, problems, args.repos_dir, args.out, runner,
                                       EnvCache(args.env_dir), note=lambda line: print(line, flush=True)))
    finally:
        runner.close()
    report = write_report(args.out, records, command)
    counts = ", ".join(f"{len(report[s])} {s.replace('_', ' ')}" for s in ("resolved", "unresolved", "needs_network", "error"))
    print(f"{len(records)} instances judged (unofficial): {counts}; report: {args.out / 'report.json'}")
    for record in records:
        if record["status"] == "error":
            print(f"error: {record['instance_id']}: {record['error']}", flush=True)
    print(f"Official evaluation (needs Docker and the swebench package):\n  {command}")
    return 1 if report["error"] else 0
