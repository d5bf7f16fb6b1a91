"""Reading Python source quietly, and recognising ``assert f(args) == literal``.

Both sides of a test need this: :mod:`treesearch.problems` splits assert-style test code into test
cases, and :mod:`treesearch.sandbox` plans how each case runs and compiles candidates. It lives
below both so the sandbox can depend on problems without problems depending on the sandbox.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

NOT_LITERAL = object()


def literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_LITERAL


def call_equals_literal(stmt: ast.stmt, callers: set[str]) -> tuple[ast.Call, Any] | None:
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
            value = literal(other)
            if value is not NOT_LITERAL:
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
