"""Reading what a model wrote: code, JSON and scores.

Replies are messy: prose around fenced blocks, an example block after the solution, output cut off
mid-block, JSON with trailing commas or single quotes, "Score: 7/10". Every helper returns a
:class:`Parsed` — ``ok`` with a ``value``, or not ok with an ``error`` a policy can act on (retry,
ask again with the error, drop the sample) — and never raises on bad model output.

:func:`extract_strategies` reads the list of strategies a model was asked for in whatever shape it
wrote them: the JSON list requested, an object holding the list under any key, numbered or bulleted
prose, or (when nothing else is there) one paragraph.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from treesearch.pysource import NOT_LITERAL, compile_quietly, literal

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
# A line where plain code may start after prose ("Here is the solution:"): a definition, an import,
# a decorator, a comment, an assignment, a call or a compound statement.
_CODE_START = re.compile(
    r"(?:def |async def |class |import |from \S+ import |@\w|#|if __name__|for |while |with |try:|"
    r"[A-Za-z_][\w.]*(?:\[[^\]\n]*\])?\s*(?:[-+*/|&]?=)(?!=)|[A-Za-z_][\w.]*\()"
)
_KEYWORD_START = re.compile(r"(?:" + "|".join(keyword.kwlist) + r")\b")
_MAX_CODE_STARTS = 8  # places after prose where unfenced code is tried


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
    except (MemoryError, RecursionError):  # brackets nested thousands deep
        return Parsed.failure("the code does not parse: it is nested too deeply")
    if entry_point is not None and not _defines(tree, entry_point):
        return Parsed.failure(f"the code does not define the function {entry_point!r}")
    if entry_point is not None and _only_a_stub(tree, entry_point):
        return Parsed.failure(f"the function {entry_point!r} has no body: the reply repeats the stub without code")
    return Parsed.success(without_test_code(code, tree) if entry_point is not None else code)


def without_test_code(code: str, tree: ast.Module) -> str:
    """A function module without the tests and demos models append to it, as the benchmark harnesses
    sanitise completions: top-level asserts, bare calls (``print(f(3))``) and ``if __name__ ==
    "__main__":`` blocks go; imports, definitions and assignments stay. Their failure would fail the
    module's import, not the function the tests call."""
    lines = code.split("\n")
    drop = [node for node in tree.body if isinstance(node, ast.Assert) or _is_main_block(node)
            or (isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant))]
    kept = {line for node in tree.body if node not in drop for line in range(node.lineno, node.end_lineno + 1)}
    if not drop or any(node.lineno in kept or node.end_lineno in kept for node in drop):  # a; b on one line
        return code
    for node in reversed(drop):
        del lines[node.lineno - 1:node.end_lineno]
    return "\n".join(lines).rstrip() + "\n"


