"""The simulated coder and critic: real mutated code, latent qualities, feedback-driven debug and
rethink, determinism under concurrency, and budget accounting."""

from __future__ import annotations

import ast
import asyncio
import math
import statistics
from dataclasses import replace

import pytest

from policies.mutations import apply, mutation_sites
from policies.simulated import SimParams, SimulatedCoder, SimulatorError, feedback_is_informative
from treesearch.budget import Budget, BudgetExhausted
from treesearch.contracts import Candidate, ExpansionContext, Policy, ValueModel
from treesearch.problems import CodeProblem, TestCase
from treesearch.sandbox.result import ExecutionResult, TestOutcome
from value_models.simulated_critic import CriticParams, SimulatedCritic

REFERENCE = '''def count_inversions(xs: list) -> int:
    """The number of pairs i < j with xs[i] > xs[j]."""
    total = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            if xs[i] > xs[j]:
                total += 1
    return total
'''
PROBLEM = CodeProblem(
    id="tests/count_inversions", kind="function",
    prompt='def count_inversions(xs: list) -> int:\n    """The number of pairs i < j with xs[i] > xs[j]."""\n',
    entry_point="count_inversions", visible_tests=[TestCase(input=[[2, 1]], output=1)], reference=REFERENCE,
)


def run(coro):
    return asyncio.run(coro)


def ctx_with_thought(quality: float, **fields) -> ExpansionContext:
    return ExpansionContext(problem=PROBLEM, thoughts=["[sim] strategy 1"],
                            thought_metadata=[{"model": "sim", "sim": {"quality": quality, "strategy": 1}}], **fields)


def failing(informative: bool) -> ExecutionResult:
    outcome = TestOutcome(input="count_inversions([2, 1])", expected="1" if informative else None,
                          actual="0" if informative else None, passed=False,
                          status="failed" if informative else "timeout")
    return ExecutionResult(backend="test", status="ok", outcomes=[outcome])


def test_is_a_policy_named_sim():
    assert isinstance(SimulatedCoder(), Policy)
    assert SimulatedCoder().name == "sim"
    assert isinstance(SimulatedCritic(), ValueModel)


def test_thoughts_carry_latent_quality_and_normalised_noisy_priors():
    proposals = run(SimulatedCoder(seed=1).propose(ExpansionContext(problem=PROBLEM), "thought", 4))
    assert len(proposals) == 4
    assert math.isclose(sum(p.prior for p in proposals), 1.0)
    for i, p in enumerate(proposals, 1):
        assert p.content.startswith(f"[sim] strategy {i} for count_inversions()")
        assert p.metadata["model"] == "sim"
        assert 0 < p.metadata["sim"]["quality"] < 1
    # The prior is a reading of the quality: over many thoughts they correlate clearly.
    many = run(SimulatedCoder(seed=2).propose(ctx_with_thought(0.5), "thought", 200))
    qualities = [p.metadata["sim"]["quality"] for p in many]
    priors = [p.prior for p in many]
    assert statistics.correlation(qualities, priors) > 0.7


def test_thoughts_below_a_thought_stay_near_its_quality():
    coder = SimulatedCoder(seed=3)
    good = run(coder.propose(ctx_with_thought(0.95), "thought", 100))
    bad = run(coder.propose(ctx_with_thought(0.2), "thought", 100))
    assert statistics.mean(p.metadata["sim"]["quality"] for p in good) > 0.8
    assert statistics.mean(p.metadata["sim"]["quality"] for p in bad) < 0.35


def test_code_is_the_reference_with_the_listed_real_mutations():
    proposals = run(SimulatedCoder(seed=0).propose(ctx_with_thought(0.3), "code", 30))
    sites = {m.id for m in mutation_sites(REFERENCE)}
    for p in proposals:
        mutations = p.metadata["sim"]["mutations"]
        assert set(mutations) <= sites
        assert p.content == apply(REFERENCE, mutations)
        ast.parse(p.content)
        assert p.metadata["model"] == "sim" and p.metadata["sim"]["from"] == "thought"
    assert any(p.metadata["sim"]["mutations"] for p in proposals)
    assert len({p.content for p in proposals}) > 5  # samples differ


def test_mutation_count_follows_the_thought_quality():
    coder = SimulatedCoder(seed=0, params=SimParams(mutation_rate=1.0))

    def mean_count(q: float) -> float:
        proposals = run(coder.propose(ctx_with_thought(q), "code", 400))
        return statistics.mean(len(p.metadata["sim"]["mutations"]) for p in proposals)

    # k ~ Poisson(-ln q): 0.105 at q = 0.9, 1.2 at q = 0.3.
    assert abs(mean_count(0.9) - (-math.log(0.9))) < 0.06
    assert abs(mean_count(0.3) - (-math.log(0.3))) < 0.2
    clean = run(coder.propose(ctx_with_thought(0.9), "code", 400))
    assert abs(sum(not p.metadata["sim"]["mutations"] for p in clean) / 400 - 0.9) < 0.05


