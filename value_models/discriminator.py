"""Discriminator: the final pick among the top few programs by a model's comparison (SWE-Search,
CodeTree). Used only when ``discriminator_top > 0``; an unreadable answer keeps the value ranking."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from treesearch.problems import CodeProblem
from treesearch.prompting import problem_section, render

PROMPTS = Path(__file__).parent / "prompts"
_BEST = re.compile(r"best\s*[:=]?\s*(?:candidate\s*)?#?(\d+)", re.I)


class Discriminator:
    def __init__(self, client: Any, temperature: float = 0.0) -> None:
        self.client = client
        self.temperature = temperature

    async def choose(self, problem: CodeProblem, programs: list[str]) -> tuple[int, str]:
        """Index of the chosen program in ``programs`` (0 when the answer is unreadable) and why."""
        if len(programs) < 2:
            return 0, "only one candidate"
        candidates = "\n".join(f"### Candidate {i}\n```python\n{code}\n```\n" for i, code in enumerate(programs, 1))
        user = render(PROMPTS, "discriminator", problem=problem_section(problem), candidates=candidates)
        (completion,) = await self.client.complete([{"role": "user", "content": user}], n=1, temperature=self.temperature)
        matches = _BEST.findall(completion.text)
        if matches and 1 <= int(matches[-1]) <= len(programs):
            return int(matches[-1]) - 1, completion.text.strip()[:2000]
        return 0, "discriminator answer unreadable; kept the best-valued program"
