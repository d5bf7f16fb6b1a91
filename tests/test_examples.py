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
