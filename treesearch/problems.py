"""Problems the engine searches over, and their tests.

A :class:`CodeProblem` is either a *function* problem (write ``entry_point``; each test calls it with
positional arguments and compares the return value) or a *stdio* program (each test feeds stdin and
compares stdout). Tests come in two sets with different roles:

* ``visible_tests`` guide the search: the sandbox runs them on every candidate.
* ``hidden_tests`` (and ``plus_tests``, HumanEval+'s extra tests) judge the final program once, after
  the search. The engine never passes them to the sandbox during search.

``reference`` is an optional correct solution that only the simulated coder reads.

Assert-style test code (HumanEval's ``check``, MBPP's asserts) becomes test cases through
:func:`split_test_code`. Problems are data the sandbox runs: the sandbox imports this module, never
the reverse.
"""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from treesearch.pysource import NOT_LITERAL, call_equals_literal, compile_quietly, literal

ProblemKind = Literal["function", "stdio"]
KINDS: tuple[str, ...] = ("function", "stdio")


class ProblemError(ValueError):
    """A problem file or dict is malformed; the message names the field."""


@dataclass(frozen=True)
class TestCase:
    """One test.

    For a function problem ``input`` is the list of positional arguments and ``output`` the expected
    return value; for a stdio problem both are text. An assert-style test (HumanEval's ``check``,
    MBPP's asserts) carries its source in ``code`` instead, with ``candidate`` bound to the entry point;
    ``input``/``output`` then hold a readable rendering when the assert has the ``f(x) == y`` shape.
    """

    __test__ = False  # not a pytest class

    input: Any = None
    output: Any = None
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"input": self.input, "output": self.output}
        if self.code is not None:
            d["code"] = self.code
        return d


