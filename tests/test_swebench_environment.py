"""The repository environment: finding clones, worktrees at a node's state, the agent's actions,
the sandboxed command runner, the execution checks and the unofficial local evaluation, on small
real git repositories."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from tests.repo_fixtures import CALC, WORDS, build_instance
from treesearch.sandbox.command import CommandRunner
from treesearch.sandbox.limits import Limits
from treesearch.swebench.actions import Action, execute
from treesearch.swebench.checks import RepoChecker
from treesearch.swebench.environment import RepoEnvironment, WorkspaceError
from treesearch.swebench.local_eval import local_eval
from treesearch.swebench.problem import RepoProblem
from treesearch.swebench.repos import RepoSourceError, find_repository, require_commit

pytestmark = pytest.mark.timeout(120)

BROKEN_MEAN = "    count = len(values)\n    if count == 1:\n        return 0.0\n    return total(values) / count\n"
FIXED_MEAN = "    count = len(values)\n    if count == 0:\n        return 0.0\n    return total(values) / count\n"
REPRODUCE = "from calc.core import mean\nassert mean([]) == 0.0, 'mean of nothing'\nprint('fine')\n"


@pytest.fixture(scope="module")
def runner():
    with CommandRunner() as r:
        yield r


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    root = tmp_path_factory.mktemp("repos")
    return root, {"calc": build_instance(root, CALC), "words": build_instance(root, WORDS, layout="mirror")}


def environment(repos, name, runner, slots=1):
    root, instances = repos
    problem = RepoProblem.from_dict(instances[name])
    return problem, RepoEnvironment(find_repository(problem.repo, root), problem.base_commit, runner, slots).open()


def test_command_runner_isolation_limits_and_output(runner, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("in the work dir\n")
    result = runner.run_sync("cat data.txt; echo written > out.txt; pwd; python -c 'import pytest; print(pytest.__name__)'", work)
    assert result.ok and "in the work dir" in result.output and str(work) in result.output and "pytest" in result.output
    assert (work / "out.txt").read_text() == "written\n"  # the work dir is writable ...
    # ... nothing else is: the host's /tmp is a private tmpfs inside, the Python install read-only
    runner.run_sync(f"echo x > {tmp_path}/escape.txt", work)
    assert not (tmp_path / "escape.txt").exists()
    assert not runner.run_sync(f"echo x > {runner.read_only[0]}/escape.txt", work).ok
    # a private /dev/shm: multiprocessing's locks (repositories' test suites use them) work
    assert runner.run_sync("python -c 'import multiprocessing; multiprocessing.Lock()'", work).ok
    net = runner.run_sync("python -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)\"", work)
    assert not net.ok and ("unreachable" in net.output or "OSError" in net.output)
    slow = runner.run_sync("echo started; sleep 30", work, limits=Limits(wall_s=1.5))
    assert slow.ended == "timeout" and slow.exit_code is None and slow.wall_s < 10 and "started" in slow.output
    flood = runner.run_sync("echo first; yes | head -c 5000000; echo; echo last", work, limits=Limits(output_bytes=4000))
    assert flood.ok and flood.output_bytes > 5_000_000 and len(flood.output) < 4200
    assert flood.output.startswith("first") and flood.output.rstrip().endswith("last") and "left out" in flood.output
    assert runner.run_sync("exit 3", work).exit_code == 3


def test_finding_repositories_and_commits(repos, tmp_path):
    root, instances = repos
    assert find_repository("acme/calc", root).name == "acme__calc"  # <owner>__<name>
    assert find_repository("acme/textutil", root).name == "textutil.git"  # <owner>/<name>.git, bare
    with pytest.raises(RepoSourceError, match="repository ghost/nothing not found .* --clone-missing"):
        find_repository("ghost/nothing", root, cache_dir=tmp_path / "cache")
    with pytest.raises(RepoSourceError, match="base commit 0000000000 is not in the clone of acme/calc"):
        require_commit(find_repository("acme/calc", root), "0000000000", "acme/calc")
    require_commit(find_repository("acme/calc", root), instances["calc"]["base_commit"], "acme/calc")
    # offline, cloning a missing repository fails with a clear error, not a hang
    with pytest.raises(RepoSourceError, match="cannot clone https://github.com/ghost/nothing.git"):
        find_repository("ghost/nothing", None, clone_missing=True, cache_dir=tmp_path / "cache")


def test_actions_in_a_worktree(repos, runner):
    problem, env = environment(repos, "calc", runner)

    async def go():
        async with env.worktree() as tree:
            act = lambda **a: execute(Action.from_dict(a), tree)  # noqa: E731
            found = await act(action="search", pattern="def mean")
            assert "calc/core.py:17:def mean(values):" in found.text
            assert "no matches" in (await act(action="search", pattern="no such text")).text
            view = await act(action="view", path="calc/core.py", start=17, end=30)
            assert view.text.splitlines()[1] == "    17  def mean(values):" and "lines 17-20 of 20" in view.text
            assert "calc/" in (await act(action="view", path=".")).text
            refused = await act(action="edit", path="tests/test_core.py", old="assert", new="pass")
            assert not refused.ok and "repository's tests" in refused.text
            escape = await act(action="view", path="../../etc/passwd")
            assert not escape.ok and "refused" in escape.text
            ambiguous = await act(action="edit", path="calc/core.py", old="return", new="yield")
            assert not ambiguous.ok and "occurs 3 times" in ambiguous.text
            missing = await act(action="edit", path="calc/core.py", old="nothing like this", new="x")
            assert not missing.ok and "not found" in missing.text
            edit = await act(action="edit", path="calc/core.py", old="    count = len(values)\n    return",
                             new="    count = len(values)\n    if count == 0:\n        return 0.0\n    return")
            assert edit.ok and "if count == 0:" in edit.text
            broken = await act(action="create", path="calc/extra.py", content="def f(:\n")
            assert "no longer parses" in broken.text
            assert not (await act(action="create", path="calc/extra.py", content="x = 1\n")).ok  # exists
            run = await act(action="run", command="python -c 'from calc.core import mean; print(mean([]))'")
            assert run.command.ok and run.text.splitlines()[1] == "0.0"
            reproduce = await act(action="reproduce", script=REPRODUCE)
            assert reproduce.reproduction == REPRODUCE and "fine" in reproduce.text
            patch = tree.diff()
            assert "calc/core.py" in patch and "calc/extra.py" in patch and ".treesearch" not in patch
            tree.write("tests/test_core.py", "changed\n")
            tree.undo(["tests/test_core.py", "calc/extra.py"])
            assert "tests/test_core.py" not in tree.diff() and "calc/extra.py" not in tree.diff()
            return patch

    try:
        patch = asyncio.run(go())
        assert env.check_applies(patch) is None
        assert env.check_applies(patch.replace("count = len(values)", "n = len(values)")) is not None
        assert env.read_base("calc/core.py").count("if count == 0") == 0  # the base commit is untouched
    finally:
        env.close()
    assert not env.workdir.exists()


def test_checks_compare_with_the_base_commit(repos, runner):
    problem, env = environment(repos, "calc", runner)
    checker = RepoChecker(env)
    base = env.read_base("calc/core.py")
    old = "    count = len(values)\n    return total(values) / count\n"

    async def check(mean_body, reproduction=None, extra=""):
        async with env.worktree() as tree:
            tree.write("calc/core.py", base.replace(old, mean_body) + extra)
            patch = tree.diff()
            tree.state = (patch, None)
        async with env.worktree(patch, reproduction) as tree:
            return await checker.check(tree, patch, reproduction)

    async def go():
        assert checker.related_tests(["calc/core.py"]) == ["tests/test_core.py"]
        good = await check(FIXED_MEAN, REPRODUCE)
        assert good.all_passed and good.reproduction == "fixed" and good.tests_before == good.tests_kept == 3
        wrong = await check(BROKEN_MEAN, REPRODUCE)
        assert wrong.status == "tests_broken" and wrong.broken == ["tests.test_core::test_mean"]
        assert wrong.reproduction == "fails" and wrong.informative and "mean of nothing" in wrong.render()
        syntax = await check(FIXED_MEAN, extra="def broken(:\n")
        assert syntax.status == "does_not_compile" and "line" in syntax.render()
        # A name the patch removes while a branch no test reaches still uses it (flask-5063's
        # rule_methods): it imports, the related tests pass, and pyflakes catches it.
        removed = await check(FIXED_MEAN.replace("    count = len(values)\n    if count == 0:",
                                                 "    if len(values) == 0:") + "    return count\n")
        assert removed.status == "undefined_names" and not removed.all_passed
        assert removed.undefined == ["calc/core.py line 21: undefined name 'count'"]
        empty = await checker.check(tree=None, patch="", reproduction=None)
        assert empty.status == "does_not_apply"

    try:
        asyncio.run(go())
    finally:
        env.close()


@pytest.mark.parametrize("name", ["calc", "words"])
def test_local_eval_runs_the_instance_tests(repos, runner, name):
    problem, env = environment(repos, name, runner)
    try:
        gold = asyncio.run(local_eval(problem, problem.patch, env))
        assert gold["resolved"] and gold["unofficial"]
        assert set(gold["fail_to_pass"]) == set(problem.fail_to_pass)
        assert set(gold["pass_to_pass"].values()) == {"passed"}
        unfixed_source = problem.test_patch.replace("tests/test_core.py", "calc/notes.txt") if name == "calc" else None
        if unfixed_source is None:  # words: only half of the gold patch
            from treesearch.swebench.patches import FilePatch, parse_patch

            (words,) = parse_patch(problem.patch)
            half = FilePatch(words.header, words.old_path, words.new_path, words.hunks[:1]).text
            partial = asyncio.run(local_eval(problem, half, env))
            assert not partial["resolved"]
            assert list(partial["fail_to_pass"].values()).count("passed") == 1
        else:
            nothing = asyncio.run(local_eval(problem, problem.patch.replace("return 0.0", "return None"), env))
            assert not nothing["resolved"] and set(nothing["fail_to_pass"].values()) == {"failed"}
        assert asyncio.run(local_eval(problem, "", env))["error"] == "empty patch"
    finally:
        env.close()


def test_a_prediction_applies_with_git_apply(repos, tmp_path):
    root, instances = repos
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root / "acme__calc"), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", instances["calc"]["base_commit"]], cwd=clone, check=True)
    subprocess.run(["git", "apply", "--check", "-"], cwd=clone, input=instances["calc"]["patch"], text=True, check=True)


def test_a_copy_without_some_of_the_commits_files_is_named_as_such(tmp_path, runner):
    # a snapshot that left out its largest files: git alone says "Could not reset index file"
    problem = RepoProblem.from_dict(build_instance(tmp_path, CALC))
    source = find_repository(problem.repo, tmp_path)
    git_ = lambda *a, **k: subprocess.run(["git", *a], cwd=source, capture_output=True, check=True, **k)  # noqa: E731
    blob = git_("rev-parse", f"{problem.base_commit}:calc/core.py", text=True).stdout.strip()
    objects = Path(git_("rev-parse", "--git-path", "objects", text=True).stdout.strip())
    objects = objects if objects.is_absolute() else source / objects
    for pack in list((objects / "pack").glob("*.pack")):  # every object loose, so that one can go
        moved = pack.rename(tmp_path / pack.name)
        pack.with_suffix(".idx").unlink()
        git_("unpack-objects", "-q", input=moved.read_bytes())
    (objects / blob[:2] / blob[2:]).unlink()
    env = RepoEnvironment(source, problem.base_commit, runner, 1).open()

    async def go():
        async with env.worktree():
            pass

    try:
        with pytest.raises(WorkspaceError, match=r"lacks 1 of its files \(calc/core\.py\), an incomplete copy"):
            asyncio.run(go())
    finally:
        env.close()
