"""Per-instance Python environments, as the official harness specifies them, without Docker.

An environment is a virtual environment per (repository, version, Python) (:attr:`HarnessSpec.key`),
built once into the user cache (``$XDG_CACHE_HOME/treesearch/swebench-envs/<key>/``) and reused:

1. the spec's Python (``3.9``...) found on this machine (pyenv's versions, then ``python3.9`` on
   ``PATH``); where it is missing, :class:`PythonMissing` says so;
2. ``python -m venv`` and the newest pip, then, from the releases uploaded before
   :data:`~treesearch.swebench.specs.PACKAGES_BEFORE` (as the harness's images had them), what the
   spec lists: its requirement files (read from the repository at the instance's
   ``environment_setup_commit``, as the harness reads them), its packages, its ``pip_packages``, and
   its ``install`` command run in a checkout at that commit: so every dependency of the repository is
   installed as the harness installs it. The install runs with a pip of 2024, which still installs
   commits without PEP 660 editable (so do the overlays), pinned to what the newest pip resolves;
3. the repository's own distribution is uninstalled again, and its build requirements installed: the
   environment holds the repository's *dependencies*, never the repository.

Each instance's checkout then gets an **overlay**: a tiny venv of the same interpreter whose
``site-packages`` adds the cached environment's, with the checkout installed editable in it
(``--no-build-isolation``, and with build isolation where the environment's build tools do not fit
the instance's commit; only dependencies the environment lacks are downloaded). Tests run with the overlay's Python import
the checkout's code, patched or not; an installed release of the package can never stand in for it.

Building is trusted setup (the repository's own ``setup.py`` at a published commit) and runs outside
the sandbox, with a log (``build.log``; a failure names it); running the tests with a model's patch is
not, and goes through the sandbox (:meth:`Worktree.run`). Builds of one key are serialised with a file
lock, so parallel runs share one build.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from packaging.utils import canonicalize_name

from treesearch.swebench.repos import GitError, git
from treesearch.swebench.specs import PACKAGES_BEFORE, HarnessSpec

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: no reader for build requirements (pip's own build isolation is off)
    tomllib = None  # type: ignore[assignment]

BUILD_TIMEOUT_S = 1800.0
# The harness's images were built in 2024 with the setuptools of then: pkg_resources present (81
# dropped it) and importable without the UserWarning of 80, which tests run with -W error turn into
# failures (pytest's own).
BUILD_TOOLS_CAP = "setuptools<70\n"
BUILD_TOOLS = ("pip", "setuptools", "wheel")  # what a build requirement may move in the environment
OVERLAY_TIMEOUT_S = 600.0
# pip must not stop to ask, nor spend a request on its own version, nor take a release newer than the
# harness's (a pip older than 26 ignores the option: each environment's pip is upgraded first).
PIP_ENV = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "PIP_UPLOADED_PRIOR_TO": PACKAGES_BEFORE}
LEGACY_EDITABLE_PIP = "pip<25.3"
# Requirement-file lines the harness leaves out (swebench.harness.test_spec.python.get_requirements_by_commit).
_SKIPPED_REQUIREMENT = re.compile(r"^\s*(-e \.|#|\.\[test)")


class EnvBuildError(RuntimeError):
    """An environment cannot be built; ``log``: the build log, when there is one."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message + (f" (log: {log})" if log is not None else ""))
        self.log = log


class PythonMissing(EnvBuildError):
    """The spec's Python version is not on this machine."""


def default_env_root() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "swebench-envs"


