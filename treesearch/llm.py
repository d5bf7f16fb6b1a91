"""The LLM client: any litellm model behind one ``complete()``, economical and robust.

A search makes hundreds of calls, so the client

- owns its concurrency: an asyncio semaphore bounds HTTP requests in flight and queues the rest
  (litellm's Router limit rejects instead of queueing), and the requests are prepared in turns
  (see :class:`_Turn`): litellm spends milliseconds of CPU on each request before sending it, and
  calls that prepare one after another are each sent as soon as their own preparation is done;
- asks for ``n`` samples natively where the provider takes ``n`` and falls back to n parallel
  requests where it does not (llama.cpp answers 400, Ollama returns one choice); the fallback is
  remembered for the client's lifetime;
- retries rate limits, 5xx, timeouts, connection errors and unusable responses with tenacity —
  exponential backoff with jitter, at least the provider's ``Retry-After`` — and nothing else: a
  bad request or a refused key will not change. litellm's and the OpenAI SDK's own retries are off.
  A final failure is a typed :class:`LLMError` naming the model, the provider's message and the
  number of attempts;
- counts tokens and cost per call (litellm's local cost map; unknown models report cost ``None``),
  keeps running totals in ``client.stats`` and reserves every call against a :class:`Budget` before
  any HTTP request (see :mod:`treesearch.budget`);
- caches completions in SQLite keyed by model, messages, parameters *and sample index*, so a
  re-run replays a search without paying while k samples stay k different samples. Within one
  client, asking the same request again continues its sample sequence, as a live model samples
  anew: the first ``n=3`` gets samples 0-2, a second identical ``n=2`` gets 3-4. A new client (a
  re-run) starts again at 0 and replays them in the same order;
- appends every call to a transcript (``llm_calls.jsonl`` in the run directory).

litellm takes seconds to import, so it is imported on first use (:func:`load_litellm`), configured
for offline operation: the bundled cost map, no fetches of its own.

Accounting with ``n > 1``: a provider bills the prompt once and reports usage for the whole request.
Each :class:`Completion` carries its share of its request's tokens and cost (split evenly), so
summing over completions gives what was billed. A cached completion carries the usage it had when
fetched; the client's stats count only what was paid over HTTP, while a budget counts cached calls
like the originals, so a replayed search stops exactly where the original did.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import email.utils
import functools
import gc
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from treesearch.budget import Budget, BudgetExhausted
from treesearch.contracts import ProposalError

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
# The longest Retry-After honoured: a provider asking for more is down for the purposes of a search,
# and the remaining attempts will find that out without waiting it out.
MAX_RETRY_AFTER_S = 60.0
# A 400 to a request with n > 1 that mentions n or choices is a refusal of n (llama.cpp: "Only one
# completion choice is allowed"; others name the parameter).
_N_REFUSAL = re.compile(r"\bn\b|\bchoices?\b|\bn_samples\b", re.I)
# litellm's prefixes around the provider's own words ("litellm.BadRequestError: OpenAIException - ...").
_LITELLM_PREFIX = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception\s*-\s*)?")
# The longest a request's preparation holds the turn (see _Turn): ~50 times what it takes (~2 ms of
# litellm's CPU), so a preparation that waits on something slow (a credential refresh) or a model
# whose requests litellm does not report holds up the calls queued behind it by at most this much.
MAX_TURN_S = 0.1


@functools.cache
def load_litellm() -> Any:
    """litellm, imported on first use and set to offline operation."""
    # Read at import time: use the cost map bundled with the package and never fetch catalogs,
    # tokenizers or anything else on litellm's own initiative.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_OFFLINE_MODE", "True")
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on every error
    litellm.input_callback.append(_request_sent_hook())
    # litellm's import leaves ~400k long-lived objects (its model tables) that every full garbage
    # collection would walk again: a 0.3 s pause in the middle of a batch of calls. Freezing moves
    # everything alive now out of the collector's sight.
    gc.collect()
    gc.freeze()
    return litellm


def _request_sent_hook() -> Any:
    """The litellm input callback that ends a call's turn (see :class:`_Turn`).

    litellm calls its input callbacks' ``log_pre_api_call`` once a request is prepared, just before
    it goes to the provider, on every provider's path. Outside an :class:`LLMClient` call (no turn
    in the context) it does nothing.
    """

    from litellm.integrations.custom_logger import CustomLogger

    class RequestSent(CustomLogger):
        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            turn = _current_turn.get()
            if turn is not None:
                turn.end_from_litellm()

    return RequestSent()


class _Turn:
    """One call's turn at preparing its request in litellm.

    ``litellm.acompletion`` spends about 2 ms of CPU on a request before sending it (parameter
    mapping, logging set-up, the OpenAI SDK's request building) and yields to the event loop midway,
    for a hop through its thread pool. Calls started together therefore interleave their
    preparations and are all sent at about the same time, once nearly all are ready: with 16 calls
    released at once by the semaphore, the first request left after 16 ms and the last after 28 ms,
    and their responses came back in a bunch, to be processed while the next requests waited again.
    Taking turns (an asyncio lock, first come first served) sends them one after another, each as
    soon as its own preparation is done (the first after ~3 ms, then one every ~2 ms): a call waits
    for the preparations queued before it, never for those queued after it.

    A turn ends once, at the first of: litellm reporting the request sent (:func:`_request_sent_hook`,
    possibly from litellm's thread pool), the end of the call, or MAX_TURN_S.
    """

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._timer = self._loop.call_later(MAX_TURN_S, self.end)
        self._ended = False
        self.reported = False  # litellm reported the request sent

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self._timer.cancel()
            self._lock.release()

    def end_from_litellm(self) -> None:
        self.reported = True
        if threading.get_ident() == self._thread:
            self.end()
        else:  # a provider path that litellm runs in its thread pool: the lock belongs to the loop
            with contextlib.suppress(RuntimeError):  # the loop has closed (the run ended): no one waits
                self._loop.call_soon_threadsafe(self.end)


# The turn of the LLMClient call running in this context, for the litellm hook to end.
_current_turn: contextvars.ContextVar[_Turn | None] = contextvars.ContextVar("treesearch_llm_turn", default=None)


# -- errors --


class LLMError(ProposalError):
    """A model call that failed for good."""

    retryable = False
    kind = "failed"

    def __init__(self, message: str, model: str, status: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.provider_message = message
        self.model = model
        self.status = status
        self.retry_after_s = retry_after_s
        self.attempts = 1

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        plural = "s" if self.attempts != 1 else ""
        return f"{self.model}: {self.kind}{status} after {self.attempts} attempt{plural}: {self.provider_message}"


class LLMRateLimitError(LLMError):
    retryable = True
    kind = "rate limited"


class LLMServerError(LLMError):
    retryable = True
    kind = "server error"


class LLMTimeoutError(LLMError):
    retryable = True
    kind = "timed out"


class LLMConnectionError(LLMError):
    retryable = True
    kind = "connection failed"


class LLMConnectionRefused(LLMConnectionError):
    """Nothing listens at the server's address: no retry will change that (a server that died, a
    wrong ``--api-base``), so it is reported at once."""

    retryable = False
    kind = "connection refused"


class LLMResponseError(LLMError):
    """The provider answered 200 with nothing usable (no choices)."""

    retryable = True
    kind = "unusable response"


class LLMAuthError(LLMError):
    kind = "authentication failed"


class LLMBadRequestError(LLMError):
    kind = "bad request"


class _NativeNRefused(Exception):
    """The provider refused n > 1; the client falls back to parallel requests."""


def classify_error(exc: BaseException, model: str, url: str | None = None) -> LLMError | None:
    """The typed error for an exception from litellm, or None if it is not a provider error.
    ``url``: where the request went, named when nothing listens there."""
    import httpx
    import openai

    if not isinstance(exc, (openai.OpenAIError, httpx.HTTPError, asyncio.TimeoutError, TimeoutError)):
        return None
    status = getattr(exc, "status_code", None)
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)):
        cls = LLMTimeoutError
    elif _refused(exc):
        cls = LLMConnectionRefused
    elif isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        cls = LLMConnectionError
    elif status == 429:
        cls = LLMRateLimitError
    elif status in (401, 403):
        cls = LLMAuthError
    elif isinstance(status, int) and (status >= 500 or status in (408, 409)):
        cls = LLMServerError
    elif isinstance(status, int) and 400 <= status < 500:
        cls = LLMBadRequestError
    else:
        cls = LLMError
    message = _LITELLM_PREFIX.sub("", str(getattr(exc, "message", None) or exc)).strip() or type(exc).__name__
    if cls is LLMConnectionRefused:
        return cls(f"nothing listens at {url}" if url else "nothing listens at the provider's address", model=model)
    return cls(message, model=model, status=status, retry_after_s=_retry_after_s(exc))


def _refused(exc: BaseException) -> bool:
    """Whether a refused TCP connection is behind ``exc`` (litellm may report it as a 500 "Connection
    error", so the chain of causes is what tells)."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 16:
        if isinstance(cause, ConnectionRefusedError) or "[Errno 111]" in str(cause):
            return True
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


def _retry_after_s(exc: BaseException) -> float | None:
    """The wait a response asked for: ``retry-after-ms``, or ``Retry-After`` in seconds or as a date."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


# -- results and accounting --


@dataclass(frozen=True)
class Completion:
    """One sample. Tokens and cost are this sample's share of its request (see the module docstring)."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    cached: bool
    latency_s: float
    attempts: int
    sample_index: int
    model: str


@dataclass
class LLMStats:
    """Running totals of one client. Tokens and cost are what was paid over HTTP (cache hits are free)."""

    calls: int = 0  # complete() calls answered
    http_requests: int = 0  # including retries and failures
    cache_hits: int = 0  # samples replayed from the cache
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True  # False once a call's cost was unknown: cost_usd is then a lower bound

    def as_dict(self) -> dict:
        return asdict(self)


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers summing to it."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


# -- cache --


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/treesearch/llm_cache.sqlite`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "llm_cache.sqlite"


def cache_key(model: str, messages: list[dict], params: dict) -> str:
    """The request's identity without ``n``: sample i of any request with this key is the same sample."""
    payload = orjson.dumps({"model": model, "messages": messages, "params": params}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


class LLMCache:
    """Completions in SQLite, one row per (request key, sample index), values in orjson.

    Safe with concurrent writers: WAL journal, a busy timeout, one connection per thread and process.
    The first writer of a sample wins (``INSERT OR IGNORE``). A corrupt file is reported with a
    warning and renamed to ``<name>.corrupt-<timestamp>``; a fresh cache takes its place. The cache
    never fails a call: a database it cannot use turns into misses.
    """

    BUSY_TIMEOUT_S = 10.0

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0  # bumped when the file is set aside: every thread reconnects

    def get(self, key: str, first: int, stop: int) -> dict[int, dict]:
        """The stored samples with first <= index < stop, by index."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT sample, value FROM completions WHERE key = ? AND sample >= ? AND sample < ?", (key, first, stop)
            ).fetchall()
        )
        return {sample: orjson.loads(value) for sample, value in rows or []}

    def put(self, key: str, samples: dict[int, dict]) -> None:
        rows = [(key, index, orjson.dumps(value)) for index, value in samples.items()]
        self._run(lambda db: db.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?)", rows))

    def __len__(self) -> int:
        rows = self._run(lambda db: db.execute("SELECT COUNT(*) FROM completions").fetchall())
        return rows[0][0] if rows else 0

    def _run(self, operation: Callable[[sqlite3.Connection], Any]) -> Any:
        for _ in range(2):  # a second try on a fresh file after setting a corrupt one aside
            try:
                return operation(self._connection())
            except sqlite3.OperationalError as exc:  # locked past the timeout, unwritable, disk full
                log.warning("LLM cache %s unavailable for this call: %s", self.path, exc)
                return None
            except sqlite3.DatabaseError as exc:  # "file is not a database", "disk image is malformed"
                self._set_aside(exc)
        return None

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "db", None) is not None and local.identity == (self._generation, os.getpid()):
            return local.db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        local.inode = None
        db = sqlite3.connect(self.path, timeout=self.BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        local.db, local.identity = db, (self._generation, os.getpid())
        local.inode = os.stat(self.path).st_ino
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS completions"
            " (key TEXT NOT NULL, sample INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, sample))"
        )
        return db

    def _set_aside(self, exc: Exception) -> None:
        with self._lock:
            local = self._local
            if getattr(local, "db", None) is not None:
                local.db.close()
                local.db = None
            try:
                inode = os.stat(self.path).st_ino
            except FileNotFoundError:
                inode = None
            # Only the file this thread found corrupt: another thread or process may already have
            # set it aside and started a fresh one at the same path.
            if inode is not None and inode == (getattr(local, "inode", None) or inode):
                target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
                os.replace(self.path, target)
                for suffix in ("-wal", "-shm"):
                    side = self.path.with_name(self.path.name + suffix)
                    if side.exists():
                        os.replace(side, target.with_name(target.name + suffix))
                warnings.warn(
                    f"LLM cache {self.path} is corrupt ({exc}); moved it to {target} and started a fresh cache",
                    RuntimeWarning,
                    stacklevel=4,
                )
            self._generation += 1


# -- transcript --


class Transcript:
    """An append-only JSON-lines file. Each record is one ``write`` to an ``O_APPEND`` descriptor,
    so lines from concurrent writers (threads or processes) never interleave."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict) -> None:
        line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


# -- the client --


@dataclass(frozen=True)
class _Sample:
    """A sample as fetched or cached, before it gets its index."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    attempts: int = 0
    latency_s: float = 0.0

    def stored(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("attempts", "latency_s")}


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
    budget: a :class:`Budget` every call reserves against; BudgetExhausted is raised before any request.
    default_params: model parameters for every call (temperature, ...); per-call params override them.
        ``max_tokens`` defaults to 4096 so each call's cost has a bound a budget can reserve.
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
        key = cache_key(self.model, messages, params)
        # Claimed before any await, so concurrent identical requests get different samples.
        first = self._next_sample.get(key, 0)
        self._next_sample[key] = first + n
        stored = self.cache.get(key, first, first + n) if self.cache is not None else {}
        cached = {index: _Sample(**value) for index, value in stored.items()}
        missing = [index for index in range(first, first + n) if index not in cached]
        reservation = None
        if self.budget is not None:
            est_tokens, est_cost = self._estimate(messages, params, list(cached.values()), len(missing))
            reservation = await self.budget.areserve(est_tokens=est_tokens, est_cost=est_cost)

        try:
            fetched, error = await self._fetch(messages, len(missing), params)
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

    async def _fetch(self, messages: list[dict], count: int, params: dict) -> tuple[list[_Sample], BaseException | None]:
        """``count`` fresh samples — natively when the provider takes n, else in parallel — and the
        error that stopped the rest, if any. Samples already paid for are returned either way."""
        samples: list[_Sample] = []
        if count > 1 and self._supports_native_n():
            try:
                samples = await self._request(messages, count, params)
            except _NativeNRefused:
                log.info("%s refused n=%d; sampling with parallel requests from now on", self.model, count)
                self._native_n = False
            except (LLMError, BudgetExhausted) as exc:
                return [], exc
            if len(samples) < count:  # the provider ignored n (Ollama): remember, fetch the rest
                self._native_n = False
        outcomes = await asyncio.gather(
            *(self._request(messages, 1, params) for _ in range(count - len(samples))), return_exceptions=True
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


def _total_cost(samples: Iterable[_Sample | Completion]) -> float | None:
    costs = [s.cost_usd for s in samples]
    return None if any(c is None for c in costs) else sum(costs)
