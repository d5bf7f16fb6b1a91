"""Concurrency: busy slots per step and wall time per search at K = 1, 2, 4, 8, in one run.

Targets (DESIGN.md): at equal calls against a server with a fixed latency of 1 s, K = 4 finishes at
least 2.5x faster than K = 1; during a search at K = 4, at least 3 slots are busy on average.

1. **Test server.** ``tests/llm_server.py`` in this process, answering every request after exactly
   ``--latency`` seconds, with programs that never pass every visible test, so every search spends
   its whole budget: the same number of calls at every K (checked, and printed). MCTS with rethink on
   an example problem, the LLM policy over real HTTP through litellm, no cache, the real sandbox.
2. **Local model.** The managed ``llama-server`` (as many parallel slots as the largest K) with the
   default local model, at K = 1 and 4 on an example problem, no cache, without stopping at the first
   solution. A small model can run out of leaves before the budget, so the ratio here is per call
   (seconds per call at K = 1 over those at K). On 2 cores a call takes minutes when the cores are
   shared, so the budget is small (``--local-budget``). Skipped, with the reason, when the server or
   weights are not on this machine (``treesearch local setup``), and left out of ``--quick`` unless
   ``--local`` is given; ``--skip-server`` measures only the local model.

Per row: LLM calls, wall seconds, busy slots per selection (the leaves selected plus the expansions
already in flight, after the root's selection) and averaged over time (expansions in flight,
selection to commit), and the speed-up over K = 1 measured in the same run. ``--quick`` (under a
minute) runs the test server at a smaller budget; ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine_info import cores, cpu_model  # noqa: E402
from tests.llm_server import LLMServer, wrong_coder  # noqa: E402
from treesearch.api import search  # noqa: E402
from treesearch.export.events import busy_slots  # noqa: E402
from treesearch.problems import CodeProblem  # noqa: E402

KS = (1, 2, 4, 8)
EXAMPLE = REPO / "examples" / "problems" / "run_length_encoding.json"
LOCAL_MODEL = "local/qwen2.5-coder-0.5b"
LOCAL_PROBLEMS = ("fizzbuzz",)
LOCAL_KS = (1, 4)
TARGET_SPEEDUP_K4 = 2.5
TARGET_BUSY_K4 = 3.0


def measure(problem: CodeProblem | Path, model: str, k: int, budget: int, out: Path, **kwargs) -> dict:
    started = time.perf_counter()
    result = search(problem, model=model, budget=budget, concurrency=k, cache=None, out=out, seed=0,
                    config={"early_stop": False}, **kwargs)
    wall = time.perf_counter() - started
    busy = busy_slots(result.events)
    return {"k": k, "calls": result.stats["llm_calls"], "wall_s": wall, "s_per_call": wall / max(1, result.stats["llm_calls"]),
            "busy_per_select": busy["per_select"], "busy_over_time": busy["over_time"],
            "stopped_because": result.stopped_because}


def with_speedups(rows: list[dict]) -> list[dict]:
    """Each row's speed-up over the K = 1 row: in wall time, and in seconds per call."""
    base = rows[0]
    for row in rows:
        row["speedup"] = base["wall_s"] / row["wall_s"]
        row["speedup_per_call"] = base["s_per_call"] / row["s_per_call"]
    return rows


def test_server_rows(latency: float, budget: int, workdir: Path) -> list[dict]:
    problem = CodeProblem.from_file(EXAMPLE)
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")  # the test server takes any key
    rows = []
    with LLMServer(latency_s=latency, reply=wrong_coder(problem.entry_point)) as server:
        # Warm-up, not reported: litellm's import, the sandbox's first start and the connection
        # pool would otherwise be charged to the first row measured (K = 1).
        measure(problem, "openai/gpt-4o-mini", max(KS), max(KS), workdir / "warm-up", api_base=server.url)
        for k in KS:
            rows.append(measure(problem, "openai/gpt-4o-mini", k, budget, workdir / f"server-k{k}", api_base=server.url))
    return with_speedups(rows)


