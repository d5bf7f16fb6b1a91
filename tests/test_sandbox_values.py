"""Values across the sandbox boundary: the harness's plain copies and encoding (child side), the
parent's decoding and comparison, and the frame protocol checks. No sandbox is started here."""

from __future__ import annotations

import collections
import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treesearch.sandbox import child
from treesearch.sandbox.process import _check_frame
from treesearch.sandbox.values import Opaque, ProtocolError, decode_value, normalise_output, values_equal


def across(value, limit=1 << 20):
    """What the parent sees when the candidate returns ``value``."""
    copier = child.Copier(limit)
    frame = child.frame_bytes({"v": copier.plain(value)})
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    return decode_value(json.loads(frame[4:])["v"])


def same(a, b) -> bool:
    """Equal with identical types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


hashable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)
plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
    | st.complex_numbers(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.sets(hashable, max_size=4)
    | st.frozensets(hashable, max_size=3) | st.dictionaries(hashable, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(plain)
def test_plain_values_cross_unchanged_with_their_types(value):
    assert same(across(value), value)


AWKWARD = [
    2 ** 100_000, -(3 ** 20_000), float("nan"), float("inf"), -float("inf"), "lone \udc80 surrogate",
    "\x00\x1f\u2028 controls", {(1, 2): {3}, None: b"\xff"}, complex(float("nan"), 1.0), [[[]]], (), set(),
]


@pytest.mark.parametrize("value", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_values_cross_unchanged(value):
    assert same(across(value), value)


def test_subclasses_arrive_as_their_base_type_without_running_their_methods():
    class Colour(enum.IntEnum):
        RED = 3

    class Liar(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    class Loud(list):
        def __iter__(self):
            raise AssertionError("the copy must not call the candidate's __iter__")

    point = collections.namedtuple("Point", "x y")
    assert same(across(Colour.RED), 3)
    assert same(across(Liar(7)), 7) and across(Liar(7)) != 8
    assert same(across(Loud([1, 2])), [1, 2])
    assert same(across(point(1, 2)), (1, 2))
    assert same(across(collections.Counter("aab")), {"a": 2, "b": 1})
    assert same(across(collections.OrderedDict(b=1)), {"b": 1})
    assert same(across(collections.defaultdict(list, k=[1])), {"k": [1]})
    assert same(across(bytearray(b"ab")), b"ab")


def test_what_is_not_plain_data_arrives_as_opaque_with_the_reason():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    nested: list = []
    for _ in range(child.MAX_DEPTH + 5):
        nested = [nested]
    cyclic: list = []
    cyclic.append(cyclic)
    cases = {
        "AlwaysEqual": AlwaysEqual(), "generator": (i for i in range(3)), "nested deeper": nested,
        "nested deeper ": cyclic, "larger than the output limit": list(range(5000)),
    }
    for reason, value in cases.items():
        decoded = across(value, limit=1000)
        found = [decoded]
        while found and not isinstance(found[-1], Opaque):  # the opaque part may be deep inside
            found.append(found[-1][0])
        assert isinstance(found[-1], Opaque), reason
        assert reason.strip() in found[-1].reason
        assert not values_equal(decoded, decoded)


def test_copier_reports_whether_anything_was_opaque():
    copier = child.Copier(100)
    copier.plain([1, (2, 3)])
    assert not copier.opaque
    copier.plain([1, object()])
    assert copier.opaque


@pytest.mark.parametrize("wire", [
    {"$tuple": 3}, {"$set": [[1]]}, {"$dict": [[1]]}, {"$bytes": "zz"}, {"$float": "1.5"}, {"$nope": 1},
    {"a": 1, "b": 2}, {"$complex": [1, 2, 3]}, {"$int": "xyz"},
])
def test_malformed_values_are_protocol_errors(wire):
    with pytest.raises(ProtocolError):
        decode_value(wire)


def test_deeply_nested_wire_values_are_protocol_errors():
    wire: object = 1
    for _ in range(1000):
        wire = [wire]
    with pytest.raises(ProtocolError):
        decode_value(wire)


def test_comparison_rules():
    assert values_equal(0.1 + 0.2, 0.3)
    assert not values_equal(0.3001, 0.3)
    assert values_equal(float("nan"), float("nan"))
    assert values_equal(5.0, 5) and values_equal(True, 1)
    assert not values_equal("1", 1) and not values_equal(None, 0) and not values_equal(b"a", "a")
    assert not values_equal([1, 2], (1, 2), strict=True)
    assert values_equal((1, 2), [1, 2], strict=False)
    assert values_equal({"a": [1.0, (2,)]}, {"a": [1, (2,)]})
    assert values_equal({1: 2, None: 3}, {"1": 2, "null": 3}, strict=False)  # JSON has only text keys
    assert not values_equal({1: 2}, {"1": 2}, strict=True)
    assert not values_equal({"a": 1}, {"a": 1, "b": 2})
    assert values_equal({1, 2}, frozenset({2, 1}))
    assert values_equal(complex(1, 1e-12), 1)
    assert not values_equal(Opaque("x"), Opaque("x"))


def test_output_normalisation_ignores_trailing_whitespace_only():
    assert normalise_output("1 2  \r\n3\n\n\n") == normalise_output("1 2\n3")
    assert normalise_output("1  2") != normalise_output("1 2")
    assert normalise_output("\n1") != normalise_output("1")


def frame(t, **fields):
    return {"t": t, **fields}


def test_frames_must_arrive_in_protocol_order():
    loaded, t0, t1, done = frame("loaded"), frame("test", i=0), frame("test", i=1), frame("done")
    assert _check_frame(loaded, [], 0, 2) is loaded
    assert _check_frame(t0, [loaded], 0, 2) is t0
    bad = [
        (t0, [], 0),  # a result before loading
        (t1, [loaded], 0),  # out of order
        (t0, [loaded, t0], 1),  # the same test twice
        (done, [loaded, t0], 1),  # done before all tests
        (loaded, [loaded], 0),
        (frame("test", i=2), [loaded, t0, t1], 2),  # more tests than were sent
        ({"t": "nonsense"}, [loaded], 0),
        (["not", "a", "dict"], [loaded], 0),
        (t0, [loaded, t0, t1, done], 2),  # anything after done
    ]
    for candidate, earlier, seen in bad:
        with pytest.raises(ProtocolError):
            _check_frame(candidate, earlier, seen, 2)
