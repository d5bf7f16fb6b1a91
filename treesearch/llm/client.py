"""The client: :class:`LLMClient`, any litellm model behind one ``complete()``.

A search makes hundreds of calls, so the client

- owns its concurrency: an asyncio semaphore bounds HTTP requests in flight and queues the rest
  (litellm's Router limit rejects instead of queueing), and the requests are prepared in turns
  (see :mod:`treesearch.llm.turns`);
- asks for ``n`` samples natively where the provider takes ``n`` and falls back to n parallel
  requests where it does not (llama.cpp answers 400, Ollama returns one choice); the fallback is
  remembered for the client's lifetime;
- retries rate limits, 5xx, timeouts, connection errors and unusable responses with tenacity —
  exponential backoff with jitter, at least the provider's ``Retry-After`` — and nothing else: a
  bad request or a refused key will not change. litellm's and the OpenAI SDK's own retries are off.
  A final failure is a typed :class:`~treesearch.llm.errors.LLMError`;
- counts tokens and cost per call (see :mod:`treesearch.llm.accounting`), keeps running totals in
  ``client.stats`` and reserves every call against a :class:`Budget` before any HTTP request (see
  :mod:`treesearch.budget`);
- replays cached samples and caches fresh ones (see :mod:`treesearch.llm.cache`);
- appends every call to a transcript (see :mod:`treesearch.llm.transcript`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
import weakref
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import orjson

from treesearch.budget import Budget, BudgetExhausted
from treesearch.llm.accounting import Completion, LLMStats, _Sample, _shares, _total_cost
from treesearch.llm.cache import LLMCache, cache_key, default_cache_path
from treesearch.llm.errors import LLMBadRequestError, LLMError, LLMResponseError, classify_error
from treesearch.llm.litellm_setup import load_litellm
from treesearch.llm.transcript import Transcript
from treesearch.llm.turns import _current_turn, _Turn

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
# The longest Retry-After honoured: a provider asking for more is down for the purposes of a search,
# and the remaining attempts will find that out without waiting it out.
MAX_RETRY_AFTER_S = 60.0
# A 400 to a request with n > 1 that mentions n or choices is a refusal of n (llama.cpp: "Only one
# completion choice is allowed"; others name the parameter).
_N_REFUSAL = re.compile(r"\bn\b|\bchoices?\b|\bn_samples\b", re.I)


class _NativeNRefused(Exception):
    """The provider refused n > 1; the client falls back to parallel requests."""


def sample_seed(key: str, index: int) -> int:
    """The seed of sample ``index`` of the request with cache key ``key``: 31 bits of their hash."""
    return int.from_bytes(hashlib.sha256(f"{key}:{index}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def _seeded(params: dict, seeds: list[int] | None, i: int) -> dict:
    return params if seeds is None else {**params, "seed": seeds[i]}


class LLMClient:
    """``await client.complete(messages, n=1, **params) -> list[Completion]`` for one litellm model.

    model: a litellm model string (``openai/gpt-4o-mini``, ``hosted_vllm/<name>`` with api_base, ...);
        see :func:`treesearch.config.resolve_model` for turning ``--model`` into model/api_base/api_key.
    concurrency: HTTP requests in flight at once (per event loop).
    timeout_s: per HTTP request; a call still running when the budget's wall time ends is cut off there.
    max_attempts: per request, counting the first; backoff: (base, max) seconds of the exponential
        backoff with jitter between attempts (a Retry-After from the provider lengthens the wait).
    cache: an :class:`LLMCache`, a path for one, True for :func:`default_cache_path`, None/False for none.
    transcript_path: where every call is appended (``<run dir>/llm_calls.jsonl``), or None.
    budget: a :class:`Budget` every call reserves against (``n`` calls for ``n`` samples); BudgetExhausted
        is raised before any request.
    default_params: model parameters for every call (temperature, ...); per-call params override them.
        ``max_tokens`` defaults to 4096 so each call's cost has a bound a budget can reserve.
    seed: the search's seed, part of every cache key: searches at two seeds draw different samples
        from the cache, a replay at the same seed the same ones.
    sample_seeds: send each fresh sample a ``seed`` of its own, a function of its cache key (so of
        the search's seed) and its sample index (:func:`sample_seed`), so that samples differ even on
        a server whose default seed is fixed (llama.cpp's), and sample i of a request is asked with
        the same seed again. For OpenAI-compatible servers (those given an ``api_base``).
    """

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_attempts: int = 5,
        backoff: tuple[float, float] = (1.0, 30.0),
        cache: LLMCache | str | os.PathLike | bool | None = True,
        transcript_path: str | os.PathLike | None = None,
        budget: Budget | None = None,
        default_params: dict | None = None,
        seed: int = 0,
        sample_seeds: bool = False,
    ) -> None:
        if concurrency < 1 or max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be at least 1")
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.seed = seed
        if cache is True:
            cache = LLMCache(default_cache_path())
        elif cache is False:
            cache = None
        elif cache is not None and not isinstance(cache, LLMCache):
            cache = LLMCache(cache)
        self.cache: LLMCache | None = cache
        self.transcript = Transcript(transcript_path) if transcript_path is not None else None
        self.budget = budget
        self.default_params = {"max_tokens": DEFAULT_MAX_TOKENS, **(default_params or {})}
        self.sample_seeds = sample_seeds
        self.stats = LLMStats()
        self._native_n: bool | None = None  # decided on first use from litellm's parameter table
        self._loop_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[asyncio.Semaphore, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        self._takes_turns = True  # until a model's requests turn out not to be reported (see _acompletion)
        self._warned_unknown_cost = False
        self._next_sample: dict[str, int] = {}  # per request key: the next sample index to hand out

    async def complete(self, messages: list[dict], n: int = 1, **params: Any) -> list[Completion]:
        """The next n samples for ``messages``: cached ones replayed, the rest fetched; in index order.

        Raises BudgetExhausted (before any request) when the budget cannot take the call, and an
        LLMError when the provider fails for good. Samples fetched before a failure are still cached
        and accounted.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        started = time.monotonic()
        params = {**self.default_params, **params}
        key = cache_key(self.model, messages, params, self.seed)
        # Claimed before any await, so concurrent identical requests get different samples.
        first = self._next_sample.get(key, 0)
        self._next_sample[key] = first + n
        stored = self.cache.get(key, first, first + n) if self.cache is not None else {}
        cached = {index: _Sample(**value) for index, value in stored.items()}
        missing = [index for index in range(first, first + n) if index not in cached]
        reservation = None
        if self.budget is not None:
            est_tokens, est_cost = self._estimate(messages, params, list(cached.values()), len(missing))
            reservation = await self.budget.areserve(est_tokens=est_tokens, est_cost=est_cost, calls=n)

        try:
            seeds = [sample_seed(key, i) for i in missing] if self.sample_seeds and "seed" not in params else None
            fetched, error = await self._fetch(messages, len(missing), params, seeds)
        except BaseException:  # cancelled (the search stopped) or a bug: hold nothing against the budget
            if reservation is not None:
                self.budget.release(reservation)
            raise
        fresh = dict(zip(missing, fetched))
        if fresh and self.cache is not None:
            self.cache.put(key, {index: sample.stored() for index, sample in fresh.items()})
        samples = {**cached, **fresh}
        if reservation is not None:
            if samples:
                self.budget.settle(
                    reservation,
                    prompt_tokens=sum(s.prompt_tokens for s in samples.values()),
                    completion_tokens=sum(s.completion_tokens for s in samples.values()),
                    cost_usd=_total_cost(samples.values()),
                )
            else:
                self.budget.release(reservation)
        self._account(fresh.values(), cache_hits=len(cached), answered=error is None)
        completions = [
            Completion(
                text=sample.text,
                finish_reason=sample.finish_reason,
                prompt_tokens=sample.prompt_tokens,
                completion_tokens=sample.completion_tokens,
                cost_usd=sample.cost_usd,
                cached=index in cached,
                latency_s=sample.latency_s if index in fresh else time.monotonic() - started,
                attempts=sample.attempts,
                sample_index=index,
                model=self.model,
            )
            for index, sample in sorted(samples.items())
        ]
        if self.transcript is not None:
            self._record(messages, params, n, completions, error, time.monotonic() - started)
        if error is not None:
            raise error
        return completions

    # -- fetching --

    async def _fetch(self, messages: list[dict], count: int, params: dict,
                     seeds: list[int] | None = None) -> tuple[list[_Sample], BaseException | None]:
        """``count`` fresh samples — natively when the provider takes n, else in parallel (sample i
        with ``seeds[i]``) — and the error that stopped the rest, if any. Samples already paid for
        are returned either way."""
        samples: list[_Sample] = []
        if count > 1 and self._supports_native_n():
            try:
                samples = await self._request(messages, count, _seeded(params, seeds, 0))
            except _NativeNRefused:
                log.info("%s refused n=%d; sampling with parallel requests from now on", self.model, count)
                self._native_n = False
            except (LLMError, BudgetExhausted) as exc:
                return [], exc
            if len(samples) < count:  # the provider ignored n (Ollama): remember, fetch the rest
                self._native_n = False
        outcomes = await asyncio.gather(
            *(self._request(messages, 1, _seeded(params, seeds, i)) for i in range(len(samples), count)),
            return_exceptions=True
        )
        error = None
        for outcome in outcomes:
            if isinstance(outcome, (LLMError, BudgetExhausted)):
                error = error or outcome
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                samples.extend(outcome)
        return samples, error

    def _supports_native_n(self) -> bool:
        if self._native_n is None:
            litellm = load_litellm()
            try:
                _, provider, _, _ = litellm.get_llm_provider(self.model, api_base=self.api_base)
                supported = litellm.get_supported_openai_params(model=self.model, custom_llm_provider=provider)
            except Exception:  # litellm cannot tell: try, and detect a refusal
                supported = None
            self._native_n = supported is None or "n" in supported
        return self._native_n

    async def _request(self, messages: list[dict], n: int, params: dict) -> list[_Sample]:
        """One logical request for n choices, retried; its samples (one per choice returned)."""
        import tenacity

        started = time.monotonic()
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, LLMError) and exc.retryable),
            reraise=True,
        )
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    response = await self._send(messages, n, params)
        except LLMError as exc:
            exc.attempts = attempts
            raise
        return self._samples(response, attempts, time.monotonic() - started)

    def _wait(self, retry_state: Any) -> float:
        """Exponential backoff with full jitter, but at least what the provider asked for."""
        import tenacity

        base, cap = self.backoff
        backoff = tenacity.wait_random_exponential(multiplier=base, max=cap)(retry_state)
        asked = getattr(retry_state.outcome.exception(), "retry_after_s", None) or 0.0
        return max(backoff, min(asked, MAX_RETRY_AFTER_S))

    async def _send(self, messages: list[dict], n: int, params: dict) -> Any:
        """One HTTP request under the semaphore."""
        litellm = load_litellm()
        request = {
            "model": self.model,
            "messages": messages,
            # Fixed per client: litellm keys its cache of HTTP clients on it, so a varying timeout
            # would build a new client and connection pool for every call.
            "timeout": self.timeout_s,
            "num_retries": 0,  # tenacity alone retries
            "max_retries": 0,
            **params,
        }
        if n > 1:
            request["n"] = n
        if self.api_base:
            request["api_base"] = self.api_base
        if self.api_key:
            request["api_key"] = self.api_key
        async with self._locks()[0]:
            wall = self.budget.wall_remaining_s if self.budget is not None else None
            if wall is not None and wall <= 0:
                raise BudgetExhausted("max_wall_s", self.budget.usage)
            self.stats.http_requests += 1
            try:
                call = self._acompletion(litellm, request)
                response = await (call if wall is None else asyncio.wait_for(call, timeout=wall))
            except Exception as exc:
                if wall is not None and self.budget.wall_remaining_s <= 0:
                    raise BudgetExhausted("max_wall_s", self.budget.usage) from exc
                error = classify_error(exc, self.model, self.api_base)
                if error is None:
                    raise
                if n > 1 and isinstance(error, LLMBadRequestError) and _N_REFUSAL.search(error.provider_message):
                    raise _NativeNRefused(error.provider_message) from exc
                raise error from exc
        if not response.choices:
            raise LLMResponseError("the provider returned no choices", model=self.model, status=200)
        return response

    async def _acompletion(self, litellm: Any, request: dict) -> Any:
        """``litellm.acompletion(**request)``, its preparation in this client's turn (see :class:`_Turn`)."""
        if not self._takes_turns:
            return await litellm.acompletion(**request)
        lock = self._locks()[1]
        await lock.acquire()
        turn = _Turn(lock)
        context = _current_turn.set(turn)
        try:
            response = await litellm.acompletion(**request)
        finally:
            _current_turn.reset(context)
            turn.end()
        if not turn.reported and self._takes_turns:
            # Answered without litellm reporting the request: this model's path does not call the
            # hook, and every turn would last until its call ends or MAX_TURN_S.
            log.info("litellm does not report %s's requests as sent; its calls no longer take turns", self.model)
            self._takes_turns = False
        return response

    def _locks(self) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        # One pair per event loop: a client may serve several asyncio.run() calls, and asyncio's
        # semaphores and locks are bound to the loop they first wait in.
        loop = asyncio.get_running_loop()
        locks = self._loop_locks.get(loop)
        if locks is None:
            locks = self._loop_locks[loop] = (asyncio.Semaphore(self.concurrency), asyncio.Lock())
        return locks

    def _samples(self, response: Any, attempts: int, latency_s: float) -> list[_Sample]:
        usage = getattr(response, "usage", None)
        choices = response.choices
        prompt = _shares(int(getattr(usage, "prompt_tokens", 0) or 0), len(choices))
        completion = _shares(int(getattr(usage, "completion_tokens", 0) or 0), len(choices))
        # litellm has priced the response already (from its local cost map; None when unpriced).
        cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
        return [
            _Sample(
                text=choice.message.content or "",
                finish_reason=choice.finish_reason,
                prompt_tokens=prompt[i],
                completion_tokens=completion[i],
                cost_usd=None if cost is None else cost / len(choices),
                attempts=attempts,
                latency_s=latency_s,
            )
            for i, choice in enumerate(choices)
        ]

    # -- accounting --

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD from litellm's local cost map; None for a model it does not price."""
        litellm = load_litellm()
        try:
            prompt_cost, completion_cost = litellm.cost_per_token(
                model=self.model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # litellm raises a variety of errors for unmapped models
            return None
        return prompt_cost + completion_cost

    def _estimate(
        self, messages: list[dict], params: dict, cached: list[_Sample], fresh_samples: int
    ) -> tuple[int, float]:
        """A bound on the call's tokens and cost: cached samples exactly; for each fresh sample the
        prompt's JSON size in bytes (a token is at least a byte; the JSON framing covers the per-message
        overhead) plus its completion cap."""
        prompt = len(orjson.dumps(messages)) * fresh_samples
        completion = int(params.get("max_completion_tokens") or params.get("max_tokens") or DEFAULT_MAX_TOKENS) * fresh_samples
        tokens = prompt + completion + sum(s.prompt_tokens + s.completion_tokens for s in cached)
        cost = self._cost(prompt, completion) if fresh_samples else 0.0
        if cost is None:
            if self.budget.max_cost_usd is not None and not self._warned_unknown_cost:
                log.warning("litellm has no price for %s: the cost limit cannot be enforced", self.model)
                self._warned_unknown_cost = True
            cost = 0.0
        return tokens, cost + sum(s.cost_usd or 0.0 for s in cached)

    def _account(self, fresh: Iterable[_Sample], cache_hits: int, answered: bool) -> None:
        stats = self.stats
        stats.calls += answered
        stats.cache_hits += cache_hits
        for sample in fresh:
            stats.prompt_tokens += sample.prompt_tokens
            stats.completion_tokens += sample.completion_tokens
            if sample.cost_usd is None:
                stats.cost_known = False
            else:
                stats.cost_usd += sample.cost_usd

    def _record(
        self, messages: list[dict], params: dict, n: int, completions: list[Completion],
        error: BaseException | None, latency_s: float,
    ) -> None:
        self.transcript.append(
            {
                "time": time.time(),
                "model": self.model,
                "request": {"messages": messages, "n": n, "params": params},
                "samples": [asdict(c) for c in completions],
                "prompt_tokens": sum(c.prompt_tokens for c in completions),
                "completion_tokens": sum(c.completion_tokens for c in completions),
                "cost_usd": _total_cost(completions),
                "latency_s": latency_s,
                "cache_hits": sum(c.cached for c in completions),
                "attempts": max((c.attempts for c in completions), default=getattr(error, "attempts", 0)),
                "error": None if error is None else {"type": type(error).__name__, "message": str(error)},
            }
        )