def find_python(version: str) -> str:
    """An interpreter of ``version`` (``"3.9"``) on this machine; :class:`PythonMissing` if none."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(pyenv.glob(f"{version}.*/bin/python{version}"), key=lambda p: _numeric(p.parts[-3]), reverse=True)
    if sys.version_info[:2] == tuple(map(int, version.split(".")[:2])):
        found.insert(0, Path(sys._base_executable))
    for name in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}", shutil.which(f"python{version}")):
        if name:
            found.append(Path(name))
    for candidate in found:
        try:
            done = subprocess.run([str(candidate), "-c", "import sys,venv;print(sys.executable)"], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0 and done.stdout.strip():
            return os.path.realpath(done.stdout.strip())
    raise PythonMissing(f"the harness runs this repository with Python {version}, which is not on this machine "
                        f"(looked in {pyenv} and PATH); install it (e.g. pyenv install {version})")


@dataclass(frozen=True)
class InstanceEnv:
    """A built environment (see the module docstring)."""

    spec: HarnessSpec
    directory: Path
    interpreter: str  # the base interpreter the venv was made from

    @property
    def venv(self) -> Path:
        return self.directory / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def log(self) -> Path:
        return self.directory / "build.log"

    def site_packages(self, venv: Path | None = None) -> Path:
        return next((venv or self.venv).glob("lib/python*/site-packages"))

    def overlay(self, checkout: Path, target: Path) -> Overlay:
        """Install ``checkout`` editable into a new overlay venv at ``target`` (see the module
        docstring); :class:`EnvBuildError` with the log if it cannot be."""
        log = target.with_suffix(".log")
        if target.exists():
            shutil.rmtree(target)
        with open(log, "w", encoding="utf-8") as out:
            _step(out, [self.interpreter, "-m", "venv", "--without-pip", str(target)], checkout)
            (self.site_packages(target) / "_treesearch_env.pth").write_text(
                f"import site; site.addsitedir({str(self.site_packages())!r})\n", encoding="utf-8")
            python = target / "bin" / "python"
            # With its dependencies, as the harness installs each instance: those the environment
            # (made at the version's setup commit) already has are kept; one the instance's commit
            # added (pytest 5.4's wcwidth, pylint 2.13's toml) is installed into the overlay.
            install = [str(python), "-m", "pip", "install", "-e", "."]
            try:
                _step(out, install[:-2] + ["--no-build-isolation"] + install[-2:], checkout, timeout=OVERLAY_TIMEOUT_S,
                      failure="the editable install failed", log=log)
            except EnvBuildError:  # the environment's build tools do not fit this commit: pip fetches its own
                out.write("# retried with build isolation\n")
                _step(out, install, checkout, timeout=OVERLAY_TIMEOUT_S,
                      failure=f"the editable install of {self.spec.repo} at {checkout.name} failed", log=log)
        return Overlay(python=str(python), mounts=(str(target), str(self.venv), str(Path(self.interpreter).parents[1])))


@dataclass(frozen=True)
class Overlay:
    """An overlay venv: its Python, and what the sandbox must show read-only for it to run."""

    python: str
    mounts: tuple[str, ...]


class EnvCache:
    """Built environments under ``root``, reused across runs; a failed build is tried once per process."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_env_root()
        self._failed: dict[str, EnvBuildError] = {}

    def get(self, spec: HarnessSpec, source: Path, setup_commit: str) -> InstanceEnv:
        """The environment of ``spec``, built now from ``source`` at ``setup_commit`` if not cached."""
        if spec.key in self._failed:
            raise self._failed[spec.key]
        directory = self.root / spec.key
        try:
            with _locked(self.root / f"{spec.key}.lock"):
                ready = directory / "env.json"
                if ready.is_file():
                    return InstanceEnv(spec, directory, json.loads(ready.read_text())["interpreter"])
                return _build(spec, directory, source, setup_commit)
        except EnvBuildError as e:
            self._failed[spec.key] = e
            raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(spec: HarnessSpec, directory: Path, source: Path, setup_commit: str) -> InstanceEnv:
    if directory.exists():  # an earlier build that did not finish
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    interpreter = find_python(spec.python)
    env = InstanceEnv(spec, directory, interpreter)
    checkout = directory / "checkout"
    started = time.monotonic()
    with open(env.log, "w", encoding="utf-8") as out:
        def step(argv: list[str] | str, what: str, extra_env: dict[str, str] | None = None) -> None:
            _step(out, argv, checkout, venv=env.venv, failure=f"building the environment {spec.key}: {what} failed",
                  log=env.log, extra_env=extra_env)

        out.write(f"# environment {spec.key} (harness spec{'' if spec.known else ': default'}), Python {interpreter}\n")
        try:
            git("clone", "--shared", "--no-checkout", "--quiet", str(source.resolve()), str(checkout), cwd=directory)
            git("checkout", "--quiet", "--detach", setup_commit, cwd=checkout)
        except GitError as e:
            raise EnvBuildError(f"cannot check out {setup_commit[:12]} for the environment {spec.key}: {e}") from e
        step([interpreter, "-m", "venv", str(env.venv)], "creating the venv")
        pip = [str(env.python), "-m", "pip", "install"]
        step([*pip, "--upgrade", "pip"], "upgrading pip")
        step([*pip, "wheel", *([] if _has_module(env.python, "setuptools") else ["setuptools"])], "installing wheel")
        if spec.packages == "requirements.txt":
            (directory / "requirements.txt").write_text(_requirements(spec, checkout), encoding="utf-8")
            step([*pip, "-r", str(directory / "requirements.txt")], "installing the requirements")
        elif spec.packages == "environment.yml":
            raise EnvBuildError(f"the harness builds {spec.key} with conda (environment.yml), which a venv cannot follow")
        elif spec.packages.strip():
            step([*pip, *spec.packages.split()], "installing the spec's packages")
        if spec.pip_packages:
            step([*pip, *spec.pip_packages], "installing the spec's pip packages")
        for command in spec.pre_install:
            if "apt-get" in command:  # system packages are not a venv's to install
                out.write(f"# skipped (system packages): {command}\n")
                continue
            step(command, f"the spec's pre-install step {command!r}")
        install = _editable(spec.install)
        pins = _install_pins(install, env.python, checkout, directory / "install-report.json", out)
        # pip 25.3 dropped the `setup.py develop` fallback that commits without PEP 660 need, here and
        # in the overlays; that pip ignores the cut-off, so the install takes the versions pinned above
        step([*pip, LEGACY_EDITABLE_PIP], "installing a pip that installs old commits editable")
        constraints = directory / "install-constraints.txt"
        constraints.write_text("".join(f"{pin}\n" for pin in pins), encoding="utf-8")
        out.write(f"# the install below is held to {len(pins)} versions: PIP_CONSTRAINT={constraints}\n")
        step(install, "installing the repository", extra_env={"PIP_CONSTRAINT": str(constraints)})
        requires = _build_requires(checkout)
        if requires:  # the newest that satisfy them, as pip's build isolation would take, short of today's,
            # and never in place of a version the environment holds besides the build tools: isolation
            # keeps them apart (astropy's oldest-supported-numpy would put numpy 1.19.3 under the
            # spec's pyerfa, built for the spec's numpy 1.25.2)
            held = [line for line in _freeze(env.python, "--exclude-editable")
                    if "==" in line and canonicalize_name(line.split("==", 1)[0]) not in BUILD_TOOLS]
            (directory / "constraints.txt").write_text(BUILD_TOOLS_CAP + "".join(f"{line}\n" for line in held),
                                                       encoding="utf-8")
            for requirement in requires:
                try:
                    step([*pip, "--upgrade", "-c", str(directory / "constraints.txt"), requirement],
                         f"installing the build requirement {requirement}")
                except EnvBuildError:
                    out.write(f"# left out: {requirement}: pip found no version of it beside the versions the "
                              "environment holds\n")
        names = _editable_names(env.python, checkout)
        if not names:
            raise EnvBuildError(f"building the environment {spec.key}: the install left no editable package of the "
                                "repository to take out again", env.log)
        step([str(env.python), "-m", "pip", "uninstall", "-y", *names], "taking the repository's own package out")
        freeze = _freeze(env.python)
        out.write(f"# built in {time.monotonic() - started:.0f} s\n")
    shutil.rmtree(checkout, ignore_errors=True)
    (directory / "env.json").write_text(json.dumps(
        {"key": spec.key, "interpreter": interpreter, "repo": spec.repo, "version": spec.version,
         "python": spec.python, "known_to_harness": spec.known, "packages": freeze}, indent=1))
    return env


