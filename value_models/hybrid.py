r"""HybridValue: execution feedback and a critic combined.

.. math:: v = w_e \cdot \text{pass} + w_c \cdot \text{critique}

where the critic is consulted only once every visible test passes (``critic_when="all_passed"``,
the RethinkMCTS preset with :math:`w_e = 0.8, w_c = 0.2`) or always (``"always"``). While the
critic is not consulted the value is the pass fraction alone, so a program passing every visible
test is worth at least :math:`w_e` and any partly passing one less than 1.
"""

from __future__ import annotations

from typing import Any

from treesearch.budget import BudgetExhausted
from treesearch.contracts import Candidate, Evaluation, ValueModel
from treesearch.problems import CodeProblem
from value_models.execution import ExecutionValue

NEUTRAL_CRITIQUE = 0.5


class HybridValue:
    def __init__(
        self,
        critic: ValueModel,
        execution_weight: float = 0.8,
        critic_weight: float = 0.2,
        critic_when: str = "all_passed",
        approve_at: float = 0.5,
        execution: ValueModel | None = None,
    ) -> None:
        if critic_when not in ("all_passed", "always"):
            raise ValueError(f"critic_when must be 'all_passed' or 'always', got {critic_when!r}")
        if execution_weight < 0 or critic_weight < 0 or execution_weight + critic_weight <= 0:
            raise ValueError("weights must be >= 0 and not both 0")
        total = execution_weight + critic_weight
        self.execution_weight = execution_weight / total
        self.critic_weight = critic_weight / total
        self.critic_when = critic_when
        self.approve_at = approve_at
        self.critic = critic
        self.execution = execution or ExecutionValue()

    @classmethod
    def rethinkmcts(cls, critic: ValueModel) -> HybridValue:
        """RethinkMCTS's value: 0.8 · pass + 0.2 · critique once all visible tests pass."""
        return cls(critic, 0.8, 0.2, "all_passed")

    async def evaluate(self, problem: CodeProblem, node: Candidate, feedback: Any) -> Evaluation:
        run = await self.execution.evaluate(problem, node, feedback)
        if self.critic_when == "all_passed" and not feedback.all_passed:
            return run
        try:
            critique = await self.critic.evaluate(problem, node, feedback)
        except BudgetExhausted as e:
            # The program ran; only its critique is missing. Value it with a neutral critique so the
            # final pick still sees it, then let the search stop.
            value = self.execution_weight * run.value + self.critic_weight * NEUTRAL_CRITIQUE
            return Evaluation(value, {**run.components, "critique_skipped": 1.0},
                              f"{run.explanation}; critic skipped: budget exhausted ({e.limit})")
        score = critique.value
        value = self.execution_weight * run.value + self.critic_weight * score
        approved = score >= self.approve_at
        components = {**run.components, "critique": score, "approved": float(approved)}
        return Evaluation(min(1.0, max(0.0, value)), components, f"{run.explanation}; critic: {critique.explanation}",
                          approved=approved)
