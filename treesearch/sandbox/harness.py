"""Tests, from the parent's side: planning how each test case runs in the sandbox and who judges
it. (Splitting assert-style test code into test cases is :func:`treesearch.problems.split_test_code`.)

Who judges (the guarantee the sandbox gives, per test):

* **Input/output tests** (``input`` + ``output``; stdio tests; and asserts of the shape
  ``candidate(args) == <literal>``): only the inputs enter the sandbox. The candidate computes, the
  harness sends the value back, and the parent compares it with the expected output, which never left
  the parent. Nothing the candidate does to itself (patched builtins or ``__eq__``, ``sys.exit``,
  printed text) changes the verdict: it would have to compute the right value.
* **General asserts** (``abs(candidate(x) - y) < 1e-6``, loops, helper-driven checks): the test code
  itself decides, so it runs in the sandbox next to the candidate and the harness reports whether it
  raised. The harness gives the test code the builtins as they were before the candidate loaded and
  hands it plain copies of the candidate's results, which defeats casual cheating, but a candidate
  that deliberately tampers with the harness process can forge this verdict. Outcomes record
  ``judge="sandbox"`` for these.
"""

from __future__ import annotations

import ast
import copy
import functools
import hashlib
from dataclasses import dataclass
from typing import Any

from treesearch.problems import TestCase
from treesearch.pysource import call_equals_literal, compile_quietly
from treesearch.sandbox.values import excerpt, short_repr

INPUT_CHARS = 400  # readable input/expectation kept per test for feedback


# -------------------------------------------------------------------------------------------------
# Planning: how a test case runs in the sandbox and how the parent judges it.


@dataclass(frozen=True)
class TestPlan:
    """One test case, ready to run.

    ``spec`` goes into the sandbox: ``("call", args)``, ``("expr", setup_code, call_expression)``,
    ``("assert", code)`` or ``("stdio", stdin_text)``; it never contains an expected output except
    inside general-assert code. ``expected`` stays in the parent (for ``judge == "parent"``).
    """

    __test__ = False  # not a pytest class

    spec: tuple[Any, ...]
    judge: str  # "parent" or "sandbox"
    expected: Any
    strict_types: bool  # the expected value came from Python source: a list is not a tuple
    input_text: str
    expected_text: str | None  # None for general asserts: the code is the expectation


def plan_test(test: TestCase, kind: str, entry_point: str | None) -> TestPlan:
    """How ``test`` runs for a problem of ``kind`` ("function" or "stdio")."""
    if kind == "stdio":
        if not (isinstance(test.input, str) and isinstance(test.output, str)):
            raise ValueError("a stdio test needs text input and text output")
        return TestPlan(
            spec=("stdio", test.input), judge="parent", expected=test.output, strict_types=False,
            input_text=excerpt(test.input, INPUT_CHARS), expected_text=excerpt(test.output, INPUT_CHARS),
        )
    if not entry_point:
        raise ValueError("a function problem needs the entry point's name")
    if test.code is not None:
        return _plan_code(test.code, entry_point)
    if not isinstance(test.input, (list, tuple)):
        raise ValueError("a function test's input must be the list of positional arguments")
    args = list(test.input)
    shown = ", ".join(short_repr(a, INPUT_CHARS) for a in args)
    return TestPlan(
        spec=("call", args), judge="parent", expected=test.output, strict_types=False,
        input_text=excerpt(f"{entry_point}({shown})", INPUT_CHARS),
        expected_text=short_repr(test.output, INPUT_CHARS),
    )


@functools.lru_cache(maxsize=16384)
def _plan_code(code: str, entry_point: str) -> TestPlan:
    tree = compile_quietly(code)
    callers = {"candidate", entry_point}
    last = tree.body[-1] if tree.body else None
    shape = call_equals_literal(last, callers) if last is not None else None
    if shape is None:
        shown = _renamed(last, entry_point) if last is not None else code
        return TestPlan(
            spec=("assert", code), judge="sandbox", expected=None, strict_types=True,
            input_text=excerpt(shown, INPUT_CHARS), expected_text=None,
        )
    call, expected = shape
    lines = code.splitlines()
    before = lines[last.lineno - 1].encode()[: last.col_offset].decode()  # col_offset counts UTF-8 bytes
    setup = "\n".join([*lines[: last.lineno - 1], before])
    return TestPlan(
        spec=("expr", setup, ast.get_source_segment(code, call)), judge="parent", expected=expected,
        strict_types=True, input_text=excerpt(_renamed(call, entry_point), INPUT_CHARS),
        expected_text=short_repr(expected, INPUT_CHARS),
    )


def _renamed(node: ast.AST, entry_point: str) -> str:
    """Source of ``node`` with ``candidate`` shown as the function's real name."""
    node = copy.deepcopy(node)
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id == "candidate":
            n.id = entry_point
    return ast.unparse(node)


# -------------------------------------------------------------------------------------------------


def test_fingerprint(test: TestCase) -> str:
    """A stable identifier of a test case's content (same in every process), for the call log."""
    text = "\x1f".join((_canonical(test.input), _canonical(test.output), test.code or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


test_fingerprint.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def _canonical(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ",".join(sorted(f"{_canonical(k)}:{_canonical(x)}" for k, x in v.items())) + "}"
    if isinstance(v, (set, frozenset)):
        return type(v).__name__ + "{" + ",".join(sorted(_canonical(x) for x in v)) + "}"
    if isinstance(v, (list, tuple)):
        return type(v).__name__ + "[" + ",".join(_canonical(x) for x in v) + "]"
    if isinstance(v, int) and not isinstance(v, bool):
        return hex(v)  # repr() refuses ints past 4300 digits; hex has no such limit
    return repr(v)
