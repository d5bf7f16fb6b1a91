"""Where an instance's repository comes from, and running git on it.

``--repos-dir DIR`` holds local clones or bare mirrors, one per repository, under any of::

    DIR/<owner>__<name>        DIR/<owner>__<name>.git     (SWE-bench's own naming)
    DIR/<owner>/<name>         DIR/<owner>/<name>.git

e.g. ``git clone --mirror https://github.com/psf/requests DIR/psf__requests.git``. The clone must
hold the instances' base commits; it is only read (the search works in a private ``--shared``
clone of it, see :mod:`treesearch.swebench.environment`).

With ``clone_missing`` a repository that is not there is cloned (``--mirror``) from GitHub into the
cache directory (``$XDG_CACHE_HOME/treesearch/repos``), which needs the network; without it, or when
the clone fails, :class:`RepoSourceError` says where it looked and what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

GITHUB = "https://github.com/{repo}.git"
CLONE_TIMEOUT_S = 1800.0
# git must not ask for credentials or read the user's hooks and templates while the engine runs it.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ASKPASS": "true"}


class RepoSourceError(RuntimeError):
    """The repository or its base commit cannot be found (or cloned); the message says what to do."""


class GitError(RuntimeError):
    """A git command failed; the message holds git's own words."""


def git(*args: str, cwd: str | Path, input: str | None = None, timeout: float = 300.0,
        env: dict[str, str] | None = None) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout; :class:`GitError` on failure."""
    try:
        done = subprocess.run(
            ["git", "-c", "core.quotepath=off", "-c", "advice.detachedHead=false", *args], cwd=cwd,
            input=input, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, **GIT_ENV, **(env or {})},
        )
    except subprocess.TimeoutExpired as e:
        raise GitError(f"git {args[0]} took longer than {timeout:.0f} s") from e
    except OSError as e:
        raise GitError(f"cannot run git: {e}") from e
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed: {message[-1] if message else done.returncode}")
    return done.stdout


def default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "treesearch" / "repos"


def candidates(repo: str, repos_dir: Path) -> list[Path]:
    owner, name = repo.split("/", 1)
    flat = f"{owner}__{name}"
    return [repos_dir / flat, repos_dir / f"{flat}.git", repos_dir / owner / name, repos_dir / owner / f"{name}.git"]


def find_repository(repo: str, repos_dir: str | Path | None, clone_missing: bool = False,
                    cache_dir: str | Path | None = None) -> Path:
    """The local clone of ``repo`` (``owner/name``); see the module docstring."""
    places = candidates(repo, Path(repos_dir)) if repos_dir is not None else []
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    places.append(cache / f"{repo.replace('/', '__')}.git")
    for place in places:
        if place.is_dir() and _is_git_repository(place):
            return place
    if clone_missing:
        return _clone(repo, places[-1])
    looked = ", ".join(str(p) for p in places)
    raise RepoSourceError(
        f"repository {repo} not found (looked in {looked}); put a clone there "
        f"(git clone --mirror {GITHUB.format(repo=repo)} {places[0]}.git) or pass --clone-missing"
    )


def require_commit(source: Path, commit: str, repo: str) -> None:
    """:class:`RepoSourceError` unless ``commit`` is a commit in ``source``."""
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}", cwd=source)
    except GitError:
        raise RepoSourceError(
            f"base commit {commit} is not in the clone of {repo} at {source}; fetch it (git -C {source} fetch --all)"
        ) from None


def missing_files(source: Path, commit: str) -> list[str]:
    """Paths of ``commit``'s tree whose objects ``source`` lacks (a copy without its largest files, or a
    partial clone; without fetching them)."""
    try:
        absent = [line[1:] for line in git("rev-list", "--objects", "--no-object-names", "--missing=print",
                                           "--no-walk", commit, cwd=source).splitlines() if line.startswith("?")]
        if not absent:
            return []
        listing = git("ls-tree", "-r", "--full-tree", commit, cwd=source).splitlines()
    except GitError:
        return []
    wanted = set(absent)
    return [line.split("\t", 1)[1] for line in listing if line.split()[2] in wanted] or absent


def _is_git_repository(path: Path) -> bool:
    try:
        git("rev-parse", "--git-dir", cwd=path, timeout=30.0)
    except GitError:
        return False
    return True


def _clone(repo: str, target: Path) -> Path:
    url = GITHUB.format(repo=repo)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    try:
        git("clone", "--mirror", "--quiet", url, str(partial), cwd=target.parent, timeout=CLONE_TIMEOUT_S)
    except GitError as e:
        raise RepoSourceError(f"cannot clone {url} (no network?): {e}; put a clone in --repos-dir instead") from e
    partial.rename(target)
    return target
