"""The SWE-bench runner end to end with the simulated coder (``--model sim``) on small real git
repositories: predictions that apply and make the hidden tests pass, failures reported while the
run goes on, resume after SIGKILL, and the search's own dynamics (repairs, rethink)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.repo_fixtures import CALC, WORDS, build_instance, hidden_tests_pass, write_instances
from treesearch.cli import main as treesearch_main
from treesearch.swebench.cli import add_swebench_parser
from treesearch.swebench.cli import main as swebench_main

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "run_swebench.py"


def runner_command(instances: Path, repos: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(SCRIPT), "--instances", str(instances), "--repos-dir", str(repos), "--model", "sim",
            "--out", str(out), "--budget", "30", *extra]


def read_predictions(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture
def repos(tmp_path):
    repos = tmp_path / "repos"
    repos.mkdir()
    return repos


def test_end_to_end_with_failures_reported_and_the_run_going_on(repos, tmp_path):
    calc, words = build_instance(repos, CALC), build_instance(repos, WORDS, layout="mirror")
    missing_repo = {**calc, "instance_id": "ghost__nothing-1", "repo": "ghost/nothing"}
    missing_commit = {**calc, "instance_id": "acme__calc-2", "base_commit": "0123456789abcdef" * 2 + "01234567"}
    bad_gold = {**calc, "instance_id": "acme__calc-3", "patch": words["patch"]}
    instances = write_instances(tmp_path / "instances.json", [missing_repo, calc, missing_commit, words, bad_gold])
    out = tmp_path / "out"
    done = subprocess.run(runner_command(instances, repos, out, "--workers", "2", "--local-eval"),
                          capture_output=True, text=True, timeout=150, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 1, done.stderr  # some instances failed; the others finished
    assert "simulator results" in done.stdout
    assert "python -m swebench.harness.run_evaluation --dataset_name princeton-nlp/SWE-bench_Lite" in done.stdout
    assert f"--predictions_path {out / 'predictions.jsonl'}" in done.stdout

    predictions = read_predictions(out)
    assert sorted(p["instance_id"] for p in predictions) == ["acme__calc-1", "acme__textutil-1"]
    assert {p["model_name_or_path"] for p in predictions} == {"treesearch/sim"}
    by_id = {"acme__calc-1": calc, "acme__textutil-1": words}
    for prediction in predictions:
        instance = by_id[prediction["instance_id"]]
        assert not hidden_tests_pass(repos, instance, None, tmp_path)  # the tests do catch the bug ...
        assert hidden_tests_pass(repos, instance, prediction["model_patch"], tmp_path)  # ... and the patch fixes it
        assert "tests/" not in prediction["model_patch"]
        run_dir = out / "instances" / prediction["instance_id"]
        result = json.loads((run_dir / "result.json").read_text())
        assert result["status"] == "searched" and result["patch"] == prediction["model_patch"]
        assert result["local_eval"]["unofficial"] and result["local_eval"]["resolved"]
        assert (run_dir / "patch.diff").read_text() == prediction["model_patch"]
        trajectory = json.loads((run_dir / "trajectory.json").read_text())
        assert trajectory[0]["kind"] == "thought" and "[sim]" in trajectory[0]["text"]
        assert trajectory[-1]["action"] == {"action": "submit"} and trajectory[-1]["checks"]["status"] == "ok"
        assert {"config.json", "events.jsonl", "tree.json", "tree.html"} <= {p.name for p in run_dir.iterdir()}
        assert treesearch_main(["view", str(run_dir), "--format", "ascii"]) == 0

    errors = {i: json.loads((out / "instances" / i / "result.json").read_text())
              for i in ("ghost__nothing-1", "acme__calc-2", "acme__calc-3")}
    assert all(e["status"] == "error" for e in errors.values())
    assert "repository ghost/nothing not found" in errors["ghost__nothing-1"]["error"]
    assert "base commit 0123456789abcdef" in errors["acme__calc-2"]["error"]
    assert "gold patch" in errors["acme__calc-3"]["error"] and "does not apply" in errors["acme__calc-3"]["error"]
    for instance_id, error in errors.items():
        assert f"error: {instance_id}: {error['error']}" in done.stdout.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] == 2 and summary["simulated"] and set(summary["errors"]) == set(errors)
    assert summary["local_eval_unofficial"] == {"evaluated": 2, "resolved": 2}

    # the same run again: everything finished is skipped, the failures are tried (and fail) again
    again = subprocess.run(runner_command(instances, repos, out), capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and len(read_predictions(out)) == 2


def test_sigkill_and_resume_lose_and_duplicate_nothing(repos, tmp_path):
    base = build_instance(repos, CALC)
    ids = [f"acme__calc-{i}" for i in range(1, 5)]
    instances = write_instances(tmp_path / "instances.jsonl", [{**base, "instance_id": i} for i in ids])
    out = tmp_path / "out"
    predictions = out / "predictions.jsonl"
    proc = subprocess.Popen(runner_command(instances, repos, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not predictions.exists() or len(predictions.read_bytes().splitlines()) < 1):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = [json.loads(line) for line in predictions.read_bytes().splitlines()]
    assert 1 <= len(finished) < len(ids), "the kill should land mid-run"
    # a kill in the middle of a write would leave a torn last line: the resume must cut it off
    with open(predictions, "ab") as f:
        f.write(b'{"instance_id": "acme__calc-4", "model_name_or_pa')

    done = subprocess.run(runner_command(instances, repos, out), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = predictions.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]  # every line parses: nothing torn is left
    assert sorted(r["instance_id"] for r in records) == ids  # each instance once: none lost, none twice
    assert records[: len(finished)] == finished  # what was finished before the kill was kept as it was
    assert all(r["model_patch"] for r in records)
    for i in ids:
        assert json.loads((out / "instances" / i / "result.json").read_text())["status"] == "searched"


def test_the_total_cost_cap_is_never_exceeded():
    from treesearch.swebench.runner import CostCap, CostCapReached

    costs = CostCap(limit=1.0, spent=0.25)  # what finished instances spent counts
    first, second = costs.claim(0.5), costs.claim(0.5)
    assert (first, second) == (0.5, 0.25)  # the second instance gets only what is left
    with pytest.raises(CostCapReached, match="--max-total-cost of \\$1.00 is spent"):
        costs.claim(0.5)
    costs.settle(first, 0.1)  # the first used less than it held: the rest is free again
    assert costs.claim(None) == pytest.approx(0.4)
    assert CostCap(None, 3.0).claim(0.2) == 0.2 and CostCap(None, 0.0).claim(None) is None


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"instance_id": "x__y-1", "repo": "x/y", "problem_statement": "p"}]))
    assert swebench_main(["--instances", str(bad), "--model", "sim", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}: instance #0: x__y-1: missing required field 'base_commit'"
    good = write_instances(tmp_path / "good.json", [{"instance_id": "x__y-1", "repo": "x/y", "base_commit": "abcdef1",
                                                     "problem_statement": "p"}])
    assert swebench_main(["--instances", str(good), "--ids", "x__y-2", "--model", "sim", "--out", str(tmp_path / "o")]) == 2
    assert "error: unknown problem id(s): x__y-2" in capsys.readouterr().err
    monkeypatch.delenv("TREESEARCH_MODEL", raising=False)
    assert swebench_main(["--instances", str(good), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: no model configured")
    assert swebench_main(["--instances", str(good), "--model", "sim", "--repos-dir", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert swebench_main(["--instances", str(good), "--model", "sim", "--strategy", "greedy", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "error: unknown strategy 'greedy'; choose one of mcts, linear"
    # the subcommand as treesearch.cli registers it: the same options, the same run function
    parser = argparse.ArgumentParser(prog="treesearch")
    add_swebench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["swebench", "--instances", str(bad), "--model", "sim", "--out", str(tmp_path / "o")])
    assert args.run(args) == 2 and "missing required field 'base_commit'" in capsys.readouterr().err


def _lite_available() -> bool:
    from treesearch.datasets import find_data_file

    try:
        find_data_file("SWE-bench_Lite-test.json")
        return True
    except Exception:  # noqa: BLE001 - any lookup failure means: skip
        return False


@pytest.mark.skipif(not _lite_available(), reason="SWE-bench Lite not found (set TREESEARCH_DATA)")
def test_lite_ids_and_limit_without_their_repositories(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached clones either
    out = tmp_path / "out"
    code = swebench_main(["--ids", "psf__requests-2317", "django__django-11099", "sympy__sympy-20590", "--limit", "2",
                          "--repos-dir", str(tmp_path), "--model", "sim", "--out", str(out)])
    assert code == 1
    results = sorted(p.name for p in (out / "instances").iterdir())
    assert results == ["django__django-11099", "psf__requests-2317"]  # --ids in order, then --limit
    for name in results:
        error = json.loads((out / "instances" / name / "result.json").read_text())["error"]
        assert "not found" in error and "--clone-missing" in error
    assert (out / "predictions.jsonl").read_text() == ""


def test_search_dynamics_repairs_rethink_and_the_final_pick(repos, tmp_path):
    """A weak simulated coder (low ease): attempts carry real mutations, the checks catch some, repairs
    and rethinks follow, and the final pick is the best-valued finished attempt."""
    from policies.simulated import SimParams
    from policies.simulated_repo import SimulatedRepoCoder
    from treesearch.budget import Budget
    from treesearch.engine.state import SearchConfig
    from treesearch.sandbox.command import CommandRunner
    from treesearch.swebench.environment import RepoEnvironment
    from treesearch.swebench.problem import RepoProblem
    from treesearch.swebench.search import search_instance
    from value_models.repo_value import hybrid_repo_value
    from value_models.simulated_critic import SimulatedCritic

    problem = RepoProblem.from_dict(build_instance(repos, CALC))
    outcomes = []
    with CommandRunner() as runner:
        for seed in (2, 3):
            env = RepoEnvironment(repos / "acme__calc", problem.base_commit, runner, 1).open()
            budget = Budget(max_calls=40)
            policy = SimulatedRepoCoder(problem.patch, seed=seed, budget=budget, params=SimParams(ease_alpha=1.0, ease_beta=3.0))
            try:
                result = asyncio.run(search_instance(
                    problem, env, policy, hybrid_repo_value(SimulatedCritic(seed=seed, budget=budget)), budget,
                    SearchConfig.for_repository(concurrency=1), tmp_path / f"run-{seed}", "sim", seed=seed))
            finally:
                env.close()
            tree = json.loads((tmp_path / f"run-{seed}" / "tree.json").read_text())
            outcomes.append((result, tree))
    for result, tree in outcomes:
        finished = [n for n in tree["nodes"] if n["payload"].get("feedback")]
        assert result.stats["llm_calls"] <= 40 and result.stats["attempts"] >= 2
        assert all(0.0 <= n["payload"]["value"] <= 1.0 for n in finished)
        assert all("tests/" not in n["payload"]["patch"] for n in finished)
        assert max(n["payload"]["value"] for n in finished) == pytest.approx(result.value)
        assert any(n["payload"]["feedback"]["status"] != "ok" for n in finished)  # the checks caught a fault
    assert sum(r.stats["rethinks_tried"] for r, _ in outcomes) >= 1
    for _, tree in outcomes:
        superseded = [n for n in tree["nodes"] if n["superseded"]]
        for node in superseded:  # a rethought attempt replaced the failed one beside it
            replacement = next(m for m in tree["nodes"] if m["id"] == node["payload"]["superseded_by"])
            assert replacement["parent"] == node["parent"]
    assert any(r.checks_passed and r.stopped_because == "solved" for r, _ in outcomes)


@pytest.mark.parametrize("plain_first", [False, True])
def test_concurrent_repairs_of_one_attempt_and_plain_first_keep_children_contiguous(repos, tmp_path, plain_first):
    """Two expansions at once, no early stop: one rethinks a failed attempt whose verdict is a repair
    while the other has selected that attempt, and both write below it (this raised TreeError: the
    second found no room beside the first's children). With ``plain_first`` (off by default for
    repositories), the root's first attempt starts straight from the issue and the hypotheses join it."""
    from policies.simulated import SimParams
    from policies.simulated_repo import SimulatedRepoCoder
    from treesearch.budget import Budget
    from treesearch.engine.state import SearchConfig
    from treesearch.sandbox.command import CommandRunner
    from treesearch.swebench.environment import RepoEnvironment
    from treesearch.swebench.problem import RepoProblem
    from treesearch.swebench.search import search_instance
    from value_models.repo_value import hybrid_repo_value
    from value_models.simulated_critic import SimulatedCritic

    assert not SearchConfig.for_repository().plain_first
    problem = RepoProblem.from_dict(build_instance(repos, CALC))
    with CommandRunner() as runner:
        env = RepoEnvironment(repos / "acme__calc", problem.base_commit, runner, 2).open()
        budget = Budget(max_calls=30)
        policy = SimulatedRepoCoder(problem.patch, seed=2, budget=budget, params=SimParams(ease_alpha=1.0, ease_beta=3.0))
        config = SearchConfig.for_repository(concurrency=2, plain_first=plain_first, early_stop=False)
        try:
            result = asyncio.run(search_instance(
                problem, env, policy, hybrid_repo_value(SimulatedCritic(seed=2, budget=budget)), budget,
                config, tmp_path / "run", "sim", seed=2))
        finally:
            env.close()
    assert result.stopped_because == "budget: max_calls" and result.stats["rethinks_tried"] >= 1
    nodes = json.loads((tmp_path / "run" / "tree.json").read_text())["nodes"]
    below_root = [n["payload"]["kind"] for n in nodes if n["parent"] == 0]
    assert below_root[0] == ("action" if plain_first else "thought") and set(below_root[1:]) == {"thought"}
