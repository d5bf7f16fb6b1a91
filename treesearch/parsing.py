"""Reading what a model wrote: code, JSON and scores.

Replies are messy: prose around fenced blocks, an example block after the solution, output cut off
mid-block, JSON with trailing commas or single quotes, "Score: 7/10". Every helper returns a
:class:`Parsed` — ``ok`` with a ``value``, or not ok with an ``error`` a policy can act on (retry,
ask again with the error, drop the sample) — and never raises on bad model output.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Parsed(Generic[T]):
    ok: bool
    value: T | None = None
    error: str = ""

    @classmethod
    def success(cls, value: T) -> Parsed[T]:
        return cls(ok=True, value=value)

    @classmethod
    def failure(cls, error: str) -> Parsed[T]:
        return cls(ok=False, error=error)


# ``` or ~~~ fences with an optional language tag. The closing fence may be missing: the reply was
# truncated (finish_reason "length") and the block runs to the end.
_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
# Where plain code starts after a line of prose ("Here is the solution:").
_CODE_START = re.compile(r"^(?:def |async def |class |import |from \S+ import |@)", re.M)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """All fenced blocks as (language tag, lowercased; body), in order."""
    return [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]


def check_code(code: str, entry_point: str | None = None) -> Parsed[str]:
    """The code if it parses and (when given) defines ``entry_point`` at top level."""
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return Parsed.failure(f"the code does not parse: {exc.msg} (line {exc.lineno})")
    except ValueError as exc:  # e.g. null bytes
        return Parsed.failure(f"the code does not parse: {exc}")
    if entry_point is not None and not _defines(tree, entry_point):
        return Parsed.failure(f"the code does not define the function {entry_point!r}")
    return Parsed.success(code)


def extract_code(text: str, entry_point: str | None = None) -> Parsed[str]:
    """The program in a reply.

    Candidates are the ```python blocks, else the untagged blocks, else the whole reply as plain code
    (or the code after a line of prose). Of the candidates that parse, those defining ``entry_point``
    win, then the longest, then the last: an example-usage block is shorter than the solution, and a
    revised solution comes after the first draft.
    """
    blocks = fenced_blocks(text)
    python = [code for tag, code in blocks if tag in _PYTHON_TAGS]
    untagged = [code for tag, code in blocks if not tag]
    if python or untagged:
        candidates = python or untagged
    elif blocks:
        tags = sorted({tag for tag, _ in blocks})
        return Parsed.failure(f"no Python code block: the reply has blocks tagged {', '.join(tags)}")
    else:
        candidates = [text]
        start = _CODE_START.search(text)
        if start is not None and start.start() > 0:
            candidates.append(text[start.start():])
    candidates = [c.strip("\n") for c in candidates if c.strip()]
    if not candidates:
        return Parsed.failure("the reply contains no code")
    checks = [check_code(c, entry_point) for c in candidates]
    passing = [i for i, check in enumerate(checks) if check.ok]
    # Without a passing candidate, report the longest one's problem: it is most likely the solution.
    best = max(passing or range(len(candidates)), key=lambda i: (len(candidates[i]), i))
    return checks[best]


def _defines(tree: ast.Module, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
        or isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        for node in tree.body
    )


# -- JSON --

_JSON_START = re.compile(r"[\[{]")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
# A quoted string (either quote) or a bare JSON literal; only the literal is rewritten.
_JSON_LITERAL = re.compile(r"(\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*')|\b(true|false|null)\b")
_PYTHON_LITERALS = {"true": "True", "false": "False", "null": "None"}


def extract_json(text: str) -> Parsed[Any]:
    """The JSON value in a reply, lightly repaired.

    Tries the whole reply, then ```json (or any) fenced blocks, then each balanced ``{...}``/``[...]``
    span in the text. Repairs: trailing commas, single quotes and Python literals (via a Python
    literal reading in which ``true/false/null`` are mapped).
    """
    candidates = [text.strip()]
    candidates += [code for tag, code in fenced_blocks(text) if tag in ("json", "")]
    candidates += _balanced_spans(text)
    for candidate in candidates:
        value = _loads_repaired(candidate)
        if value is not _NOTHING:
            return Parsed.success(value)
    if not _JSON_START.search(text):
        return Parsed.failure("the reply contains no JSON object or array")
    return Parsed.failure("the reply's JSON could not be read, even after repair")


_NOTHING = object()


def _loads_repaired(candidate: str) -> Any:
    candidate = candidate.strip()
    if not candidate:
        return _NOTHING
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(attempt)
        except ValueError:
            pass
    pythonic = _JSON_LITERAL.sub(lambda m: m.group(1) or _PYTHON_LITERALS[m.group(2)], candidate)
    try:
        value = ast.literal_eval(pythonic)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOTHING
    return value if isinstance(value, (dict, list)) else _NOTHING


def _balanced_spans(text: str) -> list[str]:
    """Outermost ``{...}`` / ``[...]`` spans, skipping brackets inside quoted strings."""
    spans, depth, start, quote, escaped = [], 0, 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'" and depth:
            quote = ch
        elif ch in "[{":
            if depth == 0:
                start = i
            depth += 1
        elif ch in "]}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


# -- scores --

_NUMBER = r"([-+]?\d+(?:\.\d+)?)"
_SCALE = rf"\s*\(?(?:/|out\s+of)\s*{_NUMBER}\)?"
# "Score: 7/10", "**Rating**: 4 out of 5", "score of 80%": a label, a few non-digits on the same line, a number.
_LABELLED = re.compile(rf"\b(?:score|rating|grade)\b[^\d\n]{{0,12}}?{_NUMBER}\s*(%|(?:{_SCALE}))?", re.I)
_FRACTION = re.compile(rf"{_NUMBER}{_SCALE}", re.I)
_PERCENT = re.compile(rf"{_NUMBER}\s*%")
_BARE = re.compile(rf"^\W*{_NUMBER}\W*$")


def extract_score(text: str, scale: float | None = None) -> Parsed[float]:
    """A score normalised to [0, 1].

    Reads, in order of trust: a labelled score ("Score: 7/10", "rating = 4 out of 5", "Score: 8"),
    the last fraction ("7/10", "8 out of 10"), the last percentage ("80%"), or a reply that is just a
    number. A number without its own denominator is divided by ``scale``; with no scale it must already
    lie in [0, 1].
    """
    labelled = list(_LABELLED.finditer(text))
    if labelled:
        match = labelled[-1]
        number, suffix = match.group(1), match.group(2) or ""
        if suffix == "%":
            return _normalise(float(number), 100.0)
        return _normalise(float(number), float(match.group(3)) if match.group(3) else scale)
    fractions = list(_FRACTION.finditer(text))
    if fractions:
        return _normalise(float(fractions[-1].group(1)), float(fractions[-1].group(2)))
    percents = list(_PERCENT.finditer(text))
    if percents:
        return _normalise(float(percents[-1].group(1)), 100.0)
    bare = _BARE.match(text.strip())
    if bare:
        return _normalise(float(bare.group(1)), scale)
    return Parsed.failure("the reply contains no score")


def _normalise(value: float, scale: float | None) -> Parsed[float]:
    if scale is None:
        scale = 1.0
    if scale <= 0:
        return Parsed.failure(f"the score's scale {scale:g} is not positive")
    if not 0.0 <= value <= scale:
        return Parsed.failure(f"the score {value:g} is outside [0, {scale:g}]")
    return Parsed.success(value / scale)
