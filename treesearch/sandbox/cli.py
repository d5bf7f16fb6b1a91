"""Command-line plumbing shared by every command that runs model-written code (``solve``, ``demo``,
``eval``, ``swebench``, ``evolve``): ``--sandbox``, opening the sandbox before anything else, and the
argument types whose errors say what was expected (argparse then prints "argument --budget: expected a
positive whole number of LLM calls, got 'abc'", not "invalid _positive_int value"). They live here
because the command modules cannot import one another (treesearch.cli registers the others).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from treesearch.sandbox.backends import CHOICES


def _number(convert: Any, ok: Any, expected: str, name: str) -> Any:
    """An argparse type: ``convert(text)`` when it works and ``ok`` holds, else an error naming
    ``expected``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
        return value

    parse.__name__ = name
    return parse


def count(minimum: int, what: str = "") -> Any:
    """An argparse type: a whole number >= ``minimum`` (of ``what``)."""
    kind = {0: "a whole number >= 0", 1: "a positive whole number"}.get(minimum, f"a whole number >= {minimum}")
    return _number(int, lambda v: v >= minimum, f"expected {kind}{f' of {what}' if what else ''}", "count")


def positive_int(what: str = "") -> Any:
    """An argparse type: a whole number >= 1 (of ``what``)."""
    return count(1, what)


def positive_float(what: str = "") -> Any:
    """An argparse type: a finite number > 0 (of ``what``)."""
    return _number(float, lambda v: 0 < v < float("inf"), f"expected a positive number{f' of {what}' if what else ''}",
                   "positive_float")


def whole_number(text: str) -> int:
    """An argparse type: any whole number (seeds)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_sandbox_argument(parser: argparse.ArgumentParser) -> None:
    """``--sandbox {auto,bwrap,unsafe-rlimit}``, for every command that runs model-written code."""
    parser.add_argument(
        "--sandbox", default="auto", choices=CHOICES,
        help="where model-written code runs: auto (bubblewrap; where it cannot run, stop before the first model "
             "call, except for --model sim, which may fall back to the rlimit backend), bwrap, or unsafe-rlimit "
             "(no namespaces: rlimits, and where the kernel offers them Landlock and seccomp, as uid nobody when "
             "root; for machines without bubblewrap, at your own risk)")


def open_sandbox(choice: str, model: str, console: Any = None, make: Any = None) -> Any:
    """The Sandbox for ``model``'s code (``make()``, by default a new one), opened before anything
    else happens: a SandboxError (the command's one ``error:`` line) where it cannot isolate the
    code; a note about the rlimit backend, when that is what runs it."""
    import warnings

    from treesearch.sandbox.sandbox import Sandbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # said once, below, without a source line
        sandbox = make() if make is not None else Sandbox(choice, trusted_code=model == "sim")
    if sandbox.backend != "bwrap" or sandbox.warnings:
        print_sandbox_note(sandbox.describe(), console)
    return sandbox


def print_sandbox_note(text: str, console: Any = None) -> None:
    line = f"sandbox: {text}"
    if console is not None:
        console.print(line, style="dim", highlight=False, markup=False, soft_wrap=True)
    else:
        print(line, file=sys.stderr)


def number(text: str) -> float:
    """An argparse type: a finite number (scores, rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
