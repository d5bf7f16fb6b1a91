"""The repository environment of one instance: a private checkout at the base commit, and git
worktrees in which nodes' states are materialised only when an agent acts on them or they are checked.

A node's state is a diff against ``base_commit`` (plus the path's reproduction script, if it wrote
one), so the search tree holds text, never checkouts. :meth:`RepoEnvironment.worktree` lends one of
a small pool of worktrees (one per expansion in flight), reset to the base commit with the diff
applied; a worktree already holding that state is reused as it is.

Layout under the work directory (a temp dir by default, removed by :meth:`close`)::

    repo/      a `git clone --shared --no-checkout` of the source (objects borrowed, nothing copied;
               the user's clone is never written to)
    wt-0/ ...  the worktrees
    env-0/ ... with an instance environment (:mod:`treesearch.swebench.venvs`): each worktree's overlay
               venv, the worktree installed editable in it, so its commands import the worktree's code

Inside each worktree ``.treesearch/`` holds the engine's scratch files (the reproduction script,
test reports); it is excluded from git, so it is never part of a patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from treesearch.sandbox.command import CommandResult, CommandRunner
from treesearch.sandbox.limits import Limits
from treesearch.swebench.patches import is_test_path, parse_patch
from treesearch.swebench.repos import GitError, git, missing_files
from treesearch.swebench.venvs import InstanceEnv, Overlay

SCRATCH = ".treesearch"
REPRODUCTION = f"{SCRATCH}/reproduce.py"
# What the engine's own scripts (the reproduction, the import check) put on Python's path: the
# repository root, and src/ for src-layout repositories (a missing directory on the path is harmless).
PYTHONPATH = ".:src"
# The script lives in the scratch directory; with the root on its path it imports the repository's
# code as a user's script beside it would.
REPRODUCE = f"PYTHONPATH={PYTHONPATH} python {REPRODUCTION}"


class WorkspaceError(RuntimeError):
    """The checkout cannot be made, or a state cannot be materialised (a patch that does not apply)."""


class PathRefused(ValueError):
    """A path outside the repository, inside ``.git``, or otherwise not for the agent to touch."""


class Worktree:
    """One git worktree at some node's state. Paths are relative to the repository root."""

    def __init__(self, path: Path, base_commit: str, runner: CommandRunner, overlay: Overlay | None = None) -> None:
        self.path = path
        self.base_commit = base_commit
        self.runner = runner
        self.overlay = overlay
        self.state: tuple[str, str | None] | None = None  # (patch, reproduction) materialised here
        # Files the editable install wrote into the checkout (egg-info, a generated _version.py): not
        # part of any state, and resetting the worktree must keep them or the install breaks.
        self.installed: list[str] = []

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative``; :class:`PathRefused` if it leaves the repository or
        points into ``.git``."""
        rel = PurePosixPath(relative.strip() or ".")
        if rel.is_absolute() or ".." in rel.parts or rel.parts[:1] == (".git",):
            raise PathRefused(f"{relative!r} is not a path inside the repository")
        full = (self.path / rel).resolve()
        if full != self.path.resolve() and self.path.resolve() not in full.parents:
            raise PathRefused(f"{relative!r} leads outside the repository")
        return full

    def read(self, relative: str) -> str:
        return self.resolve(relative).read_text(encoding="utf-8", errors="replace")

    def read_file(self, relative: str) -> str | None:
        """The text of a file, None when there is none or it is not the agent's to read."""
        try:
            target = self.resolve(relative)
        except PathRefused:
            return None
        return self.read(relative) if target.is_file() else None

    def write(self, relative: str, text: str) -> None:
        target = self.resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def diff(self) -> str:
        """The worktree's changes against the base commit, new files included, as ``git diff`` writes them."""
        git("add", "-A", cwd=self.path)
        return git("diff", "--cached", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/",
                   self.base_commit, cwd=self.path)

    def undo(self, paths: list[str]) -> None:
        """Put ``paths`` back as they are at the base commit (removing those that did not exist there)."""
        for path in paths:
            try:
                git("checkout", self.base_commit, "--", path, cwd=self.path)
            except GitError:
                git("rm", "-f", "-q", "--ignore-unmatch", "--", path, cwd=self.path)

    def patch_without_tests(self) -> tuple[str, list[str]]:
        """The worktree's patch, after undoing any change to the repository's tests (a ``run`` command
        can write anywhere in the worktree); returns the patch and the test files it undid."""
        patch = self.diff()
        tests = [f.path for f in parse_patch(patch) if is_test_path(f.path)]
        if tests:
            self.undo(tests)
            patch = self.diff()
        return patch, tests

    async def run(self, command: str, limits: Limits | None = None, env: dict[str, str] | None = None) -> CommandResult:
        """Run ``command`` in the sandbox with this worktree as its writable current directory (and
        its overlay's Python as ``python``, when the instance has an environment)."""
        if self.overlay is None:
            return await self.runner.run(command, self.path, limits=limits, env=env)
        return await self.runner.run(command, self.path, limits=limits, env=env, python=self.overlay.python,
                                     read_only=self.overlay.mounts)

    def install(self, instance_env: InstanceEnv, target: Path) -> None:
        """Install this worktree (at the base commit) editable into an overlay of ``instance_env``."""
        self.materialise("", None)
        self.overlay = instance_env.overlay(self.path, target)
        status = git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=self.path)
        self.installed = [line[3:] for line in status.splitlines() if line[:3] in ("!! ", "?? ")]
        # ... and never part of a patch: `git add -A` (diff) must not pick up an egg-info the
        # repository does not ignore itself.
        common = Path(git("rev-parse", "--git-common-dir", cwd=self.path).strip())
        exclude = (common if common.is_absolute() else self.path / common) / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.writelines(f"/{path}\n" for path in self.installed)

    def materialise(self, patch: str, reproduction: str | None) -> None:
        """Reset to the base commit, apply ``patch``, write the reproduction script."""
        if self.state == (patch, reproduction):
            return
        self.state = None
        git("reset", "--quiet", "--hard", self.base_commit, cwd=self.path)
        git("clean", "-fdxq", *(f"--exclude=/{path}" for path in self.installed), cwd=self.path)
        if patch.strip():
            try:
                git("apply", "--whitespace=nowarn", "-", cwd=self.path, input=patch)
            except GitError as e:
                raise WorkspaceError(f"the patch does not apply to {self.base_commit[:12]}: {e}") from e
        if reproduction is not None:
            self.write(REPRODUCTION, reproduction)
        self.state = (patch, reproduction)


