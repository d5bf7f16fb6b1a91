"""Search against sampling on a real model, at equal LLM-call budgets, judged on hidden tests.

Strategies: ``single`` (one program at temperature 0: the model's own pass@1), ``best_of_n``,
``self_debug``, ``beam``, ``mcts`` and ``s_star`` (S*: debugged samples, then a pick grounded in
running them on inputs the model writes) at budgets of 4, 8 and 16 calls. Each final program is
judged once on the hidden tests (and HumanEval+'s). The table gives, per strategy and budget, pass@1
(mean ± std over seeds) over the problems every listed configuration has finished (n), with calls,
tokens and wall time per problem, and the replies no parser could use per call kind.

Subsets, drawn once by this rule and listed below: HumanEval ids and MBPP (sanitized) ids, each sorted
by number and shuffled with ``random.Random(2026)``; **dev** = the first 12 of each (for choosing
settings), **report** = HumanEval's next 60 and MBPP's next 40, alternating HumanEval and MBPP while
both last (the figures to report; never used to choose settings); **dev-wide** = dev and, alternating,
HumanEval's next 36 and MBPP's next 36 after the report's (96 problems, for choices that 24 cannot
separate). ``--calibrate``: ``single`` on all
164 HumanEval problems, to set beside the published pass@1 of the model (the report's first, then
the others in a seeded order, so that a run cut short is a random sample).

Resumable: each configuration is an ``eval`` run directory (``results.jsonl``) under ``--out``;
killed and started again, it skips what is finished. Every call goes through the LLM cache, so a
rerun with unchanged prompts makes no model call. Problems are taken in rounds of ``--round``, each
round through every configuration, so that a partial run compares the strategies on the same problems.
Searches run one call at a time (``concurrency`` 1: a budget-8 search then starts with the calls of
the budget-4 search, replayed from the cache), ``--workers`` problems at once on a server with as
many slots. Wall times of a budget whose smaller budget ran before include cache replays: compare wall
times at one budget.

``--quick``: the simulated coder on 4 dev problems at budget 4 (checks the bench, not a model).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine_info import cores, cpu_model  # noqa: E402
from treesearch.api import check_prompts  # noqa: E402
from treesearch.evaluation import (  # noqa: E402
    EvalSettings,
    ResultsFile,
    engine_fingerprint,
    engines_of,
    load_dataset,
    mixed_engines_warning,
    process_sandbox,
    run_eval,
)
from treesearch.export.files import safe_name  # noqa: E402
from treesearch.judgement import judge  # noqa: E402

SEED = 2026
REJUDGED = "rejudged.jsonl"
VERDICT = ("passed_base", "passed_plus")
DEV = ['HumanEval/5', 'HumanEval/40', 'HumanEval/133', 'HumanEval/118', 'HumanEval/21', 'HumanEval/24',
       'HumanEval/132', 'HumanEval/158', 'HumanEval/10', 'HumanEval/130', 'HumanEval/163', 'HumanEval/1',
       'Mbpp/250', 'Mbpp/237', 'Mbpp/437', 'Mbpp/765', 'Mbpp/796', 'Mbpp/57', 'Mbpp/234', 'Mbpp/618',
       'Mbpp/63', 'Mbpp/743', 'Mbpp/473', 'Mbpp/794']
REPORT = ['HumanEval/94', 'Mbpp/412', 'HumanEval/104', 'Mbpp/248', 'HumanEval/7', 'Mbpp/620', 'HumanEval/17',
          'Mbpp/758', 'HumanEval/45', 'Mbpp/103', 'HumanEval/138', 'Mbpp/780', 'HumanEval/155', 'Mbpp/741',
          'HumanEval/4', 'Mbpp/453', 'HumanEval/86', 'Mbpp/111', 'HumanEval/75', 'Mbpp/56', 'HumanEval/92',
          'Mbpp/591', 'HumanEval/43', 'Mbpp/6', 'HumanEval/83', 'Mbpp/398', 'HumanEval/8', 'Mbpp/805',
          'HumanEval/122', 'Mbpp/576', 'HumanEval/114', 'Mbpp/395', 'HumanEval/78', 'Mbpp/239', 'HumanEval/52',
          'Mbpp/440', 'HumanEval/159', 'Mbpp/422', 'HumanEval/49', 'Mbpp/279', 'HumanEval/141', 'Mbpp/99',
          'HumanEval/36', 'Mbpp/607', 'HumanEval/100', 'Mbpp/755', 'HumanEval/143', 'Mbpp/602', 'HumanEval/127',
          'Mbpp/610', 'HumanEval/88', 'Mbpp/293', 'HumanEval/116', 'Mbpp/90', 'HumanEval/147', 'Mbpp/736',
          'HumanEval/162', 'Mbpp/271', 'HumanEval/68', 'Mbpp/304', 'HumanEval/42', 'Mbpp/468', 'HumanEval/35',
          'Mbpp/17', 'HumanEval/27', 'Mbpp/3', 'HumanEval/48', 'Mbpp/123', 'HumanEval/110', 'Mbpp/587',
          'HumanEval/77', 'Mbpp/127', 'HumanEval/97', 'Mbpp/79', 'HumanEval/44', 'Mbpp/593', 'HumanEval/136',
          'Mbpp/742', 'HumanEval/12', 'Mbpp/272', 'HumanEval/23', 'HumanEval/31', 'HumanEval/98', 'HumanEval/99',
          'HumanEval/84', 'HumanEval/38', 'HumanEval/56', 'HumanEval/41', 'HumanEval/9', 'HumanEval/156',
          'HumanEval/148', 'HumanEval/34', 'HumanEval/37', 'HumanEval/144', 'HumanEval/55', 'HumanEval/103',
          'HumanEval/157', 'HumanEval/105', 'HumanEval/109', 'HumanEval/120']
DEV_WIDE = DEV + ['HumanEval/111', 'Mbpp/417', 'HumanEval/71', 'Mbpp/397', 'HumanEval/32', 'Mbpp/606',
            'HumanEval/69', 'Mbpp/564', 'HumanEval/124', 'Mbpp/223', 'HumanEval/58', 'Mbpp/625', 'HumanEval/15',
            'Mbpp/565', 'HumanEval/29', 'Mbpp/749', 'HumanEval/95', 'Mbpp/557', 'HumanEval/126', 'Mbpp/12',
            'HumanEval/60', 'Mbpp/166', 'HumanEval/106', 'Mbpp/82', 'HumanEval/79', 'Mbpp/311', 'HumanEval/13',
            'Mbpp/426', 'HumanEval/85', 'Mbpp/745', 'HumanEval/93', 'Mbpp/249', 'HumanEval/6', 'Mbpp/137',
            'HumanEval/16', 'Mbpp/139', 'HumanEval/154', 'Mbpp/253', 'HumanEval/121', 'Mbpp/753', 'HumanEval/119',
            'Mbpp/88', 'HumanEval/66', 'Mbpp/472', 'HumanEval/65', 'Mbpp/59', 'HumanEval/149', 'Mbpp/301',
            'HumanEval/72', 'Mbpp/590', 'HumanEval/139', 'Mbpp/287', 'HumanEval/33', 'Mbpp/441', 'HumanEval/67',
            'Mbpp/257', 'HumanEval/50', 'Mbpp/726', 'HumanEval/62', 'Mbpp/737', 'HumanEval/76', 'Mbpp/404',
            'HumanEval/134', 'Mbpp/623', 'HumanEval/102', 'Mbpp/125', 'HumanEval/137', 'Mbpp/627', 'HumanEval/113',
            'Mbpp/233', 'HumanEval/14', 'Mbpp/69']
# The Qwen2.5-Coder technical report (arXiv 2409.12186), instruct models, HumanEval pass@1 (greedy).
PUBLISHED_HUMANEVAL = {"local/qwen2.5-coder-0.5b": 0.616, "local/qwen2.5-coder-1.5b": 0.707}
STRATEGIES = ("single", "best_of_n", "self_debug", "beam", "mcts", "s_star")
BUDGETS = (4, 8, 16)


def draw_subsets(humaneval: list[str], mbpp: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(dev, report, dev-wide) by the rule in the module docstring, from every id of each dataset."""
    def shuffled(ids: list[str]) -> list[str]:
        ids = sorted(ids, key=lambda i: int(i.split("/")[1]))
        rng.shuffle(ids)
        return ids

    rng = random.Random(SEED)
    he, mb = shuffled(humaneval), shuffled(mbpp)
    dev = he[:12] + mb[:12]
    return dev, _alternating(he[12:72], mb[12:52]), dev + _alternating(he[72:108], mb[52:88])


