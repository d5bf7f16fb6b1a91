"""MBPP (sanitized, 427 tasks) as :class:`CodeProblem` lists.

The first assert is visible, all asserts are hidden; the prompt is the task text with the
reference's signature and the visible assert, as in the usual MBPP prompt.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from treesearch.datasets.files import DatasetError, data_file
from treesearch.problems import CodeProblem, split_test_code


def load_mbpp(data_dir: str | Path | None = None) -> list[CodeProblem]:
    """The 427 sanitized MBPP problems: visible = the first assert, hidden = all of them (with the
    task's test imports), reference = the task's code, prompt = the text, the reference's signature and
    the visible assert."""
    path = data_file("sanitized-mbpp.json", data_dir)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"{path}: not a readable JSON file ({e})") from e
    problems = []
    for task in tasks:
        entry_point, signature = _mbpp_function(task["code"], task["test_list"][0])
        setup = "\n".join([*task.get("test_imports", []), task.get("test_setup_code", "")]).strip()
        setup = setup + "\n" if setup else ""
        visible = split_test_code(setup + task["test_list"][0], entry_point)
        hidden = split_test_code(setup + "\n".join(task["test_list"]), entry_point)
        prompt = f'{signature}\n    """{task["prompt"].strip()}\n\n    Your code should pass this test:\n    {task["test_list"][0]}\n    """\n'
        problems.append(CodeProblem(
            id=f"Mbpp/{task['task_id']}", kind="function", prompt=prompt, entry_point=entry_point,
            visible_tests=visible, hidden_tests=hidden, reference=task["code"],
            metadata={"dataset": "mbpp", "task_id": task["task_id"]},
        ))
    return problems


def _mbpp_function(code: str, first_assert: str) -> tuple[str, str]:
    """(entry point, ``def`` line) of the reference function that the first assert calls."""
    defined = {s.name: s for s in ast.parse(code).body if isinstance(s, ast.FunctionDef)}
    called = [n.func.id for n in ast.walk(ast.parse(first_assert)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    name = next((c for c in called if c in defined), None)
    if name is None:
        raise DatasetError(f"MBPP: cannot tell which function the test {first_assert!r} calls")
    header = ast.unparse(ast.FunctionDef(name=name, args=defined[name].args, body=[ast.Pass()], decorator_list=[],
                                          returns=defined[name].returns, type_params=[], lineno=1, col_offset=0))
    return name, header.splitlines()[0]