def local_rows(budget: int, workdir: Path) -> tuple[list[dict], str | None]:
    """The rows on the local model, or none and why not."""
    from treesearch.local import LocalModelError, serve

    try:
        serve(LOCAL_MODEL, slots=max(LOCAL_KS), log_dir=workdir, offline=True)
    except (LocalModelError, OSError) as e:
        return [], f"local model unavailable ({e}); `treesearch local setup` builds it"
    rows = []
    for k in LOCAL_KS:
        per_problem = [measure(EXAMPLE.parent / f"{name}.json", LOCAL_MODEL, k, budget, workdir / f"local-{name}-k{k}")
                       for name in LOCAL_PROBLEMS]
        calls = sum(r["calls"] for r in per_problem)
        wall = sum(r["wall_s"] for r in per_problem)
        rows.append({"k": k, "calls": calls, "wall_s": wall, "s_per_call": wall / max(1, calls),
                     "busy_per_select": sum(r["busy_per_select"] for r in per_problem) / len(per_problem),
                     "busy_over_time": sum(r["busy_over_time"] for r in per_problem) / len(per_problem),
                     "stopped_because": "; ".join(r["stopped_because"] for r in per_problem)})
    return with_speedups(rows), None


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'K':>3} {'calls':>6} {'wall s':>8} {'s/call':>7} {'busy/select':>12} {'busy/time':>10} "
          f"{'speed-up':>9} {'per call':>9}  stopped")
    for r in rows:
        print(f"{r['k']:>3} {r['calls']:>6} {r['wall_s']:>8.2f} {r['s_per_call']:>7.2f} {r['busy_per_select']:>12.2f} "
              f"{r['busy_over_time']:>10.2f} {r['speedup']:>8.2f}x {r['speedup_per_call']:>8.2f}x  {r['stopped_because']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller budget, no local model (under a minute)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--latency", type=float, default=1.0, help="the test server's seconds per request")
    parser.add_argument("--budget", type=int, help="LLM calls per search on the test server (default 24, quick 12)")
    parser.add_argument("--local", action=argparse.BooleanOptionalAction, default=None,
                        help="measure the local model too (default: yes, except with --quick)")
    parser.add_argument("--local-budget", type=int, default=4, help="LLM calls per search on the local model")
    parser.add_argument("--skip-server", action="store_true", help="only the local model")
    args = parser.parse_args()
    budget = args.budget or (12 if args.quick else 24)
    with tempfile.TemporaryDirectory(prefix="concurrency-bench-") as tmp:
        workdir = Path(tmp)
        server = [] if args.skip_server else test_server_rows(args.latency, budget, workdir)
        if args.local is False:
            local, local_note = [], "not measured (--no-local)"
        elif args.local is None and args.quick:
            local, local_note = [], "left out of --quick (add --local)"
        else:
            local, local_note = local_rows(args.local_budget, workdir)
    if not server:
        print(json.dumps({"local_model": {"model": LOCAL_MODEL, "rows": local, "note": local_note}}, indent=2)
              if args.json else "")
        if not args.json:
            print_table(f"local model {LOCAL_MODEL}", local) if local else print(f"local model: {local_note}")
        return 0
    k4 = next(r for r in server if r["k"] == 4)
    report = {
        "machine": {"cpu": cpu_model(), "cores": cores(), "load_avg_1m": os.getloadavg()[0]},
        "test_server": {"latency_s": args.latency, "budget": budget, "problem": EXAMPLE.stem, "rows": server,
                        "equal_calls": len({r["calls"] for r in server}) == 1,
                        "k4_speedup": k4["speedup"], "k4_speedup_target": TARGET_SPEEDUP_K4,
                        "k4_busy_per_select": k4["busy_per_select"], "k4_busy_target": TARGET_BUSY_K4},
        "local_model": {"model": LOCAL_MODEL, "budget": args.local_budget, "problems": list(LOCAL_PROBLEMS),
                        "rows": local, "note": local_note},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    m = report["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, load average {m['load_avg_1m']:.1f} (1 min)")
    print_table(f"test server, {args.latency:g} s per request, MCTS on {EXAMPLE.stem}, budget {budget} calls "
                f"(equal calls: {'yes' if report['test_server']['equal_calls'] else 'NO'})", server)
    print(f"K = 4: {k4['speedup']:.2f}x faster than K = 1 (target >= {TARGET_SPEEDUP_K4}x), "
          f"{k4['busy_per_select']:.2f} slots busy per selection (target >= {TARGET_BUSY_K4})")
    if local:
        print_table(f"local model {LOCAL_MODEL} (llama-server, {max(LOCAL_KS)} slots), {', '.join(LOCAL_PROBLEMS)}, "
                    f"budget {args.local_budget} calls each", local)
    else:
        print(f"\nlocal model: {local_note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
