"""The sandbox on real benchmark data: every HumanEval canonical solution passes its official tests,
a wrong solution fails with feedback that names the failing input, and MBPP's reference solutions
pass their assert lists (which call the function by name).

Data: $TREESEARCH_DATA, else <repo>/../shared/data; the tests skip, saying where they looked, without it."""

from __future__ import annotations

import ast
import asyncio
import gzip
import json
import os
from pathlib import Path

import pytest

from treesearch.sandbox import Sandbox, render_feedback, split_test_code

DATA = Path(os.environ.get("TREESEARCH_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
HUMANEVAL = DATA / "HumanEval.jsonl.gz"
MBPP = DATA / "sanitized-mbpp.json"
MBPP_SLOW = {123}  # a quadratic reference solution that takes seconds on a busy 2-core machine


def needs(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not found (set TREESEARCH_DATA to the data dir)")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box


def run_all(sandbox: Sandbox, jobs: list[tuple[str, list, str]]):
    async def main():
        return await asyncio.gather(*[sandbox.run(code, "function", tests, entry) for code, tests, entry in jobs])

    return asyncio.run(main())


@pytest.fixture(scope="module")
def humaneval():
    with gzip.open(HUMANEVAL, "rt") as f:
        return [json.loads(line) for line in f]


@needs(HUMANEVAL)
def test_every_humaneval_canonical_solution_passes_its_official_tests(sandbox, humaneval):
    assert len(humaneval) == 164
    jobs = [(p["prompt"] + p["canonical_solution"], split_test_code(p["test"], p["entry_point"]), p["entry_point"])
            for p in humaneval]
    results = run_all(sandbox, jobs)
    failing = {p["task_id"]: render_feedback(r) for p, r in zip(humaneval, results) if not r.all_passed}
    assert not failing
    outcomes = [o for r in results for o in r.outcomes]
    assert len(outcomes) > 1000  # the checks were split into their asserts
    # Nearly every official assert compares a call with a literal: judged in the parent.
    assert sum(o.judge == "parent" for o in outcomes) / len(outcomes) > 0.9


@needs(HUMANEVAL)
def test_a_wrong_humaneval_solution_fails_with_feedback_naming_the_failing_input(sandbox, humaneval):
    problem = next(p for p in humaneval if p["task_id"] == "HumanEval/53")  # add(x, y)
    wrong = problem["canonical_solution"].replace("x + y", "x - y")
    assert wrong != problem["canonical_solution"]
    result = sandbox.run_sync(problem["prompt"] + wrong, "function", split_test_code(problem["test"], "add"), "add",
                              trace_first_failure=True)
    assert not result.all_passed and result.status == "ok"
    first = next(o for o in result.outcomes if not o.passed)
    assert (first.input, first.expected, first.actual) == ("add(0, 1)", "1", "-1")
    text = render_feedback(result)
    assert "input: add(0, 1)" in text and "expected: 1" in text and "got: -1" in text
    assert "return x - y   -> returns -1" in text  # the trace of the first failure


def mbpp_entry_point(row: dict) -> str:
    defined = {n.name for n in ast.walk(ast.parse(row["code"])) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    called = [n.func.id for test in row["test_list"] for n in ast.walk(ast.parse(test))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return next(name for name in called if name in defined)


@needs(MBPP)
def test_mbpp_reference_solutions_pass_their_asserts(sandbox):
    rows = [r for r in json.loads(MBPP.read_text())[:100] if r["task_id"] not in MBPP_SLOW]
    jobs = []
    for row in rows:
        entry = mbpp_entry_point(row)
        tests = split_test_code("\n".join(row["test_imports"] + row["test_list"]), entry)
        assert len(tests) == len(row["test_list"])
        jobs.append((row["code"], tests, entry))
    results = run_all(sandbox, jobs)
    failing = {r["task_id"]: render_feedback(x) for r, x in zip(rows, results) if not x.all_passed}
    assert not failing
