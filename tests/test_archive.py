"""The archive: parent-selection probabilities, duplicates, persistence, staged evaluation, elites."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest

from treesearch.archive import (
    Archive,
    ArchiveError,
    EvaluationError,
    Rejected,
    Stage,
    StageResult,
    choose_parent,
    confirm_elite,
    evaluate_staged,
    parent_probabilities,
)
from treesearch.evolve.agents import AgentFormat, default_config
from treesearch.evolve.programs import ProgramFormat
from treesearch.export.graph import check_tree_document
from treesearch.export.html import render_html


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------------- parent selection
def test_dgm_halves_the_weight_per_child_and_follows_the_sigmoid():
    # Equal scores: weight 1/(1 + children), so 0 children vs 1 child is 2 : 1.
    assert parent_probabilities([0.5, 0.5], [0, 1], "dgm") == pytest.approx([2 / 3, 1 / 3])
    # sigma(10 * (s - 0.5)) = 0.75 at s = 0.5 + ln(3)/10, against 0.5 at s = 0.5: 0.4 : 0.6.
    assert parent_probabilities([0.5, 0.5 + math.log(3) / 10], [0, 0], "dgm") == pytest.approx([0.4, 0.6])
    scores, children = [0.5, 0.7, 0.2, 0.9], [0, 1, 3, 0]
    weights = [sigmoid(10 * (s - 0.5)) / (1 + n) for s, n in zip(scores, children)]
    expected = [w / sum(weights) for w in weights]
    assert parent_probabilities(scores, children, "dgm") == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx([0.25849, 0.22768, 0.00613, 0.50769], abs=1e-5)


def test_median_rule_is_centred_on_the_median_and_scale_free():
    # median 2, median absolute deviation 1, lambda 2: sigma(-2), sigma(0), sigma(2), which sum to 1.5.
    p = parent_probabilities([1.0, 2.0, 3.0], [0, 0, 0], "median")
    assert p == pytest.approx([sigmoid(-2) / 1.5, 1 / 3, sigmoid(2) / 1.5])
    scores, children = np.array([0.2, 0.35, 0.4, 0.9, 0.1]), [2, 0, 1, 0, 4]
    assert parent_probabilities(scores, children, "median") == pytest.approx(
        parent_probabilities(1000 * scores + 7, children, "median"))  # runs/s or pass rates alike
    # All equal: only the child counts matter.
    assert parent_probabilities([3.0, 3.0, 3.0], [0, 1, 3], "median") == pytest.approx(
        np.array([1, 1 / 2, 1 / 4]) / 1.75)
    # Zero median absolute deviation falls back to the mean absolute deviation (here 1).
    p = parent_probabilities([5.0, 5.0, 5.0, 9.0], [0, 0, 0, 0], "median")
    assert p == pytest.approx(np.array([0.5, 0.5, 0.5, sigmoid(8)]) / (1.5 + sigmoid(8)))


def test_uniform_and_best_baselines():
    assert parent_probabilities([0.1, 0.9, 0.3], [5, 0, 0], "uniform") == pytest.approx([1 / 3] * 3)
    assert parent_probabilities([0.3, 0.9, 0.9], [0, 0, 7], "best") == pytest.approx([0, 0.5, 0.5])


def test_bad_selection_arguments_are_errors():
    with pytest.raises(ValueError, match="unknown selection rule"):
        parent_probabilities([0.5], [0], "roulette")
    with pytest.raises(ValueError):
        parent_probabilities([], [], "dgm")
    with pytest.raises(ValueError):
        parent_probabilities([0.5, float("nan")], [0, 0], "dgm")


def test_sampled_parents_follow_the_probabilities(tmp_path):
    archive = Archive(tmp_path / "a.sqlite", ProgramFormat("f"))
    scores = [0.2, 0.5, 0.8]
    for i, score in enumerate(scores):
        v = archive.add({"code": f"def f():\n    return {i}\n"})
        archive.record_score(v.id, 0, 0, StageResult(score))
        archive.set_status(v.id, "done")
    archive.add({"code": "def f():\n    return 99\n"}, parent=3)  # variant 3 now has a child
    variants = archive.variants("done")
    assert [v.children for v in variants] == [0, 0, 1]
    expected = parent_probabilities(scores, [0, 0, 1], "dgm")
    rng = np.random.default_rng(1)
    draws = [choose_parent(variants, rng, "dgm").id for _ in range(20_000)]
    observed = np.bincount(draws, minlength=4)[1:] / len(draws)
    assert observed == pytest.approx(expected, abs=0.015)


# ---------------------------------------------------------------------- duplicates and persistence
PROGRAM = '''def total(xs, k):
    """Sum of xs times k."""
    acc = 0
    for x in xs:
        acc += x * k
    return acc
'''
RENAMED = '''def total(values, factor):
    # the same program: other names, a comment, no docstring
    result = 0
    for value in values:
        result += value * factor
    return result
'''


def test_exact_and_near_duplicates_are_rejected_and_recorded(tmp_path):
    archive = Archive(tmp_path / "a.sqlite", ProgramFormat("total"))
    first = archive.add({"code": PROGRAM})
    with pytest.raises(Rejected) as exact:
        archive.add({"code": PROGRAM + "\n\n"}, parent=first.id, generation=1, slot=0)
    assert exact.value.kind == "duplicate" and exact.value.twin == first.id
    with pytest.raises(Rejected) as near:
        archive.add({"code": RENAMED}, parent=first.id, generation=1, slot=0)
    assert near.value.kind == "near_duplicate" and near.value.twin == first.id
    with pytest.raises(Rejected) as invalid:
        archive.add({"code": "def other():\n    return 1\n"}, generation=1, slot=1)
    assert invalid.value.kind == "invalid" and "total" in str(invalid.value)
    changed = archive.add({"code": RENAMED.replace("*", "+")}, parent=first.id, generation=1, slot=0)
    assert changed.parent == first.id and "+        result += value + factor" in changed.diff
    assert len(archive) == 2
    assert [r["reason"] for r in archive.rejections(1, 0)] == [f"a duplicate of #{first.id}", f"a near duplicate of #{first.id}"]
    assert archive.get(first.id).children == 1


def test_agent_configurations_that_differ_only_in_form_are_near_duplicates(tmp_path):
    fmt = AgentFormat()
    respaced = default_config()
    respaced["prompts"]["code"] = "\n\n  ".join(respaced["prompts"]["code"].replace("Write", "WRITE").split("\n"))
    assert fmt.exact_key(respaced) != fmt.exact_key(default_config())
    assert fmt.near_key(respaced) == fmt.near_key(default_config())
    reworded = default_config()
    reworded["prompts"]["code"] = reworded["prompts"]["code"].replace("complete", "shortest")
    assert fmt.near_key(reworded) != fmt.near_key(default_config())
    archive = Archive(tmp_path / "a.sqlite", fmt)
    base = archive.add(default_config())
    c1, c2 = default_config(), default_config()
    c1["params"]["selection.c"], c2["params"]["selection.c"] = 1.414, 1.41
    archive.add(c1, parent=base.id)
    with pytest.raises(Rejected, match="near duplicate"):
        archive.add(c2, parent=base.id)
    wider = default_config()
    wider["params"]["width"] = 4
    child = archive.add(wider, parent=base.id)
    assert "+width = 4" in child.diff


def test_archive_persists_and_refuses_other_settings(tmp_path):
    path = tmp_path / "a.sqlite"
    archive = Archive(path, ProgramFormat("total"), {"seed": 0, "model": "sim"})
    v = archive.add({"code": PROGRAM}, change="first", metadata={"note": "kept"})
    archive.record_score(v.id, 0, 0, StageResult(0.25, {"why": "stage 0"}))
    archive.record_score(v.id, 1, 0, StageResult(0.5))
    archive.record_score(v.id, 1, 1, StageResult(0.7))
    archive.set_status(v.id, "done")
    archive.close()
    again = Archive(path, ProgramFormat("total"), {"seed": 0, "model": "sim"})
    back = again.get(v.id)
    assert back.scores == ((0.25,), (0.5, 0.7)) and back.score == pytest.approx(0.6) and back.level == 2
    assert (back.status, back.change, back.metadata, back.payload) == ("done", "first", {"note": "kept"}, {"code": PROGRAM})
    assert again.score_details(v.id, 0) == [{"why": "stage 0"}]
    again.close()
    with pytest.raises(ArchiveError, match="seed"):
        Archive(path, ProgramFormat("total"), {"seed": 1, "model": "sim"})


# ---------------------------------------------------------------------- staged evaluation
class ScriptedEvaluator:
    """Scores from a table keyed by (variant id, stage, seed); logs every call."""

    def __init__(self, table: dict[tuple[int, int, int], float], sleep_s: float = 0.0) -> None:
        self.table = table
        self.calls: list[tuple[int, int, int]] = []
        self.sleep_s = sleep_s

    async def __call__(self, variant, stage, seed):
        self.calls.append((variant.id, stage, seed))
        await asyncio.sleep(self.sleep_s)
        if (variant.id, stage, seed) not in self.table:
            raise EvaluationError("no score scripted")
        return StageResult(self.table[variant.id, stage, seed])


def program_archive(tmp_path, n: int) -> Archive:
    archive = Archive(tmp_path / "a.sqlite", ProgramFormat("f"))
    for i in range(n):
        archive.add({"code": f"def f():\n    return {i}\n"})
    return archive


STAGES = [Stage("small", threshold=0.5, timeout_s=5), Stage("large", timeout_s=5)]


def test_the_larger_stage_runs_only_at_or_above_the_threshold(tmp_path):
    archive = program_archive(tmp_path, 3)
    evaluate = ScriptedEvaluator({(1, 0, 0): 0.4, (2, 0, 0): 0.5, (2, 1, 0): 0.45, (3, 0, 0): 0.9, (3, 1, 0): 0.8})
    below = asyncio.run(evaluate_staged(archive, 1, STAGES, evaluate))
    at = asyncio.run(evaluate_staged(archive, 2, STAGES, evaluate))
    above = asyncio.run(evaluate_staged(archive, 3, STAGES, evaluate))
    assert evaluate.calls == [(1, 0, 0), (2, 0, 0), (2, 1, 0), (3, 0, 0), (3, 1, 0)]
    assert (below.status, below.level, below.score) == ("done", 1, 0.4)
    assert (at.level, at.score) == (2, 0.45)  # the deepest stage's score, even when lower
    assert (above.level, above.score) == (2, 0.8)


def test_a_resumed_evaluation_runs_only_the_missing_stages(tmp_path):
    archive = program_archive(tmp_path, 1)
    archive.record_score(1, 0, 0, StageResult(0.7))  # stage 0 finished before a kill
    evaluate = ScriptedEvaluator({(1, 1, 0): 0.6})
    done = asyncio.run(evaluate_staged(archive, 1, STAGES, evaluate))
    assert evaluate.calls == [(1, 1, 0)]
    assert done.scores == ((0.7,), (0.6,)) and done.status == "done"


def test_every_evaluation_has_a_hard_wall_clock_limit(tmp_path):
    archive = program_archive(tmp_path, 1)
    stages = [Stage("slow", timeout_s=0.2)]
    started = time.monotonic()
    failed = asyncio.run(evaluate_staged(archive, 1, stages, ScriptedEvaluator({(1, 0, 0): 1.0}, sleep_s=30)))
    assert time.monotonic() - started < 5
    assert failed.status == "failed" and "0.2 s limit" in failed.reason and failed.level == 0
    assert archive.variants("done") == []  # a failed variant is never a parent


# ---------------------------------------------------------------------- elites
def test_an_elite_is_re_evaluated_and_one_lucky_score_never_becomes_the_record(tmp_path):
    archive = program_archive(tmp_path, 4)
    table = {
        (1, 0, 0): 0.6, (1, 1, 0): 0.6, (1, 1, 1): 0.6,   # the record: 0.6 twice
        (2, 0, 0): 0.9, (2, 1, 0): 0.9, (2, 1, 1): 0.1,   # lucky: 0.9 once, then 0.1
        (3, 0, 0): 0.6, (3, 1, 0): 0.6,                    # ties the record on seed 0
        (4, 0, 0): 0.7, (4, 1, 0): 0.7, (4, 1, 1): 0.7,   # really better
    }
    evaluate = ScriptedEvaluator(table)

    def run(variant: int):
        asyncio.run(evaluate_staged(archive, variant, STAGES, evaluate))
        return asyncio.run(confirm_elite(archive, variant, STAGES, evaluate, confirmations=2))

    run(1)
    assert archive.best(2, 2).id == 1  # the first variant is confirmed too before it counts
    lucky = archive.get(2)
    archive.record_score(2, 0, 0, StageResult(table[2, 0, 0]))
    archive.record_score(2, 1, 0, StageResult(table[2, 1, 0]))
    archive.set_status(2, "done")
    assert archive.awaiting_confirmation(2, 2, 2)
    assert archive.best(2, 2).id == 1  # an unconfirmed 0.9 is not trusted
    lucky = asyncio.run(confirm_elite(archive, 2, STAGES, evaluate, confirmations=2))
    assert lucky.scores[-1] == (0.9, 0.1) and archive.best(2, 2).id == 1
    tie = run(3)
    assert tie.scores[-1] == (0.6,)  # no re-evaluation for a tie on the same seed
    better = run(4)
    assert better.scores[-1] == (0.7, 0.7) and archive.best(2, 2).id == 4
    assert (1, 1, 1) in evaluate.calls and (3, 1, 1) not in evaluate.calls


def test_worse_children_are_kept_and_can_be_parents(tmp_path):
    archive = Archive(tmp_path / "a.sqlite", ProgramFormat("f"))
    parent = archive.add({"code": "def f():\n    return 1\n"})
    child = archive.add({"code": "def f():\n    return 2\n"}, parent=parent.id, generation=1)
    for v, score in ((parent.id, 0.9), (child.id, 0.2)):
        archive.record_score(v, 0, 0, StageResult(score))
        archive.set_status(v, "done")
    done = archive.variants("done")
    assert [v.id for v in done] == [parent.id, child.id]
    assert parent_probabilities([v.score for v in done], [v.children for v in done], "dgm")[1] > 0


def test_the_lineage_is_a_tree_document_the_viewer_draws(tmp_path):
    archive = Archive(tmp_path / "a.sqlite", ProgramFormat("f"))
    a = archive.add({"code": "def f():\n    return 1\n"}, change="first")
    b = archive.add({"code": "def f():\n    return 2\n"}, parent=a.id, change="two", generation=1)
    archive.record_score(a.id, 0, 0, StageResult(10.0))
    archive.record_score(b.id, 0, 0, StageResult(30.0))
    doc = check_tree_document(archive.tree_document("demo", ["speed"]))
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes[0]["kind"] == "root" and nodes[b.id]["parent"] == a.id and nodes[a.id]["parent"] == 0
    payload = nodes[b.id]["payload"]
    assert payload["kind"] == "variant" and payload["change"] == "two" and payload["scores"] == {"speed": [30.0]}
    assert payload["code"].startswith("def f") and "+    return 2" in payload["diff"]
    assert (nodes[a.id]["payload"]["value"], payload["value"]) == (0.0, 1.0)  # scores outside [0, 1]: scaled
    page = render_html(doc, run={"result": {"problem_id": "demo", "best": {"node_id": b.id}}})
    assert "<html" in page.lower() and '"kind":"variant"' in page
