"""LLMCritic: a model's judgement of a program, as a score in [0, 1] with its explanation.

Before the visible tests pass it judges how close the program is; once they pass it judges
generality and edge cases (what the visible tests cannot show). An unreadable score is asked again
once, at a temperature of at least :data:`~policies.llm_policy.RETRY_TEMPERATURE` (a greedy critic would
write the same reply again); after that the critique is neutral (0.5) and says so, never an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from policies.llm_policy import RETRY_TEMPERATURE
from treesearch.contracts import Candidate, Evaluation
from treesearch.parsing import extract_score
from treesearch.problems import CodeProblem
from treesearch.prompting import problem_section, render

PROMPTS = Path(__file__).parent / "prompts"
NEUTRAL = 0.5


class LLMCritic:
    def __init__(self, client: Any, temperature: float = 0.0) -> None:
        self.client = client
        self.temperature = temperature

    async def evaluate(self, problem: CodeProblem, node: Candidate, feedback: Any) -> Evaluation:
        from treesearch.sandbox import render_feedback

        focus = (
            "It passes every visible test: judge generality, edge cases and efficiency."
            if feedback.all_passed else "It does not pass every visible test yet: judge how close it is."
        )
        user = render(PROMPTS, "critic", problem=problem_section(problem), code=node.code,
                      feedback=render_feedback(feedback), focus=focus)
        return await ask_score(self.client, user, self.temperature, "critic")


async def ask_score(client: Any, prompt: str, temperature: float, who: str) -> Evaluation:
    """A 0-10 score read from the model's reply to ``prompt`` (its last ``Score: N`` line), scaled to
    [0, 1], with the reply as the explanation; asked again once (at a temperature of at least
    RETRY_TEMPERATURE), then neutral."""
    messages = [{"role": "user", "content": prompt}]
    for attempt in range(2):
        (completion,) = await client.complete(
            messages, n=1, temperature=temperature if attempt == 0 else max(temperature, RETRY_TEMPERATURE))
        score = extract_score(completion.text, scale=10)
        if score.ok:
            return Evaluation(score.value, {"critique": score.value}, completion.text.strip()[:2000])
        if attempt == 0:
            messages = [*messages, {"role": "assistant", "content": completion.text},
                        {"role": "user", "content": "End with a last line 'Score: N', N from 0 to 10."}]
    return Evaluation(NEUTRAL, {"critique": NEUTRAL}, f"{who} gave no readable score: {score.error}")
