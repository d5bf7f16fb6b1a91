"""The SWE-bench runner through the LLM repository policy, value agent and discriminator, over real
HTTP and real litellm to the local test server, with a scripted model: a first hypothesis that is
wrong (its reproduction still fails), a rethink that rewrites it, and a right patch."""

from __future__ import annotations

import json

import orjson
import pytest

from tests.llm_server import LLMServer
from tests.repo_fixtures import CALC, build_instance, hidden_tests_pass, write_instances
from treesearch.swebench.cli import main as swebench_main

pytestmark = pytest.mark.timeout(120)

WRONG = "total() gives an int for empty input; starting the sum at 0.0 fixes the division"
RIGHT = "mean() divides by len(values) without checking for an empty list"
REWRITE = "mean() must return 0.0 for an empty list before it divides by the length"
REPRODUCE = {"action": "reproduce", "script": "from calc.core import mean\nassert mean([]) == 0.0\n"}
EDIT_TOTAL = {"action": "edit", "path": "calc/core.py", "old": "    result = 0\n", "new": "    result = 0.0\n"}
EDIT_MEAN = {"action": "edit", "path": "calc/core.py", "old": "    count = len(values)\n    return",
             "new": "    if not values:\n        return 0.0\n    count = len(values)\n    return"}
SUBMIT = {"action": "submit"}


def scripted(request: dict) -> str:
    prompt = request["messages"][-1]["content"]
    if "different hypotheses" in prompt:
        return json.dumps([{"strategy": WRONG, "confidence": 0.9}, {"strategy": RIGHT, "confidence": 0.3}])
    if "wrong_step" in prompt:
        return json.dumps({"wrong_step": 1, "rewrite": REWRITE, "reason": "the reproduction still divides by zero"})
    if "Judge how likely" in prompt:
        return "It returns 0.0 before dividing.\nScore: 9" if "if not values" in prompt else "It misses the division.\nScore: 2"
    if "Compare the candidates" in prompt:
        patches = prompt.split("### Patch ")[1:]
        return f"Best: {next(i for i, p in enumerate(patches, 1) if 'if not values' in p)}"
    assert "## What you can do" in prompt and "Do not change the repository's tests" in prompt
    plan = [REPRODUCE, {"action": "view", "path": "calc/core.py", "start": 15}, EDIT_MEAN, SUBMIT] \
        if REWRITE in prompt or RIGHT in prompt else [REPRODUCE, EDIT_TOTAL, SUBMIT]
    step = prompt.count("### Step ")
    return f"Step {step + 1} of my plan.\n```json\n{json.dumps(plan[step])}\n```"


def test_llm_repo_search_with_rethink_over_http(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a fresh LLM cache
    repos = tmp_path / "repos"
    repos.mkdir()
    instance = build_instance(repos, CALC)
    instances = write_instances(tmp_path / "instances.json", [instance])
    out = tmp_path / "out"
    with LLMServer(reply=scripted) as server:
        code = swebench_main(["--instances", str(instances), "--repos-dir", str(repos), "--model", "openai/gpt-4o-mini",
                              "--api-base", server.url, "--concurrency", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    # the model never saw the gold patch, the test patch or the names of the hidden tests
    shown = json.dumps([r.body for r in server.requests])
    assert "if count == 0" not in shown and "test_mean_of_nothing" not in shown and "mean([]) == 0.0\\n\\n" not in shown
    (prediction,) = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert prediction["model_name_or_path"] == "treesearch/openai/gpt-4o-mini"
    assert "if not values" in prediction["model_patch"] and "result = 0.0" not in prediction["model_patch"]
    assert hidden_tests_pass(repos, instance, prediction["model_patch"], tmp_path)

    run_dir = out / "instances" / instance["instance_id"]
    result = orjson.loads((run_dir / "result.json").read_bytes())
    # hypotheses, 3 actions, value, rethink, 4 actions, value: all over HTTP, all accounted; no
    # discriminator, as only one patch passes its checks (a failing one is never picked over it)
    assert result["stats"]["llm_calls"] == server.request_count == 11
    assert result["stats"]["prompt_tokens"] == server.served["prompt_tokens"] and result["stats"]["cost_usd"] > 0
    assert len((run_dir / "llm_calls.jsonl").read_bytes().splitlines()) == 11
    assert result["stopped_because"] == "solved" and result["checks_passed"]
    assert result["stats"]["rethinks_tried"] == 1 and result["stats"]["rethinks_helped"] == 1

    tree = orjson.loads((run_dir / "tree.json").read_bytes())
    nodes = {n["id"]: n for n in tree["nodes"]}
    (rethought,) = [n for n in nodes.values() if n["kind"] == "thought" and len(n["payload"]["versions"]) == 2]
    assert rethought["payload"]["versions"][0]["text"] == WRONG and rethought["payload"]["text"] == REWRITE
    assert rethought["payload"]["versions"][0]["superseded_because"] == "checks: reproduction fails"
    (failed_head,) = [n for n in nodes.values() if n["superseded"]]
    assert failed_head["parent"] == rethought["id"] and nodes[failed_head["payload"]["superseded_by"]]["parent"] == rethought["id"]
    final = nodes[result["best"]["node_id"]]
    assert final["payload"]["feedback"]["reproduction"] == "fixed" and final["payload"]["feedback"]["tests_kept"] == 3
    assert "Score: 9" in final["payload"]["evaluation"]["explanation"]
    events = [orjson.loads(line) for line in (run_dir / "events.jsonl").read_bytes().splitlines()]
    assert [e["helped"] for e in events if e["type"] == "rethink"] == [True]
    assert not [e for e in events if e["type"] == "discriminate"]
