"""Is a file a readable GGUF model, and of the expected architecture?

A weights file is untrusted data: before the server maps it, its header and metadata are parsed
with the ``gguf`` package (llama.cpp's own reader) and every tensor must lie inside the file, so a
truncated download, another format or a file of the wrong model is one clear error, not a crash of
the server later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from treesearch.local.registry import LocalModelError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class GGUFInfo:
    architecture: str
    name: str
    context_length: int | None
    tensors: int


def read_gguf(path: Path, expect_architecture: str | None = None) -> GGUFInfo:
    """The metadata of the GGUF file at ``path``; LocalModelError if it is not a whole GGUF file
    (or not of ``expect_architecture``)."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise LocalModelError(f"{path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})")
    try:
        from gguf import GGUFReader
    except ImportError as exc:
        raise LocalModelError("local models need the [local] extra: pip install 'treesearch[local]'") from exc
    try:
        reader = GGUFReader(path, "r")
    except Exception as exc:  # the reader raises ValueError, IndexError, struct errors on bad input
        raise LocalModelError(f"{path} is a corrupt or truncated GGUF file: {type(exc).__name__}: {exc}") from exc
    size = path.stat().st_size
    for tensor in reader.tensors:
        if tensor.data_offset + tensor.n_bytes > size:
            raise LocalModelError(f"{path} is truncated: tensor {tensor.name!r} ends past the file's {size} bytes")

    def field(key: str) -> object:
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    architecture = str(field("general.architecture") or "")
    if expect_architecture and architecture != expect_architecture:
        raise LocalModelError(f"{path} holds a {architecture or 'unnamed'} model, not the expected {expect_architecture}")
    context = field(f"{architecture}.context_length")
    return GGUFInfo(architecture=architecture, name=str(field("general.name") or ""),
                    context_length=int(context) if isinstance(context, int) else None, tensors=len(reader.tensors))
