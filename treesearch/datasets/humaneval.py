"""HumanEval and HumanEval+ as :class:`CodeProblem` lists.

The split between visible and hidden tests follows "Honest evaluation" in DESIGN.md: the visible
tests are the examples in the docstring (:func:`~treesearch.datasets.docstring_tests.docstring_examples`),
what a model is shown anyway. A few docstring examples contradict the canonical solution or are not
calls at all; :data:`HUMANEVAL_BAD_EXAMPLES` lists those, found by running every extracted example
against the canonical solution in the sandbox (``tests/test_datasets.py`` repeats that check). A
problem whose docstring yields no usable example gets the first assert of the official test as its
visible test instead (``metadata["visible_from"]`` says which). The hidden tests are the official
``check`` function, split into one test per assert; ``plus=True`` adds HumanEval+'s extra tests as
``plus_tests``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treesearch.datasets.docstring_tests import docstring_examples
from treesearch.datasets.files import _read_jsonl_gz, data_file
from treesearch.problems import CodeProblem, TestCase, split_test_code

# Docstring examples that contradict the canonical solution (so no correct program can pass them) or
# are not examples of the function at all. Found by running every extracted example against the
# canonical solution in the sandbox; tests/test_datasets.py re-checks that every remaining one passes.
HUMANEVAL_BAD_EXAMPLES: dict[str, str] = {
    "HumanEval/47: [[-10, 4, 6, 1000, 10, 20]] -> 15.0": "the median of that list is 8.0; the docstring is wrong",
    "HumanEval/116: [[1, 5, 2, 3, 4]] -> [1, 2, 3, 4, 5]": "contradicts the task (sort by number of ones)",
    "HumanEval/116: [[-2, -3, -4, -5, -6]] -> [-6, -5, -4, -3, -2]": "contradicts the task (sort by number of ones)",
    "HumanEval/116: assert candidate([1, 0, 2, 3, 4])[0, 1, 2, 3, 4] == None": "a garbled doctest line (no ==)",
    "HumanEval/130: [1] -> 3": "tri(1) = 3 defines the sequence; tri() returns the list of the first n + 1 terms",
    "HumanEval/130: [4] -> 3": "tri(4) = 3 defines the sequence; tri() returns the list of the first n + 1 terms",
    "HumanEval/148: ['Earth', 'Mercury'] -> 'Venus'": "shorthand: bf() returns the tuple ('Venus',)",
}


def load_humaneval(data_dir: str | Path | None = None, plus: bool = False) -> list[CodeProblem]:
    """The 164 HumanEval problems (see the module docstring for the test split); with ``plus``,
    HumanEval+ v0.1.10's tests (base and extra inputs, as evalplus scores "HumanEval+") in
    ``plus_tests`` and evalplus's corrected canonical solution as the reference."""
    tasks = _read_jsonl_gz(data_file("HumanEval.jsonl.gz", data_dir))
    plus_tasks = _humaneval_plus(data_file("HumanEvalPlus-OriginFmt-v0.1.10.jsonl.gz", data_dir)) if plus else {}
    problems = []
    for task in tasks:
        task_id, entry_point = task["task_id"], task["entry_point"]
        hidden = split_test_code(task["test"], entry_point)
        visible = [t for t in docstring_examples(task["prompt"], entry_point) if _example_key(task_id, t) not in HUMANEVAL_BAD_EXAMPLES]
        visible_from = "docstring"
        if not visible:
            visible, visible_from = hidden[:1], "official_test"
        problems.append(CodeProblem(
            id=task_id, kind="function", prompt=task["prompt"], entry_point=entry_point,
            visible_tests=visible, hidden_tests=hidden, plus_tests=plus_tasks[task_id][1] if plus else [],
            reference=plus_tasks[task_id][0] if plus else task["prompt"] + task["canonical_solution"],
            metadata={"dataset": "humaneval+" if plus else "humaneval", "task_id": task_id, "visible_from": visible_from},
        ))
    return problems


