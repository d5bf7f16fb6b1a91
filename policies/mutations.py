"""Real AST mutation operators over Python source: the bugs the simulated coder writes.

Each operator finds *sites* in a program (a comparison, a ``range`` call, a ``return``...) and offers
one or more *variants* at each site (``<`` becomes ``<=``; ``range(n)`` becomes ``range(n - 1)`` or
``range(n + 1)``). A :class:`Mutation` is one variant at one site, named by a stable id::

    cmp_swap@L12:C8#0      operator @ line:column (1-based line, 0-based column) # variant

where the variant number counts the variants of that operator at that location (several nodes can
start at the same place: ``a + b + c`` has two additions at column of ``a``).

:func:`mutation_sites` lists every mutation that changes the program; :func:`apply` applies any set of
them. Ids and coordinates always refer to the *original* source, so mutations compose: applying
``{m1, m2}`` is applying both to the original program. Results are produced by :func:`ast.unparse`,
so they lose comments and formatting but always parse.

Operators (see :data:`OPERATORS`): off-by-one in ``range`` bounds and in indices/slices, comparison
and arithmetic operator swaps, ``and``/``or`` swaps, wrong small integer constants, negated
conditions, dropped ``else``/``elif`` branches, dropped statements (including guard clauses, the
classic missing edge case) and wrong return values.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

_Function = ast.FunctionDef | ast.AsyncFunctionDef

# A transform takes the node at the site (in the tree being mutated) and returns its replacement;
# ``None`` deletes a statement.
Transform = Callable[[ast.AST], "ast.AST | None"]

OPERATORS: dict[str, str] = {
    "range_off_by_one": "range(a, n) bound moved by one",
    "index_off_by_one": "x[i] / x[a:b] index moved by one",
    "cmp_swap": "comparison operator swapped (< <=, > >=, == !=, in / not in, is / is not)",
    "arith_swap": "arithmetic operator swapped (+ -, * //, / //, % //, ** *)",
    "boolop_swap": "and / or swapped",
    "const_boundary": "small integer constant changed (0 to 1, 1 to 0, n to n +- 1)",
    "negate_condition": "condition of if / while / conditional expression / comprehension negated",
    "drop_branch": "else or elif branch removed",
    "drop_statement": "a statement removed (assignment, call, guard clause, break, raise...)",
    "wrong_return": "returned value replaced (by a neighbouring value, None, or another branch's value)",
}

# Integer constants up to this magnitude are boundary-like (loop starts, offsets, base cases);
# larger ones are data (years, moduli) whose off-by-one an LLM rarely gets wrong.
SMALL_INT = 10

_CMP_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_ARITH_SWAP: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
    ast.Div: ast.FloorDiv, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult,
}
_OP_SYMBOL: dict[type, str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    ast.Pow: "**", ast.And: "and", ast.Or: "or",
}
# Statements whose removal is a plausible slip; loops, defs, imports and try blocks are not.
_DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.Raise, ast.Break, ast.Continue)


@dataclass(frozen=True)
class Mutation:
    """One variant at one site; ``line``/``col`` locate the site in the original source."""

    id: str
    operator: str
    line: int
    col: int
    description: str


def mutation_sites(source: str) -> list[Mutation]:
    """Every mutation of ``source`` that changes the program, in source order.

    A mutation that unparses to the same code as the original, or to the same code as an earlier
    mutation (``x[0]`` reached both as an index and as a constant), is left out. Deterministic: the
    same source always gives the same list. Raises :class:`SyntaxError` if ``source`` does not parse.
    """
    return list(_mutation_sites(source))


def apply(source: str, mutations: Iterable[Mutation | str]) -> str:
    """``source`` with ``mutations`` (objects or ids from :func:`mutation_sites`) applied together.

    Mutations are applied innermost first, so a mutated comparison inside a negated condition gives
    ``not (a <= b)``; two mutations of the same node apply in the order given. Unknown ids are a
    :class:`ValueError`. The result always parses (it is checked).
    """
    wanted = [m.id if isinstance(m, Mutation) else m for m in mutations]
    tree = ast.parse(source)
    sites = {m.id: (node, transform) for m, node, transform in _enumerate(tree, _locations(wanted))}
    unknown = [i for i in wanted if i not in sites]
    if unknown:
        raise ValueError(f"unknown mutation id(s) for this source: {', '.join(unknown)}")
    by_node: dict[int, list[Transform]] = {}
    for mutation_id in dict.fromkeys(wanted):  # a repeated id applies once
        node, transform = sites[mutation_id]
        by_node.setdefault(id(node), []).append(transform)
    mutated = _Applier(by_node).visit(tree)
    _fill_empty_bodies(mutated)
    code = ast.unparse(ast.fix_missing_locations(mutated))
    ast.parse(code)  # ast.unparse output of a valid tree parses; a failure here is a bug in an operator
    return code


# --------------------------------------------------------------------------------------------------
# Enumeration


@lru_cache(maxsize=512)
def _mutation_sites(source: str) -> tuple[Mutation, ...]:
    # Cached: the simulated coder asks for the sites of the same reference on every expansion.
    original = ast.unparse(ast.parse(source))
    seen = {original}
    kept = []
    for mutation, _, _ in _enumerate(ast.parse(source)):
        try:
            code = apply(source, [mutation.id])
        except SyntaxError:
            continue
        if code not in seen:
            seen.add(code)
            kept.append(mutation)
    return tuple(kept)


def _enumerate(
    tree: ast.AST, locations: set[tuple[int, int]] | None = None
) -> list[tuple[Mutation, ast.AST, Transform]]:
    """Every (mutation, node, transform) of ``tree`` in source order; only at ``locations``
    ((line, col) pairs) when given, which is what makes :func:`apply` cheap. Variant numbers count
    per (operator, location), so restricting to locations does not renumber them."""
    counts: dict[tuple[str, int, int], int] = {}
    found = []
    for node, parent, parent_field, function in _walk(tree, None, None, None):
        if locations is not None and (getattr(node, "lineno", None), getattr(node, "col_offset", None)) not in locations:
            continue
        for operator, description, transform, target in _variants(node, parent, parent_field, function):
            line, col = node.lineno, node.col_offset
            key = (operator, line, col)
            variant = counts.get(key, 0)
            counts[key] = variant + 1
            mutation = Mutation(f"{operator}@L{line}:C{col}#{variant}", operator, line, col, description)
            found.append((mutation, target, transform))
    found.sort(key=lambda f: (f[0].line, f[0].col, f[0].id))
    return found


def _locations(mutation_ids: list[str]) -> set[tuple[int, int]]:
    locations = set()
    for mutation_id in mutation_ids:
        try:
            line, col = mutation_id.split("@", 1)[1].split("#", 1)[0].split(":")
            locations.add((int(line.removeprefix("L")), int(col.removeprefix("C"))))
        except (IndexError, ValueError):
            raise ValueError(f"not a mutation id: {mutation_id!r} (expected operator@L<line>:C<col>#<n>)") from None
    return locations


# Fields that hold type annotations: evaluated at definition time, never part of the algorithm.
_ANNOTATION_FIELDS = {"annotation", "returns", "type_comment"}


def _walk(
    node: ast.AST, parent: ast.AST | None, parent_field: str | None, function: _Function | None
) -> Iterator[tuple[ast.AST, ast.AST | None, str | None, _Function | None]]:
    """Pre-order walk yielding (node, its parent, the parent's field holding it, the enclosing function)."""
    yield node, parent, parent_field, function
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        function = node
    for name, value in ast.iter_fields(node):
        if name in _ANNOTATION_FIELDS:
            continue
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, ast.AST):
                yield from _walk(child, node, name, function)


