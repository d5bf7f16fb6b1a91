"""Visible tests read from a function's docstring: the examples a model is shown anyway.

:func:`docstring_examples` reads the styles HumanEval uses (``>>> f(x)`` followed by the output;
``f(x) == y``, ``f(x) ➞ y``, ``f(x) => y``, ``f(x) returns y``, ``f(x) should return y``;
``For x = ..., the output should be y``; ``Input: ... Output: ...`` blocks). Examples whose arguments
or result are not literals are skipped, so a visible test says nothing the docstring does not.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import re
import tokenize
from collections.abc import Iterator
from typing import Any

from treesearch.problems import TestCase


def docstring_examples(prompt: str, entry_point: str) -> list[TestCase]:
    """The examples in ``entry_point``'s docstring in ``prompt``, as tests, in order, without repeats.

    A plain call with literal arguments and a literal result becomes an input/output test; a doctest
    whose expression does more than call the function (``round(f(x), 2)``) becomes an assert-style
    test over ``candidate``. Examples that are not literal (``f(a) => False``, prose) are skipped.
    """
    function = _function(prompt, entry_point)
    if function is None:
        return []
    # The first string in the body, even after an import (HumanEval/115 puts `import math` first).
    strings = [s.value.value for s in function.body
               if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)]
    docstring = inspect.cleandoc(strings[0]) if strings else ""
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    tests: list[TestCase] = []
    seen: set[str] = set()
    for test in _doctest_examples(docstring, entry_point):
        _add_unique(tests, seen, test)
    for test in _inline_examples(docstring, entry_point):
        _add_unique(tests, seen, test)
    for test in _named_examples(docstring, params):
        _add_unique(tests, seen, test)
    return tests


def _function(prompt: str, name: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(prompt)
    except SyntaxError:
        return None
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return found[-1] if found else None


def _add_unique(tests: list[TestCase], seen: set[str], test: TestCase) -> None:
    key = repr((test.input, test.output, test.code))
    if key not in seen:
        seen.add(key)
        tests.append(test)


def _doctest_examples(docstring: str, entry_point: str) -> Iterator[TestCase]:
    """``>>> expression`` (with ``...`` continuation lines) followed by the expected output."""
    lines = docstring.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith(">>>"):
            i += 1
            continue
        source = [line[3:].strip()]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source.append(lines[i].strip()[3:].strip())
            i += 1
        expected = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            expected.append(lines[i].strip())
            i += 1
        test = _doctest(" ".join(source), " ".join(expected), entry_point)
        if test is not None:
            yield test


def _doctest(source: str, expected_text: str, entry_point: str) -> TestCase | None:
    try:
        expr = ast.parse(source, mode="eval").body
    except SyntaxError:
        return None
    claim = isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq)
    # No output line means None, as in doctest, except after `f(x) == y`, which states its own claim.
    ok, expected = _literal(expected_text) if expected_text else (True, True if claim else None)
    if not ok:
        return None
    if claim and expected is True:
        ok, value = _literal_node(expr.comparators[0])
        if ok:
            return _call_test(expr.left, entry_point, value) or _assert_test(expr.left, entry_point, value)
        return None
    return _call_test(expr, entry_point, expected) or _assert_test(expr, entry_point, expected)


def _call_test(expr: ast.expr, entry_point: str, expected: Any) -> TestCase | None:
    """An input/output test if ``expr`` is ``entry_point(literal, ...)``."""
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == entry_point
            and not expr.keywords):
        return None
    args = []
    for arg in expr.args:
        ok, value = _literal_node(arg)
        if not ok:
            return None
        args.append(value)
    return TestCase(input=args, output=expected)


def _assert_test(expr: ast.expr, entry_point: str, expected: Any) -> TestCase | None:
    """An assert-style test if ``expr`` calls ``entry_point`` and otherwise only builtins."""
    names = {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
    if entry_point not in names or not names - {entry_point} <= set(dir(builtins)):
        return None
    renamed = _Rename(entry_point, "candidate").visit(expr)
    return TestCase(input=None, output=expected, code=f"assert {ast.unparse(renamed)} == {expected!r}")


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.new, node.ctx) if node.id == self.old else node


# `f(x) <separator> value`, as HumanEval writes it: ==, ==>, ➞, =>, ->, =, "returns", "should return",
# "# returns", "is".
_SEPARATOR = re.compile(r"\s*(?:#\s*)?(?:==>|==|➞|=>|->|=(?!=)|returns?\b|should\s+return\b|should\s+be\b|is\b)\s*")


def _inline_examples(docstring: str, entry_point: str) -> Iterator[TestCase]:
    text = "\n".join(line for line in docstring.splitlines() if not line.strip().startswith((">>>", "...")))
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\(", text):
        end = _closing_paren(text, match.end() - 1)
        if end is None:
            continue
        separator = _SEPARATOR.match(text, end + 1)
        if separator is None:
            continue
        ok, expected = _leading_literal(text[separator.end():])
        if not ok:
            continue
        try:
            call = ast.parse(text[match.start(): end + 1], mode="eval").body
        except SyntaxError:
            continue
        test = _call_test(call, entry_point, expected)
        if test is not None:
            yield test


# "For lst = [...] the output should be 10", "For s = "ab", c = "a", the result should be ('b',False)"
_FOR_EXAMPLE = re.compile(r"For\s+(.+?)[,\s]*(?:the\s+)?(?:output|result)\s+should\s+be\s+(.+)", re.I)
# "Input: arr = [-3, -4, 5], k = 3 ... Output: [-4, -3, 5]" (the input may span several lines)
_IO_EXAMPLE = re.compile(r"Input\s*:\s*(.*?)\n\s*Output\s*:\s*([^\n]+)", re.I | re.S)


def _named_examples(docstring: str, params: list[str]) -> Iterator[TestCase]:
    """Examples that name the arguments instead of calling the function."""
    found = [(m.group(1), m.group(2)) for m in _FOR_EXAMPLE.finditer(docstring)]
    found += [(m.group(1), m.group(2)) for m in _IO_EXAMPLE.finditer(docstring)]
    for arguments, result in found:
        args = _arguments(arguments, params)
        ok, expected = _leading_literal(result)
        if args is not None and ok:
            yield TestCase(input=args, output=expected)


def _arguments(text: str, params: list[str]) -> list[Any] | None:
    """Positional arguments from ``a = 1, b = [2]``, ``a : 1`` lines, or a bare ``3``; the longest
    comma-separated prefix that parses wins (prose may follow the arguments)."""
    text = re.sub(r"(?m)^\s*(\w+)\s*:\s*", r"\1=", text.strip())  # "grid : [[0]]" lines
    text = re.sub(r"\n\s*", ", ", text)
    parts = text.split(",")
    for cut in range(len(parts), 0, -1):
        try:
            call = ast.parse(f"_({','.join(parts[:cut])})", mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(call, ast.Call):
            continue
        if call.keywords and not call.args and len(call.keywords) == len(params):
            values = [_literal_node(k.value) for k in call.keywords]
            if not all(ok for ok, _ in values):
                return None
            named = {k.arg: v for k, (_, v) in zip(call.keywords, values, strict=True)}
            # Named as in the signature: by name; named otherwise ("bucket_capacity" for
            # `capacity`): in the order given.
            return [named[p] for p in params] if set(named) == set(params) else list(named.values())
        if call.args and not call.keywords and len(call.args) == len(params):
            values = [_literal_node(a) for a in call.args]
            return [v for _, v in values] if all(ok for ok, _ in values) else None
    return None


def _closing_paren(text: str, start: int) -> int | None:
    """Index of the parenthesis closing the one at ``start``, skipping strings and nested brackets."""
    depth, quote, i = 0, None, start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _leading_literal(text: str) -> tuple[bool, Any]:
    """The literal at the start of ``text`` when what follows it is prose or punctuation, not more
    expression (``19 - 5 - 6 = 8`` is a worked example, not the value 19)."""
    text = text.strip()
    sentence_end = re.match(r"-?\d+(?=\.(?:\s|$))", text)  # "should return 16." is 16, not 16.0
    if sentence_end:
        return True, int(sentence_end.group())
    word = re.match(r"(true|false|none|null)\b", text, re.I)
    if word:
        value = {"true": True, "false": False}.get(word.group(1).lower())
        return (True, value) if _ends_cleanly(text[word.end():]) else (False, None)
    for end in _token_ends(text):
        ok, value = _literal(text[:end])
        if ok:
            return (True, value) if _ends_cleanly(text[end:]) else (False, None)
    return False, None


def _ends_cleanly(rest: str) -> bool:
    """What follows a value on its line is punctuation, a comment or words after a space (not
    ``- 5 - 6 = 8``, and not ``aaaa""`` glued to a ``""``)."""
    line = rest.split("\n", 1)[0]
    stripped = line.strip()
    return not stripped or stripped[0] in "#.,;(" or (stripped[0].isalpha() and line[0].isspace())


def _token_ends(text: str) -> list[int]:
    """Character offsets of the ends of the first line's tokens, longest first (and of a bracketed
    value spanning lines)."""
    offsets = []
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.COMMENT):
                break
            if token.type != tokenize.NL:
                offsets.append(starts[token.end[0] - 1] + token.end[1])
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return sorted(set(offsets), reverse=True)


def _literal(text: str) -> tuple[bool, Any]:
    try:
        return _literal_node(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError):
        return False, None


def _literal_node(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None
