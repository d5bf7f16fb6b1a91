"""The sandbox's behaviour on ordinary programs: verdicts, per-test feedback, limits that cut one test
short without costing the others, stdio programs, traces, the feedback text, the call log and the
async pool. Hostile programs are in test_sandbox_hostile.py."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import textwrap
import time

import pytest

from tests.sandbox_backends import available_backends, open_backend
from treesearch.problems import TestCase
from treesearch.sandbox import (
    ExecutionResult,
    Limits,
    Sandbox,
    SandboxError,
    TestOutcome,
    render_feedback,
    split_test_code,
    test_fingerprint,
)
from treesearch.sandbox.backends import marked_processes, probe_backend
from treesearch.sandbox.runner import execute

FAST = Limits(wall_s=8, test_s=1.0, output_bytes=100_000)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(limits=FAST) as box:
        yield box


@pytest.fixture(scope="module", params=available_backends())
def each_backend(request):
    box = open_backend(request.param, FAST)
    yield box
    box.close()


def function_tests(*pairs):
    return [TestCase(input=list(args), output=out) for args, out in pairs]


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# -- verdicts -------------------------------------------------------------------------------------


def test_passing_and_failing_tests_with_values_compared_in_the_parent(each_backend):
    result = each_backend.run_sync(
        code("""
            def add(a, b):
                return a + b if a != 2 else 0
        """),
        "function", function_tests(((1, 2), 3), ((2, 2), 4), ((0.1, 0.2), 0.3)), "add",
    )
    assert result.backend == each_backend.backend
    assert result.status == "ok" and result.launches == 1
    assert [o.status for o in result.outcomes] == ["passed", "failed", "passed"]
    assert (result.passed, result.total, result.all_passed) == (2, 3, False)
    assert result.pass_fraction == pytest.approx(2 / 3)
    failed = result.outcomes[1]
    assert (failed.input, failed.expected, failed.actual, failed.judge) == ("add(2, 2)", "4", "0", "parent")
    json.dumps(result.to_dict())  # JSON-safe, for tree.json


def test_exceptions_report_type_message_and_the_candidates_traceback_lines(sandbox):
    result = sandbox.run_sync(
        code("""
            def helper(xs, i):
                return xs[i]

            def pick(xs, i):
                print("picking", i)
                return helper(xs, i)
        """),
        "function", function_tests((([1, 2], 1), 2), (([1], 5), 0)), "pick",
    )
    ok, bad = result.outcomes
    assert ok.passed and ok.stdout == "picking 1\n"
    assert bad.status == "error" and not bad.passed
    assert (bad.exception_type, bad.exception_message) == ("IndexError", "list index out of range")
    assert bad.traceback == ["line 6, in pick: return helper(xs, i)", "line 2, in helper: return xs[i]"]
    assert bad.stdout == "picking 5\n"


def test_json_tests_accept_tuples_for_lists_but_python_literals_do_not(sandbox):
    program = "def pair(n):\n    return (n, n + 1)\n"
    from_json = sandbox.run_sync(program, "function", function_tests(((1,), [1, 2])), "pair")
    from_asserts = sandbox.run_sync(program, "function", split_test_code("assert pair(1) == [1, 2]\nassert pair(2) == (2, 3)\n", "pair"), "pair")
    assert from_json.all_passed
    assert [o.status for o in from_asserts.outcomes] == ["failed", "passed"]


def test_assert_style_tests_use_the_candidates_helpers_and_report_what_it_returned(sandbox):
    tests = split_test_code(code("""
        def check(candidate):
            assert candidate(4) == 2.0
            assert abs(poly([1, 0], candidate(9)) - 1) < 1e-9
            assert abs(candidate(16) - 5) < 1e-9
    """), "root")
    program = "def poly(cs, x):\n    return cs[0] + cs[1] * x\n\ndef root(x):\n    return x ** 0.5\n"
    result = sandbox.run_sync(program, "function", tests, "root")
    assert [o.status for o in result.outcomes] == ["passed", "passed", "failed"]
    assert [o.judge for o in result.outcomes] == ["parent", "sandbox", "sandbox"]
    assert result.outcomes[2].actual == "4.0" and result.outcomes[2].expected is None
    assert result.outcomes[2].input == "assert abs(root(16) - 5) < 1e-09"


def test_syntax_errors_are_reported_with_the_line_without_starting_a_sandbox(sandbox):
    result = sandbox.run_sync("def f(x):\n    return (x\n", "function", function_tests(((1,), 1)), "f")
    assert result.status == "syntax_error" and result.launches == 0
    assert "line 2" in result.error
    assert [o.status for o in result.outcomes] == ["not_run"]
    assert "does not compile" in render_feedback(result)


def test_a_missing_function_is_a_load_error_that_says_so(sandbox):
    result = sandbox.run_sync("def g(x):\n    return x\n", "function", function_tests(((1,), 1), ((2,), 2)), "f")
    assert result.status == "load_error" and not result.passed
    assert "does not define a function named 'f'" in result.error
    assert all(o.status == "not_run" for o in result.outcomes)
    text = render_feedback(result)
    assert text.startswith("The program failed while loading") and "does not define a function named 'f'" in text


def test_an_exception_while_loading_names_the_line(sandbox):
    result = sandbox.run_sync("import json\nx = json.loads('{')\ndef f():\n    return 1\n", "function",
                              function_tests(((), 1)), "f")
    assert result.status == "load_error"
    assert result.error.startswith("JSONDecodeError") and "line 2, in <module>: x = json.loads('{')" in result.error


def test_unserialisable_results_fail_clearly(sandbox):
    result = sandbox.run_sync("def f(n):\n    return (i for i in range(n))\n", "function",
                              function_tests(((2,), [0, 1])), "f")
    outcome = result.outcomes[0]
    assert outcome.status == "failed" and "generator" in outcome.error and "cannot be compared" in outcome.error


# -- limits cut one test short, not the others ------------------------------------------------------


def test_a_python_loop_times_out_in_its_own_test_and_the_others_still_run(sandbox):
    result = sandbox.run_sync(
        "def f(n):\n    while n == 2:\n        pass\n    return n\n", "function",
        function_tests(((1,), 1), ((2,), 2), ((3,), 3)), "f",
    )
    assert [o.status for o in result.outcomes] == ["passed", "timeout", "passed"]
    assert result.status == "timeout" and result.launches == 1
    assert result.outcomes[1].exception_type == "TimeoutError"
    assert result.outcomes[1].traceback == ["line 2, in f: while n == 2:"]  # where it was stuck


def test_a_hang_in_c_and_a_crash_cost_only_their_own_tests(sandbox):
    program = code("""
        import os

        def f(n):
            if n == 2:
                sum(range(10 ** 15))  # a loop in C that never checks for signals
            if n == 4:
                os._exit(0)
            return n
    """)
    result = sandbox.run_sync(program, "function", function_tests(*[((i,), i) for i in range(1, 6)]), "f",
                              limits=Limits(test_s=0.5, wall_s=8))
    assert [o.status for o in result.outcomes] == ["passed", "timeout", "passed", "crashed", "passed"]
    assert result.launches == 3
    assert "exited (status 0) during this test" in result.outcomes[3].error


def test_tests_not_reached_before_the_wall_limit_fail_as_not_run(sandbox):
    program = "def f(n):\n    sum(range(10 ** 15))\n"
    result = sandbox.run_sync(program, "function", function_tests(*[((i,), i) for i in range(4)]), "f",
                              limits=Limits(test_s=5, wall_s=1))
    assert result.status == "timeout"
    assert [o.status for o in result.outcomes] == ["timeout", "not_run", "not_run", "not_run"]
    assert "wall-time limit" in result.outcomes[0].error and "wall-time limit" in result.outcomes[1].error
    assert "Tests 2-4: not run: the run reached its 1 s wall-time limit." in render_feedback(result)


def test_memory_and_printing_limits_are_per_test(sandbox):
    program = code("""
        def f(n):
            if n == 1:
                return len(bytearray(2 * 1024 ** 3))
            if n == 2:
                while True:
                    print("spam" * 1000)
            return n
    """)
    result = sandbox.run_sync(program, "function", function_tests(((1,), 1), ((2,), 2), ((3,), 3)), "f")
    assert [o.status for o in result.outcomes] == ["memory", "output_limit", "passed"]
    assert result.status == "memory"


# -- stdio programs -------------------------------------------------------------------------------


def stdio_tests(*pairs):
    return [TestCase(input=i, output=o) for i, o in pairs]


def test_stdio_programs_read_stdin_and_are_compared_ignoring_trailing_whitespace(each_backend):
    program = code("""
        import sys
        data = sys.stdin.read().split()
        print(sum(map(int, data)), "  ")
        if data == ["0"]:
            sys.exit(0)
        print()
    """)
    result = each_backend.run_sync(program, "stdio", stdio_tests(("1 2\n3\n", "6\n"), ("0", "0"), ("5", "6")))
    assert [o.status for o in result.outcomes] == ["passed", "passed", "failed"]
    assert result.outcomes[2].actual == "5   \n\n" and result.outcomes[2].expected == "6"


@pytest.mark.parametrize("read", ["open(0).read()", "sys.stdin.buffer.read()", "os.read(0, 100)"])
def test_stdio_programs_can_read_stdin_as_a_file_descriptor(sandbox, read):
    program = f"import os, sys\nn = int({read})\nos.write(1, str(n * 2).encode())\n"
    result = sandbox.run_sync(program, "stdio", stdio_tests(("21", "42")))
    assert result.all_passed


def test_stdio_errors_exits_and_timeouts_are_per_test(sandbox):
    program = code("""
        n = int(input())
        if n == 1:
            raise ValueError("one is not allowed")
        if n == 2:
            raise SystemExit(3)
        while n == 3:
            pass
        print(n)
    """)
    result = sandbox.run_sync(program, "stdio", stdio_tests(("1", "1"), ("2", "2"), ("3", "3"), ("4", "4")))
    statuses = [o.status for o in result.outcomes]
    assert statuses == ["error", "error", "timeout", "passed"]
    raised = result.outcomes[0]
    assert (raised.exception_type, raised.exception_message) == ("ValueError", "one is not allowed")
    assert raised.traceback == ['line 3, in <module>: raise ValueError("one is not allowed")']
    assert "exited with status 3" in result.outcomes[1].error
    assert result.launches == 1


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_puts_failures_first_with_inputs_and_the_trace_of_the_first(sandbox):
    program = code("""
        def total(xs):
            s = 0
            for x in xs:
                s += x * x
            return s
    """)
    tests = function_tests((([1, 2],), 3), (([3],), 9), (([],), 0))
    result = sandbox.run_sync(program, "function", tests, "total", trace_first_failure=True)
    trace = result.outcomes[0].trace
    assert trace[0] == "call total(xs=[1, 2])"
    assert "line 4: s += x * x   # s=1" in trace
    assert trace[-1] == "line 5: return s   -> returns 5"
    assert result.outcomes[1].trace is None and result.launches == 2
    text = render_feedback(result)
    assert text.index("Test 1 (failed)") < text.index("Execution trace") < text.index("Passed: tests 2, 3")
    assert "input: total([1, 2])" in text and "expected: 3" in text and "got: 5" in text


def test_feedback_is_capped_and_counts_what_it_left_out(sandbox):
    tests = function_tests(*[((i,), -i) for i in range(40)])
    result = sandbox.run_sync("def neg(i):\n    return i\n", "function", tests, "neg")
    text = render_feedback(result, max_chars=600)
    assert len(text) <= 600
    assert text.startswith("39 of 40 tests failed.") and "more failing tests" in text


@pytest.mark.parametrize("max_chars", [120, 400, 2000])
def test_feedback_never_exceeds_its_budget(max_chars):
    long = "x" * 5000
    outcomes = [
        TestOutcome(input=long, expected=long, actual=long, passed=False, status="failed", stdout=long, stderr=long,
                    trace=[long] * 50),
        TestOutcome(input="f(1)", expected=None, actual="1", passed=False, status="error",
                    exception_type="ValueError", exception_message=long, traceback=[long] * 10),
        TestOutcome(input="f(2)", expected="2", actual="2", passed=True, status="passed"),
        *[TestOutcome(input="f(3)", expected="3", actual=None, passed=False, status="not_run", error=long)] * 3,
    ]
    result = ExecutionResult(backend="bwrap", status="ok", outcomes=outcomes)
    text = render_feedback(result, max_chars=max_chars)
    assert 0 < len(text) <= max_chars
    assert text.startswith("5 of 6 tests failed")
    failed_to_load = ExecutionResult(backend="bwrap", status="load_error", outcomes=outcomes[:1], error=long, stderr=long)
    assert len(render_feedback(failed_to_load, max_chars=max_chars)) <= max_chars


def test_feedback_shows_exceptions_with_the_candidates_lines(sandbox):
    result = sandbox.run_sync("def f(d):\n    return d['k']\n", "function", function_tests((({},), 1)), "f")
    text = render_feedback(result)
    assert "raised KeyError: 'k'" in text and "line 2, in f: return d['k']" in text


def test_a_stdio_trace_follows_the_program(sandbox):
    result = sandbox.run_sync("n = int(input())\nm = n * 3\nprint(m)\n", "stdio",
                              stdio_tests(("2", "4")), trace_first_failure=True)
    assert "line 2: m = n * 3   # m=6" in result.outcomes[0].trace


# -- environment, call log, concurrency -------------------------------------------------------------


def test_the_program_sees_none_of_the_engines_environment(each_backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-candidates")
    result = each_backend.run_sync("import os\ndef env():\n    return dict(os.environ)\n", "function",
                                   function_tests(((), {})), "env")
    seen = result.outcomes[0].actual
    assert "sk-not-for-candidates" not in seen and "OPENAI" not in seen
    assert "PATH" in seen


def test_the_call_log_records_every_test_that_ran():
    visible, hidden = function_tests(((1,), 1), ((5,), 5)), function_tests(((2,), 2), ((3,), 3))
    with Sandbox(limits=FAST) as box:
        box.run_sync("def f(x):\n    return x\n", "function", visible, "f")
        box.run_sync("def f(x):\n    return -x\n", "function", visible[1:], "f")
    assert [(r.kind, r.n_tests) for r in box.call_log] == [("function", 2), ("function", 1)]
    assert box.call_log[0].fingerprints == tuple(test_fingerprint(t) for t in visible)
    logged = {fp for r in box.call_log for fp in r.fingerprints}
    assert logged == {test_fingerprint(t) for t in visible}
    assert not logged & {test_fingerprint(t) for t in hidden}


def test_concurrent_runs_share_a_bounded_pool_and_all_get_logged():
    async def main(box):
        program = "import time\ndef f(x):\n    time.sleep(0.4)\n    return x\n"
        return await asyncio.gather(*[box.run(program, "function", function_tests(((i,), i)), "f") for i in range(4)])

    with Sandbox(limits=FAST, max_concurrency=2) as box:
        start = time.monotonic()
        results = asyncio.run(main(box))
        elapsed = time.monotonic() - start
        assert all(r.all_passed for r in results)
        assert len(box.call_log) == 4
    assert elapsed >= 0.8  # two at a time: at least two rounds of 0.4 s
    assert not marked_processes()


def test_bad_requests_raise_sandbox_errors(sandbox):
    with pytest.raises(SandboxError):
        Sandbox("docker")
    with pytest.raises(SandboxError):
        sandbox.run_sync("x = 1", "function", [], None)
    with pytest.raises(SandboxError):
        sandbox.run_sync("x = 1", "interactive", [], "f")
    with pytest.raises(SandboxError, match="plain data"):
        sandbox.run_sync("def f(x):\n    return x\n", "function", function_tests(((object(),), 1)), "f")
    with pytest.raises(SandboxError, match="malformed test"):
        sandbox.run_sync("def f(x):\n    return x\n", "function", [TestCase(input=1, output=1)], "f")
    with pytest.raises(ValueError):
        Limits(wall_s=0)


def test_a_sandbox_that_cannot_start_is_an_error_not_a_verdict():
    broken = copy.copy(probe_backend("auto"))
    broken.python = "/nonexistent/python3"  # bubblewrap (or exec) fails before the harness is ready
    with pytest.raises(SandboxError, match="failed to start"):
        execute(broken, "def f(x):\n    return x\n", "function", function_tests(((1,), 1)), "f", FAST, False)


SYSTEM_PYTHON = "/usr/bin/python3.11"


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"no {SYSTEM_PYTHON} here")
def test_candidates_can_run_on_another_build_of_the_same_python():
    with Sandbox(limits=FAST, python=SYSTEM_PYTHON) as box:
        result = box.run_sync("import sys\ndef f():\n    return sys.executable\n", "function",
                              function_tests(((), SYSTEM_PYTHON)), "f")
    assert result.all_passed


def test_another_python_version_is_refused():
    with pytest.raises(SandboxError, match="not the engine's Python version|cannot run"):
        Sandbox(python="/bin/true")


def test_nothing_is_left_running_or_on_disk_after_runs(each_backend):
    before = {p for p in os.listdir("/tmp") if p.startswith("treesearch-sandbox-")}
    program = "import os\ndef f(x):\n    open('scratch', 'w').write('x' * 1000)\n    return sorted(os.listdir('.'))\n"
    result = each_backend.run_sync(program, "function", function_tests(((1,), ["scratch"])), "f")
    assert result.outcomes[0].actual is not None and "scratch" in result.outcomes[0].actual
    assert not marked_processes()
    assert {p for p in os.listdir("/tmp") if p.startswith("treesearch-sandbox-")} <= before


def test_ints_past_the_decimal_conversion_limit_are_judged_and_shown(sandbox):
    """Python refuses to repr ints over 4300 digits; HumanEval+ expects some and candidates return some."""
    code = "def f(n):\n    return 10 ** n\n"
    tests = [TestCase(input=[5000], output=1), TestCase(input=[20000], output=10 ** 20000),
             TestCase(input=[3], output=1000)]
    result = sandbox.run_sync(code, "function", tests, "f")
    assert [o.passed for o in result.outcomes] == [False, True, True]
    assert result.outcomes[0].actual == "<int of about 5001 digits>"
    assert "20001 digits" in result.outcomes[1].expected
    assert render_feedback(result)
