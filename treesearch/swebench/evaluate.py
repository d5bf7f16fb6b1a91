"""``treesearch swebench-eval``: judge a predictions file locally, one instance after another.

Any predictions file in the official format (ours or another tool's: ``.jsonl``, or a ``.json`` list)
is read whole and checked first: a malformed line or a prediction for an instance the instance file
does not hold is an error before anything runs. Each prediction is then judged
(:func:`treesearch.swebench.judge.judge`) in its instance's environment
(:mod:`treesearch.swebench.venvs`, built on first use and cached).

Output directory::

    results.jsonl             one verdict per judged instance (append + fsync: a kill loses at most the
                              instance being judged; a re-run skips the judged ones)
    instances/<id>/           patch.diff, test_output.txt (the test log), build.log (when the environment
                              failed to build), verdict.json
    report.json               {"unofficial": true, "resolved", "unresolved", "error", "needs_network"
                              (instance ids), "instances": {id: verdict}, "official_command"}

It is **unofficial**: the official harness runs each instance in its Docker image; the command that
does so is in the report and printed beside it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from treesearch.evaluation import ResultsFile
from treesearch.export.files import safe_name, write_json
from treesearch.swebench.environment import RepoEnvironment, WorkspaceError
from treesearch.swebench.judge import VERDICTS, judge
from treesearch.swebench.problem import RepoProblem
from treesearch.swebench.records import read_records
from treesearch.swebench.repos import RepoSourceError, find_repository, require_commit
from treesearch.swebench.specs import SpecError, spec_for
from treesearch.swebench.venvs import EnvBuildError, EnvCache

RESULTS = "results.jsonl"
REPORT = "report.json"
UNOFFICIAL = ("unofficial: judged on this machine in per-instance virtual environments built from the swebench "
              "package's specifications, not in the official harness's Docker images")


class PredictionsError(ValueError):
    """The predictions file is malformed, or names an instance the instance file does not hold."""


def load_predictions(path: Path, known: set[str]) -> list[dict[str, Any]]:
    """The predictions of ``path``, each ``{"instance_id", "model_name_or_path", "model_patch"}``;
    :class:`PredictionsError` names the line and the field."""
    # a .json file is a list (or {instance_id: prediction}, which the harness also takes); any other, JSON lines
    items = read_records(path, "predictions file", PredictionsError, lines=path.suffix != ".json",
                         item="prediction", expected="a list of predictions", mapping=True)
    predictions, seen = [], set()
    for where, item in items:
        if not isinstance(item, dict):
            raise PredictionsError(f"{path}: {where}: a prediction must be a JSON object")
        instance_id, patch = item.get("instance_id"), item.get("model_patch")
        if not isinstance(instance_id, str) or not instance_id:
            raise PredictionsError(f"{path}: {where}: 'instance_id' must be a non-empty string")
        if patch is not None and not isinstance(patch, str):
            raise PredictionsError(f"{path}: {where}: 'model_patch' must be a string (or null)")
        if instance_id not in known:
            raise PredictionsError(f"{path}: {where}: unknown instance {instance_id!r} (not in the instance file)")
        if instance_id in seen:
            raise PredictionsError(f"{path}: {where}: instance {instance_id!r} is predicted twice")
        seen.add(instance_id)
        predictions.append({"instance_id": instance_id, "model_patch": patch or "",
                            "model_name_or_path": str(item.get("model_name_or_path") or "")})
    if not predictions:
        raise PredictionsError(f"{path}: no predictions")
    return predictions


async def evaluate(predictions: list[dict[str, Any]], problems: dict[str, RepoProblem], repos_dir: Path | None,
                   out: Path, runner: Any, envs: EnvCache, note: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Judge every prediction not yet judged in ``out``; the verdicts of all of them, in order."""
    out.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out / RESULTS)
    done = {r["instance_id"]: r for r in results.records}
    for number, prediction in enumerate(predictions, 1):
        instance_id = prediction["instance_id"]
        if instance_id in done:
            continue
        started = time.monotonic()
        directory = out / "instances" / safe_name(instance_id)
        if directory.exists():
            shutil.rmtree(directory)  # an instance a kill interrupted: judged again from scratch
        directory.mkdir(parents=True)
        (directory / "patch.diff").write_text(prediction["model_patch"], encoding="utf-8")
        note(f"[{number}/{len(predictions)}] {instance_id}: judging")
        record = await judge_prediction(problems[instance_id], prediction["model_patch"], repos_dir, runner, envs,
                                        directory, note)
        record = {"instance_id": instance_id, "model_name_or_path": prediction["model_name_or_path"], **record,
                  "wall_s": round(time.monotonic() - started, 1)}
        write_json(directory / "verdict.json", record)
        results.append(record)
        done[instance_id] = record
        note(f"[{number}/{len(predictions)}] {instance_id}: {record['status']}"
             + (f" — {record['error']}" if record.get("error") else "") + f" ({record['wall_s']:.0f} s)")
    return [done[p["instance_id"]] for p in predictions]


async def judge_prediction(problem: RepoProblem, patch: str, repos_dir: Path | None, runner: Any, envs: EnvCache,
                           directory: Path, note: Callable[[str], None] = print) -> dict[str, Any]:
    """One instance's verdict (status "error" with the reason when it cannot be judged)."""
    record: dict[str, Any] = {"status": "error", "error": None, "environment": None}
    try:
        spec = spec_for(problem)
        record["environment"] = {"key": spec.key, "python": spec.python, "spec": "harness" if spec.known else "default"}
        source = find_repository(problem.repo, repos_dir)
        require_commit(source, problem.base_commit, problem.repo)
        if not (envs.root / spec.key / "env.json").is_file():
            note(f"  building the environment {spec.key} (once; cached in {envs.root})")
        instance_env = envs.get(spec, source, problem.environment_setup_commit or problem.base_commit)
        env = RepoEnvironment(source, problem.base_commit, runner, slots=1, instance_env=instance_env,
                              workdir=directory / "work").open()
    except EnvBuildError as e:
        if e.log is not None and e.log.is_file():
            shutil.copy(e.log, directory / "build.log")
        return {**record, "error": str(e)}
    except (SpecError, RepoSourceError, WorkspaceError) as e:
        return {**record, "error": str(e)}
    try:
        verdict = await judge(problem, patch, env, spec)
    except Exception as e:  # noqa: BLE001 - one instance's failure must not end a run over hundreds
        return {**record, "error": f"{type(e).__name__}: {e}"}
    finally:
        shutil.rmtree(directory / "work", ignore_errors=True)
    (directory / "test_output.txt").write_text(verdict.pop("log"), encoding="utf-8")
    return {**record, **verdict}


def make_report(records: list[dict[str, Any]], official_command: str) -> dict[str, Any]:
    """``report.json`` (see the module docstring)."""
    report: dict[str, Any] = {"unofficial": True, "note": UNOFFICIAL, "official_command": official_command}
    for status in VERDICTS:
        report[status] = [r["instance_id"] for r in records if r["status"] == status]
    report["instances"] = {r["instance_id"]: {k: v for k, v in r.items() if k != "instance_id"} for r in records}
    return report


def write_report(out: Path, records: list[dict[str, Any]], official_command: str) -> dict[str, Any]:
    report = make_report(records, official_command)
    write_json(out / REPORT, report)
    return report
