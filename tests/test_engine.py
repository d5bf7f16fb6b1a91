"""The search logic on its own: the MCTS loop, expansion and rethink on a fake domain, with a scripted
policy and no sandbox, no model, no repository."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from treesearch.budget import BudgetExhausted
from treesearch.contracts import Evaluation, ExpansionContext, Proposal, ProposalError, StopReason
from treesearch.engine.mcts import expand_leaf, run_mcts
from treesearch.engine.nodes import ThoughtNode
from treesearch.engine.state import SearchConfig, SearchState
from treesearch.tree import ROOT


@dataclass
class Feedback:
    passed: int
    total: int = 2
    status: str = "ok"

    @property
    def all_passed(self) -> bool:
        return self.passed == self.total


@dataclass
class Guess:
    """A fake attempt: a guess whose score the script decides."""

    solution: str
    feedback: Any = None
    evaluation: Evaluation | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    superseded_by: int | None = None
    thought_versions: list[int] = field(default_factory=list)
    kind: str = "guess"

    @property
    def value(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.value

    @property
    def passed_all(self) -> bool:
        return self.feedback is not None and self.feedback.all_passed

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.solution}


class ScriptedPolicy:
    """Proposals from queues per kind; a queue item that is an exception is raised."""

    name = "scripted"

    def __init__(self, **queues: list[Any]) -> None:
        self.queues = {kind: list(items) for kind, items in queues.items()}
        self.calls: list[tuple[str, ExpansionContext]] = []

    async def propose(self, ctx: ExpansionContext, kind: str, n: int) -> list[Proposal]:
        self.calls.append((kind, ctx))
        queue = self.queues.get(kind, [])
        item = queue.pop(0) if queue else []
        if isinstance(item, BaseException):
            raise item
        return item


class PassFraction:
    async def evaluate(self, problem: Any, node: Any, feedback: Feedback) -> Evaluation:
        return Evaluation(feedback.passed / feedback.total)


class GuessDomain:
    """Attempts are guesses ``"pN"`` that pass N of 2 checks; a rethink's redo guesses again."""

    problem_id = "fake"
    view = "the problem"
    kinds = ("thought", "code", "debug", "rethink")

    def __init__(self) -> None:
        self.redone: list[tuple[int, int]] = []

    def context(self, search: SearchState, node_id: int) -> ExpansionContext:
        return search.thought_context(node_id)

    @staticmethod
    def render(feedback: Any) -> str:
        return "" if feedback is None else f"{feedback.passed}/{feedback.total}"

    @staticmethod
    def failure(attempt: Guess) -> str:
        return f"passed {attempt.feedback.passed}"

    @staticmethod
    def stats(search: SearchState) -> dict[str, int]:
        return {"checks": search.stats.checks}

    async def _add(self, search: SearchState, parent: int, proposal: Proposal) -> int:
        made_from = search.versions(parent)
        reserve = max(search.config.rethink_cap, search.root_room if parent == ROOT else 0)
        (node,) = search.tree.add_children(parent, [1.0], [Guess(proposal.content, thought_versions=made_from)],
                                           reserve=reserve)
        guess = search.node(node)
        guess.feedback = Feedback(int(proposal.content[1:].partition("-")[0]))
        await search.value(guess, node)
        search.finish(node, terminal=search.repeats(node))  # as the code domain does
        return node

    async def attempts(self, search: SearchState, start: int) -> AsyncIterator[int]:
        kind = "debug" if search.is_attempt(start) else "code"
        for proposal in await search.propose(start, kind, 1):
            yield await self._add(search, start, proposal)

    async def redo(self, search: SearchState, failed: int, thought: int) -> int | None:
        self.redone.append((failed, thought))
        parent = search.tree.parent(failed)
        proposals = await search.propose(parent, "code", 1)
        if not proposals:
            return None
        new = await self._add(search, parent, proposals[0])
        search.supersede(failed, new, thought)
        return new


class NoBudget:
    def exhausted(self) -> None:
        return None


def state_for(policy: ScriptedPolicy, **config: Any) -> SearchState:
    """A search of the guess domain; without a program before the thoughts, fresh programs beside
    them, a second rethink of a thought or an oracle, unless asked (these tests follow the thoughts'
    mechanics call by call)."""
    return SearchState(GuessDomain(), policy, PassFraction(), SearchConfig(
        **{"concurrency": 1, "plain_first": False, "root_widening": 0.0, "rethink_cap": 2, "oracle": False,
           **config}))


