"""Small real git repositories with a bug, an issue and tests, as SWE-bench instances.

:func:`build_instance` commits a repository's base files, derives the gold ``patch`` (the fix) and
the ``test_patch`` (the tests that fail before the fix) with ``git diff``, and returns the instance
dict, FAIL_TO_PASS / PASS_TO_PASS as JSON strings like the published datasets. The specs:

* :data:`CALC` (pytest-style tests): ``mean([])`` raises ZeroDivisionError instead of returning 0.0;
  a one-hunk fix in one function; existing tests of the same module pass before and after.
* :data:`WORDS` (unittest-style tests, ids like ``test_x (tests.test_words.TestWords)``): two
  functions split on single spaces; the fix is two hunks in two functions.
* :data:`GREET` (a src layout, installed to be imported: its tests do not put ``src/`` on the path):
  ``greeting()`` ignores its punctuation; the new tests are parametrised with spaces in their ids,
  so FAIL_TO_PASS lists them cut at the first space, as SWE-bench's data does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RepoSpec:
    repo: str
    base: dict[str, str]
    fixed: dict[str, str]
    tests: dict[str, str]  # test files as the test patch leaves them
    issue: str
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    hints: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


CALC_CORE = '''"""Small numeric helpers."""


def divide(a, b):
    """a divided by b."""
    return a / b


def total(values):
    """The sum of values."""
    result = 0
    for value in values:
        result += value
    return result


def mean(values):
    """The arithmetic mean of values."""
    count = len(values)
    return total(values) / count
'''

CALC = RepoSpec(
    repo="acme/calc",
    base={
        "README.md": "# calc\n",
        "calc/__init__.py": "",
        "calc/core.py": CALC_CORE,
        "tests/__init__.py": "",
        "tests/test_core.py": (
            "from calc.core import divide, mean, total\n\n\n"
            "def test_divide():\n    assert divide(6, 3) == 2\n\n\n"
            "def test_total():\n    assert total([1, 2, 3]) == 6\n\n\n"
            "def test_mean():\n    assert mean([1, 2, 3]) == 2\n    assert mean([4]) == 4\n"
        ),
    },
    fixed={"calc/core.py": CALC_CORE.replace(
        "    count = len(values)\n    return total(values) / count\n",
        "    count = len(values)\n    if count == 0:\n        return 0.0\n    return total(values) / count\n")},
    tests={"tests/test_core.py": (
        "from calc.core import divide, mean, total\n\n\n"
        "def test_divide():\n    assert divide(6, 3) == 2\n\n\n"
        "def test_total():\n    assert total([1, 2, 3]) == 6\n\n\n"
        "def test_mean():\n    assert mean([1, 2, 3]) == 2\n    assert mean([4]) == 4\n\n\n"
        "def test_mean_of_nothing():\n    assert mean([]) == 0.0\n"
    )},
    issue=("mean() of an empty list crashes\n\n`calc.core.mean([])` raises `ZeroDivisionError: division by zero`. "
           "The mean of no values should be 0.0, as in our other helpers.\n"),
    fail_to_pass=["tests/test_core.py::test_mean_of_nothing"],
    pass_to_pass=["tests/test_core.py::test_divide", "tests/test_core.py::test_total", "tests/test_core.py::test_mean"],
)

WORDS_MODULE = '''"""Word helpers."""


def count_words(text):
    """How many words text holds."""
    return len(text.split(" "))


def first_word(text):
    """The first word of text."""
    words = text.strip().split()
    if not words:
        return ""
    return words[0]


def longest_word(text):
    """The longest word of text."""
    best = ""
    for word in text.split():
        if len(word) > len(best):
            best = word
    return best


def capitalize_words(text):
    """text with every word capitalized, words joined by one space."""
    return " ".join(word.capitalize() for word in text.split(" "))
'''

WORDS_TESTS = (
    "import unittest\n\n"
    "from textutil.words import capitalize_words, count_words, first_word\n\n\n"
    "class TestWords(unittest.TestCase):\n"
    "    def test_count(self):\n        self.assertEqual(count_words('a b c'), 3)\n\n"
    "    def test_first(self):\n        self.assertEqual(first_word(' hello world'), 'hello')\n\n"
    "    def test_capitalize(self):\n        self.assertEqual(capitalize_words('ab cd'), 'Ab Cd')\n"
)

WORDS = RepoSpec(
    repo="acme/textutil",
    base={"textutil/__init__.py": "", "textutil/words.py": WORDS_MODULE, "tests/__init__.py": "",
          "tests/test_words.py": WORDS_TESTS},
    fixed={"textutil/words.py": WORDS_MODULE.replace('text.split(" ")', "text.split()")},
    tests={"tests/test_words.py": WORDS_TESTS + (
        "\n    def test_count_repeated_spaces(self):\n        self.assertEqual(count_words('a  b'), 2)\n\n"
        "    def test_capitalize_repeated_spaces(self):\n        self.assertEqual(capitalize_words('ab   cd'), 'Ab Cd')\n"
    )},
    issue=("Repeated spaces count as words\n\n`count_words('a  b')` returns 3 and `capitalize_words('ab   cd')` "
           "returns 'Ab   Cd'. Runs of whitespace should separate words like a single space.\n"),
    fail_to_pass=["test_count_repeated_spaces (tests.test_words.TestWords)",
                  "test_capitalize_repeated_spaces (tests.test_words.TestWords)"],
    pass_to_pass=["test_count (tests.test_words.TestWords)", "test_first (tests.test_words.TestWords)",
                  "test_capitalize (tests.test_words.TestWords)"],
)

GREET_MODULE = '''"""Greetings."""


def greeting(name, punctuation="!"):
    """Hello to name, ending in punctuation."""
    return "Hello " + name + "!"


def farewell(name):
    """Goodbye to name."""
    return "Goodbye " + name
'''

GREET_TESTS = (
    "from greet import farewell, greeting\n\n\n"
    "def test_default():\n    assert greeting('Ann') == 'Hello Ann!'\n\n\n"
    "def test_farewell():\n    assert farewell('Ann') == 'Goodbye Ann'\n"
)

GREET = RepoSpec(
    repo="acme/greet",
    base={
        # pluggy<1: a build requirement that would replace the pluggy pytest needs (>=1.5) in the environment
        "pyproject.toml": ('[build-system]\nrequires = ["setuptools>=61", "pluggy<1"]\n'
                           'build-backend = "setuptools.build_meta"\n\n[project]\nname = "greet"\nversion = "0.1.0"\n\n'
                           '[tool.setuptools.packages.find]\nwhere = ["src"]\n'),
        "src/greet/__init__.py": GREET_MODULE,
        "tests/test_greet.py": GREET_TESTS,
    },
    fixed={"src/greet/__init__.py": GREET_MODULE.replace('name + "!"', "name + punctuation")},
    tests={"tests/test_greet.py": GREET_TESTS.replace("from greet", "import pytest\n\nfrom greet") + (
        "\n\n@pytest.mark.parametrize('name,punctuation,expected', "
        "[('Ann', '?', 'Hello Ann?'), ('Bo Li', '!!', 'Hello Bo Li!!')])\n"
        "def test_punctuation(name, punctuation, expected):\n    assert greeting(name, punctuation) == expected\n\n\n"
        "def test_fetch_greeting():\n    import socket\n\n"
        "    socket.create_connection(('greetings.example.com', 80), timeout=5)\n"
    )},
    issue="greeting() ignores its punctuation\n\n`greeting('Ann', '?')` returns 'Hello Ann!'.\n",
    # As SWE-bench writes them: cut at the first space of the parametrised id.
    fail_to_pass=["tests/test_greet.py::test_punctuation[Ann-?-Hello", "tests/test_greet.py::test_punctuation[Bo"],
    pass_to_pass=["tests/test_greet.py::test_default", "tests/test_greet.py::test_farewell"],
)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def build_instance(repos_dir: Path, spec: RepoSpec, instance_id: str | None = None, layout: str = "flat") -> dict[str, Any]:
    """Create ``spec``'s repository under ``repos_dir`` and return its SWE-bench instance.

    layout: "flat" (``<owner>__<name>``, a working clone) or "mirror" (``<owner>/<name>.git``, a bare
    mirror of it, the working clone kept beside ``repos_dir`` in ``<repos_dir>.work``).
    """
    owner, name = spec.repo.split("/")
    work = repos_dir / f"{owner}__{name}" if layout == "flat" else repos_dir.parent / f"{repos_dir.name}.work" / name
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    git("config", "user.email", "dev@example.com", cwd=work)
    git("config", "user.name", "Dev", cwd=work)
    _write(work, spec.base)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "base", cwd=work)
    base = git("rev-parse", "HEAD", cwd=work).strip()
    patches = []
    for files in (spec.fixed, spec.tests):
        _write(work, files)
        git("add", "-A", cwd=work)
        patches.append(git("diff", "--cached", base, cwd=work))
        git("reset", "-q", "--hard", base, cwd=work)
    if layout == "mirror":
        (repos_dir / owner).mkdir(parents=True, exist_ok=True)
        git("clone", "-q", "--mirror", str(work), str(repos_dir / owner / f"{name}.git"), cwd=repos_dir)
    return {
        "instance_id": instance_id or f"{owner}__{name}-1", "repo": spec.repo, "base_commit": base,
        "problem_statement": spec.issue, "hints_text": spec.hints, "patch": patches[0], "test_patch": patches[1],
        "FAIL_TO_PASS": json.dumps(spec.fail_to_pass), "PASS_TO_PASS": json.dumps(spec.pass_to_pass),
        "version": "0.1", "environment_setup_commit": base, "created_at": "2024-01-01T00:00:00Z", **spec.extra,
    }


def write_instances(path: Path, instances: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(i) for i in instances) + "\n" if path.suffix == ".jsonl"
                    else json.dumps(instances, indent=1))
    return path


def hidden_tests_pass(repos: Path, instance: dict, patch: str | None, tmp: Path) -> bool:
    """Check out the base commit in a fresh clone, ``git apply`` the patch (when given) and the test
    patch, and run every FAIL_TO_PASS and PASS_TO_PASS test, the way the official harness does."""
    clone = tmp / f"clone-{instance['instance_id']}-{'patched' if patch else 'base'}"
    source = next(p for p in (repos / instance["repo"].replace("/", "__"), repos / f"{instance['repo']}.git") if p.exists())
    subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", instance["base_commit"]], cwd=clone, check=True)
    for diff in ([patch] if patch else []) + [instance["test_patch"]]:
        subprocess.run(["git", "apply", "-"], cwd=clone, input=diff, text=True, check=True)
    tests = json.loads(instance["FAIL_TO_PASS"]) + json.loads(instance["PASS_TO_PASS"])
    node_ids = [t if "::" in t else _unittest_node_id(t) for t in tests]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *node_ids], cwd=clone,
                          capture_output=True, text=True, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return done.returncode == 0 and f"{len(tests)} passed" in done.stdout


def _unittest_node_id(test: str) -> str:
    """``test_a (tests.test_x.TestX)`` as the pytest node id ``tests/test_x.py::TestX::test_a``."""
    method, dotted = test[:-1].split(" (")
    module, cls = dotted.rsplit(".", 1)
    return f"{module.replace('.', '/')}.py::{cls}::{method}"