def _step(out: TextIO, argv: list[str] | str, cwd: Path, venv: Path | None = None, timeout: float = BUILD_TIMEOUT_S,
          failure: str = "a build step failed", log: Path | None = None, extra_env: dict[str, str] | None = None) -> None:
    """Run one build step (a list: no shell; a string: through bash) with its output in the log."""
    path = f"{venv / 'bin'}:{os.environ.get('PATH', '')}" if venv is not None else os.environ.get("PATH", "")
    out.write(f"$ {argv if isinstance(argv, str) else shlex.join(argv)}\n")
    out.flush()
    try:
        done = subprocess.run(argv if isinstance(argv, list) else ["bash", "-c", argv], cwd=cwd, stdout=out,
                              stderr=subprocess.STDOUT, timeout=timeout, stdin=subprocess.DEVNULL,
                              env={**os.environ, **PIP_ENV, "PATH": path, **({"VIRTUAL_ENV": str(venv)} if venv else {}), **(extra_env or {})})
    except subprocess.TimeoutExpired as e:
        raise EnvBuildError(f"{failure}: took longer than {timeout:.0f} s", log) from e
    if done.returncode != 0:
        raise EnvBuildError(f"{failure} (exit code {done.returncode})", log)


def _has_module(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0


def _editable(install: str) -> str:
    """The spec's install command, editable: the overlay installs the checkout editable anyway, and
    an editable install is how the repository's own distribution can be told from its dependencies."""
    if " -e " in f" {install} " or not install.strip():
        return install or "python -m pip install -e ."
    return re.sub(r"\binstall(\s+(?:-\S+\s+)*)\.(\s|$)", r"install\1-e .\2", install)


def _install_pins(install: str, python: Path, checkout: Path, report: Path, out: TextIO) -> list[str]:
    """``name==version`` of each package ``install`` (one ``pip install`` command) would add, as this
    environment's pip resolves it from the releases before the cut-off (a dry run, not editable), the
    checkout's own distribution left out; none for another command or a dry run that fails (logged)."""
    words = shlex.split(install)
    at = words.index("install") if "install" in words else 0
    if at == 0 or words[:at] not in (["python", "-m", "pip"], ["pip"]) or any(w in ("&&", ";", "||") for w in words):
        out.write(f"# not a single pip install, so not pinned to the cut-off: {install}\n")
        return []
    args = [w for w in words[at + 1:] if w not in ("-e", "--editable")]
    try:
        _step(out, [str(python), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), *args],
              checkout, failure="the dry run of the install")
    except EnvBuildError:
        out.write("# the install is not pinned to the cut-off\n")
        return []
    items = json.loads(report.read_text(encoding="utf-8")).get("install", [])
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items
            if not i.get("download_info", {}).get("url", "").startswith("file:")]