def _alternating(first: list[str], second: list[str]) -> list[str]:
    out: list[str] = []
    for i in range(max(len(first), len(second))):
        out += first[i:i + 1] + second[i:i + 1]
    return out


def configurations(strategies: list[str], budgets: list[int]) -> list[tuple[str, int]]:
    """(strategy, budget) pairs, smaller budgets first (a larger one replays their calls)."""
    out = [("single", 1)] if "single" in strategies else []
    return out + [(s, b) for b in sorted(budgets) for s in strategies if s != "single"]


def settings_for(strategy: str, budget: int, model: str, seeds: tuple[int, ...], workers: int,
                 overrides: dict[str, Any] | None = None, prompts: Path | None = None) -> EvalSettings:
    """``overrides`` (``--set``): search settings for every strategy but ``single``; ``prompts``
    (``--prompts``): the policy's templates for every strategy."""
    config = {"temperature": 0.0} if strategy == "single" else dict(overrides or {})
    if prompts is not None:
        config["prompts"] = str(prompts)
    return EvalSettings(dataset="bench", model=model, strategy="best_of_n" if strategy == "single" else strategy,
                        budget=budget, seeds=seeds, workers=workers, concurrency=1, config=config or None)


def load_problems(ids: list[str], data_dir: str | None) -> list[Any]:
    """The problems of ``ids`` in order: HumanEval's with HumanEval+'s tests."""
    pool = {p.id: p for name in ("humaneval+", "mbpp") for p in load_dataset(name, data_dir)}
    return [pool[i] for i in ids]


