"""LLMClient through real litellm and real HTTP against tests/llm_server.py."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from tests.llm_server import LLMServer, llm_server_fixture  # noqa: F401 (provides the llm_server fixture)
from treesearch.budget import Budget, BudgetExhausted
from treesearch.llm import (
    LLMAuthError,
    LLMBadRequestError,
    LLMCache,
    LLMClient,
    LLMServerError,
    LLMTimeoutError,
    load_litellm,
)

KNOWN = "openai/gpt-4o-mini"  # in litellm's cost map: costs are computed
UNKNOWN = "openai/treesearch-local-model"  # not priced: cost is None
REPO = Path(__file__).resolve().parents[1]


def make_client(server: LLMServer, model: str = KNOWN, **kwargs) -> LLMClient:
    kwargs.setdefault("cache", None)
    kwargs.setdefault("backoff", (0.01, 0.05))
    kwargs.setdefault("timeout_s", 5.0)
    return LLMClient(model, **server.client_kwargs(), **kwargs)


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": "You write Python."}, {"role": "user", "content": text}]


def price(prompt_tokens: int, completion_tokens: int) -> float:
    prompt_cost, completion_cost = load_litellm().cost_per_token(
        model=KNOWN, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    return prompt_cost + completion_cost


# -- calls, samples and accounting --


def test_totals_equal_what_the_server_served(llm_server):
    llm_server.reply = lambda request: "word " * (3 + len(request["messages"][-1]["content"]) % 7)
    client = make_client(llm_server)

    async def run():
        return await asyncio.gather(*(client.complete(ask(f"problem {i} " * i), n=1 + i % 3) for i in range(8)))

    completions = [c for batch in asyncio.run(run()) for c in batch]
    served = llm_server.served
    assert len(completions) == served["choices"] == sum(1 + i % 3 for i in range(8))
    assert client.stats.prompt_tokens == served["prompt_tokens"] == sum(c.prompt_tokens for c in completions)
    assert client.stats.completion_tokens == served["completion_tokens"] == sum(c.completion_tokens for c in completions)
    assert client.stats.cost_known
    assert client.stats.cost_usd == pytest.approx(price(served["prompt_tokens"], served["completion_tokens"]))
    assert sum(c.cost_usd for c in completions) == pytest.approx(client.stats.cost_usd)
    assert client.stats.calls == 8 and client.stats.http_requests == llm_server.request_count == 8
    assert all(c.model == KNOWN and not c.cached and c.attempts == 1 and c.finish_reason == "stop" for c in completions)


def test_unknown_model_counts_tokens_and_reports_cost_as_unknown(llm_server):
    llm_server.reply = "def f():\n    return 1"
    client = make_client(llm_server, model=UNKNOWN)
    (completion,) = asyncio.run(client.complete(ask("write f")))
    assert completion.text == "def f():\n    return 1"
    assert completion.cost_usd is None
    assert completion.prompt_tokens == llm_server.served["prompt_tokens"] > 0
    assert completion.completion_tokens == llm_server.served["completion_tokens"] == 4
    assert client.stats.cost_known is False


def test_n_is_requested_natively_where_supported(llm_server):
    client = make_client(llm_server)
    completions = asyncio.run(client.complete(ask("three ideas"), n=3))
    assert llm_server.request_count == 1 and llm_server.requests[0].body["n"] == 3
    assert [c.sample_index for c in completions] == [0, 1, 2]
    assert len({c.text for c in completions}) == 3


def test_refused_n_falls_back_to_parallel_calls_and_is_remembered(llm_server):
    llm_server.n_mode = "refuse"  # llama.cpp: 400 "Only one completion choice is allowed"
    client = make_client(llm_server)
    first = asyncio.run(client.complete(ask("three ideas"), n=3))
    assert [r.status for r in llm_server.requests] == [400, 200, 200, 200]
    assert len({c.text for c in first}) == 3 and [c.sample_index for c in first] == [0, 1, 2]
    llm_server.reset()
    second = asyncio.run(client.complete(ask("two more"), n=2))
    assert len(second) == 2 and llm_server.request_count == 2  # no native attempt any more
    assert all("n" not in r.body for r in llm_server.requests)
    assert client.stats.prompt_tokens == first[0].prompt_tokens * 3 + llm_server.served["prompt_tokens"]


def test_fewer_choices_than_asked_fetches_the_rest(llm_server):
    llm_server.n_mode = "ignore"  # Ollama answers n > 1 with one choice
    client = make_client(llm_server)
    completions = asyncio.run(client.complete(ask("three ideas"), n=3))
    assert len({c.text for c in completions}) == 3
    assert llm_server.request_count == 3
    assert client.stats.completion_tokens == llm_server.served["completion_tokens"]


def test_repeating_a_request_in_one_client_gives_new_samples(llm_server):
    client = make_client(llm_server)

    async def run():
        batches = await asyncio.gather(*(client.complete(ask("same prompt")) for _ in range(3)))
        return [c for batch in batches for c in batch]

    first, second = asyncio.run(run()), asyncio.run(run())
    assert sorted(c.sample_index for c in first) == [0, 1, 2]
    assert sorted(c.sample_index for c in second) == [3, 4, 5]
    assert len({c.text for c in first + second}) == 6


# -- faults --


@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "unavailable", "malformed", "empty_choices", "disconnect"])
def test_transient_faults_are_retried(llm_server, fault):
    client = make_client(llm_server)
    llm_server.inject(fault, fault)
    (completion,) = asyncio.run(client.complete(ask("hello")))
    assert completion.attempts == 3
    assert llm_server.request_count == 3 and client.stats.http_requests == 3
    assert completion.text.startswith("reply")
    assert client.stats.prompt_tokens == llm_server.served["prompt_tokens"]


def test_a_hang_times_out_and_is_retried(llm_server):
    client = make_client(llm_server, timeout_s=0.3)
    llm_server.inject("hang")
    (completion,) = asyncio.run(client.complete(ask("hello")))
    assert completion.attempts == 2 and llm_server.request_count == 2


def test_persistent_hang_fails_with_a_timeout_error(llm_server):
    client = make_client(llm_server, timeout_s=0.2, max_attempts=2)
    llm_server.inject("hang", "hang")
    with pytest.raises(LLMTimeoutError) as raised:
        asyncio.run(client.complete(ask("hello")))
    assert raised.value.attempts == 2
    assert KNOWN in str(raised.value) and "timed out" in str(raised.value) and "2 attempts" in str(raised.value)


def test_retry_after_is_honoured(llm_server):
    llm_server.retry_after_s = 0.4
    client = make_client(llm_server, backoff=(0.001, 0.002))
    llm_server.inject("rate_limit")
    started = time.monotonic()
    (completion,) = asyncio.run(client.complete(ask("hello")))
    assert time.monotonic() - started >= 0.4
    assert completion.attempts == 2


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [("bad_request", LLMBadRequestError, "Invalid value for 'messages'"), ("unauthorized", LLMAuthError, "Incorrect API key")],
)
def test_errors_that_will_not_change_are_not_retried(llm_server, fault, error, message):
    client = make_client(llm_server)
    llm_server.inject(fault)
    with pytest.raises(error) as raised:
        asyncio.run(client.complete(ask("hello")))
    assert llm_server.request_count == 1
    text = str(raised.value)
    assert KNOWN in text and message in text and "after 1 attempt:" in text
    assert client.stats.calls == 0


def test_the_final_error_names_model_provider_message_and_attempts(llm_server):
    client = make_client(llm_server, max_attempts=3)
    llm_server.inject("unavailable", "unavailable", "unavailable")
    with pytest.raises(LLMServerError) as raised:
        asyncio.run(client.complete(ask("hello")))
    assert str(raised.value) == (
        f"{KNOWN}: server error (HTTP 503) after 3 attempts: The engine is currently overloaded"
    )
    assert llm_server.request_count == 3


def test_truncated_output_is_returned_with_finish_reason_length(llm_server):
    llm_server.reply = "one two three four five six"
    client = make_client(llm_server)
    llm_server.inject("truncated")
    (cut,) = asyncio.run(client.complete(ask("hello")))
    assert (cut.text, cut.finish_reason) == ("one two three", "length")
    (capped,) = asyncio.run(client.complete(ask("again"), max_tokens=2))
    assert (capped.text, capped.finish_reason, capped.completion_tokens) == ("one two", "length", 2)


def test_concurrency_is_bounded_by_the_client_semaphore(llm_server):
    llm_server.latency_s = 0.05
    client = make_client(llm_server, concurrency=3)

    async def run():
        await asyncio.gather(*(client.complete(ask(f"task {i}")) for i in range(12)))

    asyncio.run(run())
    assert llm_server.request_count == 12
    assert llm_server.max_in_flight == 3


# litellm reports a request sent from the event loop's thread on the OpenAI SDK's path (openai/) and
# from its thread pool on its own HTTP handler's path (hosted_vllm/): both end the call's turn.
@pytest.mark.parametrize("model", [KNOWN, "hosted_vllm/treesearch-local-model"])
def test_calls_take_turns_preparing_and_still_run_concurrently(llm_server, model):
    llm_server.latency_s = 0.05
    client = make_client(llm_server, model=model, concurrency=4)

    async def run():
        return await asyncio.gather(*(client.complete(ask(f"task {i}")) for i in range(12)))

    completions = [c for batch in asyncio.run(run()) for c in batch]
    # Every answered request was reported sent, so each turn ended there (not at MAX_TURN_S)
    # and the client kept taking turns.
    assert client._takes_turns
    assert llm_server.request_count == 12 and llm_server.max_in_flight == 4
    assert client.stats.prompt_tokens == llm_server.served["prompt_tokens"] == sum(c.prompt_tokens for c in completions)
    assert client.stats.completion_tokens == llm_server.served["completion_tokens"]
    assert sorted(c.text for c in completions) == sorted(f"reply {k}" for k in range(12))


def test_calls_stop_taking_turns_when_litellm_does_not_report_requests(llm_server, monkeypatch):
    monkeypatch.setattr(load_litellm(), "input_callback", [])  # the hook that ends turns is gone
    llm_server.latency_s = 0.2
    client = make_client(llm_server, concurrency=4)

    async def run():
        return await asyncio.gather(*(client.complete(ask(f"task {i}")) for i in range(12)))

    completions = [c for batch in asyncio.run(run()) for c in batch]
    assert len(completions) == llm_server.request_count == 12
    # The first answer came without a report: the client stopped taking turns, which would otherwise
    # each last until MAX_TURN_S lapsed.
    assert not client._takes_turns


# -- cache --


def search_like_run(client: LLMClient) -> list[tuple[str, int]]:
    """A fixed sequence of calls like a search's: sampling, repeats of one prompt, concurrency."""

    async def run():
        out = list(await client.complete(ask("plan"), n=3))
        for plan in out[:2]:
            out += await client.complete(ask(f"code for {plan.text}"))
        batches = await asyncio.gather(*(client.complete(ask("debug")) for _ in range(2)))
        out += [c for batch in batches for c in batch]
        return [(c.text, c.sample_index) for c in out]

    return asyncio.run(run())