def _requirements(spec: HarnessSpec, checkout: Path) -> str:
    """The requirement file's lines as the harness takes them (``-r`` includes inlined)."""
    for path in spec.requirement_paths:
        file = checkout / path
        if file.is_file():
            lines = []
            for line in file.read_text(encoding="utf-8").splitlines():
                if line.strip().startswith("-r"):
                    included = file.parent / line.strip()[2:].strip()
                    if included.is_file():
                        lines += [x for x in included.read_text(encoding="utf-8").splitlines()
                                  if not _SKIPPED_REQUIREMENT.match(x)]
                elif not _SKIPPED_REQUIREMENT.match(line):
                    lines.append(line)
            return "\n".join(lines) + "\n"
    raise EnvBuildError(f"none of {', '.join(spec.requirement_paths)} is in {spec.repo} at the setup commit")


def _freeze(python: Path, *options: str) -> list[str]:
    """``pip freeze`` of the environment of ``python``, a line per distribution."""
    return subprocess.run([str(python), "-m", "pip", "freeze", *options], capture_output=True, text=True,
                          env={**os.environ, **PIP_ENV}).stdout.splitlines()


def _build_requires(checkout: Path) -> list[str]:
    """``[build-system] requires`` of the checkout's pyproject.toml: the overlay installs without
    build isolation, so the backend must be in the environment."""
    if tomllib is None:
        return []
    try:
        data = tomllib.loads((checkout / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return []
    requires = data.get("build-system", {}).get("requires", [])
    return [r for r in requires if isinstance(r, str)]


def _editable_names(python: Path, checkout: Path) -> list[str]:
    done = subprocess.run([str(python), "-m", "pip", "list", "-e", "--format=json"], capture_output=True, text=True,
                          env={**os.environ, **PIP_ENV})
    try:
        listed = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return []
    where = os.path.realpath(checkout)
    return [d["name"] for d in listed
            if os.path.realpath(d.get("editable_project_location") or "").startswith(where)]


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))
