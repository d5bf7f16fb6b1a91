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
        box = Sandbox(trusted_code=True)  # reference solutions and edits of them
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
# Each is a list of (old, new) text edits to the problem's reference, each `old` occurring exactly
# once, or a full program where it is no small edit of the reference.
WRONG_PROGRAMS = {
    "balanced_brackets": {
        "true_once_the_stack_empties": [
            ("stack.pop()\n", "stack.pop()\n            if not stack:\n                return True\n"),
        ],
    },
    "edit_distance": {
        "rows_from_zero": [("range(1, len(a) + 1)", "range(0, len(a) + 1)")],
        # a different algorithm (the full table), so written out whole
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
        "best_of_the_next_index": [("best[i] = best[j] + 1", "best[i] = best[j + 1] + 1")],
    },
    "merge_intervals": {
        "compares_with_merged[-0]": [("start <= merged[-1][1]", "start <= merged[-0][1]")],
        "extends_merged[-0]": [("merged[-1][1] = max", "merged[-0][1] = max")],
        "max_with_merged[-0]": [("max(merged[-1][1]", "max(merged[-0][1]")],
    },
    "roman_numerals": {
        "no_D": [('(500, "D"), ', "")],
        "no_C": [('(100, "C"), ', "")],
    },
    "spiral_order": {
        "left_column_every_other_row": [("range(bottom - 1, top, -1)", "range(bottom - 1, top, -2)")],
    },
    "word_frequency": {
        "text_is_the_second_line_only": [('split("\\n", 1)', 'split("\\n", 2)')],
        "needs_a_newline_after_k": [("len(lines) > 1", "len(lines) >= 1")],
        "digits_and_underscores_in_words": [('r"[a-z\']+"', 'r"[\\w\']+"')],
        "strips_apostrophes": [
            (
                "    counts[word] = ",
                "    word = word.strip(\"'\")\n    if word:\n        counts[word] = ",
            ),
        ],
    },
}


def wrong_program(problem: CodeProblem, name: str) -> str:
    """WRONG_PROGRAMS[stem][name] as source: the problem's reference with its edits applied, each of which
    must match exactly once (so none can silently stop applying), or the full program written out."""
    spec = WRONG_PROGRAMS[Path(problem.id).name][name]
    if isinstance(spec, str):
        code = spec.lstrip()
    else:
        code = problem.reference
        for old, new in spec:
            assert code.count(old) == 1, f"{name}: {old!r} occurs {code.count(old)} times, not once"
            code = code.replace(old, new)
    assert code != problem.reference, name
    return code


@pytest.mark.parametrize("stem", sorted(WRONG_PROGRAMS))
def test_hidden_tests_reject_known_wrong_programs(stem, sandbox):
    """The judge fails each wrong program (all are wrong on valid inputs) and passes the reference."""
    import asyncio

    from treesearch.judgement import judge

    p = CodeProblem.from_file(PROBLEM_FILES[0].parent / f"{stem}.json")
    assert asyncio.run(judge(p, p.reference, sandbox)).passed_base
    for name in WRONG_PROGRAMS[stem]:
        assert asyncio.run(judge(p, wrong_program(p, name), sandbox)).passed_base is False, name
