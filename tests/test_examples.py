"""The example problems: they load, their references pass every test in the sandbox, and their tests
are strong enough to catch a bug."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.mutations import apply, mutation_sites
from treesearch.problems import CodeProblem

PROBLEM_FILES = sorted((Path(__file__).resolve().parents[1] / "examples" / "problems").glob("*.json"))


@pytest.fixture(scope="module")
def sandbox():
    from treesearch.sandbox import Sandbox, SandboxError

    try:
        box = Sandbox()
    except SandboxError as e:
        pytest.skip(f"no working sandbox here: {e}")
    with box:
        yield box


def test_there_are_enough_varied_examples():
    problems = [CodeProblem.from_file(f) for f in PROBLEM_FILES]
    assert len(problems) >= 8
    assert {p.kind for p in problems} == {"function", "stdio"}
    for path, p in zip(PROBLEM_FILES, problems, strict=True):
        assert p.id == f"examples/{path.stem}"
        assert p.visible_tests and p.hidden_tests and p.reference
        assert not set(map(repr, p.visible_tests)) & set(map(repr, p.hidden_tests)), "a test is both visible and hidden"


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_reference_passes_visible_and_hidden_tests(path, sandbox):
    p = CodeProblem.from_file(path)
    for tests in (p.visible_tests, p.hidden_tests):
        result = sandbox.run_sync(p.reference, p.kind, tests, p.entry_point)
        assert result.all_passed, [o for o in result.outcomes if not o.passed]


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_hidden_tests_catch_most_single_bugs(path, sandbox):
    """Most one-mutation variants of the reference fail the hidden tests (a few are harmless)."""
    from treesearch.sandbox import Limits

    p = CodeProblem.from_file(path)
    sample = mutation_sites(p.reference)[::4]
    short = Limits(wall_s=1.0, test_s=0.25)  # a mutated loop may never end
    caught = sum(
        not sandbox.run_sync(apply(p.reference, [m]), p.kind, p.hidden_tests, p.entry_point, limits=short).all_passed
        for m in sample
    )
    assert caught >= 0.6 * len(sample)


# Wrong programs that once passed every hidden test, found by mutating the references
# (policies.mutations) and by hand; the hidden tests added for them must keep rejecting them.
WRONG_PROGRAMS = {
    "balanced_brackets": {
        "true_once_the_stack_empties": '''
def is_balanced(s: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for ch in s:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack[-1] != pairs[ch]:
                return False
            stack.pop()
            if not stack:
                return True
    return len(stack) == 0
''',
    },
    "edit_distance": {
        "rows_from_zero": '''
def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i in range(0, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        previous = current
    return previous[len(b)]
''',
        "transposition_costs_one": '''
def edit_distance(a: str, b: str) -> int:
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]
''',
    },
    "longest_increasing_subsequence": {
        "best_of_the_next_index": '''
def lis_length(nums: list) -> int:
    best = [1] * len(nums)
    for i in range(len(nums)):
        for j in range(i):
            if nums[j] < nums[i] and best[j] + 1 > best[i]:
                best[i] = best[j + 1] + 1
    return max(best) if best else 0
''',
    },
    "merge_intervals": {
        "compares_with_merged[-0]": '''
def merge_intervals(intervals: list) -> list:
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-0][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
''',
        "extends_merged[-0]": '''
def merge_intervals(intervals: list) -> list:
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-0][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
''',
        "max_with_merged[-0]": '''
def merge_intervals(intervals: list) -> list:
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-0][1], end)
        else:
            merged.append([start, end])
    return merged
''',
    },
    "roman_numerals": {
        "no_D": '''
def to_roman(n: int) -> str:
    values = [(1000, "M"), (900, "CM"), (400, "CD"), (100, "C"), (90, "XC"),
              (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in values:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)
''',
        "no_C": '''
def to_roman(n: int) -> str:
    values = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (90, "XC"),
              (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in values:
        while n >= value:
            out.append(symbol)
            n -= value
    return "".join(out)
''',
    },
    "spiral_order": {
        "left_column_every_other_row": '''
def spiral_order(matrix: list) -> list:
    out = []
    if not matrix:
        return out
    top, bottom, left, right = 0, len(matrix) - 1, 0, len(matrix[0]) - 1
    while top <= bottom and left <= right:
        for j in range(left, right + 1):
            out.append(matrix[top][j])
        for i in range(top + 1, bottom + 1):
            out.append(matrix[i][right])
        if top < bottom:
            for j in range(right - 1, left - 1, -1):
                out.append(matrix[bottom][j])
        if left < right:
            for i in range(bottom - 1, top, -2):
                out.append(matrix[i][left])
        top, bottom, left, right = top + 1, bottom - 1, left + 1, right - 1
    return out
''',
    },
    "word_frequency": {
        "text_is_the_second_line_only": '''
import re
import sys

lines = sys.stdin.read().split("\\n", 2)
k = int(lines[0])
text = lines[1] if len(lines) > 1 else ""
counts = {}
for word in re.findall(r"[a-z']+", text.lower()):
    counts[word] = counts.get(word, 0) + 1
ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
for word, count in ranked[:k]:
    print(word, count)
''',
        "needs_a_newline_after_k": '''
import re
import sys

lines = sys.stdin.read().split("\\n", 1)
k = int(lines[0])
text = lines[1] if len(lines) >= 1 else ""
counts = {}
for word in re.findall(r"[a-z']+", text.lower()):
    counts[word] = counts.get(word, 0) + 1
ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
for word, count in ranked[:k]:
    print(word, count)
''',
        "digits_and_underscores_in_words": '''
import re
import sys

lines = sys.stdin.read().split("\\n", 1)
k = int(lines[0])
text = lines[1] if len(lines) > 1 else ""
counts = {}
for word in re.findall(r"[\\w']+", text.lower()):
    counts[word] = counts.get(word, 0) + 1
ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
for word, count in ranked[:k]:
    print(word, count)
''',
        "strips_apostrophes": '''
import re
import sys

lines = sys.stdin.read().split("\\n", 1)
k = int(lines[0])
text = lines[1] if len(lines) > 1 else ""
counts = {}
for word in re.findall(r"[a-z']+", text.lower()):
    word = word.strip("'")
    if word:
        counts[word] = counts.get(word, 0) + 1
ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
for word, count in ranked[:k]:
    print(word, count)
''',
    },
}


@pytest.mark.parametrize("stem", sorted(WRONG_PROGRAMS))
def test_hidden_tests_reject_known_wrong_programs(stem, sandbox):
    """The judge fails each wrong program (all are wrong on valid inputs) and passes the reference."""
    import asyncio

    from treesearch.judge import judge

    p = CodeProblem.from_file(PROBLEM_FILES[0].parent / f"{stem}.json")
    assert asyncio.run(judge(p, p.reference, sandbox)).passed_base
    for name, code in WRONG_PROGRAMS[stem].items():
        assert asyncio.run(judge(p, code.lstrip(), sandbox)).passed_base is False, name
