"""Which model to talk to: ``--model`` / ``--api-base`` and the environment, resolved once.

Precedence: the command-line value, then ``TREESEARCH_MODEL`` / ``TREESEARCH_API_BASE``. Provider
keys come from the provider's usual variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ...),
which litellm reads itself; litellm's own provider table and environment check decide what a model
needs, so any model string litellm knows works here.

- ``sim`` is the built-in simulated coder: returned as is, offline, no key.
- With an ``--api-base`` (a local vLLM, llama.cpp or Ollama server, a proxy), the endpoint decides
  whether it needs a key: the provider's key is sent if set, a placeholder otherwise.
- Otherwise a missing key, an unknown provider or no model at all is a :class:`ConfigError` whose
  message says what to set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SIM_MODEL = "sim"
# Sent where an OpenAI-compatible endpoint wants some key and the user has none (local servers).
PLACEHOLDER_KEY = "sk-no-key-required"
EXAMPLES = "e.g. openai/gpt-4o-mini, anthropic/claude-3-5-sonnet-latest, ollama/qwen2.5-coder, hosted_vllm/<name> with --api-base"


class ConfigError(Exception):
    """The model configuration cannot work; the message says what to set."""


@dataclass(frozen=True)
class ModelConfig:
    """What :class:`treesearch.llm.LLMClient` needs: ``LLMClient(c.model, api_base=c.api_base, api_key=c.api_key)``."""

    model: str
    provider: str
    api_base: str | None = None
    api_key: str | None = None  # None: litellm reads the provider's variable itself

    @property
    def is_simulated(self) -> bool:
        return self.model == SIM_MODEL


def resolve_model_name(model: str | None = None) -> str:
    """``--model`` or else ``TREESEARCH_MODEL``; ConfigError when neither is set. Checks nothing else."""
    name = (model or os.environ.get("TREESEARCH_MODEL") or "").strip()
    if not name:
        raise ConfigError(
            f"No model configured: pass --model or set TREESEARCH_MODEL ({EXAMPLES}; "
            f"or {SIM_MODEL} for the offline simulated coder)."
        )
    return name


def resolve_model(model: str | None = None, api_base: str | None = None) -> ModelConfig:
    """The model configuration from arguments (``--model``, ``--api-base``) and the environment."""
    model = resolve_model_name(model)
    api_base = (api_base or os.environ.get("TREESEARCH_API_BASE") or "").strip() or None
    if model == SIM_MODEL:
        return ModelConfig(model=SIM_MODEL, provider=SIM_MODEL)

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


def _missing_settings(litellm: Any, model: str, api_base: str | None = None) -> list[str]:
    """The environment variables litellm says this model needs and the environment lacks."""
    try:
        return list(litellm.validate_environment(model=model, api_base=api_base).get("missing_keys", []))
    except Exception:  # litellm cannot tell for this provider: the first call will say
        return []
