"""The whole search through LLMPolicy and LLMCritic, over real HTTP to the local test server."""

from __future__ import annotations

import itertools
import json

import orjson
import pytest

from tests.llm_server import LLMServer
from treesearch.api import search
from treesearch.problems import CodeProblem

PROBLEM = {
    "id": "llm/add_positive",
    "kind": "function",
    "prompt": "def add_positive(xs: list) -> int:\n    \"\"\"Sum of the positive numbers in xs.\"\"\"\n",
    "entry_point": "add_positive",
    "visible_tests": [{"input": [[1, -2, 3]], "output": 4}, {"input": [[-1, -1]], "output": 0}],
    "hidden_tests": [{"input": [[5, 0, -5, 7]], "output": 12}],
}

WRONG = "```python\ndef add_positive(xs):\n    return max(0, sum(xs))\n```"
RIGHT = "```python\ndef add_positive(xs):\n    return sum(x for x in xs if x > 0)\n```"


def scripted(request: dict) -> str:
    """The model's side of a search: two plans, wrong code from the first, a rethink that blames the
    plan, right code from the rewritten plan, and a critic that approves."""
    prompt = request["messages"][-1]["content"]
    if "Propose" in prompt:
        return json.dumps([{"strategy": "Add up every element.", "confidence": 0.9},
                           {"strategy": "Filter the positives, then add them.", "confidence": 0.4}])
    if "Wrong step:" in prompt:
        return ("Wrong step: 1\nCorrected step: Add up only the elements greater than zero.\n"
                "Reason: negative numbers must be left out")
    if "Score:" in prompt:
        return "Handles empty lists and negatives.\nScore: 9"
    if "greater than zero" in prompt or "Filter the positives" in prompt:
        return RIGHT
    return WRONG


@pytest.fixture
def server():
    with LLMServer(reply=scripted) as s:
        yield s


def test_mcts_with_rethink_over_http(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    result = search(
        CodeProblem.from_dict(PROBLEM), model="openai/gpt-4o-mini", api_base=server.url, budget=20,
        concurrency=2, out=out, cache=None, config={"width": 2, "oracle": False},
    )
    assert result.solved
    assert "x > 0" in result.best.code
    assert result.stopped_because == "solved"
    assert result.model == "openai/gpt-4o-mini"
    assert result.stats["rethinks_tried"] == 1 and result.stats["rethinks_helped"] == 1
    assert result.stats["parse_failures"] == {}  # every reply in the format its prompt asks for
    # the first program to pass ends the search, so no critic is asked for a score nobody reads
    assert not any("Score: N" in r.body["messages"][-1]["content"] for r in server.requests)
    # the rewritten thought keeps its superseded version, and the failed program is superseded
    thoughts = [p for p in result.tree.payload.values() if getattr(p, "kind", "") == "thought"]
    rethought = [t for t in thoughts if len(t.versions) == 2]
    assert len(rethought) == 1
    assert rethought[0].versions[0].text == "Add up every element."
    assert "visible tests passed" in rethought[0].versions[0].superseded_because
    superseded = [n for n in result.tree.nodes() if result.tree.stats(n)["superseded"]]
    assert len(superseded) == 1 and WRONG.split("\n")[2].strip() in result.tree.payload[superseded[0]].code
    # token totals equal what the server served; every call is in the transcript
    assert result.stats["llm_calls"] == server.request_count
    assert result.stats["prompt_tokens"] == server.served["prompt_tokens"]
    assert result.stats["completion_tokens"] == server.served["completion_tokens"]
    assert result.stats["cost_usd"] > 0
    calls = (out / "llm_calls.jsonl").read_bytes().splitlines()
    assert len(calls) == server.request_count
    saved = orjson.loads((out / "result.json").read_bytes())
    assert saved["solved"] and saved["best"]["code"] == result.best.code
    tree = orjson.loads((out / "tree.json").read_bytes())
    assert len(tree["nodes"]) == len(result.tree.nodes())
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    assert any(e["type"] == "rethink" and e["helped"] for e in events)


def test_budget_ends_the_search_with_the_best_so_far(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    programs = itertools.count()
    # every repair differs (a repair that gives its program back unchanged ends that branch)
    server.reply = lambda request: (
        json.dumps([{"strategy": "Add up every element.", "confidence": 0.9}])
        if "Propose" in request["messages"][-1]["content"] else WRONG.replace("return", f"_ = {next(programs)}\n    return")
    )
    result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, budget=4, concurrency=1,
                    cache=None, config={"width": 1, "rethink": False})
    assert not result.solved
    assert result.stopped_because == "budget: max_calls"
    assert result.stats["llm_calls"] == 4 == server.request_count
    assert result.best is not None and result.best.value == pytest.approx(0.5)  # one of two visible tests


@pytest.mark.parametrize("must_improve, calls", [(False, 4), (True, 2)])
def test_a_repair_that_does_not_improve_ends_its_line_when_repairs_must_improve(server, monkeypatch, must_improve, calls):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    programs = itertools.count()
    server.reply = lambda request: WRONG.replace("return", f"_ = {next(programs)}\n    return")  # all as wrong
    result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, budget=4, concurrency=1, cache=None,
                    config={"thought_depth": 0, "root_widening": 0.0, "rethink": False,
                            "repairs_must_improve": must_improve})
    assert server.request_count == calls == result.stats["llm_calls"]
    kinds = ["Explain briefly what is wrong" in r.body["messages"][-1]["content"] for r in server.requests]
    assert kinds == [False] + [True] * (calls - 1)  # a program, then its repairs


def test_solve_with_a_prompts_directory_sends_its_templates_and_refuses_a_misspelt_one(server, tmp_path, monkeypatch,
                                                                                       capsys):
    from treesearch.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # every call reaches the server
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(PROBLEM))
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "code.txt").write_text("Filter the positives in this:\n```\n$statement\n```\n")
    argv = ["solve", str(problem), "--model", "openai/gpt-4o-mini", "--api-base", server.url, "--strategy",
            "best_of_n", "--budget", "2", "--prompts", str(prompts), "--out", str(tmp_path / "run")]
    assert main(argv) == 0  # the template's "Filter the positives" gets the right program from the script
    calls = server.request_count
    assert server.requests[0].body["messages"] == [{"role": "user", "content": (
        f"Filter the positives in this:\n```\n{PROBLEM['prompt'].rstrip()}\n```\n")}]
    capsys.readouterr()
    (prompts / "Code.txt").write_text("$problem")
    assert main(argv) == 2  # a user error
    assert "templates the policy does not use (Code.txt)" in capsys.readouterr().err
    assert server.request_count == calls  # refused before any call
