"""The LLM client: any litellm model behind one ``complete()``, economical and robust.

A search makes hundreds of calls; one module per concern of making them:

- :mod:`~treesearch.llm.client`: :class:`LLMClient` — bounded concurrency, ``n`` samples natively
  or in parallel, retries with backoff, budget reservations before any HTTP request;
- :mod:`~treesearch.llm.turns`: requests prepared in turns, so each is sent as soon as it is ready;
- :mod:`~treesearch.llm.errors`: the typed :class:`LLMError` of a call that failed for good, and
  which failures are worth another attempt;
- :mod:`~treesearch.llm.accounting`: tokens and cost per call and the client's running totals;
- :mod:`~treesearch.llm.cache`: completions cached in SQLite, so a re-run replays a search without paying;
- :mod:`~treesearch.llm.transcript`: every call appended to ``llm_calls.jsonl`` in the run directory;
- :mod:`~treesearch.llm.litellm_setup`: litellm imported on first use, set up for offline operation.
"""

from treesearch.llm.accounting import Completion, LLMStats
from treesearch.llm.cache import LLMCache, cache_key, default_cache_path
from treesearch.llm.client import DEFAULT_MAX_TOKENS, MAX_RETRY_AFTER_S, LLMClient
from treesearch.llm.errors import (
    LLMAuthError,
    LLMBadRequestError,
    LLMConnectionError,
    LLMConnectionRefused,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMServerError,
    LLMTimeoutError,
    classify_error,
)
from treesearch.llm.litellm_setup import load_litellm
from treesearch.llm.transcript import Transcript
from treesearch.llm.turns import MAX_TURN_S

__all__ = [
    "DEFAULT_MAX_TOKENS", "MAX_RETRY_AFTER_S", "MAX_TURN_S", "Completion", "LLMAuthError",
    "LLMBadRequestError", "LLMCache", "LLMClient", "LLMConnectionError", "LLMConnectionRefused", "LLMError",
    "LLMRateLimitError", "LLMResponseError", "LLMServerError", "LLMStats", "LLMTimeoutError", "Transcript",
    "cache_key", "classify_error", "default_cache_path", "load_litellm",
]
