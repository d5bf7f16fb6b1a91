"""``treesearch swebench-eval`` on generated repositories: per-instance environments (a real venv, the
repository installed editable from the instance's checkout), the harness's test files and log parser,
ids cut at a space matched, network failures reported apart, bad inputs refused, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo_fixtures import CALC, GREET, build_instance, write_instances
from treesearch.cli import main as treesearch_main
from treesearch.swebench.judge import grade
from treesearch.swebench.specs import harness_command

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    repos = root / "repos"
    repos.mkdir()
    greet = build_instance(repos, GREET)
    # The same issue, with a PASS_TO_PASS test that needs the network (the sandbox has none).
    online = {**greet, "instance_id": "acme__greet-2",
              "PASS_TO_PASS": json.dumps([*GREET.pass_to_pass, "tests/test_greet.py::test_fetch_greeting"])}
    calc = build_instance(repos, CALC)
    instances = write_instances(root / "instances.jsonl", [greet, online, calc])
    return root, repos, instances, {"greet": greet, "online": online, "calc": calc}


def predictions(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"instance_id": i, "model_name_or_path": "test", "model_patch": p}) + "\n"
                            for i, p in rows))
    return path


def swebench_eval(setup, preds: Path, out: Path, *extra: str) -> int:
    root, repos, instances, _ = setup
    return treesearch_main(["swebench-eval", "--predictions", str(preds), "--instances", str(instances),
                            "--repos-dir", str(repos), "--env-dir", str(root / "envs"), "--out", str(out), *extra])


def test_gold_resolves_empty_does_not_in_an_editable_src_layout_environment(setup, tmp_path, capsys):
    root, _, _, inst = setup
    gold = predictions(tmp_path / "gold.jsonl", [(i["instance_id"], i["patch"]) for i in inst.values()])
    assert swebench_eval(setup, gold, tmp_path / "gold") == 1  # calc cannot be installed: reported, the others judged
    printed = capsys.readouterr().out
    assert "unofficial" in printed and "python -m swebench.harness.run_evaluation" in printed
    report = json.loads((tmp_path / "gold" / "report.json").read_text())
    assert report["unofficial"] and "run_evaluation" in report["official_command"]
    assert report["resolved"] == ["acme__greet-1"] and report["unresolved"] == []
    assert report["needs_network"] == ["acme__greet-2"] and report["error"] == ["acme__calc-1"]
    # calc has no packaging at all, so its environment cannot install it: said per instance, with the log
    assert "installing the repository failed" in report["instances"]["acme__calc-1"]["error"]
    assert "pip install -e ." in (tmp_path / "gold" / "instances" / "acme__calc-1" / "build.log").read_text()
    greet = report["instances"]["acme__greet-1"]
    # The ids SWE-bench cut at their first space got results from the log (never passed to pytest).
    assert {t: r["status"] for t, r in greet["fail_to_pass"].items()} == dict.fromkeys(GREET.fail_to_pass, "passed")
    assert greet["test_command"] == "python -m pytest -rA tests/test_greet.py"
    assert greet["environment"]["spec"] == "default"  # acme/greet is not a repository the harness knows
    online = report["instances"]["acme__greet-2"]["pass_to_pass"]["tests/test_greet.py::test_fetch_greeting"]
    assert online["status"] == "needs_network" and online["detail"]
    log = (tmp_path / "gold" / "instances" / "acme__greet-1" / "test_output.txt").read_text()
    assert "4 passed" in log or "5 passed" in log
    # greet's build requirement pluggy<1 was left out: the environment kept the pluggy its pytest needs
    (built,) = [d for d in (root / "envs").iterdir() if d.is_dir() and d.name.startswith("acme__greet")]
    (pluggy,) = [p for p in json.loads((built / "env.json").read_text())["packages"] if p.startswith("pluggy==")]
    assert int(pluggy.split("==")[1].split(".")[0]) >= 1
    assert "# left out: pluggy<1: pip found no version of it beside the versions the environment holds" in (built / "build.log").read_text()

    empty = predictions(tmp_path / "empty.jsonl", [(i["instance_id"], "") for i in inst.values()])
    assert swebench_eval(setup, empty, tmp_path / "empty") == 1
    report = json.loads((tmp_path / "empty" / "report.json").read_text())
    assert report["resolved"] == [] and report["unresolved"] == ["acme__greet-1", "acme__greet-2"]
    greet = report["instances"]["acme__greet-1"]
    assert {r["status"] for r in greet["fail_to_pass"].values()} == {"failed"}
    assert {r["status"] for r in greet["pass_to_pass"].values()} == {"passed"}


def test_the_tests_import_the_checkout_not_an_installed_release(setup, tmp_path):
    """The environment is cached and shared; what the tests import is each instance's own checkout:
    a patch that only changes the checkout changes the verdict."""
    _, _, _, inst = setup
    wrong = inst["greet"]["patch"].replace("name + punctuation", "name + punctuation + '.'")
    preds = predictions(tmp_path / "wrong.jsonl", [("acme__greet-1", wrong)])
    assert swebench_eval(setup, preds, tmp_path / "wrong") == 0
    report = json.loads((tmp_path / "wrong" / "report.json").read_text())
    assert report["unresolved"] == ["acme__greet-1"]
    built = next((setup[0] / "envs").glob("acme__greet__*/env.json"))
    env = json.loads(built.read_text())
    assert not any(p.lower().startswith("greet") for p in env["packages"])  # dependencies only, never the repo
    pip = subprocess.run([str(built.parent / "venv" / "bin" / "python"), "-m", "pip", "--version"], capture_output=True,
                         text=True, check=True).stdout.split()[1]
    assert tuple(map(int, pip.split(".")[:2])) < (25, 3)  # overlays of commits without PEP 660 need setup.py develop
    assert "$ " + str(built.parent / "venv" / "bin" / "python") + " -m pip install --upgrade pip" in \
        (built.parent / "build.log").read_text()  # the pip that honours PIP_UPLOADED_PRIOR_TO did the installs


def test_bad_inputs_are_refused_with_a_clear_error(setup, tmp_path, capsys):
    _, repos, _, inst = setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instance_id": "acme__greet-1", "model_patch": ""}\nnot json\n')
    assert swebench_eval(setup, bad, tmp_path / "o1") == 2
    assert "line 2 is not valid JSON" in capsys.readouterr().err
    unknown = predictions(tmp_path / "unknown.jsonl", [("acme__nothing-9", "")])
    assert swebench_eval(setup, unknown, tmp_path / "o2") == 2
    assert "unknown instance 'acme__nothing-9'" in capsys.readouterr().err
    bad.write_text('{"instance_id": "acme__greet-1", "model_patch": 3}\n')
    assert swebench_eval(setup, bad, tmp_path / "o3") == 2
    assert "'model_patch' must be a string" in capsys.readouterr().err
    good = predictions(tmp_path / "good.jsonl", [("acme__calc-1", inst["calc"]["patch"])])
    assert treesearch_main(["swebench-eval", "--predictions", str(good), "--instances", str(setup[2]),
                            "--repos-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o4")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_patch_that_does_not_apply_is_an_error_and_a_rerun_resumes(setup, tmp_path, capsys):
    _, _, _, inst = setup
    preds = predictions(tmp_path / "p.jsonl", [("acme__greet-2", inst["calc"]["patch"]),
                                               ("acme__greet-1", inst["greet"]["patch"])])
    out = tmp_path / "out"
    assert swebench_eval(setup, preds, out) == 1
    assert "error: acme__greet-2: the patch does not apply" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["error"] == ["acme__greet-2"] and report["resolved"] == ["acme__greet-1"]
    lines = (out / "results.jsonl").read_text().splitlines()
    assert swebench_eval(setup, preds, out) == 1  # nothing judged twice
    assert (out / "results.jsonl").read_text().splitlines() == lines
    assert "judging" not in capsys.readouterr().out


def test_pytest_and_tox_run_as_modules_of_the_worktrees_python():
    """The overlay's bin holds only its python: pytest and tox (sphinx's spec) run as its modules."""
    tox = harness_command("tox --current-env -epy39 -v --", ["tests/test_a.py"])
    assert tox.endswith(" && python -m tox --current-env -epy39 -v -- -rA tests/test_a.py")
    assert harness_command("pytest --no-header -rA", ["t y.py"]) == "python -m pytest --no-header -rA 't y.py'"
    assert harness_command("bin/test -C --verbose", ["t.py"]) == "bin/test -C --verbose t.py"


def test_tox_current_env_runs_the_overlays_python_through_a_script(tmp_path):
    """tox-current-env's ``python`` symlink would start the overlay's interpreter without its
    packages; the command puts a script there first, which runs the Python on ``PATH``."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    command = harness_command("tox --current-env -epy39 -v --", ["t.py"]).split(" && python -m tox")[0]
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    subprocess.run(command, shell=True, cwd=tmp_path, env=env, check=True)
    script = tmp_path / ".tox" / "py39" / "bin" / "python"
    assert not script.is_symlink()
    prefix = subprocess.run([str(script), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                            check=True, env=env).stdout.strip()
    assert prefix == str(venv)
    link = tmp_path / "link"
    (link / "bin").mkdir(parents=True)
    (link / "bin" / "python").symlink_to(venv / "bin" / "python")  # what the plugin writes: the base prefix
    assert subprocess.run([str(link / "bin" / "python"), "-c", "import sys; print(sys.prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip() != str(venv)


def test_a_cut_id_matches_every_full_name_it_starts():
    statuses = {"t.py::test_x[a b-1]": "PASSED", "t.py::test_x[a c-2]": "FAILED", "t.py::test_xy": "FAILED"}
    assert grade("t.py::test_x[a", statuses, {})["status"] == "failed"
    assert grade("t.py::test_x[a", {"t.py::test_x[a b-1]": "PASSED"}, {})["matched"] == ["t.py::test_x[a b-1]"]
    assert grade("t.py::test_x", statuses, {})["status"] == "missing"  # a whole id is never a prefix
    network = {"t.py::test_y": "FAILED"}
    assert grade("t.py::test_y", network, {"t.py::test_y": "OSError: [Errno 101] Network is unreachable"})["status"] \
        == "needs_network"


def test_search_checks_run_the_related_tests_in_the_instance_environment(setup):
    """In the instance's environment the related tests of a src-layout repository run (they import
    the installed checkout) and say something; a patch leaving a name undefined is rejected."""
    import asyncio

    from treesearch.sandbox.command import CommandRunner
    from treesearch.swebench.checks import RepoChecker
    from treesearch.swebench.environment import RepoEnvironment
    from treesearch.swebench.problem import RepoProblem
    from treesearch.swebench.repos import find_repository
    from treesearch.swebench.specs import spec_for
    from treesearch.swebench.venvs import EnvCache

    root, repos, _, inst = setup
    problem = RepoProblem.from_dict(inst["greet"])
    source = find_repository(problem.repo, repos)
    instance_env = EnvCache(root / "envs").get(spec_for(problem), source, problem.environment_setup_commit)
    with CommandRunner() as runner:
        env = RepoEnvironment(source, problem.base_commit, runner, 1, instance_env=instance_env).open()
        checker = RepoChecker(env)

        async def check(patch):
            async with env.worktree(patch, None) as tree:
                assert tree.overlay is not None
                return await checker.check(tree, patch, None)

        async def broken_patch():
            async with env.worktree(problem.patch, None) as tree:
                fixed = tree.read("src/greet/__init__.py")
                tree.write("src/greet/__init__.py", fixed.replace(
                    '    return "Hello " + name + punctuation', '    if not name:\n        return salutation\n'
                    '    return "Hello " + name + punctuation'))
                patch = tree.diff()
                tree.state = (patch, None)
                return patch

        try:
            good = asyncio.run(check(problem.patch))
            assert good.all_passed and good.tests_before == good.tests_kept == 2, good.render()
            bad = asyncio.run(check(asyncio.run(broken_patch())))
            assert bad.status == "undefined_names" and "salutation" in bad.render()
        finally:
            env.close()


def test_the_runner_searches_and_judges_in_instance_environments(setup, tmp_path):
    root, repos, instances, inst = setup
    out = tmp_path / "run"
    assert treesearch_main(["swebench", "--instances", str(instances), "--ids", "acme__greet-1", "--repos-dir", str(repos),
                            "--model", "sim", "--budget", "20", "--instance-envs", "--env-dir", str(root / "envs"),
                            "--local-eval", "--out", str(out)]) == 0
    result = json.loads((out / "instances" / "acme__greet-1" / "result.json").read_text())
    assert result["checks_passed"] and result["local_eval"]["status"] == "resolved"
    assert set(result["local_eval"]["fail_to_pass"].values()) == {"passed"}
    checked = [s for s in json.loads((out / "instances" / "acme__greet-1" / "trajectory.json").read_text()) if s.get("checks")]
    # the related tests ran in the environment (the src layout imports only once installed)
    assert checked and checked[-1]["checks"]["tests_before"] == 2


def test_a_python_the_machine_lacks_is_named():
    from treesearch.swebench.venvs import PythonMissing, find_python

    with pytest.raises(PythonMissing, match=r"Python 2\.5, which is not on this machine"):
        find_python("2.5")