def _is_main_block(node: ast.stmt) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def extract_code(text: str, entry_point: str | None = None) -> Parsed[str]:
    """The program in a reply.

    Candidates are the ```python blocks, else the untagged blocks, else the whole reply as plain code
    and each stretch of it that starts like code after prose, both to the end and to the next line of
    prose (an explanation after the code, or a stray fence). Of the candidates that parse, those
    defining ``entry_point`` win, then the longest, then the last: an example-usage block is shorter
    than the solution, and a revised solution comes after the first draft.
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
        candidates = [text, *_unfenced_regions(text)]
    candidates = list(dict.fromkeys(c.strip("\n") for c in candidates if c.strip()))
    if not candidates:
        return Parsed.failure("the reply contains no code")
    checks = [check_code(c, entry_point) for c in candidates]
    passing = [i for i, check in enumerate(checks) if check.ok]
    # Without a passing candidate, report the longest one's problem: it is most likely the solution.
    best = max(passing or range(len(candidates)), key=lambda i: (len(candidates[i]), i))
    return checks[best]


def _unfenced_regions(text: str) -> list[str]:
    """Where code may be in a reply without fences: from each line where code starts after prose, to
    the end and to the next line of prose (or a stray fence)."""
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    ends = [_ends_code(line) for line in lines]
    regions: list[str] = []
    previous_is_code, starts = False, 0
    for i, line in enumerate(lines):
        is_start = not line[:1].isspace() and _CODE_START.match(line) is not None
        if is_start and not previous_is_code and starts < _MAX_CODE_STARTS:
            starts += 1
            regions.append(text[offsets[i]:])
            end = next((j for j in range(i + 1, len(lines)) if ends[j]), None)
            if end is not None:
                regions.append(text[offsets[i]:offsets[end]])
        if line.strip():  # a line at the margin that does not start a statement is prose (or a heading)
            previous_is_code = is_start or line[:1].isspace() or bool(_KEYWORD_START.match(line)) \
                or line.startswith((")", "]", "}"))
    return regions


def _ends_code(line: str) -> bool:
    return line.lstrip().startswith(("```", "~~~")) or _is_prose(line)


def _is_prose(line: str) -> bool:
    """A line of text that is not Python: at the margin, starting with a letter, not a statement."""
    if not line[:1].isalpha() or _CODE_START.match(line) or _KEYWORD_START.match(line):
        return False
    try:
        ast.parse(line.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return True
    return False


def _defines(tree: ast.Module, name: str) -> bool:
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
        or isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        for node in tree.body
    )


def _only_a_stub(tree: ast.Module, name: str) -> bool:
    """Whether the function ``name`` (its last top-level definition, the one Python keeps) has no code:
    only a docstring, ``pass``, ``...`` or ``raise NotImplementedError``. Small models given the stub
    in a fence write it back unchanged."""
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    return bool(defs) and all(_is_placeholder(statement) for statement in defs[-1].body)


def _is_placeholder(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass) or isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return True
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


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
    for value, _ in json_values(text):
        return Parsed.success(value)
    if not _JSON_START.search(text):
        return Parsed.failure("the reply contains no JSON object or array")
    return Parsed.failure("the reply's JSON could not be read, even after repair")


def json_values(text: str) -> Iterator[tuple[Any, bool]]:
    """Every JSON value in a reply, in :func:`extract_json`'s order, each with whether it is the
    whole reply or a fenced block (``True``) rather than a span found inside prose (``False``)."""
    seen: set[str] = set()
    candidates = [(text.strip(), True)]
    candidates += [(code, True) for tag, code in fenced_blocks(text) if tag in ("json", "")]
    candidates += [(span, False) for span in _balanced_spans(text)]
    for candidate, whole in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        value = _loads_repaired(candidate)
        if value is not _NOTHING:
            yield value, whole


_NOTHING = object()


def _loads_repaired(candidate: str) -> Any:
    candidate = candidate.strip()
    if not candidate:
        return _NOTHING
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
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


# -- strategies --

Strategy = tuple[str, float]
# Fields that hold a strategy's text, most telling first; a name or title is put in front of it.
_TEXT_KEYS = ("strategy", "thought", "hypothesis", "approach", "idea", "plan", "description", "text",
              "content", "step", "solution", "method", "explanation", "details", "summary")
_LABEL_KEYS = ("name", "title", "label", "heading")
_DETAIL_KEYS = ("steps", "substeps", "details", "implementation", "actions")
_CONFIDENCE_KEYS = ("confidence", "probability", "prior", "score", "likelihood", "certainty", "conf", "prob",
                    "p", "weight")
_CONFIDENCE_WORDS = {"very high": 0.9, "high": 0.8, "medium": 0.5, "moderate": 0.5, "low": 0.2, "very low": 0.1}
_CONFIDENCE_NUMBER = re.compile(rf"{_NUMBER}\s*(%|/\s*{_NUMBER}|out\s+of\s+{_NUMBER})?", re.I)
_NUMBERED_KEY = re.compile(r"\d")
_MAX_STRATEGY_CHARS = 2000
_DEPTH = 4


def extract_strategies(text: str) -> Parsed[list[Strategy]]:
    """(text, confidence in [0, 1]) for each strategy in a reply, in order, without duplicates.

    Reads, in order of trust: JSON (the whole reply or a fenced block) — a list of strings, of
    objects with a text-like field (strategy, thought, description, plan, ...) and an optional
    confidence (0.7, "0.7", "70%", 7 of 10, "high"), or an object holding such a list under any key;
    the text fields of JSON cut off mid-reply; numbered or bulleted prose ("1.", "2)", "- ", "Step 3:",
    "### Approach 2"), or a JSON value found inside prose, whichever gives more; and last the reply's
    prose as one strategy when it says something (at least a few words, not a refusal, not code).
    A strategy without a confidence gets the mean of the others' (1.0 when none has one).
    """
    spans: list[list[tuple[str, float | None]]] = []
    for value, whole in json_values(text):
        found = _from_value(value, 0)
        if found and whole:
            return _finish(_with_descriptions(found, list_items(text)))
        if found:
            spans.append(found)
    json_like = text.strip().startswith(("[", "{")) or any(tag == "json" for tag, _ in fenced_blocks(text))
    if json_like:
        salvaged = _salvage_json(text)
        if salvaged:
            return _finish(salvaged)
    listed, lines, first, end = _main_list(text)
    if len(listed) >= 2 and _one_strategy_announced(lines[:first]):
        # "Here's the proposed strategy:" and its steps: one strategy, told in steps
        whole = _clean_item(lines[:end])
        return _finish([(_strip_confidence(whole), _confidence_in(_without_fences(text)))])
    items = [(item, _confidence_in(item)) for item in listed]
    items = [(_strip_confidence(item), c) for item, c in items]
    items = [(item, c) for item, c in items if _has_words(item, 1)]
    in_prose = spans[0] if spans else []
    if len(items) >= 2 or in_prose:
        return _finish(items if len(items) > len(in_prose) else in_prose)
    if not json_like:
        paragraph = _paragraph(text)
        if paragraph:
            return _finish([(_strip_confidence(paragraph), _confidence_in(paragraph))])
    return Parsed.failure(
        'the reply holds no strategies: expected a JSON list like [{"strategy": "...", "confidence": 0.7}, ...]'
    )


_SINGULAR = re.compile(r"\b(?:the|this|my|our|one|a|following)\s+(?:\w+\s+)?(?:strategy|approach|plan|solution|idea|"
                       r"hypothesis|algorithm)\b", re.I)
_PLURAL = re.compile(r"\b(?:strategies|approaches|plans|solutions|ideas|hypotheses|options|alternatives|ways|"
                     r"algorithms)\b", re.I)


def _one_strategy_announced(intro: list[str]) -> bool:
    """Whether the prose before a list announces one strategy ("Here's the proposed strategy:"), so that
    the list is its steps, and no several."""
    said = [line for line in intro if line.strip()]
    return bool(said) and bool(_SINGULAR.search(said[-1])) and not any(_PLURAL.search(line) for line in said)


def _with_descriptions(found: list[tuple[str, float | None]], items: list[str]) -> list[tuple[str, float | None]]:
    """JSON strategies that are only names ("Hash Map"), with the description the prose before the
    JSON gave under that name ("Hash Map: store each value's index ...")."""
    out = []
    for text, confidence in found:
        key = " ".join(text.lower().split()).rstrip(":.")
        if len(key.split()) <= 6:
            text = next((item for item in items if len(item) > len(text)
                         and " ".join(item.lower().split()).startswith((key + ":", key + " -", key + " —"))), text)
        out.append((text, confidence))
    return out


def read_confidence(value: Any) -> float | None:
    """A confidence in [0, 1] from what a model wrote for it: 0.7, "0.7", "70%", 70 (a percentage),
    7 (of 10), "7/10", "high"; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number) or number < 0:
            return None
        for scale in (1.0, 10.0, 100.0):
            if number <= scale:
                return number / scale
        return None
    if not isinstance(value, str):
        return None
    cleaned = value.strip().strip("*_`'\" ").lower()
    match = _CONFIDENCE_NUMBER.search(cleaned)
    if match:
        number = float(match.group(1))
        suffix = match.group(2) or ""
        if suffix == "%":
            return number / 100 if 0 <= number <= 100 else None
        denominator = match.group(3) or match.group(4)
        if denominator:
            return number / float(denominator) if 0 <= number <= float(denominator) and float(denominator) > 0 else None
        return read_confidence(number)
    words = re.sub(r"[^a-z ]", " ", cleaned).split()
    for size in (2, 1):
        for i in range(len(words) - size + 1):
            phrase = " ".join(words[i:i + size])
            if phrase in _CONFIDENCE_WORDS:
                return _CONFIDENCE_WORDS[phrase]
    return None


