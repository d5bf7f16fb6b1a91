"""bench/real_quality_bench.py: its subsets follow the documented rule, and a run resumes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.real_quality_bench import DEV, DEV_WIDE, REPORT, configurations, draw_subsets
from tests.data_marks import needs_data
from treesearch.evaluation import load_dataset

REPO = Path(__file__).resolve().parents[1]


@needs_data
def test_the_listed_subsets_are_the_ones_the_rule_draws():
    humaneval = [p.id for p in load_dataset("humaneval")]
    mbpp = [p.id for p in load_dataset("mbpp")]
    assert draw_subsets(humaneval, mbpp) == (DEV, REPORT, DEV_WIDE)
    assert not set(DEV) & set(REPORT) and len(set(REPORT)) == len(REPORT) == 100
    assert not set(DEV_WIDE) & set(REPORT) and len(set(DEV_WIDE)) == len(DEV_WIDE) == 96
    assert sum(i.startswith("HumanEval/") for i in REPORT[:40]) == 20  # the 1.5B model's first 40: half each


def test_smaller_budgets_run_first_so_larger_ones_replay_their_calls():
    assert configurations(["single", "mcts", "best_of_n"], [8, 4]) == [
        ("single", 1), ("mcts", 4), ("best_of_n", 4), ("mcts", 8), ("best_of_n", 8)]


@needs_data
def test_quick_runs_resume_without_searching_again(tmp_path):
    command = [sys.executable, str(REPO / "bench" / "real_quality_bench.py"), "--quick", "--json", "--out", str(tmp_path)]
    first_run = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    first = json.loads(first_run.stdout)
    assert first["simulated"] and first["problems_finished"] == 4
    # each finished problem is shown as it lands, also when stderr is not a terminal
    assert len(re.findall(r"mcts @ 4: \S+ \(seed 0\) (?:passes|fails) the hidden tests, \d+ calls", first_run.stderr)) == 4
    assert {(r["strategy"], r["budget"]) for r in first["rows"]} == {
        ("single", 1), *((s, 4) for s in ("best_of_n", "self_debug", "beam", "mcts", "s_star"))}
    results = tmp_path / "quick" / "sim" / "dev" / "mcts-b4" / "results.jsonl"
    before = results.read_bytes()
    again_run = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    again = json.loads(again_run.stdout)
    assert results.read_bytes() == before and again["rows"] == first["rows"]  # nothing searched twice
    assert "the hidden tests" not in again_run.stderr
    assert (tmp_path / "quick" / "sim" / "dev" / "pass_at_1_vs_calls.svg").read_text().startswith("<svg")
    # a calibration beside the subset's runs keeps its own summary and leaves the subset's as it was
    summary = tmp_path / "quick" / "sim" / "dev" / "summary.json"
    subset_summary = summary.read_bytes()
    calibration = subprocess.run([*command, "--calibrate"], capture_output=True, text=True, check=True,
                                 timeout=300)
    assert json.loads(calibration.stdout)["rows"][0]["strategy"] == "single" and summary.read_bytes() == subset_summary
    assert json.loads((summary.parent / "calibration.json").read_text())["problems"] == 4


@needs_data
def test_settings_runs_are_kept_apart_under_their_tag(tmp_path):
    base = [sys.executable, str(REPO / "bench" / "real_quality_bench.py"), "--quick", "--json", "--out", str(tmp_path),
            "--strategies", "single", "mcts"]
    tagged = json.loads(subprocess.run(
        [*base, "--set", "thought_depth=0", "--set", "root_widening=0.5", "--tag", "x5"],
        capture_output=True, text=True, check=True, timeout=300).stdout)
    assert {r["strategy"] for r in tagged["rows"]} == {"single", "mcts-x5"}
    runs = tmp_path / "quick" / "sim" / "dev"
    assert (runs / "mcts-b4-x5" / "results.jsonl").exists() and not (runs / "mcts-b4").exists()
    config = json.loads(next((runs / "mcts-b4-x5").glob("runs/*/config.json")).read_text())
    assert config["search"]["thought_depth"] == 0 and config["search"]["root_widening"] == 0.5
    untagged = subprocess.run([*base, "--set", "thought_depth=0"], capture_output=True, text=True, timeout=300)
    assert untagged.returncode == 2 and "--set and --prompts need a --tag" in untagged.stderr


@needs_data
def test_a_prompts_run_tags_every_strategy_single_too(tmp_path):
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "system.txt").write_text("")
    base = [sys.executable, str(REPO / "bench" / "real_quality_bench.py"), "--quick", "--json", "--out", str(tmp_path),
            "--strategies", "single", "mcts", "--prompts", str(prompts)]
    tagged = json.loads(subprocess.run([*base, "--tag", "bare"], capture_output=True, text=True, check=True,
                                       timeout=300).stdout)
    assert {r["strategy"] for r in tagged["rows"]} == {"single-bare", "mcts-bare"}
    runs = tmp_path / "quick" / "sim" / "dev"
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == ["mcts-b4-bare", "single-b1-bare"]
    assert not (runs / "summary.json").exists()  # the untagged rows' summary is not the tagged run's to write
    assert json.loads((runs / "summary-bare.json").read_text())["rows"] == tagged["rows"]
    for row in ("single-b1-bare", "mcts-b4-bare"):
        config = json.loads(next((runs / row).glob("runs/*/config.json")).read_text())
        assert config["search"]["prompts"] == str(prompts)
    assert json.loads(next((runs / "single-b1-bare").glob("runs/*/config.json")).read_text())["search"]["temperature"] == 0
    missing = subprocess.run([*base[:-1], str(tmp_path / "absent"), "--tag", "x"], capture_output=True, text=True,
                             timeout=300)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


def test_the_table_of_finished_runs_needs_no_model_writes_the_summary_and_names_disagreements(tmp_path, capsys):
    from bench.real_quality_bench import main

    def record(problem: str, passed: bool, calls: int, engine: str) -> str:
        return json.dumps({"problem_id": problem, "seed": 0, "passed_base": passed, "passed_plus": None, "solved_visible": True,
                           "llm_calls": calls, "tokens": 100 * calls, "wall_s": 1.0, "parse_failures": {},
                           "replies": {"code": calls}, "engine": engine})

    runs = tmp_path / "local_qwen2.5-coder-0.5b" / "dev"
    # mcts-b4 was resumed under a changed engine
    for name, outcomes, engines in [("single-b1", [True, False, False], ["a"] * 3), ("mcts-b4", [True, True], ["a", "b"])]:
        (runs / name).mkdir(parents=True)
        (runs / name / "results.jsonl").write_text("".join(
            record(p, ok, 1 if name == "single-b1" else 4, engine) + "\n" for p, ok, engine in zip(DEV, outcomes, engines)))
    assert main(["--table", "--subset", "dev", "--strategies", "single", "mcts", "--budgets", "4",
                 "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "warning: mcts-b4: these results were made by 2 versions of the engine (a, b)" in table
    assert "single-b1: these" not in table
    assert main(["--table", "--subset", "dev", "--strategies", "single", "mcts", "--budgets", "4",
                 "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["problems_finished"] == 2  # the third is not finished by mcts
    assert {r["strategy"]: r["pass@1"] for r in summary["rows"]} == {"single": 0.5, "mcts": 1.0}
    assert {r["strategy"]: r["false_solves"] for r in summary["rows"]} == {"single": 1, "mcts": 0}  # passed visible, failed hidden
    assert summary["disagreements"] == [{"problem_id": DEV[1], "seed": 0, "passed": {"single-b1": False, "mcts-b4": True}}]
    assert json.loads((runs / "summary.json").read_text()) == summary  # an earlier run's summary brought up to date
    assert not (runs / "llama-server.log").exists()
    with pytest.raises(SystemExit) as refused:  # a mistyped --out is named, not a table of nothing
        main(["--table", "--subset", "dev", "--out", str(tmp_path / "elsewhere")])
    assert refused.value.code == 2 and "no runs of local/qwen2.5-coder-0.5b on dev under" in capsys.readouterr().err


def test_program_yield_counts_programs_per_kind_from_a_runs_events(tmp_path):
    from bench.real_quality_bench import program_yield

    killed = [{"type": "start"}, {"type": "add", "parent": 0, "kind": "code", "nodes": [1]},
              {"type": "evaluate", "node": 1, "passed": 0, "total": 2}]  # a first try, killed
    events = killed + [{"type": "start"}, {"type": "add", "parent": 0, "kind": "code", "nodes": [1]},
              {"type": "evaluate", "node": 1, "passed": 0, "total": 2},
              {"type": "add", "parent": 0, "kind": "thought", "nodes": [2, 3]},
              {"type": "add", "parent": 2, "kind": "code", "nodes": [4]},
              {"type": "evaluate", "node": 4, "passed": 2, "total": 2},
              {"type": "add", "parent": 2, "kind": "rethink", "nodes": [5]},
              {"type": "evaluate", "node": 5, "passed": 1, "total": 2},
              {"type": "add", "parent": 1, "kind": "debug", "nodes": [6]},
              {"type": "evaluate", "node": 6, "passed": 0, "total": 0}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    # [written, passing; the same while none passed yet and one had failed]: only the planned program
    # came after a failure and before a pass
    assert program_yield(tmp_path) == {"fresh": [1, 0, 0, 0], "planned": [1, 1, 1, 1], "rethink": [1, 0, 0, 0],
                                       "debug": [1, 0, 0, 0]}
    assert program_yield(tmp_path / "elsewhere") == {}


@needs_data
def test_rejudge_replaces_a_verdict_beside_the_record_and_once_per_engine(tmp_path, capsys):
    from bench.real_quality_bench import load_problems, main

    problem = load_problems(DEV[:1], None)[0]
    row = tmp_path / "sim" / "dev" / "single-b1"
    run = row / "runs" / f"{problem.id.replace('/', '_')}-s0"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps({"best": {"code": problem.reference}}))
    written = json.dumps({"problem_id": problem.id, "seed": 0, "passed_base": False, "passed_plus": False,
                          "llm_calls": 1, "tokens": 10, "wall_s": 1.0, "parse_failures": {}}) + "\n"
    (row / "results.jsonl").write_text(written)  # as judged wrongly (say, out of time on a busy machine)
    command = ["--rejudge", "--model", "sim", "--subset", "dev", "--limit", "1", "--strategies", "single",
               "--out", str(tmp_path), "--json"]

    assert main(command) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [(r["strategy"], r["pass@1"], r["pass@1_plus"]) for r in summary["rows"]] == [("single", 1.0, 1.0)]
    assert (row / "results.jsonl").read_text() == written  # the record stays as it was written
    rejudged = (row / "rejudged.jsonl").read_text()
    assert json.loads(rejudged)["passed_base"] is True
    assert main(command) == 0 and (row / "rejudged.jsonl").read_text() == rejudged  # judged once per engine