def test_a_second_identical_run_is_served_entirely_from_the_cache(llm_server, tmp_path):
    cache_path = tmp_path / "llm_cache.sqlite"
    first_client = make_client(llm_server, cache=cache_path)
    first = search_like_run(first_client)
    requests = llm_server.request_count
    assert requests == 5

    second_client = make_client(llm_server, cache=cache_path)
    second = search_like_run(second_client)
    assert llm_server.request_count == requests  # zero HTTP requests
    assert sorted(second) == sorted(first)
    assert second_client.stats.http_requests == 0 and second_client.stats.cache_hits == len(first) == 7
    assert second_client.stats.cost_usd == 0.0 and second_client.stats.calls == 5


def test_more_samples_than_cached_replays_and_fetches_the_rest(llm_server, tmp_path):
    cache = LLMCache(tmp_path / "cache.sqlite")
    three = asyncio.run(make_client(llm_server, cache=cache).complete(ask("ideas"), n=3))
    five = asyncio.run(make_client(llm_server, cache=cache).complete(ask("ideas"), n=5))
    assert [c.text for c in five[:3]] == [c.text for c in three]
    assert [c.cached for c in five] == [True, True, True, False, False]
    assert len({c.text for c in five}) == 5
    assert llm_server.request_count == 2 and llm_server.requests[1].body["n"] == 2
    assert five[0].prompt_tokens == three[0].prompt_tokens and five[0].cost_usd == three[0].cost_usd


