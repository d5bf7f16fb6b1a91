"""What the official SWE-bench harness says about an instance: its environment specification (Python
version, packages, install command, test command), the test files it runs and how it reads the log.

All of it comes from the ``swebench`` package (the pinned version carries the per-repository, per-version
specifications and log parsers); nothing here restates them. Importing ``swebench`` costs about a second
and pulls in its Docker client library (which needs no Docker daemon to import), so it happens here,
inside functions, only when an instance is judged or an environment built.

A repository the harness does not know (the generated repositories of the tests, a user's own) gets
:data:`DEFAULT_SPEC`: this machine's Python, the repository installed editable, pytest, and the harness's
pytest log parser; the report says so.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from treesearch.swebench.problem import RepoProblem

# The spec of a repository the harness does not know (see the module docstring).
DEFAULT_SPEC: dict[str, Any] = {
    "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    "pip_packages": ["pytest"],
    "install": "python -m pip install -e .",
    "test_cmd": "pytest -rA",
}
# Environments take only the PyPI releases uploaded before this date (pip's --uploaded-prior-to). The
# Lite results were judged in images built in 2024 with the releases of then; later ones break old
# commits (docutils 0.22 took out docutils.utils.roman, which sphinx 3 and 4 import). Part of the
# cache key, so changing it builds anew.
PACKAGES_BEFORE = "2025-01-01T00:00:00Z"
# How the harness grades a test (swebench.harness.grading): these statuses pass, anything else
# (failed, error, or missing from the log) does not.
PASSING = ("PASSED", "XFAIL")


class SpecError(ValueError):
    """The harness has no specification for this instance (or ``swebench`` is not installed)."""


@dataclass(frozen=True)
class HarnessSpec:
    """One instance's specification as the harness gives it. ``known``: False for :data:`DEFAULT_SPEC`."""

    repo: str
    version: str
    python: str
    install: str
    test_cmd: str
    packages: str = ""  # conda-style: "requirements.txt", "environment.yml" or package names
    pip_packages: tuple[str, ...] = ()
    pre_install: tuple[str, ...] = ()
    requirement_paths: tuple[str, ...] = ()
    known: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        """What an environment is cached by: repository, version, Python, the PyPI cut-off date."""
        return f"{self.repo.replace('/', '__')}__{self.version or 'any'}__py{self.python}__pypi{PACKAGES_BEFORE[:10]}"


def _harness() -> Any:
    try:
        from swebench.harness import constants
    except ImportError as e:
        raise SpecError("the swebench package is not installed: pip install 'treesearch[swebench]'") from e
    return constants


def spec_for(problem: RepoProblem) -> HarnessSpec:
    """The harness's specification for ``problem`` (the default for a repository it does not know);
    :class:`SpecError` for a known repository whose version it lacks."""
    constants = _harness()
    by_version = constants.MAP_REPO_VERSION_TO_SPECS.get(problem.repo)
    if by_version is None:
        raw, known = DEFAULT_SPEC, False
    elif problem.version in by_version:
        raw, known = by_version[problem.version], True
    else:
        raise SpecError(f"the harness has no specification for {problem.repo} version {problem.version!r} "
                        f"(it knows {', '.join(sorted(by_version))})")
    return HarnessSpec(
        repo=problem.repo, version=problem.version, python=str(raw["python"]), install=raw.get("install", ""),
        test_cmd=raw["test_cmd"] if isinstance(raw["test_cmd"], str) else " && ".join(raw["test_cmd"]),
        packages=raw.get("packages", ""), pip_packages=tuple(raw.get("pip_packages", ())),
        pre_install=tuple(raw.get("pre_install", ())),
        requirement_paths=tuple(constants.MAP_REPO_TO_REQS_PATHS.get(problem.repo, ())), known=known,
        extra={k: v for k, v in raw.items() if k in ("env_vars_test", "eval_commands")},
    )


def test_files(problem: RepoProblem) -> list[str]:
    """The test files (or, for Django, modules) the harness runs: those the test patch touches."""
    from swebench.harness.test_spec.python import get_test_directives

    return get_test_directives({"repo": problem.repo, "test_patch": problem.test_patch})


def log_parser(repo: str) -> Callable[[str], dict[str, str]]:
    """{test name: PASSED | FAILED | ERROR | SKIPPED | XFAIL} from a test log, as the harness reads it."""
    from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
    from swebench.harness.log_parsers.python import parse_log_pytest

    parse = MAP_REPO_TO_PARSER.get(repo, parse_log_pytest)
    return lambda log: parse(log, None)


def harness_command(test_cmd: str, files: list[str]) -> str:
    """The spec's test command on ``files``, with ``pytest`` and ``tox`` run as ``python -m ...``:
    the worktree's Python (its overlay) must run the tests, and their scripts belong to the shared
    environment, outside the overlay's ``bin``.

    ``tox --current-env -e ENV`` (sphinx) runs the tox.ini's commands with the ``python`` it puts in
    ``.tox/ENV/bin``: a symlink to the overlay's Python, which started through a symlink from another
    directory finds no ``pyvenv.cfg`` and so none of the overlay's packages. The command first writes
    scripts there that ``exec`` the overlay's Python (the plugin keeps a ``python`` it finds), and a
    ``pytest`` (older tox.ini files call it by name), and passes ``-rA`` to pytest, which the harness
    adds by editing tox.ini (its ``pre_install``): the log parsers read pytest's ``-rA`` summary."""
    command = re.sub(r"(^|&&\s*|;\s*)(pytest|tox)\b", r"\1python -m \2", test_cmd.strip())
    tox_env = re.search(r"\btox\b.*--current-env.*?-e\s*(\S+)", command)
    if tox_env and command.endswith("--"):
        bin_dir = shlex.quote(f".tox/{tox_env.group(1)}/bin")
        scripts = " && ".join(
            f"printf '#!/bin/sh\\nexec \"%s\" {run}\"$@\"\\n' \"$(command -v python)\" > {bin_dir}/{name}"
            for name, run in (("python", ""), ("python3", ""), ("pytest", "-m pytest ")))
        command = f"mkdir -p {bin_dir} && {scripts} && chmod +x {bin_dir}/* && {command} -rA"
    return f"{command} {' '.join(map(shlex.quote, files))}"
