"""The search engine end to end with the simulated coder and the real sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from treesearch.api import search
from treesearch.engine.nodes import ThoughtNode
from treesearch.judgement import judge
from treesearch.problems import CodeProblem
from treesearch.sandbox import Sandbox
from treesearch.sandbox.harness import test_fingerprint

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "problems"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox() as box:
        yield box


def example(name: str) -> CodeProblem:
    return CodeProblem.from_file(EXAMPLES / f"{name}.json")


def first_program_failed(result) -> bool:
    first = next(e for e in result.events if e["type"] == "evaluate")
    return first["passed"] < first["total"]


def test_rethink_solves_a_problem_whose_first_program_is_wrong(sandbox, tmp_path):
    problem = example("merge_intervals")
    for seed in range(60):
        result = search(problem, model="sim", budget=12, seed=seed, sandbox=sandbox, concurrency=1,
                        config={"width": 1, "max_debug_depth": 0, "plain_first": False},
                        out=tmp_path / str(seed))
        if first_program_failed(result) and result.stats["rethinks_helped"] >= 1 and result.solved:
            break
    else:
        pytest.fail("no seed in 0..59 where a rethink repaired a wrong first program")
    # the rethought thought keeps its superseded version, with the feedback that disproved it
    rethought = [p for p in result.tree.payload.values() if isinstance(p, ThoughtNode) and len(p.versions) > 1]
    assert rethought
    assert rethought[0].versions[0].superseded_because.endswith(")")
    assert "visible tests passed" in rethought[0].versions[0].superseded_because
    # the failed program is a superseded node that points at its replacement
    superseded = [n for n in result.tree.nodes() if result.tree.stats(n)["superseded"]]
    assert superseded and result.tree.payload[superseded[0]].superseded_by is not None
    # ... and the run directory shows both
    doc = orjson.loads((result.run_dir / "tree.json").read_bytes())
    versions = [n["payload"]["versions"] for n in doc["nodes"] if n["kind"] == "thought"]
    assert any(len(v) > 1 and v[0]["superseded_because"] for v in versions)
    assert any(n["superseded"] for n in doc["nodes"])
    assert (result.run_dir / "tree.html").stat().st_size > 0
    assert result.model == "sim"


def test_budget_ends_the_search_with_the_best_partial_program(sandbox):
    problem = example("edit_distance")
    for seed in range(60):
        result = search(problem, model="sim", budget=3, seed=seed, sandbox=sandbox, concurrency=1,
                        config={"width": 1, "rethink": False})
        if not result.solved:
            break
    else:
        pytest.fail("every seed solved edit_distance within 3 calls")
    assert result.stopped_because == "budget: max_calls"
    assert result.stats["llm_calls"] == 3
    assert result.best is not None and result.best.value < 1.0
    values = [e["value"] for e in result.events if e["type"] == "evaluate"]
    assert result.best.value == max(values)


def test_hidden_tests_never_run_during_search(sandbox):
    problem = example("roman_numerals")
    hidden = {test_fingerprint(t) for t in problem.hidden_tests}
    visible = {test_fingerprint(t) for t in problem.visible_tests}
    assert hidden and not hidden & visible
    start = len(sandbox.call_log)
    result = search(problem, model="sim", budget=16, seed=3, sandbox=sandbox)
    during = [fp for call in sandbox.call_log[start:] for fp in call.fingerprints]
    assert during and set(during) <= visible
    assert not set(during) & hidden
    asyncio.run(judge(problem, result.best.code, sandbox))
    after = sandbox.call_log[start + len(sandbox.call_log[start:]) - 1]
    assert set(after.fingerprints) == hidden  # the judge's one run, on the hidden tests only


def test_the_policy_never_sees_hidden_tests(sandbox):
    """The policy gets the search view of the problem: no hidden tests to leak into a prompt."""
    seen = []

    class Spy:
        name = "sim-spy"

        def __init__(self) -> None:
            from policies.simulated import SimulatedCoder

            self.inner = SimulatedCoder(seed=0)

        async def propose(self, ctx, kind, n):
            seen.append((len(ctx.problem.hidden_tests), len(ctx.problem.plus_tests)))
            return await self.inner.propose(ctx, kind, n)

    problem = example("two_sum")
    assert problem.hidden_tests
    search(problem, policy=Spy(), value="execution", budget=6, sandbox=sandbox)
    assert seen and set(seen) == {(0, 0)}


class CountingPayload(dict):
    """A payload store that counts whole-store walks."""

    walks = 0

    def _walk(self):
        CountingPayload.walks += 1

    def items(self):
        self._walk()
        return super().items()

    def values(self):
        self._walk()
        return super().values()

    def __iter__(self):
        self._walk()
        return super().__iter__()


def test_no_whole_tree_walks_per_step(sandbox, monkeypatch):
    """Per-step work must not grow with the tree: the payload store is walked only for the final
    pick, however many steps the search takes."""
    from treesearch import tree as tree_module

    original = tree_module.SearchTree.__init__

    def patched(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.payload = CountingPayload(self.payload)

    monkeypatch.setattr(tree_module.SearchTree, "__init__", patched)
    walks, steps = [], []
    for budget in (4, 80):
        CountingPayload.walks = 0
        # three levels of thoughts: room for many expansions before the tree is exhausted
        result = search(example("spiral_order"), model="sim", budget=budget, seed=1, sandbox=sandbox,
                        config={"early_stop": False, "width": 3, "thought_depth": 3})
        walks.append(CountingPayload.walks)
        steps.append(sum(e["type"] == "backprop" for e in result.events))
    assert steps[1] >= 10 * steps[0]
    assert walks[0] == walks[1] <= 2


@pytest.mark.parametrize("strategy", ["mcts", "best_of_n", "self_debug", "beam"])
def test_every_strategy_keeps_the_budget(strategy, sandbox, tmp_path):
    problem = example("longest_increasing_subsequence")
    result = search(problem, model="sim", strategy=strategy, budget=7, seed=2, sandbox=sandbox,
                    config={"early_stop": False}, out=tmp_path)
    assert result.stats["llm_calls"] <= 7
    assert result.stopped_because.startswith(("budget", "exhausted"))
    assert result.best is not None
    saved = orjson.loads((tmp_path / "result.json").read_bytes())
    assert saved["strategy"] == strategy and saved["model"] == "sim"
    assert saved["stats"]["llm_calls"] == result.stats["llm_calls"]
    assert len((tmp_path / "events.jsonl").read_bytes().splitlines()) == len(result.events)


def test_same_seed_same_search(sandbox):
    problem = example("word_frequency")
    a = search(problem, model="sim", budget=10, seed=5, sandbox=sandbox, concurrency=1)
    b = search(problem, model="sim", budget=10, seed=5, sandbox=sandbox, concurrency=1)
    assert a.best.code == b.best.code
    assert {k: v for k, v in a.stats.items() if k != "wall_s"} == {k: v for k, v in b.stats.items() if k != "wall_s"}


def test_a_malformed_budget_is_a_clear_error():
    with pytest.raises(ValueError, match="budget"):
        search(example("two_sum"), model="sim", budget=0)
    with pytest.raises(ValueError, match="unknown strategy"):
        search(example("two_sum"), model="sim", strategy="greedy")


def test_the_package_exports_stay_the_functions_after_every_submodule_is_imported():
    """A submodule named like an export would replace it on the package once imported (Python binds
    ``treesearch.<sub>`` on import), so ``from treesearch import search`` would give a module."""
    import subprocess
    import sys

    script = (
        "import importlib, pkgutil, inspect, treesearch\n"
        "for info in pkgutil.walk_packages(treesearch.__path__, 'treesearch.'):\n"
        "    importlib.import_module(info.name)\n"
        "from treesearch import __all__ as names\n"
        "import treesearch as t\n"
        "bad = [n for n in names if inspect.ismodule(getattr(t, n))]\n"
        "print(len(names), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    count, bad = out.split(" ", 1)
    assert int(count) >= 10 and bad.strip() == "[]", out


def test_a_config_object_keeps_its_strategy_and_concurrency(sandbox, tmp_path):
    from treesearch.engine.state import SearchConfig

    result = search(example("two_sum"), model="sim", budget=4, sandbox=sandbox, out=tmp_path,
                    config=SearchConfig(concurrency=8, strategy="beam"))
    written = orjson.loads((tmp_path / "config.json").read_bytes())["search"]
    assert result.strategy == "beam" and (written["strategy"], written["concurrency"]) == ("beam", 8)
    explicit = search(example("two_sum"), model="sim", budget=4, sandbox=sandbox, strategy="best_of_n",
                      concurrency=2, config=SearchConfig(concurrency=8, strategy="beam"))
    assert explicit.strategy == "best_of_n"


def test_a_policy_of_your_own_searches_with_the_default_value_and_no_model(sandbox):
    from policies.simulated import SimulatedCoder

    class MyPolicy(SimulatedCoder):
        name = "my-policy"  # not a model string: nothing may be built from it

    result = search(example("two_sum"), policy=MyPolicy(seed=0), budget=6, sandbox=sandbox)
    assert result.model == "my-policy" and result.best is not None
    evaluations = [e for e in result.events if e["type"] == "evaluate"]
    assert evaluations and all("critique" not in e["components"] for e in evaluations)  # no critic: execution only


def test_search_takes_only_the_tree_strategies(sandbox):
    with pytest.raises(ValueError, match="unknown strategy 'evolve'"):
        search(example("two_sum"), model="sim", strategy="evolve", sandbox=sandbox)


def test_plain_first_puts_a_program_and_the_thoughts_below_the_root(sandbox):
    from treesearch.tree import ROOT

    for seed in range(20):
        result = search(example("merge_intervals"), model="sim", budget=8, seed=seed, sandbox=sandbox,
                        concurrency=2, config={"plain_first": True, "width": 3, "root_widening": 0.0})
        below_root = [result.tree.payload[c] for c in result.tree.children(ROOT)]
        if not first_program_failed(result):
            assert len(below_root) == 1  # a first program that solved it ended the search
            continue
        assert not isinstance(below_root[0], ThoughtNode)  # the program from the problem comes first
        assert [isinstance(p, ThoughtNode) for p in below_root[1:]] == [True] * 3
        break
    else:
        pytest.fail("no seed in 0..19 where the first program failed")


@pytest.mark.parametrize("plain_first", [True, False])
def test_fresh_programs_join_the_thoughts_below_the_root_at_k4(sandbox, plain_first):
    """root_widening with thoughts, four expansions at once, no early stop: the root takes programs
    from the problem beside its thoughts, in one block, while the thoughts' lines go on below."""
    from treesearch.tree import ROOT

    result = search(example("merge_intervals"), model="sim", budget=24, seed=1, sandbox=sandbox, concurrency=4,
                    cache=False, config={"plain_first": plain_first, "root_widening": 0.75, "early_stop": False})
    children = result.tree.children(ROOT)
    kinds = [isinstance(result.tree.payload[c], ThoughtNode) for c in children]
    assert kinds.count(True) == 3 and kinds.count(False) >= 3
    assert children == list(range(children[0], children[0] + len(children)))
    assert any(result.tree.children(c) for c, thought in zip(children, kinds) if thought)