def chosen_ids(args: argparse.Namespace) -> list[str]:
    """The problems of the subset (or the calibration's order), cut to ``--limit``."""
    ids = {"report": REPORT, "dev": DEV, "dev-wide": DEV_WIDE}[args.subset]
    if args.calibrate:  # the report's HumanEval problems first: a run cut short is still a random sample
        rest = [f"HumanEval/{i}" for i in range(164)]
        first = [i for i in REPORT if i.startswith("HumanEval/")]
        ids = first + sorted(set(rest) - set(first), key=lambda i: random.Random(f"{SEED}:{i}").random())
    return ids[: args.limit] if args.limit else ids


def chosen_configs(args: argparse.Namespace) -> list[tuple[str, int]]:
    return [("single", 1)] if args.calibrate else configurations(args.strategies, args.budgets)


def run(args: argparse.Namespace) -> dict[str, Any]:
    ids = chosen_ids(args)
    problems = load_problems(ids, args.data_dir)
    configs = chosen_configs(args)
    seeds = tuple(args.seeds)
    out = args.out / args.model.replace("/", "_") / args.subset
    if args.model.startswith("local/"):
        from treesearch.local import serve

        serve(args.model, slots=args.workers, log_dir=out)
    started = time.monotonic()
    for first in range(0, len(problems), args.round):
        chunk = problems[first:first + args.round]
        for strategy, budget in configs:
            settings = settings_for(strategy, budget, args.model, seeds, args.workers, args.set, args.prompts)
            asyncio.run(run_eval(chunk, settings, out / run_name(strategy, budget, args.tag, bool(args.prompts)),
                                 on_record=functools.partial(_problem_done, f"{strategy} @ {budget}")))
            _progress(f"{min(first + args.round, len(problems))}/{len(problems)} problems: {strategy} @ {budget} done "
                      f"({time.monotonic() - started:.0f} s)")
    return summarise(out, configs, ids, seeds, args.model, args.tag, bool(args.prompts))