def _variants(
    node: ast.AST, parent: ast.AST | None, parent_field: str | None, function: _Function | None
) -> Iterator[tuple[str, str, Transform, ast.AST]]:
    """(operator, description, transform, node to transform) for each variant located at ``node``."""
    if not hasattr(node, "lineno"):
        return
    for operator, description, transform in _own_variants(node, parent_field, function):
        yield operator, description, transform, node
    if parent_field == "ifs":
        # A comprehension filter is negated through the comprehension (which has no position of its
        # own), so that a mutation inside the filter, applied first, ends up inside the `not`.
        index = next(i for i, f in enumerate(parent.ifs) if f is node)
        yield "negate_condition", "comprehension filter negated", _negate_list_item("ifs", index), parent


def _own_variants(node: ast.AST, parent_field: str | None, function: _Function | None) -> Iterator[tuple[str, str, Transform]]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        yield from _range_variants(node)
    elif isinstance(node, ast.Subscript):
        yield from _index_variants(node)
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swapped = _CMP_SWAP[type(op)]
            yield "cmp_swap", f"{_OP_SYMBOL[type(op)]} -> {_OP_SYMBOL[swapped]}", _set_list_item("ops", i, swapped)
    elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _ARITH_SWAP and not _is_text_op(node):
        swapped = _ARITH_SWAP[type(node.op)]
        yield "arith_swap", f"{_OP_SYMBOL[type(node.op)]} -> {_OP_SYMBOL[swapped]}", _set_attr("op", swapped)
    elif isinstance(node, ast.BoolOp):
        swapped = ast.Or if isinstance(node.op, ast.And) else ast.And
        yield "boolop_swap", f"{_OP_SYMBOL[type(node.op)]} -> {_OP_SYMBOL[swapped]}", _set_attr("op", swapped)
    elif _is_small_int(node):
        yield from _constant_variants(node)
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        yield "negate_condition", "condition negated", _negate_field("test")
    if isinstance(node, ast.If) and node.orelse:
        yield from _branch_variants(node)
    # An elif sits in its parent's `orelse`; removing it is drop_branch's business.
    in_block = parent_field == "body" or (parent_field == "orelse" and not isinstance(node, ast.If))
    if function is not None and in_block and _is_droppable(node):
        yield "drop_statement", f"statement removed: {_excerpt(node)}", lambda n: None
    if isinstance(node, ast.Return) and node.value is not None and function is not None:
        yield from _return_variants(node, function)