class RepoEnvironment:
    """One instance's checkout: see the module docstring. ``slots``: worktrees at most (one per
    expansion in flight)."""

    def __init__(self, source: Path, base_commit: str, runner: CommandRunner, slots: int = 2,
                 workdir: str | Path | None = None, instance_env: InstanceEnv | None = None) -> None:
        self.source = source
        self.instance_env = instance_env
        self.base_commit = base_commit
        self.runner = runner
        self.slots = max(1, slots)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="treesearch-swebench-"))
        self.repo = self.workdir / "repo"
        self._idle: list[Worktree] = []
        self._made = 0
        self._gate = asyncio.Semaphore(self.slots)
        self._git_lock = threading.Lock()  # `git worktree add` writes the shared repository's metadata

    def open(self) -> RepoEnvironment:
        """Make the private clone; :class:`WorkspaceError` if the source cannot be cloned."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.repo.exists():
            shutil.rmtree(self.repo)
        try:
            git("clone", "--shared", "--no-checkout", "--quiet", str(self.source.resolve()), str(self.repo),
                cwd=self.workdir)
            git("cat-file", "-e", f"{self.base_commit}^{{commit}}", cwd=self.repo)
        except GitError as e:
            raise WorkspaceError(f"cannot check out {self.base_commit[:12]} from {self.source}: {e}") from e
        exclude = self.repo / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a", encoding="utf-8") as f:
            f.write(f"\n/{SCRATCH}/\n")
        if self.instance_env is not None:  # a failing editable install is this instance's error, now
            self._idle.append(self._new_worktree())
        return self

    @contextlib.asynccontextmanager
    async def worktree(self, patch: str = "", reproduction: str | None = None) -> AsyncIterator[Worktree]:
        """A worktree holding ``patch`` (and the reproduction script), lent for the ``async with``."""
        async with self._gate:
            tree = self._take(patch, reproduction)
            try:
                if tree is None:
                    tree = await asyncio.to_thread(self._new_worktree)
                await asyncio.to_thread(tree.materialise, patch, reproduction)
                yield tree
            finally:
                if tree is not None:
                    self._idle.append(tree)

    def _take(self, patch: str, reproduction: str | None) -> Worktree | None:
        for i, tree in enumerate(self._idle):
            if tree.state == (patch, reproduction):
                return self._idle.pop(i)
        return self._idle.pop() if self._idle and self._made >= self.slots else None

    def _new_worktree(self) -> Worktree:
        with self._git_lock:
            path = self.workdir / f"wt-{self._made}"
            self._made += 1
            try:
                git("worktree", "add", "--detach", "--force", "--quiet", str(path), self.base_commit, cwd=self.repo)
            except GitError as e:
                missing = missing_files(self.repo, self.base_commit)
                why = (f"the repository at {self.repo} lacks {len(missing)} of its files "
                       f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}), an incomplete copy: "
                       f"clone it in full" if missing else str(e))
                raise WorkspaceError(f"cannot make a worktree at {self.base_commit[:12]}: {why}") from e
        tree = Worktree(path, self.base_commit, self.runner)
        if self.instance_env is not None:
            tree.install(self.instance_env, self.workdir / f"env-{path.name.removeprefix('wt-')}")
        return tree

    def read_base(self, relative: str) -> str | None:
        """A file's text at the base commit (None if it does not exist there)."""
        try:
            return git("show", f"{self.base_commit}:{relative}", cwd=self.repo)
        except GitError:
            return None

    def check_applies(self, patch: str) -> str | None:
        """None if ``patch`` applies to the base commit (``git apply --check`` against a scratch index,
        no checkout needed), else git's complaint."""
        fd, index = tempfile.mkstemp(prefix="index-", dir=self.workdir)
        os.close(fd)
        env = {"GIT_INDEX_FILE": index}
        try:
            git("read-tree", self.base_commit, cwd=self.repo, env=env)
            git("apply", "--cached", "--check", "-", cwd=self.repo, input=patch, env=env)
        except GitError as e:
            return str(e)
        finally:
            Path(index).unlink(missing_ok=True)
        return None

    def close(self) -> None:
        """Remove the work directory (if this environment made it)."""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