def test_direct_code_uses_the_problem_ease():
    coder = SimulatedCoder(seed=0)
    (p,) = run(coder.propose(ExpansionContext(problem=PROBLEM), "code", 1))
    assert p.metadata["sim"]["from"] == "direct"
    assert p.metadata["sim"]["quality"] == coder.ease(PROBLEM)
    # Ease is a property of the problem, not of the seed.
    assert SimulatedCoder(seed=5).ease(PROBLEM) == coder.ease(PROBLEM)
    eases = [coder.ease(replace(PROBLEM, id=f"p{i}")) for i in range(2000)]
    assert abs(statistics.mean(eases) - 0.7) < 0.02  # Beta(1.4, 0.6) has mean 0.7


def test_deterministic_whatever_the_order_of_concurrent_calls():
    contexts = [ctx_with_thought(q) for q in (0.2, 0.5, 0.8)] + [ExpansionContext(problem=PROBLEM)]

    async def all_in(order):
        coder = SimulatedCoder(seed=7)
        results = await asyncio.gather(*(coder.propose(contexts[i], "code", 3) for i in order))
        return {i: [p.content for p in r] for i, r in zip(order, results, strict=True)}

    assert run(all_in([0, 1, 2, 3])) == run(all_in([3, 1, 0, 2]))
    other_seed = run(SimulatedCoder(seed=8).propose(contexts[0], "code", 3))
    assert [p.content for p in other_seed] != run(all_in([0]))[0]


def test_asking_again_gives_the_next_samples():
    """Best-of-N asks for one program at a time from the same context: each request must be a new
    sample (as the LLM client's sample index makes it), and n=1 twice equals n=2 once."""
    ctx = ctx_with_thought(0.3)
    coder = SimulatedCoder(seed=1)
    one_at_a_time = [run(coder.propose(ctx, "code", 1))[0] for _ in range(6)]
    assert len({tuple(p.metadata["sim"]["mutations"]) for p in one_at_a_time}) > 1
    together = run(SimulatedCoder(seed=1).propose(ctx, "code", 6))
    assert [p.content for p in together] == [p.content for p in one_at_a_time]
    first, second = run(coder.propose(ctx, "thought", 2)), run(coder.propose(ctx, "thought", 2))
    assert {p.metadata["sim"]["quality"] for p in first}.isdisjoint(p.metadata["sim"]["quality"] for p in second)


def test_debug_removes_mutations_more_often_with_informative_feedback():
    params = SimParams(debug_fix_informative=0.6, debug_fix_uninformative=0.2, debug_new_bug=0.0)
    coder = SimulatedCoder(seed=0, params=params)
    carried = [m.id for m in mutation_sites(REFERENCE)][:2]
    code = apply(REFERENCE, carried)

    def fix_rate(informative: bool) -> float:
        ctx = ExpansionContext(problem=PROBLEM, code=code, code_metadata={"sim": {"mutations": carried}},
                               feedback=failing(informative), feedback_text=f"informative={informative}")
        proposals = run(coder.propose(ctx, "debug", 500))
        for p in proposals:
            assert p.content == apply(REFERENCE, p.metadata["sim"]["mutations"])
            assert set(p.metadata["sim"]["mutations"]) <= set(carried)
        return statistics.mean(len(p.metadata["sim"]["mutations"]) < 2 for p in proposals)

    assert abs(fix_rate(True) - 0.6) < 0.07
    assert abs(fix_rate(False) - 0.2) < 0.06


def test_debug_can_introduce_a_new_mutation():
    coder = SimulatedCoder(seed=0, params=SimParams(debug_fix_informative=0.0, debug_new_bug=1.0))
    ctx = ExpansionContext(problem=PROBLEM, code=apply(REFERENCE, []), code_metadata={"sim": {"mutations": []}},
                           feedback=failing(True))
    (p,) = run(coder.propose(ctx, "debug", 1))
    assert p.metadata["sim"]["introduced"] and p.metadata["sim"]["mutations"] == [p.metadata["sim"]["introduced"]]


def test_debug_refuses_programs_it_did_not_write():
    ctx = ExpansionContext(problem=PROBLEM, code="def count_inversions(xs): return 0", feedback=failing(True))
    with pytest.raises(SimulatorError, match="only debug programs it wrote"):
        run(SimulatedCoder().propose(ctx, "debug", 1))


def test_rethink_rewrites_the_plan_with_higher_quality_or_blames_the_code():
    coder = SimulatedCoder(seed=0, params=SimParams(rethink_blames_plan=0.7))
    verdicts = []
    for i in range(200):
        ctx = ctx_with_thought(0.3, code=REFERENCE, code_metadata={"sim": {"mutations": []}},
                               feedback=failing(True), feedback_text=f"attempt {i}")
        (p,) = run(coder.propose(ctx, "rethink", 1))
        assert p.metadata["model"] == "sim" and p.content.startswith("[sim]")
        verdicts.append(p.target)
        if p.target is not None:
            assert p.target == 0
            assert p.metadata["sim"]["quality"] > 0.3
            assert "revision 1" in p.content
    assert abs(sum(v == 0 for v in verdicts) / 200 - 0.7) < 0.1


