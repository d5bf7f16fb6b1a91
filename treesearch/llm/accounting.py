"""Results and accounting: each call's samples as :class:`Completion` records with their tokens,
cost (litellm's local cost map; unknown models report cost ``None``), latency and attempts, and a
client's running totals in :class:`LLMStats`.

Accounting with ``n > 1``: a provider bills the prompt once and reports usage for the whole request.
Each :class:`Completion` carries its share of its request's tokens and cost (split evenly), so
summing over completions gives what was billed. A cached completion carries the usage it had when
fetched; the client's stats count only what was paid over HTTP, while a budget counts cached calls
like the originals, so a replayed search stops exactly where the original did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


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


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers summing to it."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def _total_cost(samples: Iterable[_Sample | Completion]) -> float | None:
    costs = [s.cost_usd for s in samples]
    return None if any(c is None for c in costs) else sum(costs)
