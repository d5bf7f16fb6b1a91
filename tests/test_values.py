"""Value models: execution pass fraction, the hybrid combination, and a critic the budget cuts off."""

from __future__ import annotations

import asyncio

import pytest

from treesearch.budget import Budget
from treesearch.contracts import Candidate, Evaluation
from treesearch.problems import CodeProblem, TestCase
from treesearch.sandbox.result import ExecutionResult, TestOutcome
from value_models.execution import ExecutionValue
from value_models.hybrid import HybridValue
from value_models.simulated_critic import SimulatedCritic

PROBLEM = CodeProblem(id="t/inc", kind="function", prompt="def inc(x):\n    ...\n", entry_point="inc",
                      visible_tests=[TestCase(input=[1], output=2)], reference="def inc(x):\n    return x + 1\n")


def result(passed: list[bool]) -> ExecutionResult:
    outcomes = [TestOutcome(input=f"inc({i})", expected=str(i + 1), actual=str(i + 1 if ok else i), passed=ok,
                            status="passed" if ok else "failed") for i, ok in enumerate(passed)]
    return ExecutionResult(backend="test", status="ok", outcomes=outcomes)


class FixedCritic:
    def __init__(self, score: float) -> None:
        self.score = score
        self.calls = 0

    async def evaluate(self, problem, node, feedback) -> Evaluation:
        self.calls += 1
        return Evaluation(self.score, {"critique": self.score}, "fixed")


def evaluate(model, passed):
    candidate = Candidate("def inc(x):\n    return x + 1\n", metadata={"model": "sim", "sim": {"mutations": []}})
    return asyncio.run(model.evaluate(PROBLEM, candidate, result(passed)))


def test_execution_value_is_the_pass_fraction():
    assert evaluate(ExecutionValue(), [True, False, True, True]).value == pytest.approx(0.75)
    assert evaluate(ExecutionValue(), []).value == 0.0


def test_hybrid_consults_the_critic_only_once_every_visible_test_passes():
    critic = FixedCritic(0.5)
    model = HybridValue.rethinkmcts(critic)
    partial = evaluate(model, [True, False])
    assert partial.value == pytest.approx(0.5) and critic.calls == 0
    full = evaluate(model, [True, True])
    assert critic.calls == 1
    assert full.value == pytest.approx(0.8 * 1.0 + 0.2 * 0.5)
    assert full.components["approved"] == 1.0
    always = evaluate(HybridValue(FixedCritic(0.0), 0.5, 0.5, critic_when="always"), [True, False])
    assert always.value == pytest.approx(0.25)


def test_a_critic_cut_off_by_the_budget_leaves_a_neutral_critique():
    budget = Budget(max_calls=1)
    budget.settle(budget.reserve())  # the only call is spent
    model = HybridValue.rethinkmcts(SimulatedCritic(seed=0, budget=budget))
    ev = evaluate(model, [True, True])
    assert ev.value == pytest.approx(0.8 + 0.2 * 0.5)
    assert ev.components["critique_skipped"] == 1.0
    assert "budget" in ev.explanation


def test_bad_weights_are_rejected():
    with pytest.raises(ValueError):
        HybridValue(FixedCritic(1.0), 0.0, 0.0)
    with pytest.raises(ValueError):
        HybridValue(FixedCritic(1.0), critic_when="sometimes")