def row_label(strategy: str, tag: str | None = None, prompts: bool = False) -> str:
    """A strategy's label: ``--tag`` marks runs with ``--set`` settings (which ``single`` does not
    take) or with ``--prompts`` (which every strategy takes)."""
    return strategy + (f"-{tag}" if tag and (strategy != "single" or prompts) else "")


def run_name(strategy: str, budget: int, tag: str | None = None, prompts: bool = False) -> str:
    """A configuration's run directory (see :func:`row_label`)."""
    return f"{strategy}-b{budget}" + row_label(strategy, tag, prompts).removeprefix(strategy)


def finished_records(row: Path) -> list[dict[str, Any]]:
    """A row's ``results.jsonl``, each verdict replaced by its latest in ``rejudged.jsonl``."""
    verdicts = {(r["problem_id"], r["seed"]): r for r in ResultsFile(row / REJUDGED).records}
    return [{**r, **{k: verdicts[r["problem_id"], r["seed"]][k] for k in VERDICT}}
            if (r["problem_id"], r["seed"]) in verdicts else r for r in ResultsFile(row / "results.jsonl").records]


async def rejudge(row: Path, problems: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge each finished final program of ``row`` again under this engine's judge (those whose run
    directory is on this machine, not yet judged by this engine), appending the verdicts to
    ``rejudged.jsonl`` (``results.jsonl`` is left as it was written); returns those that changed."""
    rejudged = ResultsFile(row / REJUDGED)
    engine = engine_fingerprint()
    done = {(r["problem_id"], r["seed"]) for r in rejudged.records if r["engine"] == engine}
    sandbox = process_sandbox()
    changed = []
    for record in finished_records(row):
        key = (record["problem_id"], record["seed"])
        result = row / "runs" / f"{safe_name(key[0])}-s{key[1]}" / "result.json"
        if key in done or key[0] not in problems or not result.exists():
            continue
        best = json.loads(result.read_text()).get("best")
        verdict = await judge(problems[key[0]], best["code"] if best else None, sandbox)
        new = {"problem_id": key[0], "seed": key[1], "passed_base": verdict.passed_base,
               "passed_plus": verdict.passed_plus, "engine": engine}
        rejudged.append(new)
        if any(new[k] != record[k] for k in VERDICT):
            changed.append({**new, "was": {k: record[k] for k in VERDICT}})
            _progress(f"  {row.name}: {key[0]} (seed {key[1]}) was {[record[k] for k in VERDICT]}, "
                      f"now {[new[k] for k in VERDICT]}")
    return changed


def summarise(out: Path, configs: list[tuple[str, int]], ids: list[str], seeds: tuple[int, ...],
              model: str, tag: str | None = None, prompts: bool = False) -> dict[str, Any]:
    """The table over the problems every configuration has finished for every seed."""
    records = {c: [r for r in finished_records(out / run_name(*c, tag, prompts)) if r["seed"] in seeds]
               for c in configs}
    finished = set(ids)
    for rows in records.values():
        finished &= {p for p in ids if all(any(r["problem_id"] == p and r["seed"] == s for r in rows) for s in seeds)}
    label = {c: run_name(*c, tag, prompts) for c in configs}
    passed = {(c, r["problem_id"], r["seed"]): bool(r["passed_base"]) for c, rows in records.items() for r in rows}
    disagreements = []
    for s in seeds:
        for p in (p for p in ids if p in finished):
            outcomes = {label[c]: passed[c, p, s] for c in configs if (c, p, s) in passed}
            if len(set(outcomes.values())) > 1:
                disagreements.append({"problem_id": p, "seed": s, "passed": outcomes})
    rows_out = []
    for (strategy, budget), rows in records.items():
        rows = [r for r in rows if r["problem_id"] in finished]
        if not rows:
            continue
        per_seed = [statistics.fmean(bool(r["passed_base"]) for r in rows if r["seed"] == s) for s in seeds]
        plus = [r for r in rows if r["passed_plus"] is not None]
        failures: dict[str, int] = {}
        replies: dict[str, int] = {}
        programs: dict[str, list[int]] = {}
        for r in rows:
            for kind, counts in program_yield(
                    out / label[strategy, budget] / "runs" / f"{safe_name(r['problem_id'])}-s{r['seed']}").items():
                programs[kind] = [a + b for a, b in zip(programs.get(kind, [0, 0, 0, 0]), counts)]
            for kind, count in (r.get("parse_failures") or {}).items():
                failures[kind] = failures.get(kind, 0) + count
            for kind, count in (r.get("replies") or {}).items():
                replies[kind] = replies.get(kind, 0) + count
        rows_out.append({
            "strategy": row_label(strategy, tag, prompts), "budget": budget,
            "n": len(finished),
            "pass@1": statistics.fmean(per_seed), "std": statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0,
            # final programs the visible tests passed and the hidden failed: no stop on the visible tests alone catches them
            "false_solves": sum(bool(r.get("solved_visible")) and not r["passed_base"] for r in rows),
            "pass@1_plus": statistics.fmean(bool(r["passed_plus"]) for r in plus) if plus else None,
            "n_plus": len({r["problem_id"] for r in plus}),
            "calls": statistics.fmean(r["llm_calls"] for r in rows),
            "tokens": statistics.fmean(r["tokens"] for r in rows),
            "wall_s": statistics.fmean(r["wall_s"] for r in rows),
            "parse_failures": failures, "replies": replies, "engines": engines_of(rows),
            "programs": {k: {"written": w, "passed_visible": p, "written_after_a_failure": wf, "passed_after_a_failure": pf}
                         for k, (w, p, wf, pf) in sorted(programs.items())},
        })
    rates = {}
    for row in rows_out:
        for kind, count in row["replies"].items():
            failed, read = rates.get(kind, (0, 0))
            rates[kind] = (failed + row["parse_failures"].get(kind, 0), read + count)
    return {"model": model, "seeds": list(seeds), "problems_finished": len(finished), "problems": len(ids),
            "parse_failure_rates": {k: {"unusable": f, "replies": n, "rate": f / n} for k, (f, n) in sorted(rates.items())},
            "published_humaneval_pass@1": PUBLISHED_HUMANEVAL.get(model), "rows": rows_out,
            "disagreements": disagreements,
            "machine": {"cpu": cpu_model(), "cores": cores()}, "simulated": model == "sim"}


def program_yield(run_dir: Path) -> dict[str, list[int]]:
    """What one search's calls for programs bought: per kind of program (``fresh``: written straight
    from the problem; ``planned``: from a thought; ``rethink``: from a rewritten thought; ``debug``: a
    repair), [written, passing every visible test, and the same two for the programs judged while the
    search still had none passing and one had failed], read from the run's events (none when the run
    directory is not on this machine).

    The last two are what the search's choices decide: a first program passes or fails whatever the
    strategy, and once one passes the search stops or only confirms it. A search killed and run again
    appends to the same events: only its last start counts."""
    events = run_dir / "events.jsonl"
    if not events.exists():
        return {}
    lines = events.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "start"]
    thoughts: set[int] = set()
    kinds: dict[int, str] = {}
    out: dict[str, list[int]] = {}
    failed = solved = False
    for line in lines[starts[-1] if starts else 0:]:
        event = json.loads(line)
        if event["type"] == "add" and event["kind"] == "thought":
            thoughts.update(event["nodes"])
        elif event["type"] == "add":
            kind = {"code": "planned" if event["parent"] in thoughts else "fresh"}.get(event["kind"], event["kind"])
            kinds.update(dict.fromkeys(event["nodes"], kind))
            out.setdefault(kind, [0, 0, 0, 0])[0] += len(event["nodes"])
        elif event["type"] == "evaluate" and event["node"] in kinds:
            counts = out[kinds[event["node"]]]
            passes = event["total"] > 0 and event["passed"] == event["total"]
            counts[1] += passes
            if failed and not solved:
                counts[2] += 1
                counts[3] += passes
            solved, failed = solved or passes, failed or not passes
    return out


def print_table(summary: dict[str, Any]) -> None:
    print(f"model {summary['model']}{' (SIMULATED coder, not a model)' if summary['simulated'] else ''}; "
          f"{summary['problems_finished']}/{summary['problems']} problems finished by every configuration; "
          f"seeds {summary['seeds']}; {summary['machine']['cpu']}, {summary['machine']['cores']} cores")
    if summary["published_humaneval_pass@1"] is not None:
        print(f"published HumanEval pass@1 (Qwen2.5-Coder report, instruct): {summary['published_humaneval_pass@1']:.1%}")
    width = max([11, *(len(row["strategy"]) + 1 for row in summary["rows"])])
    print(f"{'strategy':<{width}}{'budget':>7}{'n':>5}{'pass@1':>9}{'± std':>7}{'plus':>8}{'false':>6}{'calls':>7}"
          f"{'tokens':>8}{'wall s':>8}  unusable replies")
    for row in summary["rows"]:
        plus = f"{row['pass@1_plus']:.1%}" if row["pass@1_plus"] is not None else "-"
        failures = ", ".join(f"{k} {v}" + (f"/{row['replies'][k]}" if row.get("replies", {}).get(k) else "")
                             for k, v in sorted(row["parse_failures"].items())) or "none"
        print(f"{row['strategy']:<{width}}{row['budget']:>7}{row['n']:>5}{row['pass@1']:>9.1%}{row['std']:>7.3f}{plus:>8}"
              f"{row['false_solves']:>6}{row['calls']:>7.1f}{row['tokens']:>8.0f}{row['wall_s']:>8.1f}  {failures}")
    print("false: final programs that pass every visible test and fail the hidden ones (over all seeds)")
    for row in summary["rows"]:
        if warning := mixed_engines_warning(row.get("engines", [])):
            print(f"warning: {row['strategy']}-b{row['budget']}: {warning}")
    if summary.get("disagreements"):
        print("problems the configurations disagree on (the ones that pass):")
        for d in summary["disagreements"]:
            winners = [name for name, ok in d["passed"].items() if ok]
            print(f"  {d['problem_id']} (seed {d['seed']}): {', '.join(winners)}")
    if any(row.get("programs") for row in summary["rows"]):
        print("programs passing every visible test / programs written, per kind (fresh: from the problem, planned: "
              "from a thought, rethink: from a rewritten thought, debug: a repair); in brackets, of the programs "
              "judged while none passed yet and one had failed:")
        for row in summary["rows"]:
            if row.get("programs"):
                print(f"  {row['strategy']}-b{row['budget']}: " + ", ".join(
                    f"{k} {v['passed_visible']}/{v['written']} ({v['passed_after_a_failure']}/{v['written_after_a_failure']})"
                    for k, v in row["programs"].items()))
    if summary.get("parse_failure_rates"):
        print("unusable replies per call kind, all rows: " + ", ".join(
            f"{kind} {r['unusable']}/{r['replies']} ({r['rate']:.1%})" for kind, r in summary["parse_failure_rates"].items()))


def write_plot(summary: dict[str, Any], path: Path) -> None:
    """pass@1 against mean calls per problem, one line per strategy, as a small SVG."""
    width, height, pad = 560, 360, 50
    rows = summary["rows"]
    if not rows:
        return
    max_calls = max(r["calls"] for r in rows) or 1.0

    def xy(r: dict) -> tuple[float, float]:
        return pad + (width - 2 * pad) * r["calls"] / max_calls, height - pad - (height - 2 * pad) * r["pass@1"]

    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle">LLM calls per problem (max {max_calls:.1f})</text>',
             f'<text x="12" y="{pad - 10}">pass@1 (0-100%), {summary["model"]}, n={summary["problems_finished"]}</text>']
    for i, strategy in enumerate(dict.fromkeys(r["strategy"] for r in rows)):
        points = sorted(xy(r) for r in rows if r["strategy"] == strategy)
        colour = colours[i % len(colours)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in points)}"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in points]
        parts.append(f'<text x="{width - pad + 4}" y="{pad + 14 * i}" fill="{colour}">{strategy}</text>')
    path.write_text("\n".join(parts + ["</svg>"]) + "\n")


def _setting(text: str) -> tuple[str, Any]:
    field, sep, value = text.partition("=")
    if not sep or not field:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        return field, json.loads(value)
    except json.JSONDecodeError:
        return field, value


def _problem_done(config: str, record: dict[str, Any]) -> None:
    verdict = "passes" if record["passed_base"] else "fails"
    _progress(f"  {config}: {record['problem_id']} (seed {record['seed']}) {verdict} the hidden tests, "
              f"{record['llm_calls']} calls, {record['wall_s']:.0f} s, {record['stopped_because']}")


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="local/qwen2.5-coder-0.5b")
    parser.add_argument("--subset", choices=["dev", "dev-wide", "report"], default="report")
    parser.add_argument("--calibrate", action="store_true", help="single on all 164 HumanEval problems")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--limit", type=int, help="the first N problems of the subset")
    parser.add_argument("--round", type=int, default=4, help="problems per round through every configuration")
    parser.add_argument("--workers", type=int, default=2, help="problems searched at once (server slots)")
    parser.add_argument("--data-dir")
    parser.add_argument("--out", type=Path, default=Path("runs/real_quality_bench"))
    parser.add_argument("--set", type=_setting, action="append", metavar="FIELD=VALUE",
                        help="a search setting (a SearchConfig field; VALUE as JSON) for every strategy but single")
    parser.add_argument("--prompts", type=Path, metavar="DIR",
                        help="prompt templates replacing the policy's of the same names, for every strategy")
    parser.add_argument("--tag", help="names the runs made with --set or --prompts (run directories and rows get -TAG)")
    parser.add_argument("--table", action="store_true",
                        help="only the table (and summary file) of what is finished under --out (no model call; a run may "
                             "be going on)")
    parser.add_argument("--rejudge", action="store_true",
                        help="judge the finished final programs under --out again with this engine's judge "
                             "(verdicts to rejudged.jsonl; no model call), then print the table")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.set = dict(args.set or [])
    if (args.set or args.prompts) and not args.tag:
        parser.error("--set and --prompts need a --tag to keep their runs apart from the default ones")
    if args.prompts:
        try:  # the policy's own check: a directory, every template named as one the policy has
            args.prompts = check_prompts(args.prompts).resolve()
        except ValueError as exc:
            parser.error(str(exc))
    if args.quick:
        args.model, args.subset, args.limit, args.budgets = "sim", "dev", 4, [4]
        args.out = args.out / "quick"
    out = args.out / args.model.replace("/", "_") / args.subset
    if (args.table or args.rejudge) and not out.is_dir():
        parser.error(f"no runs of {args.model} on {args.subset} under {args.out}")
    if args.rejudge:
        problems = {p.id: p for p in load_problems(chosen_ids(args), args.data_dir)}
        for config in chosen_configs(args):
            name = run_name(*config, args.tag, bool(args.prompts))
            changed = asyncio.run(rejudge(out / name, problems))
            _progress(f"{name}: {len(changed)} verdicts changed")
    suffix = f"-{args.tag}" if args.tag else ""
    if args.table or args.rejudge:
        summary = summarise(out, chosen_configs(args), chosen_ids(args), tuple(args.seeds), args.model, args.tag,
                            bool(args.prompts))
    else:
        summary = run(args)
    # the calibration and tagged runs share the subset's directory (and its rows), not its summary; --table
    # writes it too, so that a summary left by an earlier run is brought up to what is finished
    (out / f"{'calibration' if args.calibrate else 'summary'}{suffix}.json").write_text(
        json.dumps(summary, indent=2) + "\n")
    if not args.calibrate:
        write_plot(summary, out / f"pass_at_1_vs_calls{suffix}.svg")
    if args.json:
        print(json.dumps(summary))
    else:
        print_table(summary)
        if not (args.table or args.rejudge or args.calibrate):
            print(f"plot: {out / f'pass_at_1_vs_calls{suffix}.svg'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