def test_the_seed_is_part_of_the_cache_key(llm_server, tmp_path):
    """Searches at two seeds do not replay each other's samples; the same seed replays its own."""
    cache = LLMCache(tmp_path / "cache.sqlite")
    (at_0,) = asyncio.run(make_client(llm_server, cache=cache).complete(ask("plan")))
    (at_1,) = asyncio.run(make_client(llm_server, cache=cache, seed=1).complete(ask("plan")))
    (again_1,) = asyncio.run(make_client(llm_server, cache=cache, seed=1).complete(ask("plan")))
    assert not at_1.cached and at_1.text != at_0.text
    assert again_1.cached and again_1.text == at_1.text
    assert llm_server.request_count == 2


def test_a_corrupt_cache_is_set_aside_with_a_warning(llm_server, tmp_path):
    cache_path = tmp_path / "llm_cache.sqlite"
    cache_path.write_bytes(b"this is not a database" * 100)
    client = make_client(llm_server, cache=cache_path)
    with pytest.warns(RuntimeWarning, match="corrupt"):
        (first,) = asyncio.run(client.complete(ask("hello")))
    assert len(list(tmp_path.glob("llm_cache.sqlite.corrupt-*"))) == 1
    (replayed,) = asyncio.run(make_client(llm_server, cache=cache_path).complete(ask("hello")))
    assert replayed.cached and replayed.text == first.text