def _range_variants(node: ast.Call) -> Iterator[tuple[str, str, Transform]]:
    if not node.args or len(node.args) > 3 or any(isinstance(a, ast.Starred) for a in node.args):
        return
    stop = 0 if len(node.args) == 1 else 1
    for delta in (-1, 1):
        yield "range_off_by_one", f"range stop {delta:+d}", _shift_list_item("args", stop, delta)
    if len(node.args) > 1:
        for delta in (-1, 1):
            yield "range_off_by_one", f"range start {delta:+d}", _shift_list_item("args", 0, delta)


def _index_variants(node: ast.Subscript) -> Iterator[tuple[str, str, Transform]]:
    index = node.slice
    if isinstance(index, ast.Slice):
        for bound in ("lower", "upper"):
            if getattr(index, bound) is not None and not _is_text(getattr(index, bound)):
                for delta in (-1, 1):
                    yield "index_off_by_one", f"slice {bound} bound {delta:+d}", _shift_slice(bound, delta)
    elif not isinstance(index, ast.Tuple) and not _is_text(index):
        for delta in (-1, 1):
            yield "index_off_by_one", f"index {delta:+d}", _shift_attr("slice", delta)


def _constant_variants(node: ast.Constant) -> Iterator[tuple[str, str, Transform]]:
    value = node.value
    targets = [1] if value == 0 else [0, 2] if value == 1 else [value - 1, value + 1]
    for target in targets:
        yield "const_boundary", f"constant {value} -> {target}", _replace_with(ast.Constant(target))


def _branch_variants(node: ast.If) -> Iterator[tuple[str, str, Transform]]:
    orelse = node.orelse
    if len(orelse) == 1 and isinstance(orelse[0], ast.If) and _starts_with_elif(node, orelse[0]):
        rest = orelse[0].orelse
        yield "drop_branch", "elif branch removed", _set_attr_value("orelse", rest)
        if rest:
            yield "drop_branch", "else branch of the if/elif chain removed", _drop_chain_else()
    else:
        yield "drop_branch", "else branch removed", _set_attr_value("orelse", [])


def _return_variants(node: ast.Return, function: ast.AST) -> Iterator[tuple[str, str, Transform]]:
    value = node.value
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        yield "wrong_return", f"return {not value.value} instead of {value.value}", _set_attr_value(
            "value", ast.Constant(not value.value)
        )
    elif _is_numeric_expr(value):
        for delta in (-1, 1):
            yield "wrong_return", f"returned value {delta:+d}", _shift_attr("value", delta)
    here = ast.unparse(value)
    others = []
    for other in ast.walk(function):
        if isinstance(other, ast.Return) and other.value is not None and other is not node:
            text = ast.unparse(other.value)
            if text != here and text not in others:
                others.append(text)
    for text in others[:2]:
        yield "wrong_return", f"returns {_shorten(text)} (another branch's value)", _set_attr_value(
            "value", ast.parse(text, mode="eval").body
        )
    if not (isinstance(value, ast.Constant) and value.value is None):
        yield "wrong_return", "returns None", _set_attr_value("value", ast.Constant(None))


# --------------------------------------------------------------------------------------------------
# Transforms. Each builds its replacement from the node it is given at apply time, so an inner
# mutation already applied to a child is kept; values taken from elsewhere are copied at enumeration.


def _set_attr(name: str, op_type: type) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        setattr(node, name, op_type())
        return node

    return transform


def _set_attr_value(name: str, value: object) -> Transform:
    snapshot = copy.deepcopy(value)

    def transform(node: ast.AST) -> ast.AST:
        setattr(node, name, copy.deepcopy(snapshot))
        return node

    return transform