def test_rethink_gains_more_from_informative_feedback():
    coder = SimulatedCoder(seed=0, params=SimParams(rethink_blames_plan=1.0))

    def mean_gain(informative: bool) -> float:
        gains = []
        for i in range(100):
            ctx = ctx_with_thought(0.3, code=REFERENCE, feedback=failing(informative), feedback_text=str(i))
            (p,) = run(coder.propose(ctx, "rethink", 1))
            gains.append(p.metadata["sim"]["quality"] - 0.3)
        return statistics.mean(gains)

    assert mean_gain(True) > 2 * mean_gain(False) > 0


def test_rethink_without_thoughts_blames_the_code():
    ctx = ExpansionContext(problem=PROBLEM, code=REFERENCE, feedback=failing(True))
    (p,) = run(SimulatedCoder().propose(ctx, "rethink", 1))
    assert p.target is None


def test_informative_feedback():
    assert feedback_is_informative(failing(True))
    assert not feedback_is_informative(failing(False))
    assert not feedback_is_informative(None)
    crash = TestOutcome(input="f()", expected=None, actual=None, passed=False, status="error",
                        exception_type="IndexError", traceback=["line 5, in f: return xs[i]"])
    assert feedback_is_informative(ExecutionResult(backend="test", status="ok", outcomes=[crash]))


def test_without_a_reference_it_says_it_needs_one():
    problem = replace(PROBLEM, reference=None)
    with pytest.raises(SimulatorError, match="needs a reference solution"):
        run(SimulatedCoder().propose(ExpansionContext(problem=problem), "code", 1))


def test_every_call_counts_against_the_budget_and_exhaustion_raises():
    budget = Budget(max_calls=2)
    coder = SimulatedCoder(budget=budget)
    run(coder.propose(ExpansionContext(problem=PROBLEM), "thought", 3))
    (code,) = run(coder.propose(ctx_with_thought(0.5), "code", 1))
    usage = budget.usage
    assert usage["calls"] == 2 and usage["in_flight"] == 0 and usage["cost_usd"] == 0.0
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] >= len(code.content) // 4
    assert code.metadata["completion_tokens"] == len(code.content) // 4
    with pytest.raises(BudgetExhausted) as info:
        run(coder.propose(ExpansionContext(problem=PROBLEM), "thought", 3))
    assert info.value.limit == "max_calls"
    assert budget.usage["calls"] == 2


def test_token_budget_stops_the_simulator_too():
    budget = Budget(max_tokens=50)
    with pytest.raises(BudgetExhausted):
        run(SimulatedCoder(budget=budget).propose(ctx_with_thought(0.5), "code", 4))


# --------------------------------------------------------------------------------------------------
# The critic


def critique(critic: SimulatedCritic, mutations: list[str], code: str = REFERENCE) -> float:
    node = Candidate(code=code, metadata={"model": "sim", "sim": {"mutations": mutations}})
    return run(critic.evaluate(PROBLEM, node, None)).components["critique"]


def test_critic_is_a_noisy_reading_of_whether_mutations_remain():
    critic = SimulatedCritic(seed=0, params=CriticParams(clean_score=0.8, buggy_score=0.3, noise=0.15))
    sites = [m.id for m in mutation_sites(REFERENCE)]
    clean = [critique(critic, [], code=REFERENCE + f"\n# variant {i}\n") for i in range(200)]
    buggy = [critique(critic, [sites[i % len(sites)]], code=REFERENCE + f"\n# variant {i}\n") for i in range(200)]
    assert abs(statistics.mean(clean) - 0.8) < 0.04 and abs(statistics.mean(buggy) - 0.3) < 0.04
    assert 0.1 < statistics.stdev(clean) < 0.2
    assert all(0.0 <= s <= 1.0 for s in clean + buggy)


def test_critic_is_deterministic_says_it_is_simulated_and_counts_calls():
    budget = Budget(max_calls=1)
    critic = SimulatedCritic(seed=3, budget=budget)
    node = Candidate(code=REFERENCE, metadata={"sim": {"mutations": []}})
    evaluation = run(critic.evaluate(PROBLEM, node, None))
    assert "simulated" in evaluation.explanation
    assert set(evaluation.components) == {"critique"} and evaluation.value == evaluation.components["critique"]
    assert budget.usage["calls"] == 1
    with pytest.raises(BudgetExhausted):
        run(critic.evaluate(PROBLEM, node, None))
    assert run(SimulatedCritic(seed=3).evaluate(PROBLEM, node, None)).value == evaluation.value


def test_critic_refuses_programs_the_simulator_did_not_write():
    with pytest.raises(SimulatorError, match="simulated critic"):
        run(SimulatedCritic().evaluate(PROBLEM, Candidate(code=REFERENCE), None))
