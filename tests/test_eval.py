"""``treesearch eval``: resume after SIGKILL, the results file, the summary and pass@k."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.data_marks import data_available, needs_data
from treesearch.evaluation import EvalSettings, ResultsFile, engine_fingerprint, pass_at_k, summarise

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[1]




def eval_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "treesearch.cli", "eval", "--dataset", "humaneval", "--model", "sim",
            "--budget", "8", "--limit", "12", "--workers", "2", "--out", str(out), *extra]


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@needs_data
def test_eval_resumes_after_sigkill_without_loss_or_duplication(tmp_path):
    out = tmp_path / "eval"
    results = out / "results.jsonl"
    proc = subprocess.Popen(eval_command(out, "--seed", "0", "--seed", "1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or len(results.read_bytes().splitlines()) < 4):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = results.read_bytes()
    finished_before = [json.loads(line) for line in before.splitlines() if line.endswith(b"}")]
    assert 4 <= len(finished_before) < 24, "the kill should land mid-run"

    done = subprocess.run(eval_command(out, "--seed", "0", "--seed", "1"), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    records = read_records(results)
    keys = [(r["problem_id"], r["seed"]) for r in records]
    assert len(keys) == len(set(keys)) == 24  # 12 problems x 2 seeds, none lost, none twice
    for record in finished_before:  # the finished ones were kept as they were, not run again
        assert record in records
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 24
    per_seed = summary["base"]["pass@1_per_seed"]
    for seed in (0, 1):
        expected = sum(r["passed_base"] for r in records if r["seed"] == seed) / 12
        assert per_seed[str(seed)] == pytest.approx(expected)
    assert "2" in summary["base"]["pass@k"]
    assert summary["simulated"] is True

    again = subprocess.run(eval_command(out, "--seed", "0", "--seed", "1"), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert read_records(results) == records  # nothing left to do: nothing re-run


@needs_data
def test_a_run_resumed_under_another_engine_says_so(tmp_path):
    out = tmp_path / "eval"
    first = subprocess.run(eval_command(out, "--limit", "2"), capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "versions of the engine" not in first.stdout
    records = read_records(out / "results.jsonl")
    assert {r["engine"] for r in records} == {engine_fingerprint()}
    records[0]["engine"] = "0" * 12  # as if made before the engine changed
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    resumed = subprocess.run(eval_command(out, "--limit", "3"), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "made by 2 versions of the engine" in " ".join(resumed.stdout.split())
    assert json.loads((out / "summary.json").read_text())["engines"] == sorted(["0" * 12, engine_fingerprint()])


def test_the_engine_fingerprint_follows_the_prompts(tmp_path):
    for package in ("treesearch", "policies", "value_models"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    fingerprint = [sys.executable, "-c", "from treesearch.evaluation import engine_fingerprint; print(engine_fingerprint())"]

    def run() -> str:
        env = {**os.environ, "PYTHONPATH": str(tmp_path)}
        return subprocess.run(fingerprint, capture_output=True, text=True, check=True, cwd=tmp_path, env=env).stdout.strip()

    assert run() == engine_fingerprint()  # the copy is the same engine
    prompt = tmp_path / "policies" / "prompts" / "code.txt"
    prompt.write_text(prompt.read_text() + "Be brief.\n")
    assert run() != engine_fingerprint()


def test_torn_last_line_is_dropped_and_cut(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps({"problem_id": "a", "seed": 0}) + "\n"
    path.write_text(good + '{"problem_id": "b", "se')
    results = ResultsFile(path)
    assert results.done() == {("a", 0)}
    assert path.read_text() == good
    results.append({"problem_id": "b", "seed": 0})
    assert [json.loads(line)["problem_id"] for line in path.read_text().splitlines()] == ["a", "b"]


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (1, 1, 1, 1.0), (1, 0, 1, 0.0), (4, 2, 1, 0.5), (4, 1, 2, 0.5), (5, 0, 3, 0.0), (3, 2, 2, 1.0),
])
def test_pass_at_k_is_the_unbiased_estimator(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_summary_adds_up(tmp_path):
    settings = EvalSettings(dataset="humaneval", model="sim", seeds=(0, 1))

    def rec(pid, seed, base, plus):
        return {"problem_id": pid, "seed": seed, "passed_base": base, "passed_plus": plus, "llm_calls": 4,
                "tokens": 100, "executions": 2, "wall_s": 0.5, "rethinks_tried": 1, "rethinks_helped": 0,
                "cost_usd": 0.0}

    records = [rec("p1", 0, True, True), rec("p1", 1, True, False), rec("p2", 0, False, None), rec("p2", 1, True, None)]
    summary = summarise(records, settings, ["p1", "p2"])
    assert summary["base"]["pass@1_per_seed"] == {0: 0.5, 1: 1.0}
    assert summary["base"]["pass@1_mean"] == pytest.approx(0.75)
    assert summary["base"]["pass@k"][2] == pytest.approx(1.0)  # each problem passes at least once
    assert summary["plus"]["pass@1_mean"] == pytest.approx(0.5)  # only p1 has plus tests
    assert summary["per_problem"]["llm_calls"] == 4


def test_unknown_ids_are_a_clear_error(tmp_path):
    done = subprocess.run(eval_command(tmp_path / "x", "--ids", "HumanEval/0", "HumanEval/999"),
                          capture_output=True, text=True, timeout=120)
    if not data_available():
        assert done.returncode == 2 and "HumanEval.jsonl.gz" in done.stderr
        return
    assert done.returncode == 2
    assert "unknown problem id(s): HumanEval/999" in done.stderr


def test_eval_takes_a_folder_of_problem_files_and_refuses_clashing_ids(tmp_path):
    import shutil

    from treesearch.cli import main

    examples = Path(__file__).resolve().parents[1] / "examples" / "problems"
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("two_sum", "fizzbuzz"):
        shutil.copy(examples / f"{name}.json", mine)
    assert main(["eval", "--problems", str(mine), "--model", "sim", "--budget", "6", "--out", str(tmp_path / "out")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["problem_id"] for r in rows) == ["examples/fizzbuzz", "examples/two_sum"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["dataset"] == "problem files" and summary["problems"] == 2

    clash = tmp_path / "clash.json"
    shutil.copy(examples / "two_sum.json", clash)
    done = subprocess.run([sys.executable, "-m", "treesearch.cli", "eval", "--problems", str(mine), str(clash),
                           "--model", "sim", "--out", str(tmp_path / "out2")], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "problem id 'examples/two_sum' is in both" in done.stderr
