"""Calibration of the simulated coder (``--model sim``) against GPT-3.5-turbo on HumanEval.

For every problem and seed it asks the simulated coder for one thought and one program written from
it (the first try), runs the program in the sandbox on the *official* HumanEval tests and reports the
pass rate next to the target, GPT-3.5-turbo's published pass@1 of 70.12% (as quoted in RethinkMCTS).
Then, for every first try that fails its *visible* tests (the engine's trigger), it measures repair:

* debug: up to ``--attempts`` debug proposals in a row, each shown the sandbox feedback of the
  previous program on the visible tests;
* rethink: up to ``--attempts`` rethinks in a row; a rewritten thought gets a new program written from
  it, "the code, not the plan" gets a debug proposal instead (as the engine does).

Repair rates are cumulative: the fraction of the failing first tries that pass the official tests
after at most i attempts. Programs are judged by running them, never by their mutation counts:
a mutation the tests do not notice is a pass.

Usage::

    .venv/bin/python bench/sim_calibration.py [--quick] [--json] [--seeds 3] [--attempts 3] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies.simulated import SimParams, SimulatedCoder  # noqa: E402
from treesearch.contracts import ExpansionContext  # noqa: E402
from treesearch.datasets import DatasetError, load_humaneval  # noqa: E402
from treesearch.problems import CodeProblem  # noqa: E402

TARGET_PASS_AT_1 = 70.12  # GPT-3.5-turbo, HumanEval pass@1, as quoted in RethinkMCTS (Li et al., 2024)
QUICK_PROBLEMS = 40


@dataclass
class Trial:
    """One problem and seed: the first try, and what repair did to it when it failed visibly."""

    problem_id: str
    seed: int
    passed_official: bool
    passed_visible: bool
    mutations: int
    direct_passed_official: bool
    debug: list[bool] = field(default_factory=list)  # passed the official tests after attempt i
    rethink: list[bool] = field(default_factory=list)
    rethink_plan_blamed: int = 0


class Calibration:
    def __init__(self, sandbox: Any, params: SimParams, attempts: int, concurrency: int) -> None:
        self.sandbox = sandbox
        self.params = params
        self.attempts = attempts
        self.slots = asyncio.Semaphore(concurrency)

    async def run(self, code: str, problem: CodeProblem, official: bool) -> Any:
        tests = problem.hidden_tests if official else problem.visible_tests
        async with self.slots:
            return await self.sandbox.run(code, problem.kind, tests, problem.entry_point)

    async def trial(self, problem: CodeProblem, seed: int) -> Trial:
        coder = SimulatedCoder(seed=seed, params=self.params)
        view = CodeProblem(id=problem.id, kind=problem.kind, prompt=problem.prompt, entry_point=problem.entry_point,
                           visible_tests=problem.visible_tests, reference=problem.reference)
        root = ExpansionContext(problem=view, seed=seed)
        (thought,) = await coder.propose(root, "thought", 1)
        planned = ExpansionContext(problem=view, thoughts=[thought.content], thought_metadata=[thought.metadata], seed=seed)
        (first,) = await coder.propose(planned, "code", 1)
        (direct,) = await coder.propose(root, "code", 1)
        official, visible, direct_official = await asyncio.gather(
            self.run(first.content, problem, True), self.run(first.content, problem, False),
            self.run(direct.content, problem, True),
        )
        trial = Trial(problem.id, seed, official.all_passed, visible.all_passed,
                      len(first.metadata["sim"]["mutations"]), direct_official.all_passed)
        if not visible.all_passed:
            trial.debug = await self.repair_by_debug(coder, planned, first, visible, problem)
            trial.rethink, trial.rethink_plan_blamed = await self.repair_by_rethink(coder, planned, first, visible, problem)
        return trial

    async def repair_by_debug(self, coder: SimulatedCoder, planned: ExpansionContext, program: Any, feedback: Any,
                              problem: CodeProblem) -> list[bool]:
        """Debug attempts in a row; whether each result passes the official tests."""
        results = []
        for _ in range(self.attempts):
            (program,) = await coder.propose(self.failing(planned, program, feedback), "debug", 1)
            official, feedback = await asyncio.gather(self.run(program.content, problem, True),
                                                      self.run(program.content, problem, False))
            results.append(official.all_passed)
        return results

    async def repair_by_rethink(self, coder: SimulatedCoder, planned: ExpansionContext, program: Any, feedback: Any,
                                problem: CodeProblem) -> tuple[list[bool], int]:
        results, blamed = [], 0
        for _ in range(self.attempts):
            (verdict,) = await coder.propose(self.failing(planned, program, feedback), "rethink", 1)
            target = verdict.metadata["target"]
            if target is None:
                (program,) = await coder.propose(self.failing(planned, program, feedback), "debug", 1)
            else:
                blamed += 1
                thoughts, metadata = list(planned.thoughts), list(planned.thought_metadata)
                thoughts[target], metadata[target] = verdict.content, verdict.metadata
                planned = ExpansionContext(problem=planned.problem, thoughts=thoughts, thought_metadata=metadata,
                                           seed=planned.seed)
                (program,) = await coder.propose(planned, "code", 1)
            official, feedback = await asyncio.gather(self.run(program.content, problem, True),
                                                      self.run(program.content, problem, False))
            results.append(official.all_passed)
        return results, blamed

    @staticmethod
    def failing(planned: ExpansionContext, program: Any, feedback: Any) -> ExpansionContext:
        from treesearch.sandbox import render_feedback

        return ExpansionContext(problem=planned.problem, thoughts=planned.thoughts,
                                thought_metadata=planned.thought_metadata, code=program.content,
                                code_metadata=program.metadata, feedback=feedback,
                                feedback_text=render_feedback(feedback), seed=planned.seed)


def cumulative(trials: list[Trial], attr: str, attempts: int) -> list[float]:
    """Fraction of the repaired trials passing the official tests after at most i attempts."""
    runs = [getattr(t, attr) for t in trials if getattr(t, attr)]
    if not runs:
        return [0.0] * attempts
    return [100.0 * statistics.mean(any(r[: i + 1]) for r in runs) for i in range(attempts)]


def summarise(trials: list[Trial], seeds: list[int], attempts: int) -> dict[str, Any]:
    per_seed = [100.0 * statistics.mean(t.passed_official for t in trials if t.seed == s) for s in seeds]
    mutated = [t for t in trials if t.mutations]
    failing_visible = [t for t in trials if not t.passed_visible]
    rethinks = sum(len(t.rethink) for t in trials)
    return {
        "problems": len({t.problem_id for t in trials}),
        "seeds": seeds,
        "target_pass_at_1": TARGET_PASS_AT_1,
        "first_try_pass_rate": statistics.mean(per_seed),
        "first_try_pass_rate_std": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
        "direct_pass_rate": 100.0 * statistics.mean(t.direct_passed_official for t in trials),
        "visible_pass_rate": 100.0 * statistics.mean(t.passed_visible for t in trials),
        "passes_visible_fails_official": 100.0 * statistics.mean(t.passed_visible and not t.passed_official for t in trials),
        "mean_mutations": statistics.mean(t.mutations for t in trials),
        "mutated_but_passing": 100.0 * statistics.mean(t.passed_official for t in mutated) if mutated else 0.0,
        "failing_visible": len(failing_visible),
        "debug_cumulative": cumulative(trials, "debug", attempts),
        "rethink_cumulative": cumulative(trials, "rethink", attempts),
        "rethink_plan_blamed": 100.0 * sum(t.rethink_plan_blamed for t in trials) / rethinks if rethinks else 0.0,
    }


def machine(sandbox: Any) -> dict[str, Any]:
    return {
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "sandbox_backend": sandbox.backend, "sandbox_warnings": list(sandbox.warnings),
    }


def print_table(summary: dict[str, Any], info: dict[str, Any], wall_s: float) -> None:
    print(f"sim calibration on HumanEval: {summary['problems']} problems x seeds {summary['seeds']}")
    print(f"machine: {info['processor']}, {info['cpus']} CPUs, Python {info['python']}, {info['platform']}; "
          f"sandbox backend: {info['sandbox_backend']}; {wall_s:.1f} s")
    print()
    rows = [
        ("first try (thought -> code), official tests",
         f"{summary['first_try_pass_rate']:.2f}% ± {summary['first_try_pass_rate_std']:.2f}",
         f"target {summary['target_pass_at_1']:.2f}% (GPT-3.5-turbo pass@1)"),
        ("direct code (no thought), official tests", f"{summary['direct_pass_rate']:.2f}%", ""),
        ("first try passes the visible tests", f"{summary['visible_pass_rate']:.2f}%", ""),
        ("passes visible, fails official", f"{summary['passes_visible_fails_official']:.2f}%", "weak visible tests"),
        ("mutations per first try (mean)", f"{summary['mean_mutations']:.2f}", ""),
        ("mutated first tries that still pass", f"{summary['mutated_but_passing']:.2f}%", "harmless mutations"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>16}  {note}")
    print()
    attempts = len(summary["debug_cumulative"])
    print(f"repair of the {summary['failing_visible']} first tries failing their visible tests "
          f"(cumulative % passing the official tests):")
    print(f"  {'attempt':<10}" + "".join(f"{i + 1:>8}" for i in range(attempts)))
    for name in ("debug", "rethink"):
        print(f"  {name:<10}" + "".join(f"{v:>7.1f}%" for v in summary[f"{name}_cumulative"]))
    print(f"  rethink blamed the plan in {summary['rethink_plan_blamed']:.1f}% of rethinks")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from treesearch.sandbox import Sandbox

    problems = load_humaneval(args.data_dir)
    if args.quick:
        problems = problems[:QUICK_PROBLEMS]
    seeds = list(range(args.seeds))
    params = SimParams(**json.loads(args.params)) if args.params else SimParams()
    start = time.monotonic()
    with Sandbox(backend=args.backend, trusted_code=True) as sandbox:  # the simulator: mutated references
        calibration = Calibration(sandbox, params, args.attempts, args.concurrency)
        trials = await asyncio.gather(*(calibration.trial(p, s) for p in problems for s in seeds))
        info = machine(sandbox)
    summary = summarise(list(trials), seeds, args.attempts)
    return {"summary": summary, "machine": info, "params": params.__dict__, "wall_s": time.monotonic() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_PROBLEMS} problems, one seed")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per problem (default 3; 1 with --quick)")
    parser.add_argument("--attempts", type=int, default=3, help="debug / rethink attempts in a row")
    parser.add_argument("--concurrency", type=int, default=16, help="sandbox runs in flight")
    parser.add_argument("--backend", default="auto", choices=("auto", "bwrap", "rlimit"), help="sandbox backend")
    parser.add_argument("--data-dir", default=None, help="directory holding HumanEval.jsonl.gz")
    parser.add_argument("--params", default=None, help='SimParams overrides as JSON, e.g. \'{"mutation_rate": 1.2}\'')
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    try:
        report = asyncio.run(main_async(args))
    except DatasetError as e:
        print(f"sim_calibration: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report["summary"], report["machine"], report["wall_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