def _set_list_item(name: str, index: int, op_type: type) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        getattr(node, name)[index] = op_type()
        return node

    return transform


def _shift_attr(name: str, delta: int) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        setattr(node, name, _shift(getattr(node, name), delta))
        return node

    return transform


def _shift_list_item(name: str, index: int, delta: int) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        items = getattr(node, name)
        items[index] = _shift(items[index], delta)
        return node

    return transform


def _shift_slice(bound: str, delta: int) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        setattr(node.slice, bound, _shift(getattr(node.slice, bound), delta))
        return node

    return transform


def _negate_field(name: str) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        setattr(node, name, _negate(getattr(node, name)))
        return node

    return transform


def _negate_list_item(name: str, index: int) -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        items = getattr(node, name)
        items[index] = _negate(items[index])
        return node

    return transform


def _replace_with(replacement: ast.AST) -> Transform:
    return lambda node: ast.copy_location(copy.deepcopy(replacement), node)


def _drop_chain_else() -> Transform:
    def transform(node: ast.AST) -> ast.AST:
        last = node
        while len(last.orelse) == 1 and isinstance(last.orelse[0], ast.If):
            last = last.orelse[0]
        last.orelse = []
        return node

    return transform


def _shift(expr: ast.expr, delta: int) -> ast.expr:
    """``expr + delta``, folded where that reads like code: ``n - 1`` + 1 is ``n``, 3 + 1 is 4."""
    if isinstance(expr, ast.Constant) and type(expr.value) is int:
        return ast.Constant(expr.value + delta)
    if (
        isinstance(expr, ast.BinOp)
        and isinstance(expr.op, ast.Add | ast.Sub)
        and isinstance(expr.right, ast.Constant)
        and type(expr.right.value) is int
    ):
        offset = (expr.right.value if isinstance(expr.op, ast.Add) else -expr.right.value) + delta
        if offset == 0:
            return expr.left
        op = ast.Add() if offset > 0 else ast.Sub()
        return ast.BinOp(expr.left, op, ast.Constant(abs(offset)))
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub) and isinstance(expr.operand, ast.Constant):
        value = expr.operand.value
        if type(value) is int:
            return ast.Constant(-value + delta)
    op = ast.Add() if delta > 0 else ast.Sub()
    return ast.BinOp(expr, op, ast.Constant(abs(delta)))


def _negate(expr: ast.expr) -> ast.expr:
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        return expr.operand
    return ast.UnaryOp(ast.Not(), expr)


class _Applier(ast.NodeTransformer):
    """Applies the transforms keyed by ``id(node)``, children before parents."""

    def __init__(self, by_node: dict[int, list[Transform]]) -> None:
        self.by_node = by_node

    def visit(self, node: ast.AST) -> ast.AST | None:
        transforms = self.by_node.get(id(node), ())
        result: ast.AST | None = self.generic_visit(node)
        for transform in transforms:
            if result is None:
                break
            result = transform(result)
        return result


def _fill_empty_bodies(tree: ast.AST) -> None:
    # Dropping the only statement of a block leaves it empty, which is not Python: put `pass` there.
    # (Only `body` lists can empty: statements are dropped from `body` and `orelse`, and an empty
    # `orelse` is valid.)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and not body:
            body.append(ast.Pass())


# --------------------------------------------------------------------------------------------------
# Predicates


def _is_small_int(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) <= SMALL_INT


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)
    )


def _is_text_op(node: ast.BinOp | ast.AugAssign) -> bool:
    # `s + "x"`, `"%d" % n`, `[0] * n` are sequence operations: swapping the operator is a type
    # error on every input, not the logic slip an LLM makes.
    operands = [node.target, node.value] if isinstance(node, ast.AugAssign) else [node.left, node.right]
    return any(_is_text(o) or isinstance(o, ast.List | ast.Tuple | ast.ListComp) for o in operands)


def _is_numeric_expr(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, ast.BinOp):
        return not _is_text_op(node) and isinstance(node.op, ast.Sub | ast.Mult | ast.FloorDiv | ast.Mod | ast.Pow)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("len", "sum", "abs", "max", "min", "int")


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_droppable(node: ast.AST) -> bool:
    if not isinstance(node, _DROPPABLE) or _is_docstring(node):
        return False
    # A bare constant or name as a statement does nothing; dropping it changes nothing.
    return not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.Name))


def _starts_with_elif(parent: ast.If, child: ast.If) -> bool:
    # `else:\n    if c:` and `elif c:` are the same AST; an elif starts on the line after the body.
    return child.col_offset == parent.col_offset


def _excerpt(node: ast.AST) -> str:
    return _shorten(ast.unparse(node).splitlines()[0])


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
