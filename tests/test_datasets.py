"""Dataset loaders: finding and fetching data files, docstring examples, and the HumanEval, HumanEval+
and MBPP test splits (checked against the reference solutions in the sandbox)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import urllib.error
from pathlib import Path

import pytest

from treesearch.datasets import (
    HUMANEVAL_BAD_EXAMPLES,
    DatasetError,
    docstring_examples,
    fetch_data_file,
    files,
    find_data_file,
    load_humaneval,
    load_mbpp,
)
from treesearch.datasets.humaneval import _example_key
from treesearch.problems import TestCase


def shared_data() -> Path | None:
    for root in (os.environ.get("TREESEARCH_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if root and (Path(root) / "HumanEval.jsonl.gz").is_file():
            return Path(root)
    return None


DATA = shared_data()
needs_data = pytest.mark.skipif(DATA is None, reason="benchmark data not found: set TREESEARCH_DATA")


@pytest.fixture(scope="module")
def humaneval():
    return load_humaneval(DATA)


def sandbox_or_skip():
    from treesearch.sandbox import Sandbox, SandboxError

    try:
        return Sandbox(trusted_code=True)  # reference solutions
    except SandboxError as e:
        pytest.skip(f"no working sandbox here: {e}")


# --------------------------------------------------------------------------------------------------
# Finding and fetching files


def test_find_data_file_looks_in_data_dir_then_env_then_user_dir(tmp_path, monkeypatch):
    given, env, cache = tmp_path / "given", tmp_path / "env", tmp_path / "xdg"
    for d in (given, env, cache / "treesearch" / "data"):
        d.mkdir(parents=True)
        (d / "f.json").write_text("{}")
    monkeypatch.setenv("TREESEARCH_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert find_data_file("f.json", given) == given / "f.json"
    assert find_data_file("f.json") == env / "f.json"
    (env / "f.json").unlink()
    assert find_data_file("f.json") == cache / "treesearch" / "data" / "f.json"


def test_a_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TREESEARCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(DatasetError) as info:
        find_data_file("HumanEval.jsonl.gz")
    message = str(info.value)
    assert "HumanEval.jsonl.gz" in message and str(tmp_path) in message and "TREESEARCH_DATA" in message
    assert "fetch_data_file" in message


class FakeResponse:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def read(self) -> bytes:
        return self.content

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_fetch_checks_the_pinned_hash(tmp_path, monkeypatch):
    content = b"some data"
    monkeypatch.setitem(files.DATA_FILES, "x.json", (hashlib.sha256(content).hexdigest(), "https://example/x.json"))
    monkeypatch.setattr(files.urllib.request, "urlopen", lambda url, timeout: FakeResponse(content))
    path = fetch_data_file("x.json", tmp_path)
    assert path.read_bytes() == content
    monkeypatch.setitem(files.DATA_FILES, "y.json", ("0" * 64, "https://example/y.json"))
    with pytest.raises(DatasetError, match="sha256"):
        fetch_data_file("y.json", tmp_path)
    assert not (tmp_path / "y.json").exists()


def test_fetch_offline_says_so(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(files.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetError, match="offline"):
        fetch_data_file("HumanEval.jsonl.gz", tmp_path)
    with pytest.raises(DatasetError, match="no download known"):
        fetch_data_file("nope.json", tmp_path)


# --------------------------------------------------------------------------------------------------
# Docstring examples


def examples(docstring: str, signature: str = "def f(a, b=0):") -> list[tuple]:
    prompt = f'{signature}\n    """{docstring}\n    """\n'
    return [(t.input, t.output) if t.code is None else t.code for t in docstring_examples(prompt, "f")]


def test_doctest_style():
    assert examples(">>> f(1, 2)\n    3\n    >>> f([1,\n    ... 2])\n    [2, 1]") == [([1, 2], 3), ([[1, 2]], [2, 1])]
    assert examples(">>> f('x') == 'y'") == [(["x"], "y")]  # a claim with no output line
    assert examples(">>> f(1)\n\n    text") == [([1], None)]  # no output line: None, as in doctest
    assert examples(">>> round(f(2), 2)\n    0.5") == ["assert round(candidate(2), 2) == 0.5"]
    assert examples(">>> g(f(2))\n    1") == []  # calls something that is not a builtin


def test_inline_styles():
    doc = ("f(1, 2) == 3\n    f(2, 2) ➞ 4\n    f(3, 3) => true\n    f(0, 1) ==> None\n"
           "    f(4, 4) returns [8]\n    f(5, 5) should return 10.\n    f(6) -> 19 - 5 - 6 = 8\n    f(a) => 1")
    assert examples(doc) == [([1, 2], 3), ([2, 2], 4), ([3, 3], True), ([0, 1], None), ([4, 4], [8]), ([5, 5], 10)]


def test_named_argument_styles():
    doc = ('For a = 1, b = "x", the result should be (1, True)\n'
           "    Input: a = [1, 2], b = 3\n    Output: 6\n"
           "    Input:\n        first : [0]\n        second : 2\n    Output: 0\n    Explanation: ...")
    assert examples(doc, "def f(a, b):") == [([1, "x"], (1, True)), ([[1, 2], 3], 6), ([[0], 2], 0)]


# --------------------------------------------------------------------------------------------------
# HumanEval


@needs_data
def test_humaneval_has_164_problems_each_with_visible_tests(humaneval):
    assert len(humaneval) == 164
    by_source = {"docstring": 0, "official_test": 0}
    for p in humaneval:
        assert p.visible_tests and p.hidden_tests
        assert p.reference.startswith(p.prompt)
        assert p.metadata["dataset"] == "humaneval" and p.metadata["task_id"] == p.id
        by_source[p.metadata["visible_from"]] += 1
    # The counts documented in README.md and reported with the loader.
    assert by_source == {"docstring": 153, "official_test": 11}
    assert sum(len(p.visible_tests) for p in humaneval if p.metadata["visible_from"] == "docstring") == 437


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).replace('"', "'").lower()


@needs_data
def test_visible_tests_reveal_nothing_beyond_the_docstring(humaneval):
    for p in humaneval:
        if p.metadata["visible_from"] == "official_test":
            # The fallback: the first official assert, and only that.
            assert p.visible_tests == p.hidden_tests[:1], p.id
            continue
        # Read from the prompt alone (docstring_examples sees nothing else)...
        assert all(t in docstring_examples(p.prompt, p.entry_point) for t in p.visible_tests), p.id
        # ... and every argument and expected value is written there (an assert-style example's
        # expression too), so a visible test tells a model nothing its prompt does not.
        prompt = _compact(p.prompt)
        for t in p.visible_tests:
            shown = [t.code.split("assert ", 1)[1].split(" == ")[0]] if t.code else [*t.input, t.output]
            for value in shown:
                if value is None or isinstance(value, dict):
                    continue  # no output line (None); a dict literal may repeat a key in the prompt
                text = value.replace("candidate", p.entry_point) if t.code else repr(value)
                assert _compact(text) in prompt or _compact(str(value)) in prompt, (p.id, value)


@needs_data
def test_bad_examples_are_really_in_the_docstrings():
    tasks = {p.id: p for p in load_humaneval(DATA)}
    for key in HUMANEVAL_BAD_EXAMPLES:
        task_id = key.split(":")[0]
        found = docstring_examples(tasks[task_id].prompt, tasks[task_id].entry_point)
        assert key in {_example_key(task_id, t) for t in found}, key


@needs_data
def test_canonical_solutions_pass_their_visible_and_hidden_tests(humaneval):
    with sandbox_or_skip() as sandbox:
        async def check(p):
            visible, hidden = await asyncio.gather(
                sandbox.run(p.reference, p.kind, p.visible_tests, p.entry_point),
                sandbox.run(p.reference, p.kind, p.hidden_tests, p.entry_point),
            )
            return p.id, visible, hidden

        async def all_problems():
            return await asyncio.gather(*(check(p) for p in humaneval))

        for task_id, visible, hidden in asyncio.run(all_problems()):
            assert visible.all_passed, (task_id, [o for o in visible.outcomes if not o.passed])
            assert hidden.all_passed, (task_id, [o for o in hidden.outcomes if not o.passed])


@needs_data
def test_humaneval_plus_tests():
    plus = {p.id: p for p in load_humaneval(DATA, plus=True)}
    assert len(plus) == 164 and all(p.plus_tests for p in plus.values())
    assert all(p.metadata["dataset"] == "humaneval+" for p in plus.values())
    # Base and extra inputs, as evalplus scores HumanEval+.
    assert sum(len(p.plus_tests) for p in plus.values()) == 123981
    first = plus["HumanEval/0"].plus_tests[0]
    assert first == TestCase(input=[[1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3], output=True)
    # Expected outputs not in the file: the canonical solution computes them, in the sandbox.
    assert "ref_func" in plus["HumanEval/130"].plus_tests[0].code
    assert "abs(candidate(*[3.5]) - 0.5) <= 1e-06" in plus["HumanEval/2"].plus_tests[0].code
    # The reference passes each kind of plus test, and a wrong program fails it.
    wrong_ending = {"HumanEval/2": "    return 0.5\n", "HumanEval/32": "    return 0.0\n",
                    "HumanEval/130": "    return [1]\n", "HumanEval/53": "    return x\n"}
    with sandbox_or_skip() as sandbox:
        for task_id, ending in wrong_ending.items():
            p = plus[task_id]
            result = sandbox.run_sync(p.reference, p.kind, p.plus_tests[:50], p.entry_point)
            assert result.all_passed, (task_id, [o for o in result.outcomes if not o.passed][:2])
            wrong = sandbox.run_sync(p.prompt + ending, p.kind, p.plus_tests[:50], p.entry_point)
            assert wrong.status == "ok" and not wrong.all_passed, task_id


# --------------------------------------------------------------------------------------------------
# MBPP


@needs_data
def test_mbpp_loads_427_problems_with_first_assert_visible():
    problems = load_mbpp(DATA)
    assert len(problems) == 427
    for p in problems:
        assert len(p.visible_tests) == 1 and p.visible_tests[0] == p.hidden_tests[0]
        assert len(p.hidden_tests) >= 1
        assert f"def {p.entry_point}(" in p.prompt and p.reference
        assert p.metadata == {"dataset": "mbpp", "task_id": int(p.id.split("/")[1])}
    with sandbox_or_skip() as sandbox:
        for p in problems[::40]:
            result = sandbox.run_sync(p.reference, p.kind, p.hidden_tests, p.entry_point)
            assert result.all_passed, (p.id, result.status, [o for o in result.outcomes if not o.passed])
