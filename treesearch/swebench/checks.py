"""Execution feedback on a patch: what running it says, before any model's opinion.

For a finished attempt the checker answers, in order:

1. **applies**: the patch is not empty and applies to the base commit (``git apply --check``);
2. **compiles**: every changed Python file parses; it uses no name that it leaves undefined where
   the same file at the base commit did not (pyflakes, a static check: a patch that deletes a
   variable still used in a branch no test reaches is caught here); and every changed module that
   could be imported at the base commit still can (in the sandbox: importing runs the repository's code);
3. **tests**: the repository's own tests that mention a changed module (at most ``max_test_files``
   files, found with ``git grep`` at the base commit) are run at the base commit and with the patch;
   a test that passed before and does not now is *broken*. Only tests that exist at the base commit
   run: the instance's hidden tests are never used. With an instance environment
   (:mod:`treesearch.swebench.venvs`) they run as the harness runs tests (its command and log
   parser) in that environment, so they import the patched checkout with its dependencies; without
   one, with pytest and the run's Python. Each file runs on its own: one file's collection error
   (an example project's conftest) does not silence the others;
4. **reproduction**: if the path wrote a reproduction script, it should fail at the base commit
   (it reproduces the issue) and pass (exit code 0) with the patch.

Results at the base commit are computed once per instance and reused. Base runs happen in the same
worktree, reset to the base commit and back, so a check never waits for a second worktree.
"""

from __future__ import annotations

import ast
import asyncio
import json
import shlex
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from treesearch.sandbox.command import CommandResult
from treesearch.sandbox.result import OutcomeTally
from treesearch.swebench.environment import PYTHONPATH, REPRODUCE, SCRATCH, RepoEnvironment, Worktree
from treesearch.swebench.patches import PatchError, is_test_path, parse_patch
from treesearch.swebench.repos import GitError, git
from treesearch.swebench.specs import PASSING, harness_command, log_parser

JUNIT = f"{SCRATCH}/junit.xml"
# Plugins installed beside pytest (hypothesis, playwright...) are the engine's, not the repository's:
# loading them costs seconds per run and changes nothing about the repository's tests.
TEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
TEST_COMMAND = "python -m pytest -q -p no:cacheprovider --junitxml={junit} {files}"
IMPORT_MARK = "TREESEARCH-IMPORTS "
_IMPORT_SCRIPT = (
    "import importlib,json,sys\n"
    "out={}\n"
    "for m in sys.argv[1:]:\n"
    " try:\n  importlib.import_module(m);out[m]=None\n"
    " except BaseException as e:\n  out[m]=type(e).__name__+': '+str(e)[:300]\n"
    f"print({IMPORT_MARK!r}+json.dumps(out))\n"
)
EXCERPT = 1500


@dataclass
class CheckOutcome:
    """One line of the feedback: a check or a test, whether it passed, and why not."""

    name: str
    passed: bool
    error: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.name, "passed": self.passed, "error": self.error, "stdout": self.output}


@dataclass
class RepoFeedback(OutcomeTally):
    """What the checks found (see the module docstring). ``reproduction``: "none" (no script on the
    path), "fixed" (fails at the base commit, passes now), "fails" (fails with the patch) or
    "not reproducing" (already passes at the base commit, so it shows nothing)."""

    applies: bool
    compiles: bool = False
    undefined: list[str] = field(default_factory=list)  # names the patch leaves undefined (pyflakes)
    tests_before: int = 0  # related tests passing at the base commit
    tests_kept: int = 0  # ... of which still pass with the patch
    broken: list[str] = field(default_factory=list)
    reproduction: str = "none"
    outcomes: list[CheckOutcome] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.applies:
            return "does_not_apply"
        if not self.compiles:
            return "undefined_names" if self.undefined else "does_not_compile"
        if self.broken:
            return "tests_broken"
        if self.reproduction == "fails":
            return "reproduction_fails"
        return "ok"

    @property
    def all_passed(self) -> bool:
        return self.status == "ok"

    @property
    def informative(self) -> bool:
        """Whether it shows *what* fails (a broken test's or the reproduction's output), not only that."""
        return any(not o.passed and o.output for o in self.outcomes)

    def render(self) -> str:
        """The feedback as a prompt shows it."""
        lines = [f"status: {self.status.replace('_', ' ')}"]
        for o in self.outcomes:
            if o.passed:
                lines.append(f"- {o.name}: ok")
            else:
                lines.append(f"- {o.name}: FAILED {o.error}".rstrip())
                if o.output:
                    lines.append("  output:\n" + "\n".join("    " + ln for ln in o.output.splitlines()[-25:]))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "passed": self.passed, "total": self.total,
                "tests_before": self.tests_before, "tests_kept": self.tests_kept, "broken": self.broken,
                "reproduction": self.reproduction, "tests": [o.to_dict() for o in self.outcomes]}