def _finish(found: list[tuple[str, float | None]]) -> Parsed[list[Strategy]]:
    known = [c for _, c in found if c is not None]
    default = sum(known) / len(known) if known else 1.0
    out, seen = [], set()
    for text, confidence in found:
        text = _shorten(text.strip())
        key = " ".join(text.lower().split())
        if text and key not in seen:
            seen.add(key)
            out.append((text, default if confidence is None else min(1.0, max(0.0, confidence))))
    return Parsed.success(out) if out else Parsed.failure("the reply holds no strategies")


def _shorten(text: str) -> str:
    if len(text) <= _MAX_STRATEGY_CHARS:
        return text
    cut = text[:_MAX_STRATEGY_CHARS]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def _norm_key(key: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


# ---- strategies from JSON


def _from_value(value: Any, depth: int) -> list[tuple[str, float | None]]:
    if isinstance(value, list):
        return _from_list(value, depth)
    if not isinstance(value, dict) or depth > _DEPTH:
        return []
    single = _item_from_dict(value)
    keys = {_norm_key(k) for k in value}
    if single is not None and any(k in keys for k in _CONFIDENCE_KEYS) and any(k in keys for k in _TEXT_KEYS):
        return [single]  # one strategy object: its lists (steps, ...) are its details
    options: list[list[tuple[str, float | None]]] = []
    for key, inner in value.items():
        if isinstance(inner, list):
            found = _from_list(inner, depth + 1)
            confidences = _parallel_confidences(value, key, len(found))
            if confidences:
                found = [(text, c) for (text, _), c in zip(found, confidences)]
            options.append(found)
        elif isinstance(inner, dict):
            options.append(_from_value(inner, depth + 1))
    # {"strategy_1": {...}, "strategy_2": "..."}: the object's values are the strategies
    members = []
    for key, inner in value.items():
        if isinstance(inner, dict):
            item = _item_from_dict(inner)
            if item is not None:
                members.append(item)
        elif isinstance(inner, str) and inner.strip() and _NUMBERED_KEY.search(str(key)):
            members.append((inner.strip(), None))
    options.append(members)
    # {"Use a hash map": 0.8, "Sort first": "60%"}: strategies as keys, confidences as values
    if value and all(_has_words(str(k), 2) and read_confidence(v) is not None for k, v in value.items()):
        options.append([(str(k).strip(), read_confidence(v)) for k, v in value.items()])
    best = max(options, key=len, default=[])
    if best:
        return best
    return [single] if single is not None else []


def _from_list(items: list, depth: int) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for item in items:
        if isinstance(item, str):
            if _has_words(item, 1):
                out.append((_strip_confidence(item.strip()), _confidence_in(item)))
        elif isinstance(item, dict):
            found = _item_from_dict(item)
            if found is not None:
                out.append(found)
            elif depth < _DEPTH:
                out.extend(_from_value(item, depth + 1))
        elif isinstance(item, list) and item and isinstance(item[0], str) and _has_words(item[0], 1):
            # ["Use a hash map", 0.8]
            confidence = read_confidence(item[1]) if len(item) == 2 else None
            if len(item) == 2 and confidence is not None:
                out.append((item[0].strip(), confidence))
            elif all(isinstance(x, str) for x in item):
                out.extend((x.strip(), None) for x in item if _has_words(x, 1))
    return out


def _item_from_dict(item: dict) -> tuple[str, float | None] | None:
    fields = {_norm_key(k): v for k, v in item.items()}

    def text_of(key: str) -> str:
        v = fields.get(key)
        return v.strip() if isinstance(v, str) else ""

    main = next((text_of(k) for k in _TEXT_KEYS if text_of(k)), "")
    if not main:  # "strategy_description", "approach_text"
        main = next((v.strip() for k, v in fields.items()
                     if isinstance(v, str) and v.strip() and any(word in k for word in _TEXT_KEYS)), "")
    label = next((text_of(k) for k in _LABEL_KEYS if text_of(k)), "")
    if main and label and label.lower() not in main.lower():
        main = f"{label.rstrip(':.')}: {main}"
    main = main or label
    if not _has_words(main, 1):
        return None
    details = [str(x).strip() for k in _DETAIL_KEYS if isinstance(fields.get(k), list)
               for x in fields[k] if isinstance(x, (str, int, float)) and str(x).strip()]
    if details:
        main += "\n" + "\n".join(f"- {d}" for d in details)
    confidence = next((read_confidence(fields[k]) for k in _CONFIDENCE_KEYS if k in fields), None)
    if confidence is None:
        confidence = next((read_confidence(v) for k, v in fields.items()
                           if "confidence" in k or "probability" in k), None)
    return main, confidence


def _parallel_confidences(container: dict, list_key: Any, count: int) -> list[float | None] | None:
    """{"strategies": [...], "confidences": [0.7, 0.3]}: a list of confidences beside the list."""
    for key, inner in container.items():
        if key == list_key or not isinstance(inner, list) or len(inner) != count or not count:
            continue
        if any(word in _norm_key(key) for word in _CONFIDENCE_KEYS if len(word) > 2):
            confidences = [read_confidence(x) for x in inner]
            if all(c is not None for c in confidences):
                return confidences
    return None


_QUOTED = r'"(?P<value>(?:\\.|[^"\\])*)"'
_SALVAGE_TEXT = re.compile(
    r"[\"'](?P<key>[\w ]{0,30}?(?:" + "|".join(_TEXT_KEYS) + r")[\w ]{0,30})[\"']\s*:\s*" + _QUOTED, re.I)
_SALVAGE_CONFIDENCE = re.compile(
    r"[\"'](?:" + "|".join(_CONFIDENCE_KEYS) + r")[\"']\s*:\s*[\"']?([^,}\]\"'\n]+)", re.I
)
_SALVAGE_STRING = re.compile(r'"((?:\\.|[^"\\]){12,})"\s*(?=[,\]])')


def _salvage_json(text: str) -> list[tuple[str, float | None]]:
    """The strategies in JSON that does not parse (cut off, or broken): each complete quoted value of
    a text-like field, with the confidence written after it; or the complete strings of a list."""
    matches = list(_SALVAGE_TEXT.finditer(text))
    out: list[tuple[str, float | None]] = []
    for i, match in enumerate(matches):
        value = _unquote(match.group("value"))
        if not _has_words(value, 1):
            continue
        stop = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        confidence = _SALVAGE_CONFIDENCE.search(text, match.end(), stop)
        out.append((value, read_confidence(confidence.group(1)) if confidence else None))
    if out:
        return out
    return [(_unquote(s), None) for s in _SALVAGE_STRING.findall(text) if _has_words(_unquote(s), 3)]


def _unquote(value: str) -> str:
    try:
        return json.loads(f'"{value}"').strip()
    except ValueError:
        return value.strip()


# ---- strategies from prose

# Each run of spaces follows something that is not a space: no pattern backtracks over long blank runs.
_EM = r"(?:\*\*|__|\*|_)"  # emphasis around a marker
_LABEL_WORDS = (r"step|strategy|approach|option|idea|plan|hypothesis|method|solution|thought|alternative|"
                r"technique|fix|cause")
_MINOR_LABELS = {"step", "plan", "thought", "fix", "cause"}  # strategy-like labels come first
_MARKERS = {
    # "Step 1:", "**Strategy 2 - Sorting**", "### Approach 3: ...", "Option A)"
    "labelled": re.compile(
        rf"^(?P<indent>[ \t]*)(?:#{{1,6}}[ \t]*)?(?:{_EM}[ \t]*)?(?P<label>{_LABEL_WORDS})[ \t]*(?:#[ \t]*)?"
        rf"(?P<number>\d{{1,2}}|[A-Ha-h])\b[ \t]*(?:{_EM}[ \t]*)?(?:[:.)\-–—]|$)(?:[ \t]*{_EM})?[ \t]*",
        re.I,
    ),
    # "1.", "2)", "(3)", "**1.**", "### 1. Hash map"
    "numbered": re.compile(
        rf"^(?P<indent>[ \t]*)(?:#{{1,6}}[ \t]*)?(?:{_EM}[ \t]*)?\(?(?P<number>\d{{1,2}})[.):](?!\d){_EM}?(?:[ \t]+|$)"
    ),
    # "- ", "* ", "• ", "+ "
    "bulleted": re.compile(r"^(?P<indent>[ \t]*)[-*•+–][ \t]+(?=\S)"),
}
_REFUSAL = re.compile(r"^\W*(?:i'?m sorry|i am sorry|sorry|i cannot|i can'?t|as an ai)\b", re.I)
_CONFIDENCE_MENTION = re.compile(
    rf"(?:[\(\[][ \t]*)?{_EM}?(?:confidence|probability|likelihood|certainty|prior)(?:[ \t]+(?:level|score))?{_EM}?"
    rf"[ \t]*(?:(?:[:=\-–—]|is|of)[ \t]*)?(?:\n[ \t]*)?(?:{_EM}[ \t]*)?"
    rf"(?P<value>{_NUMBER}(?:[ \t]*%|[ \t]*/[ \t]*\d+(?:\.\d+)?)?|(?:very[ \t]+)?(?:high|medium|moderate|low))\b%?"
    rf"(?:[ \t]*{_EM})?(?:[ \t]*[\)\]])?[.,;]?",
    re.I,
)


def list_items(text: str) -> list[str]:
    """The items of the main list in prose, each with the lines that continue it (sub-points included),
    emphasis marks taken off. The main list is the outermost one — labelled items ("Strategy 2:") before
    numbered ones before bullets at the same indentation; of labels, strategy-like words before
    "Step" — and of several numbered lists (numbering starting again), the longest. The paragraphs
    after the last item are not part of it."""
    return _main_list(text)[0]


def _main_list(text: str) -> tuple[list[str], list[str], int, int]:
    """(items, the lines of the reply without fences, the line of the first item, the line after the
    last item's own lines)."""
    lines = _without_fences(text).split("\n")
    kind, indent = None, None
    for name, pattern in _MARKERS.items():  # labelled, numbered, bulleted: the first kind wins ties
        indents = [len(m.group("indent").expandtabs(4)) for line in lines if (m := pattern.match(line))]
        if indents and (indent is None or min(indents) < indent):
            kind, indent = name, min(indents)
    if kind is None:
        return [], lines, 0, 0
    pattern = _MARKERS[kind]
    starts = []  # (line index, marker end, number, label word)
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if m and len(m.group("indent").expandtabs(4)) <= indent + 1:
            starts.append((i, m.end(), m.groupdict().get("number"), (m.groupdict().get("label") or "").lower()))
    if kind == "labelled":  # "Step 1: understand" ... "Strategy 1: ...": the strategies are the list
        labels = {start[3] for start in starts}
        label = min(labels, key=lambda word: (word in _MINOR_LABELS, -sum(s[3] == word for s in starts)))
        starts = [start for start in starts if start[3] == label]
    runs: list[list[tuple[int, int, str | None, str]]] = [[]]
    for start in starts:
        previous = runs[-1][-1][2] if runs[-1] else None
        if kind != "bulleted" and previous is not None and _ordinal(start[2]) <= _ordinal(previous):
            runs.append([])
        runs[-1].append(start)
    run = max(runs, key=len)
    after_run = next((s[0] for s in starts if s[0] > run[-1][0]), len(lines))
    items = []
    end = after_run
    for k, (i, column, _, _) in enumerate(run):
        last = k + 1 == len(run)
        stop = run[k + 1][0] if not last else after_run
        body = [lines[i][column:], *lines[i + 1:stop]]
        if last:
            heading = (kind == "labelled" or _is_heading(lines[i], body[0])) and (
                not body[0].strip() or _is_title(body[0]))
            body = _own_lines(body, heading=heading)
            end = i + len(body)
        items.append(_clean_item(body))
    return [item for item in items if item], lines, run[0][0], end


def _ordinal(number: str | None) -> int:
    if number is None:
        return 0
    return int(number) if number.isdigit() else ord(number.lower()) - ord("a") + 1


def _own_lines(body: list[str], heading: bool) -> list[str]:
    """The lines of a list's last item: up to a blank line followed by a line at the margin that
    continues nothing (the reply's closing remarks). A heading keeps the paragraph right below it."""
    below_heading = heading
    for j in range(1, len(body)):
        line = body[j]
        if not line.strip():
            continue
        if not body[j - 1].strip() and not line[:1].isspace() and not _CONFIDENCE_MENTION.match(line.strip()):
            if not below_heading:
                return body[:j]
        below_heading = False
    return body


def _is_heading(line: str, rest: str) -> bool:
    """A title on a line of its own: a markdown heading, a line all in bold, or one ending in a colon."""
    stripped = line.strip()
    return stripped.startswith("#") or stripped.endswith(":") or bool(re.fullmatch(r"\W*\*\*.*\*\*\W*", stripped)) \
        or not rest.strip()


_FIELD_LABEL = re.compile(r"^(?:[-*•+]\s*)?(?:" + "|".join(_TEXT_KEYS) + r")\s*:\s*", re.I)


def _clean_item(body: list[str]) -> str:
    """An item's lines without emphasis, heading marks and field labels ("- Description: ..."); a
    title on the first line is joined to what follows it ("Hash map: Store each value's index")."""
    lines = []
    for line in body:
        line = re.sub(r"(\*\*|__)", "", line).strip()
        line = re.sub(r"^#{1,6}\s*", "", line)
        if lines:
            line = _FIELD_LABEL.sub("", line)
        if line:
            lines.append(line)
    if not lines:
        return ""
    title = lines[0].rstrip(":").strip()
    if len(lines) > 1 and _is_title(title) and _continues_title(lines[1]):
        lines[0:2] = [f"{title}: {lines[1]}"]
    elif len(lines) == 1:
        lines[0] = title
    return "\n".join(lines).strip()


def _is_title(text: str) -> bool:
    """A few words that are not a sentence: "Hash Map Approach", not "Sort it. (confidence: 0.8)"."""
    bare = _CONFIDENCE_MENTION.sub("", text).strip(" \t*_:")
    return bool(bare) and not bare.endswith((".", "!", "?")) and len(bare.split()) <= 10


def _continues_title(line: str) -> bool:
    return not _MARKERS["bulleted"].match(line) and not _CONFIDENCE_MENTION.match(line)


def _without_fences(text: str) -> str:
    return _FENCE.sub("", text)


def _confidence_in(text: str) -> float | None:
    match = _CONFIDENCE_MENTION.search(text)
    return read_confidence(match.group("value")) if match else None


def _strip_confidence(text: str) -> str:
    """The text without its confidence mentions ("(confidence: 0.8)", "- Confidence: high")."""
    marked = _CONFIDENCE_MENTION.sub("\0", text)
    if marked == text:
        return text.strip()
    lines = []
    for line in marked.split("\n"):
        if "\0" in line:
            line = line.replace("\0", "").rstrip(" \t-–—,;:")
            if not line.strip(" \t-*•+"):
                continue
        lines.append(line)
    return "\n".join(lines).strip() or text.strip()


def _has_words(text: str, count: int) -> bool:
    return len(re.findall(r"[^\W\d_]{2,}", text)) >= count


def _paragraph(text: str) -> str:
    """The reply's prose as one strategy: at least six words, not a refusal, not code."""
    prose = _without_fences(text).strip()
    if not _has_words(prose, 6) or _REFUSAL.match(prose):
        return ""
    try:
        ast.parse(prose)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return _clean_item(prose.split("\n"))
    return ""


def extract_calls(text: str, entry_point: str) -> Parsed[list[list[Any]]]:
    """The literal argument lists of the calls of ``entry_point`` in ``text`` (at most one per line,
    in order, without repeats): ``f(1, [2])`` in code, prose, asserts or doctests alike."""
    found: list[list[Any]] = []
    for line in text.splitlines():
        start = line.find(f"{entry_point}(")
        if start < 0 or (start and (line[start - 1].isalnum() or line[start - 1] in "_.")):
            continue
        args = _call_args(line[start:], entry_point)
        if args is not None and args not in found:
            found.append(args)
    if not found:
        return Parsed.failure(f"no call of {entry_point}(...) with literal arguments, one per line")
    return Parsed.success(found)


def _call_args(text: str, entry_point: str) -> list[Any] | None:
    """The arguments of the call ``text`` starts with, when all are literals."""
    for end in [m.end() for m in re.finditer(r"\)", text)]:
        try:
            tree = compile_quietly(text[:end])
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        statement = tree.body[0] if len(tree.body) == 1 else None
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            call = statement.value
            if not (isinstance(call.func, ast.Name) and call.func.id == entry_point) or call.keywords:
                return None
            args = [literal(a) for a in call.args]
            return None if any(a is NOT_LITERAL for a in args) else args
    return None