def thoughts(*priors: float) -> list[Proposal]:
    return [Proposal(f"idea {i}", prior) for i, prior in enumerate(priors)]


def guess(passed: int, name: str = "") -> list[Proposal]:
    """A guess that passes ``passed`` of 2 checks (``name`` tells apart guesses that pass as many)."""
    return [Proposal(f"p{passed}" + (f"-{name}" if name else ""))]


def test_the_root_rolls_out_its_most_probable_thought_and_releases_it():
    policy = ScriptedPolicy(thought=[thoughts(0.2, 0.7, 0.1)], code=[guess(2)])
    state = state_for(policy)
    expansion = asyncio.run(expand_leaf(state, ROOT))
    ideas = state.tree.children(ROOT)
    assert [state.node(t).text for t in ideas] == ["idea 0", "idea 1", "idea 2"]
    (program,) = state.tree.children(ideas[1])  # the 0.7 prior
    assert expansion.nodes == [program] and expansion.values == [1.0] and expansion.solved
    assert state.tree.arrays.in_flight[ideas[1]] == 0  # held while its code was written, then released
    assert state.tree.stats(program)["terminal"]


@pytest.mark.parametrize("confirm, calls", [
    ({}, ["thought", "code", "debug"]),  # confirm 1, no oracle: the first solved attempt stops the search
    # confirm 2, or an oracle, asks once for inputs to compare solved attempts on; with none to be
    # had (nor an oracle asked for), the first stops
    ({"confirm": 2}, ["thought", "code", "debug", "inputs"]),
    ({"oracle": True}, ["thought", "code", "debug", "inputs"]),
])
def test_mcts_stops_at_the_first_solved_attempt_and_backs_its_value_up(confirm, calls):
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(1)], debug=[guess(2)])
    state = state_for(policy, rethink=False, **confirm)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    assert stop == StopReason("solved") and str(stop) == "solved"
    best = state.ranked()[0]
    assert state.node(best).solution == "p2" and state.solved_by(best)
    assert [k for k, _ in policy.calls] == calls
    assert state.tree.stats(ROOT)["visits"] == 2 and state.stats.checks == 2


def test_a_repair_is_shown_the_failed_attempt_and_its_feedback():
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(0)], debug=[guess(1), guess(2)])
    state = state_for(policy, rethink=False)
    asyncio.run(run_mcts(state, NoBudget()))
    debug_contexts = [ctx for kind, ctx in policy.calls if kind == "debug"]
    assert debug_contexts[0].code == "p0" and debug_contexts[0].feedback_text == "0/2"
    assert debug_contexts[1].code == "p1" and debug_contexts[1].attempts == [("p0", "0/2")]


def test_rethink_rewrites_the_blamed_thought_and_supersedes_the_failed_attempt():
    rewrite = Proposal("idea 0, corrected", target=0)
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(0), guess(2)], rethink=[[rewrite]])
    state = state_for(policy)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    (idea,) = state.tree.children(ROOT)
    failed, rewritten = state.tree.children(idea)
    thought = state.node(idea)
    assert [v.text for v in thought.versions] == ["idea 0", "idea 0, corrected"]
    assert thought.versions[0].superseded_because == "passed 0"
    assert state.node(failed).superseded_by == rewritten and state.tree.stats(failed)["superseded"]
    assert state.domain.redone == [(failed, idea)]
    assert (state.stats.rethinks_tried, state.stats.rethinks_helped) == (1, 1) and str(stop) == "solved"
    supersede = [e for e in state.events.events if e["type"] == "supersede"]
    assert supersede and supersede[0]["node"] == failed and supersede[0]["by"] == rewritten


def test_rethink_that_blames_the_code_leaves_the_thought_alone():
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(0)], rethink=[[Proposal("the code is wrong")]],
                            debug=[guess(2)])
    state = state_for(policy)
    asyncio.run(run_mcts(state, NoBudget()))
    (idea,) = state.tree.children(ROOT)
    assert len(state.node(idea).versions) == 1 and state.domain.redone == []
    assert any(e["type"] == "rethink" and e["verdict"] == "code" for e in state.events.events)