@dataclass
class CodeProblem:
    """A function-level or stdin/stdout programming problem."""

    id: str
    kind: ProblemKind
    prompt: str
    entry_point: str | None = None
    visible_tests: list[TestCase] = field(default_factory=list)
    hidden_tests: list[TestCase] = field(default_factory=list)
    plus_tests: list[TestCase] = field(default_factory=list)
    reference: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ProblemError("field 'id' must be a non-empty string")
        if self.kind not in KINDS:
            raise ProblemError(f"field 'kind' must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ProblemError(f"problem {self.id}: field 'prompt' must be a non-empty string")
        if self.kind == "function" and not (isinstance(self.entry_point, str) and self.entry_point.isidentifier()):
            raise ProblemError(
                f"problem {self.id}: field 'entry_point' must name the function to write (kind 'function')"
            )
        if not self.visible_tests:
            raise ProblemError(
                f"problem {self.id}: needs at least one visible test "
                "('visible_tests' or 'visible_test_code'): the search has nothing to go on without one"
            )

    @property
    def prelude(self) -> str:
        """What the benchmark harnesses run before a program: the prompt's own top-level statements
        (its imports and helpers) but the entry point's stub, so that a program may use them without
        repeating them (HumanEval's ``from typing import List``). Empty unless the problem is a
        function problem whose prompt is Python."""
        return prompt_prelude(self.prompt, self.entry_point) if self.kind == "function" else ""

    # ----------------------------------------------------------------------------------------------
    _FIELDS = (
        "id", "kind", "prompt", "entry_point", "visible_tests", "hidden_tests", "plus_tests",
        "visible_test_code", "hidden_test_code", "reference", "metadata",
    )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodeProblem:
        """Build a problem from the documented JSON shape; unknown or ill-typed fields are an error."""
        if not isinstance(data, dict):
            raise ProblemError(f"a problem must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls._FIELDS))
        if unknown:
            raise ProblemError(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(cls._FIELDS)}")
        for required in ("id", "kind", "prompt"):
            if required not in data:
                raise ProblemError(f"missing required field {required!r}")
        kind = data["kind"]
        entry_point = data.get("entry_point")
        visible = _tests(data, "visible_tests", kind) + _test_code(data, "visible_test_code", entry_point)
        hidden = _tests(data, "hidden_tests", kind) + _test_code(data, "hidden_test_code", entry_point)
        plus = _tests(data, "plus_tests", kind)
        reference = data.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise ProblemError("field 'reference' must be a string of code")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ProblemError("field 'metadata' must be an object")
        return cls(
            id=data["id"], kind=kind, prompt=data["prompt"], entry_point=entry_point,
            visible_tests=visible, hidden_tests=hidden, plus_tests=plus, reference=reference,
            metadata=metadata,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> CodeProblem:
        """Load a problem JSON file; errors name the file and the field."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ProblemError(f"{path}: cannot read problem file: {e.strerror or e}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ProblemError(f"{path}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
        try:
            return cls.from_dict(data)
        except ProblemError as e:
            raise ProblemError(f"{path}: {e}") from e

    def to_dict(self, include_hidden: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "prompt": self.prompt, "entry_point": self.entry_point,
            "visible_tests": [t.to_dict() for t in self.visible_tests],
        }
        if include_hidden:
            d["hidden_tests"] = [t.to_dict() for t in self.hidden_tests]
            if self.plus_tests:
                d["plus_tests"] = [t.to_dict() for t in self.plus_tests]
            if self.reference is not None:
                d["reference"] = self.reference
        if self.metadata:
            d["metadata"] = self.metadata
        return d


def _tests(data: dict[str, Any], name: str, kind: str) -> list[TestCase]:
    raw = data.get(name, [])
    if not isinstance(raw, list):
        raise ProblemError(f"field {name!r} must be a list of {{\"input\", \"output\"}} objects")
    tests = []
    for i, t in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(t, dict):
            raise ProblemError(f"{where} must be an object with 'input' and 'output'")
        extra = sorted(set(t) - {"input", "output"})
        if extra:
            raise ProblemError(f"{where}: unknown field(s) {', '.join(map(repr, extra))}")
        if "input" not in t or "output" not in t:
            raise ProblemError(f"{where} must have both 'input' and 'output'")
        if kind == "function" and not isinstance(t["input"], list):
            raise ProblemError(f"{where}.input must be the list of positional arguments (kind 'function')")
        if kind == "stdio" and not (isinstance(t["input"], str) and isinstance(t["output"], str)):
            raise ProblemError(f"{where}: 'input' and 'output' must be text (kind 'stdio')")
        tests.append(TestCase(input=t["input"], output=t["output"]))
    return tests


def _test_code(data: dict[str, Any], name: str, entry_point: str | None) -> list[TestCase]:
    code = data.get(name)
    if code is None:
        return []
    if not isinstance(code, str):
        raise ProblemError(f"field {name!r} must be a string of assert-style test code")
    if not entry_point:
        raise ProblemError(f"field {name!r} needs 'entry_point' (the tests call it as candidate)")
    try:
        return split_test_code(code, entry_point)
    except SyntaxError as e:
        raise ProblemError(f"field {name!r} is not valid Python: {e.msg} (line {e.lineno})") from e


# -------------------------------------------------------------------------------------------------
# Splitting assert-style test code (HumanEval `check(candidate)`, MBPP assert lists).


@functools.cache
def prompt_prelude(prompt: str, entry_point: str | None) -> str:
    """The top-level statements of ``prompt`` but the definition of ``entry_point``; empty when the
    prompt does not parse as Python."""
    try:
        module = compile_quietly(prompt)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return ""
    kept = [ast.get_source_segment(prompt, node) for node in module.body
            if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point)
            and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]  # docstrings
    return "\n".join(k for k in kept if k)


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
    shape = call_equals_literal(test, callers)
    if shape is None:
        return TestCase(code=code)
    call, expected = shape
    args = None
    if not call.keywords and all(literal(a) is not NOT_LITERAL for a in call.args):
        args = [literal(a) for a in call.args]
    return TestCase(input=args, output=expected, code=code)
