"""A failed or unusable call costs that call, never the search: every strategy against a model server
that fails 30% of its requests (each kind of fault), and against replies no parser can read."""

from __future__ import annotations

import pytest

from tests.llm_server import LLMServer
from tests.test_search_llm import PROBLEM, RIGHT, scripted
from treesearch.api import search

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("strategy", ["best_of_n", "self_debug", "mcts", "beam"])
def test_every_strategy_finishes_with_a_program_through_30_percent_faults(strategy, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with LLMServer(reply=scripted, fault_rate=0.3, fault_seed=7, hang_s=1.0, retry_after_s=0.01) as server:
        result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, strategy=strategy, budget=10,
                        concurrency=2, cache=None, out=tmp_path / "run", config={"width": 2})
        faults = [r.fault for r in server.requests if r.fault]
        answered = [r for r in server.requests if r.fault is None and r.status == 200]
        assert len(faults) >= 2, "the server should have failed some requests"
        assert result.best is not None and result.best.value > 0
        assert not result.stopped_because.startswith("error"), result.stopped_because
        # what the search counted is what the server answered
        assert result.stats["llm_calls"] == len(answered)
        assert result.stats["prompt_tokens"] == server.served["prompt_tokens"]
        assert result.stats["completion_tokens"] == server.served["completion_tokens"]


def test_a_run_of_failures_stops_the_search_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with LLMServer(reply=scripted) as server:
        server.inject(*["bad_request"] * 50)  # never retried, never going to work
        result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, strategy="best_of_n", budget=20,
                        concurrency=1, cache=None)
    assert result.stopped_because.startswith("error:") and "bad request" in result.stopped_because
    assert result.stats["expansion_errors"] == 3  # 3 K in a row, K = 1


def test_one_failed_call_does_not_end_best_of_n(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with LLMServer(reply=lambda request: RIGHT) as server:
        server.inject("bad_request")
        result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, strategy="best_of_n", budget=4,
                        concurrency=1, cache=None, value="execution")
    assert result.solved and result.stats["expansion_errors"] == 1


@pytest.mark.parametrize("api_base, why", [
    (None, "connection refused"),
    ("http://no-such-host.invalid:8000/v1", "the host name does not resolve"),
])
def test_an_unreachable_server_is_named_within_seconds(api_base, why, monkeypatch):
    import socket
    import time

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    if api_base is None:
        with socket.socket() as probe:  # a port nothing listens on once the probe is closed
            probe.bind(("127.0.0.1", 0))
            api_base = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    started = time.monotonic()
    result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=api_base, budget=8, concurrency=2, cache=None)
    assert time.monotonic() - started < 10
    assert result.stopped_because.startswith("error:")
    assert f"cannot connect to {api_base}: {why}" in result.stopped_because


def test_a_model_that_never_gives_readable_thoughts_still_gets_code_written_and_valued(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    def reply(request: dict) -> str:
        prompt = request["messages"][-1]["content"]
        if "Propose" in prompt:
            return "Sure!"  # no strategy any reader can find, before or after the format retry
        return "Score: 8" if "Score:" in prompt else RIGHT

    with LLMServer(reply=reply) as server:
        result = search(PROBLEM, model="openai/gpt-4o-mini", api_base=server.url, strategy="mcts", budget=8,
                        concurrency=1, cache=None, out=tmp_path / "run", config={"plain_first": False})
    assert result.solved and result.best.value > 0.8
    assert result.stats["parse_failures"]["thought"] == 2  # the reply and its retry
    assert result.tree.parent(result.best.node_id) == 0  # written straight from the problem
