"""Local models: ``--model local/qwen2.5-coder-0.5b`` served by a llama.cpp server the engine manages.

- :mod:`~treesearch.local.registry`: the known models (sources, pinned hashes, context length) and
  how ``local/...`` strings name them, a user's own ``.gguf`` included;
- :mod:`~treesearch.local.weights`: fetching, assembling, checking and caching the weights;
- :mod:`~treesearch.local.build`: building ``llama-server`` once from PyPI's llama-cpp-python sdist;
- :mod:`~treesearch.local.server`: one managed server per process and model.

:func:`serve` is what the model configuration calls: after it, requests go to an OpenAI-compatible
URL through the same :class:`~treesearch.llm.LLMClient` as any other model.
"""

from __future__ import annotations

from pathlib import Path

from treesearch.local.registry import (
    DEFAULT_LOCAL_MODEL,
    KNOWN,
    LOCAL_PREFIX,
    LocalModel,
    LocalModelError,
    is_local,
    lookup,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL", "KNOWN", "LOCAL_PREFIX", "LocalModel", "LocalModelError", "is_local", "lookup", "serve",
    "serve_if_local", "setup",
]


def serve(model: str, slots: int = 1, log_dir: Path | None = None, offline: bool = False):
    """The running server for ``model`` (a ``local/...`` string), fetching the weights and building the
    server first if this machine has neither (announced, with progress lines)."""
    from treesearch.local.build import ensure_server_binary
    from treesearch.local.server import ensure_server
    from treesearch.local.weights import ensure_weights

    spec = lookup(model)
    weights = ensure_weights(spec, offline=offline)
    binary = ensure_server_binary(offline=offline)
    return ensure_server(spec, weights, binary, slots, log_dir)


def serve_if_local(model: str, slots: int, log_dir: Path) -> None:
    """For a command about to run searches on a local model: start its server now, with a slot for
    every request the command may have in flight (``workers × concurrency``); the searches reuse it.
    Any other model: nothing."""
    if is_local(model):
        serve(model, slots=slots, log_dir=log_dir)


def setup(model: str) -> tuple[Path, Path]:
    """Build the server and fetch the weights of ``model`` now; (binary, weights)."""
    from treesearch.local.build import ensure_server_binary
    from treesearch.local.weights import ensure_weights

    spec = lookup(model)
    weights = ensure_weights(spec)
    return ensure_server_binary(), weights
