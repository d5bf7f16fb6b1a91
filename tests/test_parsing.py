"""Parsing helpers: code, JSON and scores out of messy replies, failures as values."""

from __future__ import annotations

import pytest

from treesearch.parsing import Parsed, check_code, extract_code, extract_json, extract_score

SOLUTION = "def add(a, b):\n    return a + b"


@pytest.mark.parametrize(
    "reply",
    [
        f"Here you go:\n```python\n{SOLUTION}\n```\nIt adds.",
        f"```py\n{SOLUTION}\n```",
        f"```\n{SOLUTION}\n```",
        SOLUTION,  # plain code
        f"Here is the solution:\n{SOLUTION}\n",  # a line of prose, then plain code
        f"```python\n{SOLUTION}\n```\nUsage:\n```python\nprint(add(1, 2))\n```",  # example block after it
        f"```text\nadd adds\n```\n```python\n{SOLUTION}\n```",
        f"~~~python\n{SOLUTION}\n~~~",
    ],
)
def test_extract_code_finds_the_solution(reply):
    assert extract_code(reply, entry_point="add") == Parsed(ok=True, value=SOLUTION)


def test_extract_code_prefers_the_block_defining_the_entry_point_then_the_longest_then_the_last():
    helper = "def helper():\n    return 0"
    draft = "def add(a, b):\n    return a - b  # wrong"
    reply = f"```python\n{helper}\n```\n```python\n{SOLUTION}\n```\nRevised:\n```python\n{draft}\n```"
    assert extract_code(reply, entry_point="add").value == draft
    assert extract_code(f"```python\n{SOLUTION}\n```\n```python\n{SOLUTION}\n```").value == SOLUTION


def test_a_truncated_block_still_counts_when_it_parses():
    assert extract_code(f"```python\n{SOLUTION}\n", entry_point="add").value == SOLUTION


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", "contains no code"),
        ("```javascript\nfunction add(a, b) { return a + b }\n```", "no Python code block: the reply has blocks tagged javascript"),
        ("```python\ndef add(a, b):\n    return (a +\n", "does not parse"),
        ("```python\ndef plus(a, b):\n    return a + b\n```", "does not define the function 'add'"),
        ("I cannot solve this.", "does not parse"),
    ],
)
def test_extract_code_failures_are_values(reply, error):
    parsed = extract_code(reply, entry_point="add")
    assert not parsed.ok and parsed.value is None and error in parsed.error


def test_check_code_accepts_classes_and_assignments_as_entry_points():
    assert check_code("class Solution:\n    pass", "Solution").ok
    assert check_code("add = lambda a, b: a + b", "add").ok
    assert check_code("x = 1\0", None).error.startswith("the code does not parse")


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"thoughts": ["a", "b"], "prior": 0.5}', {"thoughts": ["a", "b"], "prior": 0.5}),
        ('Sure!\n```json\n{"a": [1, 2,], "b": true,}\n```', {"a": [1, 2], "b": True}),
        ("Result: {'plan': 'sort first', 'ok': null} -- done", {"plan": "sort first", "ok": None}),
        ('The answer is [1, 2, 3]. Any questions?', [1, 2, 3]),
        ('noise {"text": "a } inside", "n": 1} tail', {"text": "a } inside", "n": 1}),
        ('{"wrong": "true stays a string", "flag": false}', {"wrong": "true stays a string", "flag": False}),
    ],
)
def test_extract_json_repairs_common_damage(reply, value):
    assert extract_json(reply) == Parsed(ok=True, value=value)


@pytest.mark.parametrize(
    ("reply", "error"),
    [("no json here", "contains no JSON"), ('{"a": ', "could not be read"), ("{'a': os.system('x')}", "could not be read")],
)
def test_extract_json_failures_are_values(reply, error):
    parsed = extract_json(reply)
    assert not parsed.ok and error in parsed.error


@pytest.mark.parametrize(
    ("reply", "scale", "score"),
    [
        ("Score: 7/10", None, 0.7),
        ("**Score**: 8 out of 10", None, 0.8),
        ("The code is fine.\nRating: 4 (out of 5)", None, 0.8),
        ("score of 80%", None, 0.8),
        ("Mostly right. 3/4", None, 0.75),
        ("8 out of 10", None, 0.8),
        ("0.8", None, 0.8),
        ("8", 10, 0.8),
        ("Score: 9", 10, 0.9),
        ("2/10 at first, but after the fix, Score: 9/10", None, 0.9),
    ],
)
def test_extract_score_normalises_to_the_unit_interval(reply, scale, score):
    parsed = extract_score(reply, scale=scale)
    assert parsed.ok and parsed.value == pytest.approx(score)


@pytest.mark.parametrize(
    ("reply", "scale", "error"),
    [
        ("The code looks wrong.", 10, "contains no score"),
        ("8", None, "outside [0, 1]"),
        ("Score: 12/10", None, "outside [0, 10]"),
        ("There are 3 bugs in it", 10, "contains no score"),
    ],
)
def test_extract_score_failures_are_values(reply, scale, error):
    parsed = extract_score(reply, scale=scale)
    assert not parsed.ok and error in parsed.error
