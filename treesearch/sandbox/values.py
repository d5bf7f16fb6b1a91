"""Values that cross the sandbox boundary: decoding the tagged JSON the harness sends, comparing what
the candidate computed with what a test expects, and short renderings for feedback.

Comparison rules (the parent's, whatever the candidate's objects might claim about themselves):

* Numbers compare by value, floats with a tolerance (``rel_tol=1e-9, abs_tol=1e-9``; NaN equals NaN).
  This is slightly more lenient than a literal ``==`` in an assert, on purpose: a float computed in a
  different but equivalent order should pass.
* Lists and tuples: element-wise. With ``strict`` (the expected value came from Python source, as in
  an assert) a list is not a tuple, as in Python; otherwise (it came from JSON, which has no tuples
  and only text keys) either matches, and dict keys compare as JSON would write them (``{1: 2}``
  matches ``{"1": 2}``).
* Dicts: same keys, values compared by these rules. Sets: Python set equality.
* Anything the harness could not send (an :class:`Opaque`) never equals anything.
"""

from __future__ import annotations

import json
import math
import reprlib
from typing import Any

FLOAT_REL_TOL = 1e-9
FLOAT_ABS_TOL = 1e-9
MAX_DEPTH = 200


class ProtocolError(ValueError):
    """What the sandbox sent is not what the harness sends: the run is treated as crashed."""


class Opaque:
    """A value the candidate returned that could not be sent as plain data (a generator, a custom
    object, something larger than the output limit); ``reason`` says what it was."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<not comparable: {self.reason}>"


def decode_value(obj: Any, depth: int = 0) -> Any:
    """The Python value for tagged JSON from the harness; raises ProtocolError on anything malformed."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if isinstance(obj, list):
        return [decode_value(x, depth + 1) for x in obj]
    if not (isinstance(obj, dict) and len(obj) == 1):
        raise ProtocolError(f"malformed value {str(obj)[:80]!r}")
    ((tag, body),) = obj.items()
    try:
        if tag == "$tuple" and isinstance(body, list):
            return tuple(decode_value(x, depth + 1) for x in body)
        if tag in ("$set", "$frozenset") and isinstance(body, list):
            items = [decode_value(x, depth + 1) for x in body]
            return set(items) if tag == "$set" else frozenset(items)
        if tag == "$dict" and isinstance(body, list):
            pairs = [(decode_value(k, depth + 1), decode_value(v, depth + 1)) for k, v in body]
            return dict(pairs)
        if tag == "$bytes" and isinstance(body, str):
            return bytes.fromhex(body)
        if tag == "$int" and isinstance(body, str):
            return int(body, 16)
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$complex" and isinstance(body, list) and len(body) == 2:
            real, imag = (decode_value(x, depth + 1) for x in body)
            if isinstance(real, float) and isinstance(imag, float):
                return complex(real, imag)
        if tag == "$opaque" and isinstance(body, str):
            return Opaque(body[:500])
    except (TypeError, ValueError) as e:  # unhashable set members, bad hex, pairs that are not pairs
        raise ProtocolError(f"malformed {tag} value: {e}") from e
    raise ProtocolError(f"malformed value with tag {tag!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, complex))


def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_ABS_TOL)


def values_equal(actual: Any, expected: Any, strict: bool = True) -> bool:
    """Does the candidate's value match the expected one (see the module docstring for the rules)?"""
    if isinstance(actual, Opaque) or isinstance(expected, Opaque):
        return False
    if _is_number(actual) and _is_number(expected):
        if isinstance(actual, complex) or isinstance(expected, complex):
            a, e = complex(actual), complex(expected)
            return _close(a.real, e.real) and _close(a.imag, e.imag)
        if isinstance(actual, float) or isinstance(expected, float):
            return _close(float(actual), float(expected))
        return actual == expected
    sequences = (list, tuple)
    if isinstance(actual, sequences) and isinstance(expected, sequences):
        if strict and type(actual) is not type(expected):
            return False
        return len(actual) == len(expected) and all(
            values_equal(a, e, strict) for a, e in zip(actual, expected)
        )
    if isinstance(actual, dict) and isinstance(expected, dict):
        if not strict and actual.keys() != expected.keys():
            actual = {_json_key(k): v for k, v in actual.items()}
        return actual.keys() == expected.keys() and all(
            values_equal(actual[k], expected[k], strict) for k in expected
        )
    if type(actual) is not type(expected) and not (
        isinstance(actual, (set, frozenset)) and isinstance(expected, (set, frozenset))
    ):
        return False
    return actual == expected


def _json_key(key: Any) -> Any:
    """A dict key as JSON writes it (json.dumps turns 1 into "1", True into "true")."""
    if isinstance(key, (bool, int, float)) or key is None:
        return json.dumps(key)
    return key


def normalise_output(text: str) -> str:
    """Stdout as judges compare it: trailing whitespace of each line and trailing blank lines ignored."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


class _FeedbackRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        # repr() of an int past Python's 4300-digit conversion limit raises; a candidate may return
        # one, and its feedback must still say what it was.
        if x.bit_length() > 14_000:
            return f"<int of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_repr = _FeedbackRepr()
_repr.maxlevel = 4
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 12
_repr.maxdict = 8
_repr.maxstring = 200
_repr.maxlong = 60
_repr.maxother = 200


def short_repr(value: Any, limit: int = 300) -> str:
    """A repr for feedback: large containers summarised, long text cut, never more than ``limit``."""
    return excerpt(_repr.repr(value), limit)


def excerpt(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut, saying how much was left out."""
    if len(text) <= limit:
        return text
    marker = f"... [{len(text)} characters in all]"
    if limit <= 2 * len(marker):
        return text[:limit]
    return text[: limit - len(marker)] + marker