def test_cache_takes_concurrent_writers_from_threads_and_processes(tmp_path):
    path = tmp_path / "shared.sqlite"

    def write(worker: int) -> None:
        cache = LLMCache(path)  # its own connection, as every thread and process has
        for i in range(50):
            cache.put(f"thread-{worker}", {i: {"text": str(i)}})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    script = (
        "import sys; from treesearch.llm import LLMCache\n"
        "cache = LLMCache(sys.argv[1])\n"
        "for i in range(50): cache.put('process-' + sys.argv[2], {i: {'text': str(i)}})\n"
        "assert 'litellm' not in sys.modules\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(path), str(p)], cwd=REPO) for p in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.wait(timeout=60) for p in processes] == [0, 0, 0]
    cache = LLMCache(path)
    assert len(cache) == 7 * 50
    assert cache.get("process-2", 10, 13) == {10: {"text": "10"}, 11: {"text": "11"}, 12: {"text": "12"}}


# -- transcript --


def test_every_call_is_appended_to_the_transcript(llm_server, tmp_path):
    transcript = tmp_path / "run" / "llm_calls.jsonl"
    cache = LLMCache(tmp_path / "cache.sqlite")
    client = make_client(llm_server, cache=cache, transcript_path=transcript, max_attempts=2)
    llm_server.inject("server_error")
    asyncio.run(client.complete(ask("hello"), n=2, temperature=0.5))
    asyncio.run(make_client(llm_server, cache=cache, transcript_path=transcript).complete(ask("hello"), n=2, temperature=0.5))
    llm_server.inject("bad_request")
    with pytest.raises(LLMBadRequestError):
        asyncio.run(client.complete(ask("fails")))
    records = [orjson.loads(line) for line in transcript.read_bytes().splitlines()]
    assert len(records) == 3
    fetched, replayed, failed = records
    assert fetched["request"] == {"messages": ask("hello"), "n": 2, "params": {"max_tokens": 4096, "temperature": 0.5}}
    assert fetched["attempts"] == 2 and fetched["cache_hits"] == 0 and fetched["error"] is None
    assert fetched["prompt_tokens"] == llm_server.served["prompt_tokens"]
    assert fetched["cost_usd"] == pytest.approx(price(fetched["prompt_tokens"], fetched["completion_tokens"]))
    assert [s["text"] for s in replayed["samples"]] == [s["text"] for s in fetched["samples"]]
    assert replayed["cache_hits"] == 2 and all(s["cached"] for s in replayed["samples"])
    assert failed["samples"] == [] and failed["error"]["type"] == "LLMBadRequestError"
    assert all(r["model"] == KNOWN and r["latency_s"] >= 0 for r in records)


# -- budgets --


def test_budget_exhaustion_is_raised_before_any_request(llm_server):
    budget = Budget(max_calls=4)
    client = make_client(llm_server, budget=budget)
    asyncio.run(client.complete(ask("one")))
    asyncio.run(client.complete(ask("two"), n=3))  # three samples: three calls
    assert budget.usage["calls"] == 4
    with pytest.raises(BudgetExhausted) as raised:
        asyncio.run(client.complete(ask("three")))
    assert raised.value.limit == "max_calls"
    assert llm_server.request_count == 2 and budget.exhausted() == "max_calls"
    with pytest.raises(BudgetExhausted):  # n samples that would not all fit are not asked for
        asyncio.run(make_client(llm_server, budget=Budget(max_calls=2)).complete(ask("four"), n=3))
    assert llm_server.request_count == 2


def test_no_call_limit_is_exceeded_with_many_calls_in_flight(llm_server):
    llm_server.latency_s = 0.02
    budget = Budget(max_calls=10)
    client = make_client(llm_server, budget=budget, concurrency=8)
    outcomes = asyncio.run(gather_outcomes(client, 30))
    assert sum(isinstance(o, list) for o in outcomes) == 10 == llm_server.request_count
    assert all(o.limit == "max_calls" for o in outcomes if isinstance(o, BudgetExhausted))
    assert budget.usage["calls"] == 10


@pytest.mark.parametrize("model", [KNOWN, UNKNOWN])
def test_no_token_or_cost_limit_is_exceeded_with_many_calls_in_flight(llm_server, model):
    llm_server.latency_s = 0.02
    llm_server.reply = "word " * 12
    max_tokens = 20  # each call may use up to its prompt + 20 tokens; it uses prompt + 12
    limits = {"max_tokens": 900} if model == UNKNOWN else {"max_tokens": 10_000, "max_cost_usd": 2.0e-4}
    budget = Budget(**limits)
    client = make_client(llm_server, model=model, budget=budget, concurrency=8, default_params={"max_tokens": max_tokens})
    outcomes = asyncio.run(gather_outcomes(client, 60))
    done = [o for o in outcomes if isinstance(o, list)]
    refused = [o for o in outcomes if isinstance(o, BudgetExhausted)]
    usage = budget.usage
    assert done and refused and len(done) + len(refused) == 60
    assert usage["prompt_tokens"] == llm_server.served["prompt_tokens"]
    assert usage["completion_tokens"] == llm_server.served["completion_tokens"]
    tokens = usage["prompt_tokens"] + usage["completion_tokens"]
    assert tokens <= budget.max_tokens
    # Calls were refused only once the next call's bound no longer fitted: in-flight reservations
    # were waited for, not counted as spent.
    prompt_bound = len(orjson.dumps(ask("task 10")))
    if model == KNOWN:
        assert {r.limit for r in refused} == {"max_cost_usd"}
        assert usage["cost_usd"] == pytest.approx(price(usage["prompt_tokens"], usage["completion_tokens"]))
        assert usage["cost_usd"] <= budget.max_cost_usd < usage["cost_usd"] + price(prompt_bound, max_tokens)
    else:
        assert {r.limit for r in refused} == {"max_tokens"}
        assert usage["cost_known"] is False
        assert tokens + prompt_bound + max_tokens > budget.max_tokens


async def gather_outcomes(client: LLMClient, calls: int) -> list:
    return await asyncio.gather(*(client.complete(ask(f"task {i}")) for i in range(calls)), return_exceptions=True)


def test_the_wall_limit_clips_a_hanging_call(llm_server):
    budget = Budget(max_wall_s=0.5)
    client = make_client(llm_server, budget=budget, timeout_s=30.0)
    llm_server.inject("hang")
    started = time.monotonic()
    with pytest.raises(BudgetExhausted) as raised:
        asyncio.run(client.complete(ask("hello")))
    assert raised.value.limit == "max_wall_s"
    assert time.monotonic() - started < 10  # the 30 s per-call timeout was clipped to the budget
    assert budget.usage["calls"] == 0 and budget.usage["in_flight"] == 0


def test_a_cancelled_call_gives_its_reservation_back(llm_server):
    llm_server.latency_s = 5.0
    budget = Budget(max_calls=1)
    client = make_client(llm_server, budget=budget)

    async def run():
        task = asyncio.ensure_future(client.complete(ask("slow")))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert budget.usage["in_flight"] == 0 and budget.exhausted() is None


def test_a_replay_stops_where_the_original_run_stopped(llm_server, tmp_path):
    cache = LLMCache(tmp_path / "cache.sqlite")

    def run() -> list[str]:
        client = make_client(llm_server, cache=cache, budget=Budget(max_calls=3))
        texts = []
        for i in range(5):
            try:
                texts += [c.text for c in asyncio.run(client.complete(ask(f"step {i}")))]
            except BudgetExhausted:
                break
        return texts

    original = run()
    requests = llm_server.request_count
    assert run() == original and len(original) == 3
    assert llm_server.request_count == requests == 3


# -- offline and lazy --


def test_importing_treesearch_does_not_import_litellm_and_litellm_runs_offline():
    script = (
        "import sys\n"
        "import treesearch, treesearch.llm, treesearch.config, treesearch.budget, treesearch.parsing\n"
        "assert 'litellm' not in sys.modules, 'litellm imported eagerly'\n"
        "treesearch.llm.load_litellm()\n"
        "import os; assert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'True'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fetch" not in done.stderr.lower() and "http" not in done.stderr.lower(), done.stderr