class RepoChecker:
    """Runs the checks of one instance's patches; see the module docstring."""

    def __init__(self, env: RepoEnvironment, max_test_files: int = 5, test_command: str = TEST_COMMAND) -> None:
        self.env = env
        self.max_test_files = max_test_files
        self.test_command = test_command
        self._base: dict[tuple[str, ...], Any] = {}  # results at the base commit, by what was run
        self._related: dict[tuple[str, ...], list[str]] = {}

    async def check(self, tree: Worktree, patch: str, reproduction: str | None) -> RepoFeedback:
        """Check ``patch`` (materialised in ``tree``, with the path's ``reproduction`` script)."""
        if not patch.strip():
            return RepoFeedback(False, outcomes=[CheckOutcome("patch applies", False, "the patch is empty")])
        problem = await asyncio.to_thread(self.env.check_applies, patch)
        try:
            changed = [f.path for f in parse_patch(patch) if f.new_path is not None]
        except PatchError as e:
            problem = problem or str(e)
        if problem is not None:
            return RepoFeedback(False, outcomes=[CheckOutcome("patch applies", False, problem)])
        feedback = RepoFeedback(True, outcomes=[CheckOutcome("patch applies", True)])
        sources = [p for p in changed if p.endswith(".py") and not is_test_path(p)]
        modules = sorted({m for m in map(module_name, sources) if m})
        tests = await asyncio.to_thread(self.related_tests, sources)
        syntax = _syntax_errors(tree, sources)
        if syntax:  # nothing more to learn from running code that does not parse
            feedback.outcomes.append(CheckOutcome("changed code compiles and imports", False, "; ".join(syntax)))
            return feedback
        feedback.undefined = [u for path in sources for u in new_undefined_names(self.env.read_base(path), tree.read(path), path)]
        if feedback.undefined:
            feedback.outcomes.append(CheckOutcome("changed code defines every name it uses (pyflakes)", False,
                                                  "; ".join(feedback.undefined)))
            return feedback
        runs = {name: key for name, key in (("imports", ("imports", *modules)), ("tests", ("tests", *tests)),
                                             ("reproduction", ("reproduction", reproduction or "")))
                if len(key) > 1 and key[-1]}
        missing = [key for key in runs.values() if key not in self._base]
        if missing:
            await asyncio.to_thread(tree.materialise, "", reproduction)
            for key in missing:
                self._base[key] = await self._run(tree, key)
            await asyncio.to_thread(tree.materialise, patch, reproduction)
        before = {name: self._base[key] for name, key in runs.items()}
        imports = await self._run(tree, runs["imports"]) if "imports" in runs else {}
        broken = {m: e for m, e in imports.items() if e and before["imports"].get(m) is None}
        feedback.compiles = not broken
        feedback.outcomes.append(CheckOutcome("changed code compiles and imports", feedback.compiles,
                                              "; ".join(f"import {m}: {e}" for m, e in broken.items())))
        if broken:
            return feedback
        if "tests" in runs:
            self._compare_tests(feedback, before["tests"], await self._run(tree, runs["tests"]), tests)
        if "reproduction" in runs:
            self._judge_reproduction(feedback, before["reproduction"], await self._run(tree, runs["reproduction"]))
        return feedback

    def related_tests(self, sources: list[str]) -> list[str]:
        """Test files at the base commit that name a changed module (``test_<module>.py`` first)."""
        key = tuple(sources)
        if key not in self._related:
            names = sorted({PurePosixPath(p).stem if PurePosixPath(p).stem != "__init__" else PurePosixPath(p).parent.name
                            for p in sources} - {""})
            found: dict[str, int] = {}
            for name in names:
                try:
                    out = git("grep", "-l", "-w", "-F", "-e", name, self.env.base_commit, "--", "*.py", cwd=self.env.repo)
                except GitError:
                    continue  # no file mentions it
                for line in out.splitlines():
                    path = line.split(":", 1)[1]
                    if is_test_path(path) and _is_test_file(PurePosixPath(path).name):
                        found[path] = min(found.get(path, 1), 0 if PurePosixPath(path).stem in (f"test_{name}", f"{name}_test") else 1)
            self._related[key] = sorted(found, key=lambda p: (found[p], p))[: self.max_test_files]
        return self._related[key]

    async def _run(self, tree: Worktree, key: tuple[str, ...]) -> Any:
        """One check's raw result in ``tree`` as it is now: {module: error} for imports, {test id:
        outcome} for tests, the CommandResult for the reproduction."""
        what, *args = key
        if what == "imports":
            result = await tree.run(f"python -c {shlex.quote(_IMPORT_SCRIPT)} {' '.join(map(shlex.quote, args))}",
                                    env={"PYTHONPATH": PYTHONPATH})
            for line in result.output.splitlines():
                if line.startswith(IMPORT_MARK):
                    return json.loads(line[len(IMPORT_MARK):])
            return {m: f"the import check did not finish ({result.summary()})" for m in args}
        if what == "tests":
            return await self._run_tests(tree, args)
        return await tree.run(REPRODUCE)

    async def _run_tests(self, tree: Worktree, files: list[str]) -> dict[str, Any]:
        """{"outcomes": {test id: status}, "output", "summary"}, one run per file: a file whose
        conftest cannot import (an example project's) must not silence the others."""
        outcomes: dict[str, str] = {}
        outputs, summaries = [], []
        spec = self.env.instance_env.spec if tree.overlay is not None and self.env.instance_env is not None else None
        for file in files:
            if spec is not None:  # as the harness runs tests, in the instance's environment
                result = await tree.run(harness_command(spec.test_cmd, [file]))
                outcomes.update({name: "passed" if status in PASSING else status.lower()
                                 for name, status in log_parser(spec.repo)(result.output).items()})
            else:
                (tree.path / JUNIT).unlink(missing_ok=True)
                result = await tree.run(self.test_command.format(junit=JUNIT, files=shlex.quote(file)), env=TEST_ENV)
                outcomes.update(junit_outcomes(tree.path / JUNIT))
            outputs.append(result.output[-EXCERPT:])
            summaries.append(f"{file}: {result.summary()}")
        return {"outcomes": outcomes, "output": "\n".join(outputs)[-EXCERPT:], "summary": "; ".join(summaries)}

    @staticmethod
    def _compare_tests(feedback: RepoFeedback, before: dict[str, Any], after: dict[str, Any], files: list[str]) -> None:
        passing = [t for t, status in before["outcomes"].items() if status == "passed"]
        feedback.tests_before = len(passing)
        feedback.broken = [t for t in passing if after["outcomes"].get(t) != "passed"]
        feedback.tests_kept = len(passing) - len(feedback.broken)
        for test in passing:
            status = after["outcomes"].get(test, "not run")
            feedback.outcomes.append(CheckOutcome(
                f"test {test}", status == "passed", "" if status == "passed" else f"{status} (passed before the patch)",
                "" if status == "passed" else after["output"]))
        if not passing:
            feedback.outcomes.append(CheckOutcome(
                f"related tests ({', '.join(files)})", True,
                f"none passed at the base commit ({before['summary']}), so they say nothing here"))

    @staticmethod
    def _judge_reproduction(feedback: RepoFeedback, before: CommandResult, after: CommandResult) -> None:
        if before.ok:
            feedback.reproduction = "not reproducing"
            feedback.outcomes.append(CheckOutcome(
                "reproduction script", True, "it already passes at the base commit: it does not reproduce the issue"))
        else:
            feedback.reproduction = "fixed" if after.ok else "fails"
            feedback.outcomes.append(CheckOutcome(
                "reproduction script (failed before the patch)", after.ok,
                "" if after.ok else f"still fails with the patch ({after.summary()})",
                "" if after.ok else after.output[-EXCERPT:]))


