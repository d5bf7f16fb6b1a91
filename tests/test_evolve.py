"""Evolution of agents (``treesearch evolve``) and of solutions (``evolve_solution``), end to end."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.data_marks import needs_data
from tests.llm_server import LLMServer
from treesearch.archive import Archive, InvalidVariant
from treesearch.budget import Budget, BudgetExhausted
from treesearch.evolve.agent_proposers import LLMMetaModel, SimulatedMetaModel, apply_change
from treesearch.evolve.agents import AgentFormat, FailureReport, default_config
from treesearch.evolve.cli import main as evolve_main
from treesearch.evolve.program_proposers import SimulatedProgramEditor
from treesearch.evolve.scoring import BenchmarkEvaluator
from treesearch.evolve.solutions import evolve_solution
from treesearch.export.graph import load_tree_document
from treesearch.llm import LLMClient
from treesearch.problems import CodeProblem, TestCase

pytestmark = pytest.mark.timeout(300)

COUNT_PRIMES = Path(__file__).resolve().parents[1] / "examples" / "evolve" / "count_primes.json"
REPORT = FailureReport([{"problem_id": "HumanEval/7", "prompt": "def f(xs): ...", "stopped_because": "budget: max_calls",
                         "final_program_passes_visible_tests": False, "llm_calls": 4, "rethinks": 1,
                         "final_program": "def f(xs):\n    return xs[1:]"}], 3, 10)




# ---------------------------------------------------------------------- agent configurations
def test_the_sim_meta_model_moves_search_parameters_only_and_says_sim():
    parent = default_config()
    moved = set()
    for seed in range(30):
        child, change, metadata = asyncio.run(SimulatedMetaModel().change(parent, REPORT, np.random.default_rng(seed)))
        changed = [k for k in parent["params"] if child["params"][k] != parent["params"][k]]
        assert 1 <= len(changed) <= 2 and all(name in change for name in changed)
        assert child["prompts"] == parent["prompts"] and metadata["model"] == "sim"
        AgentFormat().check(child)
        assert change.startswith("[sim meta-model]") and "failed 3 of 10" in change
        moved.update(changed)
    assert len(moved) >= 8  # it explores the whole parameter space, not one knob
    again = asyncio.run(SimulatedMetaModel().change(parent, REPORT, np.random.default_rng(29)))
    assert again[0] == child  # the same generator state gives the same proposal


def test_the_sim_meta_model_spends_its_budget():
    meta = SimulatedMetaModel(Budget(max_calls=2))
    for seed in range(2):
        asyncio.run(meta.change(default_config(), REPORT, np.random.default_rng(seed)))
    with pytest.raises(BudgetExhausted):
        asyncio.run(meta.change(default_config(), REPORT, np.random.default_rng(3)))


def _changed(**edits):
    config = default_config()
    for name, value in edits.items():
        if name.startswith("prompt_"):
            config["prompts"][name.removeprefix("prompt_")] = value
        else:
            config["params"][name.replace("__", ".")] = value
    return config


@pytest.mark.parametrize(("config", "message"), [
    (_changed(width=0), "width must be an integer in [1, 8]"),
    (_changed(strategy="greedy"), "strategy must be one of"),
    (_changed(selection__rule="ucb9"), "selection.rule must be one of"),
    (_changed(selection__c=-1.0), "selection.c must be a number"),
    (_changed(rethink="yes"), "rethink must be one of true, false"),
    (_changed(prompt_code="$problem\nUse $secret."), "uses $secret, which the policy does not fill"),
    (_changed(prompt_debug="$problem\nFix it."), "must use $code, $feedback"),
    (_changed(prompt_system="You are $who."), "uses $who"),
    (_changed(prompt_thought="$problem $n for $5"), "starts no placeholder"),
    ({"params": default_config()["params"]}, "an agent configuration is"),
])
def test_invalid_agent_configurations_are_refused_with_the_reason(config, message):
    with pytest.raises(InvalidVariant) as refused:
        AgentFormat().check(config)
    assert message in str(refused.value)


def test_a_meta_model_reply_is_applied_and_checked():
    child = apply_change(default_config(), 'Here: {"description": "Debug deeper.", "params": {"max_debug_depth": 6}}')
    assert child.ok and child.value[0]["params"]["max_debug_depth"] == 6 and child.value[1] == "Debug deeper."
    assert "leaves the configuration as it was" in apply_change(default_config(), '{"params": {"width": 3}}').error
    assert "width must be" in apply_change(default_config(), '{"params": {"width": 0}}').error
    assert "unknown parameter(s) depth" in apply_change(default_config(), '{"params": {"depth": 2}}').error
    assert not apply_change(default_config(), "no JSON at all").ok


def test_the_llm_meta_model_reads_the_failures_and_is_asked_again_after_an_invalid_change():
    replies = ['{"description": "Much wider.", "params": {"width": 99}}',
               'OK. {"description": "Try more strategies per expansion.", "params": {"width": 5}}']
    with LLMServer(reply=replies) as server:
        meta = LLMMetaModel(LLMClient("openai/gpt-4o-mini", **server.client_kwargs(), cache=None))
        child, description, metadata = asyncio.run(meta.change(default_config(), REPORT, np.random.default_rng(0)))
        first, second = (r.body["messages"] for r in server.requests)
    assert child["params"]["width"] == 5 and description == "Try more strategies per expansion."
    assert metadata["completion_tokens"] > 0
    shown = first[-1]["content"]
    assert "HumanEval/7" in shown and "return xs[1:]" in shown and "failed 3 of 10" in shown
    assert '"width": 3' in shown and "selection.rule" in shown and "### debug.txt" in shown
    assert "width must be an integer in [1, 8], got 99" in second[-1]["content"]


# ---------------------------------------------------------------------- the evolve command
def evolve_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "treesearch.evolve.cli", "evolve", "--dataset", "humaneval", "--model", "sim",
            "--stage-sizes", "2", "4", "--thresholds", "0.4", "--generations", "3", "--children-per-generation", "2",
            "--budget", "3", "--out", str(out), *extra]


def _rows(db: Path) -> tuple[dict, list]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        variants = {r[0]: r[1:] for r in con.execute(
            "SELECT id, parent, generation, slot, payload, change, created, status FROM variants")}
        scores = con.execute("SELECT variant, stage, seed, score, created FROM scores ORDER BY variant, stage, seed")
        return variants, scores.fetchall()


def _finished(db: Path) -> int:
    try:
        variants, _ = _rows(db)
    except sqlite3.Error:
        return 0
    return sum(v[-1] == "done" for v in variants.values())


@needs_data
def test_evolve_resumes_after_sigkill_from_the_last_finished_child(tmp_path):
    out = tmp_path / "evo"
    db = out / "archive.sqlite"
    proc = subprocess.Popen(evolve_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _finished(db) < 3 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    variants_before, scores_before = _rows(db)
    finished = {i for i, v in variants_before.items() if v[-1] == "done"}
    assert 3 <= len(finished) < 7, "the kill should land mid-run"

    done = subprocess.run(evolve_command(out), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"resuming {len(variants_before)} variants" in done.stdout
    variants, scores = _rows(db)
    for i in finished:  # finished children were kept as they were, and never evaluated again
        assert variants[i] == variants_before[i]
        assert [s for s in scores if s[0] == i] == [s for s in scores_before if s[0] == i]
    archive = Archive(db, AgentFormat())
    for generation in range(1, 4):
        for slot in range(2):
            assert archive.in_slot(generation, slot) is not None or len(archive.rejections(generation, slot)) == 3
    assert all(v.status == "done" and v.level >= 1 for v in archive.variants())
    for v in archive.variants():  # the eval machinery resumed: no (problem, seed) twice
        lines = (out / "variants" / f"v{v.id:04d}" / "results.jsonl").read_text().splitlines()
        keys = [(json.loads(line)["problem_id"], json.loads(line)["seed"]) for line in lines]
        assert len(keys) == len(set(keys)) == (2 if v.level == 1 else 4 * len(v.scores[-1]))
    best = archive.best(2, 2)
    assert best is not None and len(best.scores[-1]) == 2  # the record was re-evaluated before trusted
    archive.close()
    assert "stage1" in done.stdout and "stage2" in done.stdout and "#0 root: evolve humaneval" in done.stdout
    assert f"#{best.id} (best)" in done.stdout
    doc = load_tree_document(out / "tree.json")
    assert sum(n["kind"] == "variant" for n in doc["nodes"]) == len(variants)
    assert (out / "tree.html").stat().st_size > 0
    assert json.loads((out / "best_config.json").read_text()) == best.payload


def test_evolve_user_errors_are_one_line(tmp_path, capsys):
    code = evolve_main(["evolve", "--dataset", "humaneval", "--model", "sim", "--stage-sizes", "2", "4", "8",
                        "--thresholds", "0.4", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: 3 stage(s) need 2 threshold(s), got 1") and err.count("\n") == 1


@needs_data
def test_evolve_refuses_a_directory_holding_another_run(tmp_path, capsys):
    Archive(tmp_path / "archive.sqlite", AgentFormat(), {"dataset": "mbpp"}).close()
    code = evolve_main(["evolve", "--dataset", "humaneval", "--model", "sim", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "other settings" in err and err.count("\n") == 1


# ---------------------------------------------------------------------- solution evolution
def count_primes_problem() -> tuple[CodeProblem, list[TestCase]]:
    problem = CodeProblem.from_file(COUNT_PRIMES)
    return problem, [TestCase(input=[60000], output=6057)]  # the primes below 60000


def test_the_sim_editor_reads_a_given_program_as_mutations_of_the_reference():
    problem, _ = count_primes_problem()
    editor = SimulatedProgramEditor(problem)
    assert editor.mutations_of(problem.metadata["initial"]) == ["drop_statement@L10:C8#0", "drop_statement@L8:C8#0"]
    assert editor.mutations_of(problem.reference) == []
    with pytest.raises(ValueError, match="at most two"):
        editor.mutations_of("def count_primes(n):\n    return len([p for p in range(2, n) if all(p % d for d in range(2, p))])\n")


def test_solution_evolution_makes_the_naive_program_faster_and_resumes(tmp_path):
    problem, benchmark = count_primes_problem()
    evaluator = BenchmarkEvaluator(problem, benchmark, repeats=2)
    out = tmp_path / "run"

    def evolve(generations: int):
        return evolve_solution(problem, evaluator, model="sim", generations=generations, children_per_generation=3,
                               crossover_rate=0.5, initial=[problem.metadata["initial"]], out=out, seed=0)

    result = evolve(2)
    naive = result.history[0]
    assert naive.best_id == 1 and naive.best_score > 0
    trusted = [r.best_score for r in result.history]
    assert trusted == sorted(trusted)
    assert result.best_trusted and result.solved and result.best.value > 1.3 * naive.best_score  # ~3x measured
    assert "break" in result.best.code or "continue" in result.best.code  # a shortcut found again
    archive = Archive(out / "archive.sqlite", object())
    kinds = {v.metadata["kind"] for v in archive.variants()}
    assert {"first", "edit", "crossover"} <= kinds
    crossed = next(v for v in archive.variants() if v.metadata["kind"] == "crossover")
    assert len(crossed.metadata["parents"]) == 2 and crossed.change.startswith("[sim] crossover")
    before = {v.id: (v.payload, v.scores) for v in archive.variants()}
    archive.close()

    more = evolve(3)  # the same run directory: resumed, one generation more
    archive = Archive(out / "archive.sqlite", object())
    after = {v.id: (v.payload, v.scores) for v in archive.variants()}
    assert all(after[i] == before[i] for i in before)
    assert {v.generation for v in archive.variants() if v.id not in before} == {3}
    archive.close()
    assert [r.best_score for r in more.history][:3] == trusted
    doc = load_tree_document(out / "tree.json")
    assert {n["kind"] for n in doc["nodes"]} == {"root", "variant"}
    assert json.loads((out / "result.json").read_text())["best"]["node_id"] == more.best.node_id
    assert (out / "tree.html").stat().st_size > 0


def test_solution_evolution_stops_when_its_budget_is_spent(tmp_path):
    problem, _ = count_primes_problem()

    async def pass_fraction(code: str, sandbox) -> float:
        result = await sandbox.run(code, problem.kind, problem.visible_tests, problem.entry_point)
        return result.pass_fraction

    result = evolve_solution(problem, pass_fraction, model="sim", generations=5, children_per_generation=4,
                             budget=6, confirmations=1, seed=1)
    assert result.stopped_because == "budget: max_calls" and result.stats["llm_calls"] == 6
    assert result.stats["variants"] + result.stats["rejected"] == 6  # every paid-for program was used
    assert [r.variants for r in result.history][0] == 4 and result.best is not None


RIGHT = "```python\ndef add_positive(xs):\n    return sum(x for x in xs if x > 0)\n```"
WRONG = "```python\ndef add_positive(xs):\n    return max(0, sum(xs))\n```"


def test_solution_evolution_with_an_llm_editor_over_http(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    problem = CodeProblem.from_dict({
        "id": "llm/add_positive", "kind": "function", "entry_point": "add_positive",
        "prompt": "def add_positive(xs: list) -> int:\n    \"\"\"Sum of the positive numbers in xs.\"\"\"\n",
        "visible_tests": [{"input": [[1, -2, 3]], "output": 4}, {"input": [[-1, -1]], "output": 0}],
    })

    async def pass_fraction(code: str, sandbox) -> float:
        result = await sandbox.run(code, problem.kind, problem.visible_tests, problem.entry_point)
        return result.pass_fraction

    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        return ("Keep only the positive numbers.\n" + RIGHT) if "Improve this program" in prompt else WRONG

    with LLMServer(reply=reply) as server:
        result = evolve_solution(problem, pass_fraction, model="openai/gpt-4o-mini", api_base=server.url,
                                 generations=1, children_per_generation=2, first_programs=1, crossover_rate=0.0,
                                 confirmations=1, out=tmp_path / "run", cache=None)
        prompts = [r.body["messages"][-1]["content"] for r in server.requests]
    assert "x > 0" in result.best.code and result.best.value == 1.0 and result.solved
    assert result.history[0].best_score == 0.5 and result.stats["llm_calls"] >= 2
    edit = next(p for p in prompts if "Improve this program" in p)
    assert "max(0, sum(xs))" in edit and "Its score: 0.5" in edit
    archive = Archive(tmp_path / "run" / "archive.sqlite", object())
    child = next(v for v in archive.variants() if v.metadata["kind"] == "edit")
    assert child.change == "edit: Keep only the positive numbers." and child.metadata["model"] == "openai/gpt-4o-mini"
    archive.close()
