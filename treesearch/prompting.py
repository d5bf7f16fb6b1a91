"""Prompt templates kept as readable files, and the problem section every prompt starts with.

Templates use ``$name`` placeholders (:class:`string.Template`), so code and JSON examples in them
need no escaping.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from treesearch.problems import CodeProblem, TestCase

MAX_VISIBLE_TESTS = 10


@cache
def load_template(directory: str, name: str) -> Template:
    return Template((Path(directory) / f"{name}.txt").read_text(encoding="utf-8"))


def render(directory: str | Path, name: str, **values: object) -> str:
    """Fill template ``name`` from ``directory``; every placeholder must be given."""
    return load_template(str(directory), name).substitute({k: str(v) for k, v in values.items()}).strip() + "\n"


def problem_section(problem: CodeProblem) -> str:
    """The problem statement and its visible tests (never the hidden ones)."""
    if problem.kind == "stdio":
        note = "Write a complete program that reads standard input and writes standard output."
    else:
        note = f"Write the function `{problem.entry_point}` (a complete module: imports, helpers, the function)."
    tests = "\n".join(_show(problem, t) for t in problem.visible_tests[:MAX_VISIBLE_TESTS])
    more = len(problem.visible_tests) - MAX_VISIBLE_TESTS
    if more > 0:
        tests += f"\n... and {more} more"
    return f"## Problem\n{problem.prompt.rstrip()}\n\n{note}\n\n## Visible tests\n{tests}\n"


def _show(problem: CodeProblem, test: TestCase) -> str:
    if test.code is not None:
        return test.code.strip()
    if problem.kind == "stdio":
        return f"input:\n{test.input}\nexpected output:\n{test.output}"
    args = ", ".join(repr(a) for a in test.input)
    return f"assert {problem.entry_point}({args}) == {test.output!r}"


def output_note(problem: CodeProblem) -> str:
    if problem.kind == "stdio":
        return "The program reads standard input and prints to standard output."
    return f"Define `{problem.entry_point}` with the signature given in the problem."
