"""Errors of model calls: a call that failed for good is a typed :class:`LLMError` naming the model,
the provider's message and the number of attempts.

:func:`classify_error` maps an exception from litellm to its type, and the type tells the client
whether another attempt can help: rate limits, 5xx, timeouts, connection errors and unusable
responses are retried; a bad request, a refused key or an address where nothing listens will not
change and is reported at once.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import socket
import time

from treesearch.contracts import ProposalError

# litellm's prefixes around the provider's own words ("litellm.BadRequestError: OpenAIException - ...").
_LITELLM_PREFIX = re.compile(r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception\s*-\s*)?")


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
    """Nothing listens at the server's address, or its host name does not resolve: no retry will
    change that (a server that died, a wrong ``--api-base``), so it is reported at once."""

    retryable = False
    kind = "unreachable"


class LLMResponseError(LLMError):
    """The provider answered 200 with nothing usable (no choices)."""

    retryable = True
    kind = "unusable response"


class LLMAuthError(LLMError):
    kind = "authentication failed"


class LLMBadRequestError(LLMError):
    kind = "bad request"


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
    elif (why := _unreachable(exc)) is not None:
        where = url or "the provider's address"
        return LLMConnectionRefused(f"cannot connect to {where}: {why}", model=model)
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
    return cls(message, model=model, status=status, retry_after_s=_retry_after_s(exc))


def _unreachable(exc: BaseException) -> str | None:
    """Why the server cannot be reached at all, when that is behind ``exc``: a refused TCP connection
    or a host name that does not resolve (litellm may report either as a 500 "Connection error", so
    the chain of causes is what tells); None otherwise."""
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 16:
        if isinstance(cause, ConnectionRefusedError) or "[Errno 111]" in str(cause):
            return "connection refused (nothing listens there)"
        if isinstance(cause, socket.gaierror) or "Name or service not known" in str(cause):
            return "the host name does not resolve"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


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
