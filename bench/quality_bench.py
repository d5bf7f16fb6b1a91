"""Strategies compared at equal LLM-call budgets, with the simulated coder.

Every strategy (mcts, best_of_n, self_debug, beam) searches the same HumanEval problems with the same
budgets (4, 8, 16, 32 calls) and seeds; each final program is judged once on the hidden tests. Prints
pass@1 (mean ± std over seeds) against budget and saves a plot. These are SIMULATOR figures: they
compare search algorithms on a model of an LLM coder, not any LLM.

``--quick``: 12 problems, one seed, budgets 4, 8, 16. ``--json``: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from treesearch.evaluation import EvalSettings, load_dataset, run_eval  # noqa: E402

STRATEGIES = ("mcts", "best_of_n", "self_debug", "beam")


def measure(problems, strategies, budgets, seeds, workers: int, work_dir: Path) -> dict:
    table: dict[str, dict[int, dict]] = {}
    for strategy in strategies:
        for budget in budgets:
            settings = EvalSettings(dataset="humaneval", model="sim", strategy=strategy, budget=budget,
                                    seeds=tuple(seeds), workers=workers)
            start = time.perf_counter()
            records = asyncio.run(run_eval(problems, settings, work_dir / f"{strategy}-b{budget}"))
            per_seed = [statistics.fmean(bool(r["passed_base"]) for r in records if r["seed"] == s) for s in seeds]
            table.setdefault(strategy, {})[budget] = {
                "pass@1_mean": statistics.fmean(per_seed),
                "pass@1_std": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
                "solved_visible": statistics.fmean(bool(r["solved_visible"]) for r in records),
                "llm_calls": statistics.fmean(r["llm_calls"] for r in records),
                "rethinks_tried": statistics.fmean(r["rethinks_tried"] for r in records),
                "rethinks_helped": statistics.fmean(r["rethinks_helped"] for r in records),
                "wall_s": time.perf_counter() - start,
            }
    return table


def plot(table: dict, budgets: list[int], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, rows in table.items():
        means = [100 * rows[b]["pass@1_mean"] for b in budgets]
        stds = [100 * rows[b]["pass@1_std"] for b in budgets]
        ax.errorbar(budgets, means, yerr=stds, marker="o", capsize=3, label=strategy)
    ax.set_xscale("log", base=2)
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_xlabel("LLM-call budget per problem")
    ax.set_ylabel("pass@1 on hidden tests (%)")
    ax.set_title("HumanEval, simulated coder (sim) — not an LLM")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--problems", type=int, help="first N HumanEval problems (default 40; quick 12)")
    parser.add_argument("--seeds", type=int, help="seeds per problem (default 3; quick 1)")
    parser.add_argument("--plot", type=Path, default=Path("runs/quality_bench.png"))
    args = parser.parse_args()
    n_problems = args.problems or (12 if args.quick else 40)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    budgets = [4, 8, 16] if args.quick else [4, 8, 16, 32]
    problems = load_dataset("humaneval")[:n_problems]
    with tempfile.TemporaryDirectory(prefix="quality_bench-") as tmp:
        table = measure(problems, STRATEGIES, budgets, seeds, workers=os.cpu_count() or 2, work_dir=Path(tmp))
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plotted = plot(table, budgets, args.plot)
    from treesearch.sandbox import Sandbox

    result = {
        "simulated": True, "note": "simulated coder (--model sim): algorithm comparison, not an LLM result",
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "sandbox": Sandbox(trusted_code=True).backend},
        "problems": n_problems, "seeds": seeds, "budgets": budgets,
        "table": {s: {str(b): v for b, v in rows.items()} for s, rows in table.items()},
        "plot": str(args.plot) if plotted else None,
    }
    if args.json:
        print(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    console.print(f"SIMULATOR FIGURES (--model sim), HumanEval first {n_problems} problems, seeds {seeds}, "
                  f"sandbox {result['machine']['sandbox']}, {os.cpu_count()} cores")
    out = Table(title="pass@1 on hidden tests (%) at equal LLM-call budgets, mean ± std over seeds")
    out.add_column("strategy")
    for b in budgets:
        out.add_column(f"budget {b}", justify="right")
    out.add_column("rethinks tried/helped @max", justify="right")
    for strategy, rows in table.items():
        last = rows[budgets[-1]]
        out.add_row(strategy, *(f"{100 * rows[b]['pass@1_mean']:.1f} ± {100 * rows[b]['pass@1_std']:.1f}" for b in budgets),
                    f"{last['rethinks_tried']:.2f} / {last['rethinks_helped']:.2f}")
    console.print(out)
    console.print(f"plot: {args.plot}" if plotted else "plot: matplotlib not installed (pip install matplotlib)")


if __name__ == "__main__":
    main()
