"""Model configuration: --model / --api-base, TREESEARCH_* and provider keys, via litellm's tables."""

from __future__ import annotations

import asyncio

import pytest

from tests.llm_server import llm_server_fixture  # noqa: F401 (provides the llm_server fixture)
from treesearch.config import PLACEHOLDER_KEY, ConfigError, resolve_model, resolve_model_name
from treesearch.llm import LLMClient

PROVIDER_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_API_BASE", "TREESEARCH_MODEL", "TREESEARCH_API_BASE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_no_model_says_what_to_set():
    with pytest.raises(ConfigError, match="pass --model or set TREESEARCH_MODEL"):
        resolve_model()
    with pytest.raises(ConfigError, match="sim"):
        resolve_model_name("  ")


def test_the_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("TREESEARCH_MODEL", "openai/gpt-4o")
    assert resolve_model_name() == "openai/gpt-4o"
    assert resolve_model_name("sim") == "sim"


def test_sim_needs_nothing():
    config = resolve_model("sim")
    assert config.is_simulated and config.api_key is None and config.api_base is None


def test_a_missing_key_names_the_variable(monkeypatch):
    with pytest.raises(ConfigError, match="needs ANTHROPIC_API_KEY"):
        resolve_model("anthropic/claude-3-5-sonnet-latest")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    config = resolve_model("anthropic/claude-3-5-sonnet-latest")
    assert config.provider == "anthropic" and config.api_key is None  # litellm reads the variable itself


@pytest.mark.parametrize("model", ["foo/bar", "no-provider-model"])
def test_an_unknown_provider_is_a_config_error(model):
    with pytest.raises(ConfigError, match=f"Unknown provider in model '{model}'"):
        resolve_model(model)


def test_a_local_api_base_needs_no_real_key(monkeypatch):
    config = resolve_model("openai/local-coder", api_base="http://127.0.0.1:8080/v1")
    assert (config.provider, config.api_base, config.api_key) == ("openai", "http://127.0.0.1:8080/v1", PLACEHOLDER_KEY)
    monkeypatch.setenv("TREESEARCH_API_BASE", "http://localhost:8000/v1")
    vllm = resolve_model("hosted_vllm/Qwen/Qwen2.5-Coder-7B-Instruct")
    assert (vllm.provider, vllm.api_base) == ("hosted_vllm", "http://localhost:8000/v1")
    assert vllm.api_key is None  # litellm needs no key for hosted_vllm and sends its own placeholder


def test_a_real_key_is_kept_with_an_api_base(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    assert resolve_model("openai/gpt-4o-mini", api_base="https://proxy.example/v1").api_key is None


def test_ollama_uses_litellm_default_base_and_needs_no_key():
    assert resolve_model("ollama/qwen2.5-coder").provider == "ollama"


def test_a_resolved_local_model_is_callable(llm_server, monkeypatch):
    monkeypatch.setenv("TREESEARCH_MODEL", "openai/local-coder")
    monkeypatch.setenv("TREESEARCH_API_BASE", llm_server.url)
    config = resolve_model()
    client = LLMClient(config.model, api_base=config.api_base, api_key=config.api_key, cache=None)
    (completion,) = asyncio.run(client.complete([{"role": "user", "content": "hi"}]))
    assert completion.text == "reply 0" and completion.cost_usd is None
