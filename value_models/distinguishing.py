"""DistinguishingPick: the final pick among programs that pass the visible tests, grounded in
running them (S*, Li et al. 2025, "S*: Test Time Scaling for Code Generation").

1. One call asks the model for new inputs of the function (no expected outputs: a small model
   computes those badly, but writes plausible inputs well).
2. Every candidate runs on them in the sandbox; candidates that give the same outputs on every input
   behave alike and form one group (its first, best-valued, program stands for it).
3. While groups remain, the two largest are compared on the first input where they differ: the model
   sees that input and both outputs, and says which output is right (one call). The winner goes on.

When every candidate behaves alike no further call is made. An unusable input list, a function-less
(stdin) problem, or a spent budget keeps the order it was given (the value ranking).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from policies.llm_policy import INPUTS, MAX_TOKENS
from policies.llm_policy import PROMPTS as POLICY_PROMPTS
from treesearch.engine.code import behaviour
from treesearch.parsing import extract_calls
from treesearch.problems import CodeProblem
from treesearch.prompting import problem_section, render

PROMPTS = Path(__file__).parent / "prompts"
JUDGE_MAX_TOKENS = 160
_CORRECT = re.compile(r"correct\s*(?:output)?\s*(?:is)?\s*[:=]?\s*\**\s*(?:output\s+)?\b([AB])\b", re.I)


class DistinguishingPick:
    """A :class:`~treesearch.contracts.Discriminator` that runs the candidates on inputs the model
    writes (the policy's "inputs" prompt)."""

    def __init__(self, client: Any, sandbox: Any, temperature: float = 0.0) -> None:
        self.client = client
        self.sandbox = sandbox
        self.temperature = temperature

    async def choose(self, problem: CodeProblem, programs: list[str]) -> tuple[int, str]:
        if len(programs) < 2:
            return 0, "only one candidate"
        if problem.kind != "function":
            return 0, "not a function problem: kept the best-valued program"
        prompt = render(POLICY_PROMPTS, "inputs", problem=problem_section(problem), n=INPUTS,
                        entry_point=problem.entry_point)
        (reply,) = await self.client.complete([{"role": "user", "content": prompt}], n=1,
                                              temperature=self.temperature, max_tokens=MAX_TOKENS["inputs"])
        calls = extract_calls(reply.text, problem.entry_point)
        if not calls.ok:
            return 0, "no usable input in the reply: kept the best-valued program"
        inputs = calls.value[:INPUTS]
        outputs = [await behaviour(self.sandbox, problem, code, inputs) for code in programs]
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, signature in enumerate(outputs):
            groups.setdefault(signature, []).append(index)
        order = sorted(groups.values(), key=lambda members: (-len(members), members[0]))
        winner = order[0]
        notes = [f"{len(inputs)} inputs, {len(groups)} behaviours (group sizes {[len(g) for g in order]})"]
        for challenger in order[1:]:
            a, b = winner[0], challenger[0]
            where = next(i for i, (x, y) in enumerate(zip(outputs[a], outputs[b])) if x != y)
            verdict = await self._judge(problem, inputs[where], outputs[a][where], outputs[b][where])
            notes.append(f"candidate {a + 1} vs {b + 1} on {_call(problem, inputs[where])}: {verdict or 'unreadable'}")
            if verdict == "B":
                winner = challenger
        return winner[0], "; ".join(notes)

    async def _judge(self, problem: CodeProblem, args: list[Any], a: str, b: str) -> str | None:
        prompt = render(PROMPTS, "distinguish_judge", problem=problem_section(problem),
                        input=_call(problem, args), output_a=a, output_b=b)
        (reply,) = await self.client.complete([{"role": "user", "content": prompt}], n=1,
                                              temperature=self.temperature, max_tokens=JUDGE_MAX_TOKENS)
        found = _CORRECT.findall(reply.text)
        return found[-1].upper() if found else None


def _call(problem: CodeProblem, args: list[Any]) -> str:
    return f"{problem.entry_point}({', '.join(repr(a) for a in args)})"
