"""K expansions in flight: the slots stay busy, and a search replays exactly at any K.

The model is the test server over real HTTP; its replies are a function of the request, and each
one is held back a random time, so that replies come back in a different order on every run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
import pytest

from tests.llm_server import LLMServer, wrong_coder
from treesearch.api import search
from treesearch.engine.turns import Turns, outside
from treesearch.export.events import busy_slots

PROBLEM = {
    "id": "concurrency/add_positive",
    "kind": "function",
    "prompt": "def add_positive(xs: list) -> int:\n    \"\"\"Sum of the positive numbers in xs.\"\"\"\n",
    "entry_point": "add_positive",
    "visible_tests": [{"input": [[1, -2, 3]], "output": 4}, {"input": [[-1, -1]], "output": 0},
                      {"input": [[2, 2]], "output": 4}],
    "hidden_tests": [{"input": [[5, 0, -5, 7]], "output": 12}],
}

def test_turns_resume_in_ticket_order_while_the_waits_overlap():
    log: list[str] = []
    waiting = {"now": 0, "most": 0}

    async def wait_outside(delay: float) -> None:
        waiting["now"] += 1
        waiting["most"] = max(waiting["most"], waiting["now"])
        await asyncio.sleep(delay)
        waiting["now"] -= 1

    async def worker(turns: Turns, name: str, delay: float, ticket: int) -> None:
        await turns.wait(ticket)
        log.append(f"{name} asks")
        await outside(wait_outside(delay))
        log.append(f"{name} goes on")
        turns.release()

    async def main() -> None:
        turns = Turns()
        await turns.wait(turns.take())
        # a's wait ends last, yet a goes on first: it asked first
        workers = [asyncio.ensure_future(worker(turns, name, delay, turns.take()))
                   for name, delay in (("a", 0.05), ("b", 0.0), ("c", 0.02))]
        turns.release()
        await asyncio.gather(*workers)

    asyncio.run(main())
    assert log == ["a asks", "b asks", "c asks", "a goes on", "b goes on", "c goes on"]
    assert waiting["most"] == 3  # the three waits overlapped


def run(server: LLMServer, out: Path, concurrency: int, cache: Path):
    return search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, budget=16, concurrency=concurrency,
                  out=out, cache=cache, seed=3, config={"width": 3, "code_samples": 1})


def tree_shape(out: Path) -> list[tuple]:
    """What must not depend on timing: ids, structure, kinds, statistics and contents."""
    doc = orjson.loads((out / "tree.json").read_bytes())
    shape = []
    for node in doc["nodes"]:
        payload = node["payload"] or {}
        content = payload.get("code") or [v["text"] for v in payload.get("versions", [])]
        shape.append((node["id"], node["parent"], tuple(node["children"]), node["kind"], node["visits"],
                      node["q_mean"], node["q_max"], node["in_flight"], node["terminal"], node["superseded"],
                      json.dumps(content), payload.get("value")))
    return shape


def outcome(out: Path) -> dict:
    result = orjson.loads((out / "result.json").read_bytes())
    result["stats"].pop("wall_s")
    return result


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    # programs that never pass every test: each search runs to its budget, so nothing is cancelled
    # and every request it makes is cached
    with LLMServer(reply=wrong_coder(PROBLEM["entry_point"], jitter_s=0.03)) as s:
        yield s


def test_the_same_search_at_k4_is_identical_every_time_and_replays_without_the_server(server, tmp_path):
    runs = []
    for i in range(5):
        cache = tmp_path / f"cache-{i}.sqlite"
        before = server.request_count
        run(server, tmp_path / f"live-{i}", 4, cache)
        live_requests = server.request_count - before
        run(server, tmp_path / f"replay-{i}", 4, cache)
        assert server.request_count - before == live_requests > 0  # the replay asked the server nothing
        runs += [tmp_path / f"live-{i}", tmp_path / f"replay-{i}"]
    first = tree_shape(runs[0])
    assert len(first) > 8 and outcome(runs[0])["stopped_because"] == "budget: max_calls"
    for out in runs[1:]:
        assert tree_shape(out) == first, out.name
        assert outcome(out) == outcome(runs[0]), out.name


@pytest.mark.parametrize("concurrency", [1, 8])
def test_a_search_replays_exactly_at_any_concurrency(server, tmp_path, concurrency):
    cache = tmp_path / "cache.sqlite"
    run(server, tmp_path / "live", concurrency, cache)
    requests = server.request_count
    run(server, tmp_path / "replay", concurrency, cache)
    assert server.request_count == requests
    run(server, tmp_path / "again", concurrency, tmp_path / "fresh.sqlite")
    assert tree_shape(tmp_path / "live") == tree_shape(tmp_path / "replay") == tree_shape(tmp_path / "again")
    assert outcome(tmp_path / "live") == outcome(tmp_path / "replay") == outcome(tmp_path / "again")


EXAMPLES = sorted((Path(__file__).parents[1] / "examples" / "problems").glob("*.json"))


def test_four_slots_stay_busy_after_the_first_step(tmp_path):
    """The sim coder at budget 24 and K = 4 on every example problem, searching on past solutions
    (no early stop) so that each search makes many selections: after the root's, at least 3 of the 4
    slots are busy at each one (the leaves it selects plus the expansions already running)."""
    busy = {}
    for problem in EXAMPLES:
        result = search(problem, model="sim", budget=24, concurrency=4, seed=0, out=tmp_path / problem.stem,
                        config={"early_stop": False})
        busy[problem.stem] = busy_slots(result.events)
    assert all(b["selects"] >= 3 for b in busy.values()), busy
    assert all(b["per_select"] >= 3.0 for b in busy.values()), busy
    selects = sum(b["selects"] for b in busy.values())
    assert sum(b["per_select"] * b["selects"] for b in busy.values()) / selects >= 3.5, busy
