"""Locating and fetching the pinned benchmark data files.

Data files are never bundled: :func:`find_data_file` looks in ``data_dir`` (``--data-dir``), then
``$TREESEARCH_DATA``, then the user cache directory, and :func:`fetch_data_file` downloads a missing
file there, checking its pinned sha256 (:data:`DATA_FILES`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ENV_VAR = "TREESEARCH_DATA"

# name -> (sha256, download URL). The hashes are those in the shared data's SOURCES.md, where each
# file's provenance is recorded.
DATA_FILES: dict[str, tuple[str, str]] = {
    "HumanEval.jsonl.gz": (
        "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
        "https://raw.githubusercontent.com/openai/human-eval/6d43fb980f9fee3c892a914eda09951f772ad10d/data/HumanEval.jsonl.gz",
    ),
    "HumanEvalPlus-OriginFmt-v0.1.10.jsonl.gz": (
        "daa7661c8189924068069b0872a440b491edb60f8bdf431d5957adc88d18bae5",
        "https://raw.githubusercontent.com/evalplus/humanevalplus_release/200defce9e3429d28ca215b6dd061c0f7f31c18b/HumanEvalPlus-OriginFmt.jsonl.gz",
    ),
    "sanitized-mbpp.json": (
        "ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9",
        # The copy whose bytes were hashed; its content matches google-research's mbpp/sanitized-mbpp.json.
        "https://raw.githubusercontent.com/mrigankpawagi/PropertyEval/b2be813dcff867cc350c61b8d3ea57ec088ce1ac/sanitized-mbpp.json",
    ),
}


class DatasetError(RuntimeError):
    """A data file is missing, corrupt or cannot be fetched; the message says what to do."""


def user_data_dir() -> Path:
    """Where data files are looked for last and downloaded to: ``$XDG_CACHE_HOME/treesearch/data``
    (``~/.cache/treesearch/data`` when XDG_CACHE_HOME is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "data"


def find_data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """The path of data file ``name``: in ``data_dir`` if given, else ``$TREESEARCH_DATA``, else the
    user data directory. A missing file is a :class:`DatasetError` naming every place looked in."""
    places = _search_dirs(data_dir)
    for place in places:
        if (place / name).is_file():
            return place / name
    hint = f" or run fetch_data_file({name!r}) when online" if name in DATA_FILES else ""
    raise DatasetError(
        f"data file {name!r} not found; looked in: {', '.join(str(p) for p in places)}. "
        f"Put it in one of them (--data-dir DIR or {ENV_VAR}=DIR){hint}."
    )


def data_file(name: str, data_dir: str | Path | None = None) -> Path:
    """:func:`find_data_file`, downloading a known file that is missing (when online)."""
    try:
        return find_data_file(name, data_dir)
    except DatasetError as missing:
        if name not in DATA_FILES:
            raise
        try:
            return fetch_data_file(name, data_dir)
        except DatasetError as failed:
            raise DatasetError(f"{missing} Downloading it failed too: {failed}") from failed


def fetch_data_file(name: str, data_dir: str | Path | None = None, timeout_s: float = 60.0) -> Path:
    """Download ``name`` into ``data_dir`` (default: the user data directory), checking its pinned
    sha256; returns the path. Offline or on a hash mismatch: a :class:`DatasetError` saying so."""
    if name not in DATA_FILES:
        raise DatasetError(f"no download known for {name!r}; known files: {', '.join(DATA_FILES)}")
    sha256, url = DATA_FILES[name]
    target_dir = Path(data_dir) if data_dir is not None else user_data_dir()
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            content = response.read()
    except (urllib.error.URLError, OSError) as e:
        raise DatasetError(
            f"cannot download {name} from {url} ({getattr(e, 'reason', e)}); are you offline? "
            f"Copy the file into {target_dir} by hand (sha256 {sha256})."
        ) from e
    digest = hashlib.sha256(content).hexdigest()
    if digest != sha256:
        raise DatasetError(f"downloaded {name} has sha256 {digest}, expected {sha256}; not saved")
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / name
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    partial.replace(path)
    return path


def _search_dirs(data_dir: str | Path | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get(ENV_VAR)
    return ([Path(env)] if env else []) + [user_data_dir()]


def _read_jsonl_gz(path: Path) -> list[dict[str, Any]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable gzipped JSON-lines file ({e})") from e
