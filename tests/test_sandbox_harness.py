"""Splitting assert-style test code into test cases, and planning how each test case runs. No sandbox
is started here: these check the shapes that the sandbox tests then run for real."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from treesearch.problems import TestCase
from treesearch.sandbox import split_test_code, test_fingerprint
from treesearch.sandbox.harness import plan_test

HUMANEVAL_STYLE = textwrap.dedent('''
    METADATA = {'author': 'jt', 'dataset': 'test'}


    def check(candidate):
        import math
        assert candidate([1.0, 2.0], 0.5) == True
        assert True, "This prints if this assert fails 1 (good for debugging!)"
        xs = [3, 4]
        assert candidate(xs, 1) == (3, 4), "message"
        assert abs(candidate([1.5], 0.25) - 0.5) < 1e-6
        assert [] == candidate([], 2)
''')


def test_humaneval_check_splits_into_one_case_per_assert_with_its_setup():
    cases = split_test_code(HUMANEVAL_STYLE, "f")
    assert len(cases) == 4
    literal = cases[0]
    assert literal.input == [[1.0, 2.0], 0.5] and literal.output is True
    assert "METADATA" in literal.code and "import math" in literal.code
    assert "xs = [3, 4]" not in literal.code  # only the statements before its own assert
    assert cases[1].input is None and cases[1].output == (3, 4)  # a non-literal argument
    assert "xs = [3, 4]" in cases[1].code
    assert cases[2].input is None and cases[2].output is None  # a general assert
    assert cases[3].input == [[], 2] and cases[3].output == []  # literal on the left
    for case in cases:
        compile(case.code, "<test>", "exec")
        assert case.code.rstrip().splitlines()[-1].startswith("assert ")


def test_mbpp_asserts_call_the_function_by_name():
    code = "import math\nassert add(1, 2) == 3\nassert set(add([1], [2])) == {1, 2}\nassert math.isclose(add(0.1, 0.2), 0.3)\n"
    cases = split_test_code(code, "add")
    assert [c.input for c in cases] == [[1, 2], None, None]
    assert [c.output for c in cases] == [3, None, None]
    assert all(c.code.startswith("import math") for c in cases)


def test_a_check_parameter_with_another_name_is_bound_to_the_candidate():
    cases = split_test_code("def check(fn):\n    assert fn(2) == 4\n", "double")
    assert len(cases) == 1 and cases[0].input == [2] and cases[0].output == 4
    assert "fn = candidate" in cases[0].code


def test_loops_become_one_case_each_and_keep_their_setup():
    code = textwrap.dedent('''
        def check(candidate):
            import random
            assert candidate(0, 1) == 1
            for i in range(3):
                x = random.randint(0, 9)
                assert candidate(x, i) == x + i
    ''')
    cases = split_test_code(code, "add")
    assert len(cases) == 2
    assert cases[0].output == 1
    assert cases[1].input is None and "for i in range(3)" in cases[1].code and "import random" in cases[1].code


@pytest.mark.parametrize("code", [
    # a later assert uses a name that an earlier test statement bound
    "def check(candidate):\n    for x in range(3):\n        assert candidate(x) >= 0\n    assert candidate(x) == 2\n",
    # flattening would put `return` at module level
    "def check(candidate):\n    if candidate(0) == 0:\n        return\n    assert candidate(1) == 1\n",
])
def test_code_that_cannot_be_split_faithfully_stays_whole(code):
    cases = split_test_code(code, "f")
    assert len(cases) == 1
    assert cases[0].code.rstrip().endswith("check(candidate)")
    assert cases[0].input is None and cases[0].output is None


def test_code_without_asserts_about_the_function_stays_whole():
    cases = split_test_code("assert True\n", "f")
    assert len(cases) == 1 and cases[0].code.strip() == "assert True"


def test_syntax_errors_are_raised():
    with pytest.raises(SyntaxError):
        split_test_code("def check(candidate):\n    assert candidate(1) ==\n", "f")


def test_plans_keep_expected_outputs_out_of_the_sandbox():
    secret = 918273645
    literal = split_test_code(f"assert f(1, [2]) == {secret}\n", "f")[0]
    plans = [
        plan_test(TestCase(input=[1, [2]], output=secret), "function", "f"),
        plan_test(literal, "function", "f"),
        plan_test(TestCase(input="3\n", output=f"{secret}\n"), "stdio", None),
    ]
    assert [p.spec[0] for p in plans] == ["call", "expr", "stdio"]
    for plan in plans:
        assert plan.judge == "parent"
        assert str(secret) not in repr(plan.spec)
        assert str(secret) in plan.expected_text
    assert plans[1].spec[2] == "f(1, [2])"
    assert plans[0].input_text == plans[1].input_text == "f(1, [2])"
    assert plans[1].strict_types and not plans[0].strict_types


def test_general_asserts_are_judged_in_the_sandbox_and_shown_with_the_real_name():
    case = split_test_code("def check(candidate):\n    assert abs(candidate(2) - 1.5) < 1e-6\n", "half")[0]
    plan = plan_test(case, "function", "half")
    assert plan.spec == ("assert", case.code) and plan.judge == "sandbox"
    assert plan.input_text == "assert abs(half(2) - 1.5) < 1e-06" and plan.expected_text is None


@pytest.mark.parametrize("test,kind,entry", [
    (TestCase(input=1, output=2), "function", "f"),  # input must be the argument list
    (TestCase(input=[1], output=2), "function", None),  # no entry point
    (TestCase(input=["x"], output="y"), "stdio", None),  # stdio input must be text
])
def test_malformed_tests_are_rejected(test, kind, entry):
    with pytest.raises(ValueError):
        plan_test(test, kind, entry)


def test_fingerprints_are_stable_across_processes_and_tell_tests_apart():
    test = TestCase(input=[{"b", "a", "c"}, {3: (1, 2)}], output={"x", "y"})
    script = (
        "from treesearch.problems import TestCase\nfrom treesearch.sandbox import test_fingerprint\n"
        "print(test_fingerprint(TestCase(input=[{'b', 'a', 'c'}, {3: (1, 2)}], output={'x', 'y'})))"
    )
    others = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": str(seed)}).stdout.strip()
        for seed in (1, 2, 3)
    }
    assert others == {test_fingerprint(test)}
    assert test_fingerprint(TestCase(input=[1], output=2)) != test_fingerprint(TestCase(input=[1], output=3))
    assert test_fingerprint(TestCase(input=[1], output=2)) != test_fingerprint(TestCase(input=(1,), output=2))