def test_a_thought_is_rethought_at_most_rethink_cap_times():
    blame = [Proposal("again", target=0)]
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(0)] * 5, rethink=[blame] * 5)
    state = state_for(policy, rethink_cap=2, max_debug_depth=0)
    asyncio.run(run_mcts(state, NoBudget()))
    (idea,) = state.tree.children(ROOT)
    assert state.node(idea).rethinks == 2 and state.stats.rethinks_tried == 2


def test_failed_proposals_are_counted_and_enough_of_them_stop_the_search():
    down = ProposalError("the service is down")
    policy = ScriptedPolicy(thought=[down] * 10)
    state = state_for(policy, concurrency=1)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    assert stop.kind == "error" and "down" in stop.detail
    assert state.stats.expansion_errors == 3
    assert state.tree.arrays.in_flight[ROOT] == 0


def test_a_spent_budget_stops_the_search_with_its_limit():
    policy = ScriptedPolicy(thought=[BudgetExhausted("max_calls")])
    stop = asyncio.run(run_mcts(state_for(policy), NoBudget()))
    assert stop == StopReason("budget", "max_calls") and str(stop) == "budget: max_calls"


def test_a_leaf_the_policy_has_nothing_for_becomes_a_dead_end():
    policy = ScriptedPolicy(thought=[[]])
    state = state_for(policy)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    assert stop.kind == "exhausted" and state.tree.stats(ROOT)["terminal"]
    assert any(e["type"] == "empty_expansion" for e in state.events.events)


@pytest.mark.parametrize("approved, solved", [(True, True), (False, False), (None, False)])
def test_require_approval_needs_the_critics_yes(approved, solved):
    class Approving(PassFraction):
        async def evaluate(self, problem, node, feedback):
            return Evaluation(feedback.passed / feedback.total, approved=approved)

    state = SearchState(GuessDomain(), ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(2)]), Approving(),
                        SearchConfig(concurrency=1, require_approval=True))
    expansion = asyncio.run(expand_leaf(state, ROOT))
    assert expansion.solved is solved


def test_the_final_pick_keeps_one_candidate_per_distinct_solution():
    class Chooser:
        seen: list[list[str]] = []

        async def choose(self, problem, candidates):
            Chooser.seen.append(candidates)
            return len(candidates) - 1, "the last"

    state = state_for(ScriptedPolicy(), discriminator_top=3)
    (idea,) = state.add_thoughts(ROOT, thoughts(1.0))
    for passed in (1, 1, 0):
        asyncio.run(state.domain._add(state, idea, guess(passed)[0]))
    chosen = asyncio.run(state.final_pick(Chooser()))
    assert Chooser.seen == [["p1", "p0"]] and state.node(chosen).solution == "p0"


def test_attempts_that_tie_rank_in_the_order_they_were_added_not_by_id():
    """A thought's program has an id set aside when the thought was added, below the root's later
    programs: of two that pass alike, the first made is the pick (what ``confirm`` 1 stops at),
    not the lower id (HumanEval/130 on the dev subset: three solved programs, no two alike, the pick
    was a later one)."""
    state = state_for(ScriptedPolicy())
    state.root_room = 4  # ids kept below the root for its later programs
    (idea,) = state.add_thoughts(ROOT, thoughts(1.0))
    planned = asyncio.run(state.domain._add(state, idea, guess(2, "planned")[0]))
    fresh = asyncio.run(state.domain._add(state, ROOT, guess(2, "fresh")[0]))
    assert fresh < planned
    assert state.ranked() == [planned, fresh]
    assert state.node(asyncio.run(state.final_pick())).solution == "p2-planned"


def test_failures_stop_the_search_only_when_they_come_in_a_row():
    down = ProposalError("a bad moment")
    policy = ScriptedPolicy(thought=[down, down, thoughts(1.0)], code=[guess(0)],
                            debug=[down, down, guess(2)])
    state = state_for(policy, concurrency=1, rethink=False)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    assert stop == StopReason("solved") and state.stats.expansion_errors == 4


def test_a_root_without_readable_thoughts_gets_code_straight_from_the_problem():
    policy = ScriptedPolicy(thought=[[]], code=[guess(2)])
    state = state_for(policy)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    (program,) = state.tree.children(ROOT)
    assert str(stop) == "solved" and state.node(program).solution == "p2"
    assert [k for k, _ in policy.calls] == ["thought", "code"]


