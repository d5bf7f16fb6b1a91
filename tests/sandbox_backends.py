"""The sandbox backends this machine can run, for tests that run each of them."""

from __future__ import annotations

import contextlib

import pytest

from treesearch.sandbox import Limits, Sandbox, SandboxError
from treesearch.sandbox.backends import probe_backend


def available_backends() -> list[str]:
    """bwrap when bubblewrap works here, and always the rlimit fallback."""
    names = ["rlimit"]
    try:
        probe_backend("bwrap")
        names.insert(0, "bwrap")
    except SandboxError:
        pass
    return names


def open_backend(name: str, limits: Limits) -> Sandbox:
    """A Sandbox on backend ``name``; the rlimit fallback must warn that it isolates less."""
    with pytest.warns(RuntimeWarning) if name == "rlimit" else contextlib.nullcontext():
        return Sandbox(name, limits=limits)
