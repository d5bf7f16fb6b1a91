r"""Values for patches: execution feedback, an LLM value agent, and the discriminator's final pick.

The repository search values a finished attempt with :class:`~value_models.hybrid.HybridValue`
(critic consulted always) over

* :class:`RepoExecutionValue`, from :class:`~treesearch.swebench.checks.RepoFeedback`:

  .. math:: v_e = \begin{cases} 0 & \text{the patch is empty or does not apply} \\
                                0.1 & \text{it breaks compiling or importing} \\
                                0.3 + 0.3\,t + 0.4\,r & \text{otherwise} \end{cases}

  with :math:`t` the fraction of the related tests passing at the base commit that still pass
  (0.5 when none did: no evidence either way) and :math:`r` = 1 when the path's reproduction script
  failed before and passes now, 0 when it still fails, 0.5 without a reproduction that fails at
  the base commit;
* :class:`RepoValueAgent`, an LLM's judgement of the patch against the issue (SWE-Search's value
  agent): an explanation ending in ``Score: N`` (0 to 10), scaled to [0, 1];

and picks the final patch with :class:`RepoDiscriminator` among the best few finished attempts.
"""

from __future__ import annotations

import re
from typing import Any

from policies.repo_policy import PROMPTS
from treesearch.contracts import Candidate, Evaluation
from treesearch.prompting import render
from treesearch.swebench.problem import RepoProblem, issue_section
from value_models.critic import ask_score
from value_models.hybrid import HybridValue

NEUTRAL = 0.5
MAX_PATCH_CHARS = 12_000
_BEST = re.compile(r"best\s*[:=]?\s*(?:patch\s*)?#?(\d+)", re.I)


class RepoExecutionValue:
    """The execution part of a patch's value (formula in the module docstring)."""

    async def evaluate(self, problem: RepoProblem, node: Candidate, feedback: Any) -> Evaluation:
        if not feedback.applies:
            return Evaluation(0.0, {"execution": 0.0}, f"execution: {feedback.status.replace('_', ' ')}")
        if not feedback.compiles:
            return Evaluation(0.1, {"execution": 0.1}, "execution: the patch breaks compiling or importing")
        tests = feedback.tests_kept / feedback.tests_before if feedback.tests_before else NEUTRAL
        reproduction = {"fixed": 1.0, "fails": 0.0}.get(feedback.reproduction, NEUTRAL)
        value = 0.3 + 0.3 * tests + 0.4 * reproduction
        return Evaluation(value, {"execution": value, "tests_kept": tests, "reproduction": reproduction},
                          f"execution: {feedback.tests_kept}/{feedback.tests_before} related tests kept, "
                          f"reproduction {feedback.reproduction}")


def hybrid_repo_value(critic: Any, execution_weight: float = 0.5, critic_weight: float = 0.5) -> HybridValue:
    """Execution and the value agent, the agent consulted on every finished attempt."""
    return HybridValue(critic, execution_weight, critic_weight, critic_when="always", execution=RepoExecutionValue())


class RepoValueAgent:
    """An LLM's score for a patch. An unreadable score is asked again once, then neutral (0.5)."""

    def __init__(self, client: Any, temperature: float = 0.0) -> None:
        self.client = client
        self.temperature = temperature

    async def evaluate(self, problem: RepoProblem, node: Candidate, feedback: Any) -> Evaluation:
        hypotheses = "\n".join(f"- {t}" for t in node.thoughts) or "(none)"
        user = render(PROMPTS, "repo_value", issue=issue_section(problem), hypotheses=hypotheses,
                      patch=node.code[:MAX_PATCH_CHARS], feedback=feedback.render())
        return await ask_score(self.client, user, self.temperature, "value agent")


class RepoDiscriminator:
    """Chooses the final patch among the best few finished attempts; an unreadable answer keeps the
    value ranking (index 0)."""

    def __init__(self, client: Any, temperature: float = 0.0) -> None:
        self.client = client
        self.temperature = temperature

    async def choose(self, problem: RepoProblem, patches: list[str]) -> tuple[int, str]:
        if len(patches) < 2:
            return 0, "only one candidate"
        candidates = "\n".join(f"### Patch {i}\n```diff\n{p[:MAX_PATCH_CHARS]}\n```\n" for i, p in enumerate(patches, 1))
        user = render(PROMPTS, "repo_discriminator", issue=issue_section(problem), candidates=candidates)
        (completion,) = await self.client.complete([{"role": "user", "content": user}], n=1, temperature=self.temperature)
        matches = _BEST.findall(completion.text)
        if matches and 1 <= int(matches[-1]) <= len(patches):
            return int(matches[-1]) - 1, completion.text.strip()[:2000]
        return 0, "discriminator answer unreadable; kept the best-valued patch"
