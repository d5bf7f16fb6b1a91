"""Program variants: the payload ``{"code": ...}``, its checks, and when two programs are the same.

Two programs are exact duplicates when their source is the same (ignoring surrounding blank space),
and near duplicates when they have the same *normal form*: the syntax tree without docstrings or
comments, formatted alike, with every name bound inside a function (arguments, locals, loop and
comprehension variables, nested functions) renamed in order of first appearance. Renaming
variables, reformatting and re-commenting — what a model does when it "rewrites" a program without
changing it — never makes a new variant; changing one operator does.
"""

from __future__ import annotations

import ast
import difflib
from typing import Any

from treesearch.archive import InvalidVariant
from treesearch.parsing import check_code

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
# Where each kind of node keeps a name that may be a local one (keywords and attributes never are).
_BINDING_ATTRIBUTE = {ast.Name: "id", ast.arg: "arg", ast.FunctionDef: "name", ast.AsyncFunctionDef: "name",
                      ast.ExceptHandler: "name"}


class ProgramFormat:
    """:class:`treesearch.archive.VariantFormat` for programs defining ``entry_point`` (any module
    for stdio programs: ``entry_point=None``)."""

    def __init__(self, entry_point: str | None) -> None:
        self.entry_point = entry_point

    def check(self, payload: Any) -> None:
        if not isinstance(payload, dict) or set(payload) != {"code"} or not isinstance(payload["code"], str):
            raise InvalidVariant('a program variant is {"code": "<source>"}')
        checked = check_code(payload["code"], self.entry_point)
        if not checked.ok:
            raise InvalidVariant(checked.error)

    def exact_key(self, payload: dict[str, str]) -> str:
        return payload["code"].strip()

    def near_key(self, payload: dict[str, str]) -> str:
        return normal_form(payload["code"])

    def diff(self, parent: dict[str, str], payload: dict[str, str]) -> str:
        return "\n".join(difflib.unified_diff(parent["code"].splitlines(), payload["code"].splitlines(),
                                              "parent.py", "child.py", lineterm=""))

    def show(self, payload: dict[str, str]) -> dict[str, Any]:
        return {"code": payload["code"]}


def normal_form(code: str) -> str:
    """The program's syntax tree without docstrings, with function-local names canonical (see the
    module docstring), as one string."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            node.body = body[1:] or [ast.Pass()]
    local = _local_names(tree)
    names: dict[str, str] = {}
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):  # breadth first: the same shape gives the same order
        attr = _BINDING_ATTRIBUTE.get(type(node))
        value = getattr(node, attr, None) if attr else None
        if isinstance(value, str) and value in local and id(node) not in top:
            setattr(node, attr, names.setdefault(value, f"_v{len(names)}"))
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            node.names = [names.setdefault(n, f"_v{len(names)}") if n in local else n for n in node.names]
    return ast.dump(tree, annotate_fields=False)


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def _local_names(tree: ast.Module) -> set[str]:
    """Names bound inside some function, other than the module's own top-level names."""
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    top |= {t.id for n in tree.body if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    bound = set()
    for function in (n for n in ast.walk(tree) if isinstance(n, _FUNCTIONS)):
        for node in ast.walk(function):
            if node is function:
                continue
            if isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                bound.add(node.name)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
        bound |= {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    return bound - top
