"""LLMCritic: a model's judgement of a program, as a score in [0, 1] with its explanation.

Before the visible tests pass it judges how close the program is; once they pass it judges
generality and edge cases (what the visible tests cannot show). One call: the score comes first in
the reply; an unreadable one makes the critique neutral (0.5), and says so, never an exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treesearch.contracts import Candidate, Evaluation
from treesearch.parsing import extract_score
from treesearch.problems import CodeProblem
from treesearch.prompting import problem_section, render

PROMPTS = Path(__file__).parent / "prompts"
NEUTRAL = 0.5
CRITIC_MAX_TOKENS = 160


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
    """A 0-10 score read from the model's reply to ``prompt`` (its ``Score: N`` line), scaled to
    [0, 1], with the reply as the explanation: one call, whose reply is kept short (the prompt asks
    for the score first, so a cut reply still holds it); neutral when no score can be read."""
    (completion,) = await client.complete([{"role": "user", "content": prompt}], n=1, temperature=temperature,
                                          max_tokens=CRITIC_MAX_TOKENS)
    score = extract_score(completion.text, scale=10)
    if score.ok:
        return Evaluation(score.value, {"critique": score.value}, completion.text.strip()[:2000])
    return Evaluation(NEUTRAL, {"critique": NEUTRAL}, f"{who} gave no readable score: {score.error}")
