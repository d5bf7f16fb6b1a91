"""Judging a final program: a long hidden suite is bounded per test, not by a search run's limits."""

from __future__ import annotations

import asyncio

from treesearch.judgement import judge
from treesearch.problems import CodeProblem, TestCase
from treesearch.sandbox import Sandbox
from treesearch.sandbox.limits import Limits

NAPS = "import time\n\ndef nap(x):\n    time.sleep(0.3 if x else {first})\n    return x\n"


def test_a_long_suite_of_quick_tests_passes_and_a_hanging_test_still_fails():
    tests = [TestCase(input=[i], output=i) for i in range(8)]
    problem = CodeProblem(id="naps", kind="function", prompt="def nap(x): ...", entry_point="nap",
                          visible_tests=tests[:1], hidden_tests=tests, plus_tests=tests)
    limits = Limits(wall_s=1.0, test_s=1.0, cpu_s=1.0)  # the whole suite sleeps 2.1 s, each test 0.3 s
    with Sandbox() as box:
        quick = NAPS.format(first=0.3)
        one_run = box.run_sync(quick, "function", tests, "nap", limits=limits)
        assert not one_run.all_passed  # under the run's own limits the suite runs out of time
        verdict = asyncio.run(judge(problem, quick, box, limits))
        assert verdict.passed_base and verdict.passed_plus

        verdict = asyncio.run(judge(problem, NAPS.format(first=30), box, limits))
        assert verdict.passed_base is False and verdict.passed_plus is False
        assert verdict.base_feedback.outcomes[0].status == "timeout"
