"""Tests, from the parent's side: splitting assert-style test code into test cases, and planning how
each test case runs in the sandbox and who judges it.

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
import warnings
from dataclasses import dataclass
from typing import Any

from treesearch.problems import TestCase
from treesearch.sandbox.values import excerpt, short_repr

INPUT_CHARS = 400  # readable input/expectation kept per test for feedback


# -------------------------------------------------------------------------------------------------
# Splitting assert-style test code (HumanEval `check(candidate)`, MBPP assert lists).


def split_test_code(test_code: str, entry_point: str) -> list[TestCase]:
    """Split HumanEval-style ``def check(candidate): assert ...`` code or an MBPP-style list of
    asserts into self-contained test cases, one per assert.

    Each case's ``code`` carries the module-level setup it needs (imports, ``METADATA``, helper
    definitions) and, inside ``check``, the statements before its assert; it refers to the function
    as ``candidate`` or by ``entry_point`` (the sandbox binds both). Where an assert has the shape
    ``candidate(args) == expected`` with literals, ``input`` holds the argument list and ``output`` the
    expected value. A statement that asserts inside a loop or block becomes one case; if splitting
    would change what the code means (a later statement uses a name a test bound, or a piece does not
    compile on its own), the whole check is one case. Raises SyntaxError if ``test_code`` is not Python.
    """
    tree = compile_quietly(test_code)
    check = next(
        (s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "check" and len(s.args.args) == 1),
        None,
    )
    param = check.args.args[0].arg if check else "candidate"
    callers = {"candidate", entry_point, param}
    whole = [TestCase(code=test_code.rstrip() + ("\n\ncheck(candidate)\n" if check else "\n"))]

    module_stmts = [s for s in tree.body if s is not check and not _calls_check(s)]
    module_split = _split_statements(module_stmts, callers)
    body_split = _split_statements(check.body, callers) if check else ([], [])
    if module_split is None or body_split is None:
        return whole
    module_tests, module_setup = module_split
    body_tests, _ = body_split
    alias = [] if param == "candidate" else [ast.parse(f"{param} = candidate").body[0]]
    pieces = [(prefix, test) for prefix, test in module_tests]
    pieces += [(module_setup + alias + prefix, test) for prefix, test in body_tests]
    cases = [_test_case(setup, test, callers) for setup, test in pieces]
    if not cases or any(case is None for case in cases):
        return whole
    return cases


def _calls_check(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Name)
        and stmt.value.func.id == "check"
    )


def _is_test(stmt: ast.stmt, callers: set[str]) -> bool:
    """Does the statement (when executed) assert something about the function under test?"""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(
        isinstance(node, ast.Assert)
        and any(isinstance(n, ast.Name) and n.id in callers for n in ast.walk(node.test))
        for node in ast.walk(stmt)
    )


def _names(stmt: ast.stmt, ctx: type) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _split_statements(
    stmts: list[ast.stmt], callers: set[str]
) -> tuple[list[tuple[list[ast.stmt], ast.stmt]], list[ast.stmt]] | None:
    """(test statements each with the non-test statements before it, all non-test statements), or
    None when a statement reads a name that an earlier test statement bound (splitting would break it)."""
    tests: list[tuple[list[ast.stmt], ast.stmt]] = []
    prefix: list[ast.stmt] = []
    bound_by_tests: set[str] = set()
    for stmt in stmts:
        if _names(stmt, ast.Load) & bound_by_tests:
            return None
        if _is_test(stmt, callers):
            tests.append((list(prefix), stmt))
            bound_by_tests |= _names(stmt, ast.Store)
        else:
            prefix.append(stmt)
    return tests, prefix


def _test_case(setup: list[ast.stmt], test: ast.stmt, callers: set[str]) -> TestCase | None:
    code = "\n".join(ast.unparse(s) for s in [*setup, test]) + "\n"
    try:
        compile_quietly(code, ast_only=False)
    except SyntaxError:  # e.g. a `return` that was fine inside check()
        return None
    shape = _call_equals_literal(test, callers)
    if shape is None:
        return TestCase(code=code)
    call, expected = shape
    args = None
    if not call.keywords and all(_literal(a) is not _NOT_LITERAL for a in call.args):
        args = [_literal(a) for a in call.args]
    return TestCase(input=args, output=expected, code=code)


_NOT_LITERAL = object()


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _call_equals_literal(stmt: ast.stmt, callers: set[str]) -> tuple[ast.Call, Any] | None:
    """(the call, the expected value) for ``assert f(args) == literal`` (either side), else None."""
    if not isinstance(stmt, ast.Assert):
        return None
    test = stmt.test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return None
    for call, other in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id in callers
            and not any(isinstance(a, ast.Starred) for a in call.args)
        ):
            value = _literal(other)
            if value is not _NOT_LITERAL:
                return call, value
    return None


def compile_quietly(code: str, ast_only: bool = True) -> Any:
    """compile() without the SyntaxWarnings that programs and datasets are full of (``"\\d"`` in a
    plain string: the program's business, not noise for the engine's stderr). The AST with
    ``ast_only``, else a code object (a full compile finds more errors, e.g. ``return`` outside a
    function)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(code, "<program>", "exec", flags=ast.PyCF_ONLY_AST if ast_only else 0, dont_inherit=True)


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
    shape = _call_equals_literal(last, callers) if last is not None else None
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