def module_name(path: str) -> str | None:
    """The dotted module of a source file (``pkg/mod.py`` -> ``pkg.mod``, ``src/`` left out), or None
    where the path cannot be a module."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def junit_outcomes(path: Any) -> dict[str, str]:
    """{test id: passed | failed | error | skipped} from a JUnit XML report ({} when there is none)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    outcomes = {}
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                status = {"failure": "failed"}.get(child.tag, child.tag)
                break
        outcomes[name] = status
    return outcomes


def _is_test_file(name: str) -> bool:
    """A file of tests (``test_x.py``, ``x_test.py``), not a helper, fixture package or conftest."""
    return name.startswith("test_") or name.endswith("_test.py")


def new_undefined_names(before: str | None, after: str, path: str) -> list[str]:
    """Names ``after`` uses undefined (pyflakes) that ``before`` (the file at the base commit, None
    for a new file) did not: "path line N: undefined name 'x'". Static: nothing of the code runs."""
    from pyflakes import checker, messages

    def undefined(text: str) -> list[tuple[str, int]]:
        try:
            found = checker.Checker(ast.parse(text, path), filename=path).messages
        except (SyntaxError, ValueError, RecursionError):
            return []
        kinds = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)
        return [(str(m.message_args[0]), m.lineno) for m in found if isinstance(m, kinds)]

    new = Counter(name for name, _ in undefined(after)) - Counter(name for name, _ in undefined(before or ""))
    return [f"{path} line {line}: undefined name {name!r}" for name, line in dict(reversed(undefined(after))).items()
            if name in new]


def _syntax_errors(tree: Worktree, sources: list[str]) -> list[str]:
    errors = []
    for path in sources:
        try:
            compile(tree.read(path), path, "exec", dont_inherit=True)
        except SyntaxError as e:
            errors.append(f"{path} line {e.lineno}: {e.msg}")
        except (OSError, ValueError) as e:
            errors.append(f"{path}: {e}")
    return errors
