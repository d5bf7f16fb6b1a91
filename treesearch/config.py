"""Which model to talk to: ``--model`` / ``--api-base`` and the environment, resolved once.

Precedence: the command-line value, then ``TREESEARCH_MODEL`` / ``TREESEARCH_API_BASE``. Provider
keys come from the provider's usual variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...),
which litellm reads itself; litellm's own provider table and environment check decide what a model
needs, so any model string litellm knows works here.

- ``sim`` is the built-in simulated coder: returned as is, offline, no key.
- With an ``--api-base`` (a local vLLM, llama.cpp or Ollama server, a proxy), the endpoint decides
  whether it needs a key: the provider's key is sent if set, a placeholder otherwise.
- ``local/<name or path.gguf>`` is a model the engine serves itself (see :mod:`treesearch.local`):
  resolving it starts (or reuses) the managed llama.cpp server and points the client at it.
- Otherwise a missing key, an unknown provider or no model at all is a :class:`ConfigError` whose
  message says what to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treesearch.contracts import ConfigError

SIM_MODEL = "sim"
# Sent where an OpenAI-compatible endpoint wants some key and the user has none (local servers).
PLACEHOLDER_KEY = "sk-no-key-required"
EXAMPLES = ("e.g. openai/gpt-4o-mini, anthropic/claude-3-5-sonnet-latest, ollama/qwen2.5-coder, hosted_vllm/<name> "
            "with --api-base, local/qwen2.5-coder-0.5b")
# A local model on two CPU cores writes ~10-25 tokens/s per request: a request may take minutes
# when all slots are busy, and a runaway answer of a small model is cut at LOCAL_MAX_TOKENS.
LOCAL_TIMEOUT_S = 900.0
LOCAL_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ModelConfig:
    """What :class:`treesearch.llm.LLMClient` needs: ``LLMClient(c.model, api_base=c.api_base, api_key=c.api_key)``."""

    model: str
    provider: str
    api_base: str | None = None
    api_key: str | None = None  # None: litellm reads the provider's variable itself
    timeout_s: float | None = None  # None: the client's default
    default_params: dict[str, Any] = field(default_factory=dict)

    @property
    def is_simulated(self) -> bool:
        return self.model == SIM_MODEL

    def client_kwargs(self) -> dict[str, Any]:
        """The :class:`~treesearch.llm.LLMClient` arguments this model needs: ``LLMClient(**c.client_kwargs(), ...)``."""
        # OpenAI-compatible servers (local or --api-base) take a seed per request: see sample_seeds.
        kwargs: dict[str, Any] = {"model": self.model, "api_base": self.api_base, "api_key": self.api_key,
                                  "sample_seeds": self.api_base is not None}
        if self.timeout_s is not None:
            kwargs["timeout_s"] = self.timeout_s
        if self.default_params:
            kwargs["default_params"] = dict(self.default_params)
        return kwargs


def resolve_model_name(model: str | None = None) -> str:
    """``--model`` or else ``TREESEARCH_MODEL``; ConfigError when neither is set. Checks nothing else."""
    name = (model or os.environ.get("TREESEARCH_MODEL") or "").strip()
    if not name:
        raise ConfigError(
            f"No model configured: pass --model or set TREESEARCH_MODEL ({EXAMPLES}; "
            f"or {SIM_MODEL} for the offline simulated coder)."
        )
    return name


def check_model(model: str | None = None, api_base: str | None = None) -> str:
    """The model name, checked as far as it can be without starting anything: a command calls this
    first, so a wrong model fails before any work, with what to set."""
    name = resolve_model_name(model)
    if name == SIM_MODEL:
        return name
    from treesearch.local import is_local, lookup

    if is_local(name):
        _no_api_base_for_local(name, api_base)
        lookup(name)
    else:
        resolve_model(name, api_base)
    return name


def resolve_model(model: str | None = None, api_base: str | None = None, slots: int = 1,
                  log_dir: Path | None = None) -> ModelConfig:
    """The model configuration from arguments (``--model``, ``--api-base``) and the environment.

    For a ``local/...`` model this starts its server (or reuses the running one) with ``slots``
    parallel slots, logging to ``log_dir/llama-server.log``; fetching and building first on a
    machine that has neither weights nor server yet.
    """
    model = resolve_model_name(model)
    if model == SIM_MODEL:
        return ModelConfig(model=SIM_MODEL, provider=SIM_MODEL)
    from treesearch.local import is_local

    if is_local(model):
        return _resolve_local(model, api_base, slots, log_dir)
    api_base = (api_base or os.environ.get("TREESEARCH_API_BASE") or "").strip() or None

    from treesearch.llm import load_litellm

    litellm = load_litellm()
    try:
        _, provider, dynamic_key, default_base = litellm.get_llm_provider(model, api_base=api_base)
    except Exception as exc:
        raise ConfigError(
            f"Unknown provider in model {model!r}: litellm needs 'provider/model' ({EXAMPLES}). "
            f"Set --model or TREESEARCH_MODEL accordingly."
        ) from exc
    if api_base is not None:
        missing_keys = [name for name in _missing_settings(litellm, model, api_base) if name.endswith("_KEY")]
        key = dynamic_key or PLACEHOLDER_KEY if missing_keys else None
        return ModelConfig(model=model, provider=provider, api_base=api_base, api_key=key)
    missing = _missing_settings(litellm, model)
    if default_base is not None:  # litellm knows where this provider listens (e.g. Ollama's localhost)
        missing = [name for name in missing if not name.endswith("_API_BASE")]
    if missing:
        raise ConfigError(
            f"Model {model!r} (provider {provider}) needs {' and '.join(missing)} in the environment"
            + (" (or pass --api-base / set TREESEARCH_API_BASE)" if any(m.endswith("_API_BASE") for m in missing) else "")
            + "."
        )
    return ModelConfig(model=model, provider=provider, api_key=dynamic_key)


def _no_api_base_for_local(model: str, api_base: str | None) -> None:
    if api_base:  # only an explicit --api-base: a TREESEARCH_API_BASE set for other models does not apply
        raise ConfigError(f"--api-base does not apply to {model}: the engine serves local models itself")


def _resolve_local(model: str, api_base: str | None, slots: int, log_dir: Path | None) -> ModelConfig:
    from treesearch import local
    from treesearch.llm import load_litellm

    _no_api_base_for_local(model, api_base)
    server = local.serve(model, slots=slots, log_dir=log_dir)
    name = f"openai/{server.model.alias}"
    # Free to run: priced at zero, so cost totals stay known and a cost limit holds.
    load_litellm().register_model({name: {
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "cache_creation_input_token_cost": 0.0,
        "cache_read_input_token_cost": 0.0, "litellm_provider": "openai", "mode": "chat",
    }})
    return ModelConfig(model=name, provider="local", api_base=server.api_base, api_key=PLACEHOLDER_KEY,
                       timeout_s=LOCAL_TIMEOUT_S, default_params={"max_tokens": LOCAL_MAX_TOKENS})


def _missing_settings(litellm: Any, model: str, api_base: str | None = None) -> list[str]:
    """The environment variables litellm says this model needs and the environment lacks."""
    try:
        return list(litellm.validate_environment(model=model, api_base=api_base).get("missing_keys", []))
    except Exception:  # litellm cannot tell for this provider: the first call will say
        return []


def llm_client(model: str, api_base: str | None, *, budget: Any, concurrency: int = 1, log_dir: Path | None = None,
               transcript: str | None = "llm_calls.jsonl", cache: Any = True, seed: int = 0) -> Any:
    """The one way the application builds a model client: ``model`` resolved (a local model served,
    with one slot per request in flight), ``concurrency`` requests in flight, calls counted against
    ``budget`` and written to ``log_dir / transcript``."""
    from treesearch.llm import LLMClient

    resolved = resolve_model(model, api_base, slots=max(1, concurrency), log_dir=log_dir)
    path = log_dir / transcript if log_dir is not None and transcript is not None else None
    return LLMClient(**resolved.client_kwargs(), concurrency=max(1, concurrency), budget=budget, cache=cache,
                     transcript_path=path, seed=seed)