class Calls:
    """A budget of ``n`` expansions, as MCTS reads one (``max_calls``, ``exhausted``)."""

    def __init__(self, n: int, state: SearchState) -> None:
        self.max_calls, self.state = n, state

    def exhausted(self) -> str | None:
        return "max_calls" if len(self.state.policy.calls) >= self.max_calls else None


def execution_first(alpha: float, calls: int, **config: Any) -> tuple[SearchState, StopReason]:
    """A search with programs straight from the problem (``root_widening`` = ``alpha``) on failing
    guesses, each program and repair distinct, until ``calls`` proposals were asked for."""
    policy = ScriptedPolicy(code=[guess(0, f"c{i}") for i in range(calls)],
                            debug=[guess(1, f"d{i}") for i in range(calls)])
    state = state_for(policy, thought_depth=0, root_widening=alpha, rethink=False, **config)
    return state, asyncio.run(run_mcts(state, Calls(calls, state)))


def test_execution_first_widens_the_root_progressively():
    state, stop = execution_first(0.5, 8)
    # fresh while the root has fewer than ceil((N + 1)^0.5) programs: before expansions 1, 2 and 5
    assert [k for k, _ in state.policy.calls] == ["code", "code", "debug", "debug", "code", "debug", "debug", "debug"]
    assert len(state.tree.children(ROOT)) == 3 and str(stop) == "budget: max_calls"
    assert state.thought_path(state.tree.children(ROOT)[0]) == []  # no thoughts above the programs


@pytest.mark.parametrize("alpha, kinds", [(1.0, ["code"] * 6), (0.0, ["code"] + ["debug"] * 5)])
def test_root_widening_spans_best_of_n_to_one_chain_of_repairs(alpha, kinds):
    state, _ = execution_first(alpha, 6, max_debug_depth=10)
    assert [k for k, _ in state.policy.calls] == kinds


def test_slots_selection_cannot_fill_take_fresh_samples():
    state, _ = execution_first(0.5, 8, concurrency=4)
    first = next(e for e in state.events.events if e["type"] == "select")
    assert first["fresh"] == 4 and first["leaves"] == []  # not one busy slot and three idle


def test_root_widening_must_be_a_fraction():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SearchConfig(thought_depth=0, root_widening=1.5)


@pytest.mark.parametrize("plain_first", [True, False])
def test_with_thoughts_the_root_widens_with_programs_from_the_problem(plain_first):
    """The root's own expansion (its thoughts, and the first thought's program) comes first; then fresh
    programs from the problem compete with the thoughts' lines, and the root's children stay one block."""
    policy = ScriptedPolicy(thought=[thoughts(0.5, 0.5)], code=[guess(0, f"c{i}") for i in range(6)],
                            debug=[guess(0, f"d{i}") for i in range(6)])
    state = state_for(policy, thought_depth=1, root_widening=1.0, rethink=False, plain_first=plain_first)
    asyncio.run(run_mcts(state, Calls(5, state)))
    first = ["code", "thought", "code"] if plain_first else ["thought", "code"]
    # alpha 1: every expansion after the root's is a fresh program from the problem, never a repair
    assert [k for k, _ in policy.calls] == first + ["code"] * (5 - len(first))
    children = state.tree.children(ROOT)
    programs = [c for c in children if not isinstance(state.node(c), ThoughtNode)]
    assert len(children) - len(programs) == 2 and len(programs) == 5 - len(first) + int(plain_first)
    assert all(state.thought_path(p) == [] for p in programs)
    assert children == list(range(children[0], children[0] + len(children)))


def test_with_thoughts_and_no_widening_the_root_is_expanded_once():
    policy = ScriptedPolicy(thought=[thoughts(0.5, 0.5)], code=[guess(0, "a"), guess(0, "b")], debug=[guess(0, "c")])
    state = state_for(policy, thought_depth=1, rethink=False, plain_first=False)
    asyncio.run(run_mcts(state, Calls(4, state)))
    assert [k for k, _ in policy.calls] == ["thought", "code", "debug", "code"]  # one root expansion
    assert all(isinstance(state.node(c), ThoughtNode) for c in state.tree.children(ROOT))