def _example_key(task_id: str, test: TestCase) -> str:
    """How :data:`HUMANEVAL_BAD_EXAMPLES` names an example: task id and the example's rendering."""
    return f"{task_id}: {test.code if test.code is not None else f'{test.input!r} -> {test.output!r}'}"


def _humaneval_plus(path: Path) -> dict[str, tuple[str, list[TestCase]]]:
    """task id -> (reference, tests) of HumanEval+, from the OriginFmt file.

    The reference is evalplus's canonical solution: the original HumanEval one fails some of the
    extra tests (``change_base(0, 3)``) or runs out of time on them (a recursive ``fib(63)``). The
    tests come from the tasks' ``check`` functions.

    The file embeds the expected outputs (``results``) for 158 tasks. For 6 (HumanEval/14, 15, 83,
    100, 130, 139) it computes them at test time with ``ref_func``, the canonical solution, whose
    outputs are too large to embed; those tests stay assert-style (``candidate(*x) == ref_func(*x)``),
    so the canonical solution runs in the sandbox, next to the candidate, never in this process.
    HumanEval/32 (find_zero) checks a root, not a value: ``abs(poly(xs, candidate(xs))) <= 1e-4``,
    evalplus's own check (the file's assert passes the arguments to ``_poly`` the wrong way round).
    """
    out = {}
    for task in _read_jsonl_gz(path):
        # The `inputs = [...]` / `results = [...]` lines hold megabytes of literals: read them on
        # their own (JSON first, which is much faster than parsing Python) and parse the rest.
        values, lines = {}, []
        for line in task["test"].splitlines():
            match = _PLUS_DATA_LINE.match(line)
            if match:
                values[match.group(1)] = _data_literal(match.group(2))
                line = f"    {match.group(1)} = None"
            lines.append(line)
        tree = ast.parse("\n".join(lines))
        check = next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "check")
        helpers = "\n".join(
            ast.unparse(s) for s in tree.body
            if s is not check and not (isinstance(s, ast.FunctionDef) and s.name in ("is_floats", "assertion"))
            and not (isinstance(s, ast.Import) and s.names[0].name == "numpy")
        )
        loop = next(s for s in check.body if isinstance(s, ast.For))
        make = _plus_test_maker(loop.body[0], helpers)
        expected = values.get("results", [None] * len(values["inputs"]))
        tests = [make(args, e) for args, e in zip(values["inputs"], expected, strict=True)]
        out[task["task_id"]] = (task["prompt"] + task["canonical_solution"], tests)
    return out


_PLUS_DATA_LINE = re.compile(r"    (inputs|results) = (.*)$")


def _data_literal(text: str) -> Any:
    try:
        return json.loads(text)  # JSON syntax means the same in Python; tuples and 'quotes' fall through
    except ValueError:
        return ast.literal_eval(text)


def _plus_test_maker(statement: ast.stmt, helpers: str) -> Callable[[list[Any], Any], TestCase]:
    """How the loop body ``statement`` of a task's ``check`` turns (arguments, expected) into a test."""
    source = ast.unparse(statement)
    if "ref_func" in source:
        return lambda args, _: TestCase(code=f"{helpers}\nassert candidate(*{args!r}) == ref_func(*{args!r})\n")
    if "_poly" in source:
        return lambda args, _: TestCase(code=f"{helpers}\nassert abs(_poly({args[0]!r}, candidate(*{args!r}))) <= 0.0001\n")
    atol = ast.literal_eval(statement.value.args[2])  # assertion(candidate(*inp), exp, atol)
    if atol:
        # evalplus's np.allclose(out, exp, rtol=1e-07, atol=atol), for the scalar results these have.
        return lambda args, expected: TestCase(
            code=f"assert abs(candidate(*{args!r}) - {expected!r}) <= {atol!r} + 1e-07 * abs({expected!r})\n"
        )
    return lambda args, expected: TestCase(input=list(args), output=expected)