def test_with_thoughts_an_exhausted_tree_spends_what_is_left_on_fresh_programs():
    """Every line ended (no repair, one thought): the calls left go to programs from the problem
    rather than end the search early."""
    policy = ScriptedPolicy(thought=[thoughts(1.0)], code=[guess(0, f"c{i}") for i in range(4)])
    state = state_for(policy, thought_depth=1, root_widening=0.1, rethink=False, plain_first=False,
                      max_debug_depth=0)
    stop = asyncio.run(run_mcts(state, Calls(5, state)))
    assert [k for k, _ in policy.calls] == ["thought", "code", "code", "code", "code"]
    assert str(stop) == "budget: max_calls"


def test_plain_first_writes_a_program_from_the_problem_beside_the_thoughts():
    policy = ScriptedPolicy(code=[guess(1, "plain"), guess(0, "t")], thought=[thoughts(0.7, 0.3)],
                            debug=[guess(2, "fixed")])
    state = state_for(policy, plain_first=True, rethink=False)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    assert [k for k, _ in policy.calls][:3] == ["code", "thought", "code"]
    plain, *rest = state.tree.children(ROOT)
    assert state.thought_path(plain) == [] and state.node(plain).solution == "p1-plain"
    assert [type(state.node(c)) for c in rest] == [ThoughtNode, ThoughtNode]
    # the plain program (1 of 2) is worth more than the first thought's (0 of 2): its repair is selected
    assert state.node(state.tree.children(plain)[0]).solution == "p2-fixed" and str(stop) == "solved"


def test_plain_first_stops_at_a_plain_program_that_solves_it():
    policy = ScriptedPolicy(code=[guess(2, "plain")], thought=[thoughts(0.5, 0.5)])
    state = state_for(policy, plain_first=True, confirm=1)
    assert str(asyncio.run(run_mcts(state, NoBudget()))) == "solved"
    assert [k for k, _ in policy.calls] == ["code"]  # no thought was asked for


def test_without_plain_first_the_root_has_only_thoughts():
    policy = ScriptedPolicy(code=[guess(0, "t")], thought=[thoughts(0.5, 0.5)])
    state = state_for(policy, plain_first=False, rethink=False)
    asyncio.run(run_mcts(state, Calls(2, state)))
    assert all(isinstance(state.node(c), ThoughtNode) for c in state.tree.children(ROOT))
    assert SearchConfig().plain_first  # the default since the dev subset chose it


def test_the_defaults_widen_the_root_and_rethink_a_thought_once():
    """Chosen on the dev-wide subset (README): fresh programs from the problem beside the thoughts'
    lines, in place of a second rethink of the same thought."""
    config = SearchConfig()
    assert (config.root_widening, config.rethink_cap) == (1.0, 1)
    policy = ScriptedPolicy(code=[guess(0, f"c{i}") for i in range(6)], thought=[thoughts(0.5, 0.5)])
    state = SearchState(GuessDomain(), policy, PassFraction(), SearchConfig(concurrency=1, rethink=False))
    asyncio.run(run_mcts(state, Calls(6, state)))
    below_root = [state.node(c) for c in state.tree.children(ROOT)]
    assert sum(not isinstance(n, ThoughtNode) for n in below_root) >= 2  # the plain program and a fresh one


def test_a_repair_that_gives_its_program_back_ends_that_branch():
    policy = ScriptedPolicy(code=[guess(1, "a"), guess(1, "b")], debug=[guess(1, "a"), guess(2)])
    state = state_for(policy, thought_depth=0, root_widening=0.5, rethink=False)
    stop = asyncio.run(run_mcts(state, NoBudget()))
    first, second = state.tree.children(ROOT)
    (repeat,) = state.tree.children(first)
    assert state.node(repeat).solution == "p1-a" and state.tree.stats(repeat)["terminal"]
    # the repeated program's branch is done (exhausted): the next repair goes to the other program
    assert state.tree.stats(first)["exhausted"]
    assert [k for k, _ in policy.calls] == ["code", "code", "debug", "debug"]
    assert str(stop) == "solved" and state.node(state.tree.children(second)[0]).solution == "p2"


def test_results_are_the_same_value_as_reprs_or_as_numbers_close_to_the_last_bits():
    from treesearch.engine.state import same_value

    assert same_value("[1, 2]", "[1, 2]") and same_value(repr(0.1 + 0.2), "0.3") and same_value("2", "2.0")
    assert not same_value("0.31", "0.3") and not same_value("'a'", "'b'") and not same_value("True", "1")
