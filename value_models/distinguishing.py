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

import ast
import re
from pathlib import Path
from typing import Any

from treesearch.problems import CodeProblem, TestCase
from treesearch.prompting import problem_section, render
from treesearch.pysource import NOT_LITERAL, compile_quietly, literal

PROMPTS = Path(__file__).parent / "prompts"
INPUTS = 8
MAX_TOKENS = {"inputs": 384, "judge": 160}
_CORRECT = re.compile(r"correct\s*(?:output)?\s*(?:is)?\s*[:=]?\s*\**\s*(?:output\s+)?\b([AB])\b", re.I)


class DistinguishingPick:
    """A :class:`~treesearch.contracts.Discriminator` that runs the candidates on inputs the model writes."""

    def __init__(self, client: Any, sandbox: Any, temperature: float = 0.0, inputs: int = INPUTS) -> None:
        self.client = client
        self.sandbox = sandbox
        self.temperature = temperature
        self.inputs = inputs

    async def choose(self, problem: CodeProblem, programs: list[str]) -> tuple[int, str]:
        if len(programs) < 2:
            return 0, "only one candidate"
        if problem.kind != "function":
            return 0, "not a function problem: kept the best-valued program"
        prompt = render(PROMPTS, "distinguish_inputs", problem=problem_section(problem), n=self.inputs,
                        entry_point=problem.entry_point)
        (reply,) = await self.client.complete([{"role": "user", "content": prompt}], n=1,
                                              temperature=self.temperature, max_tokens=MAX_TOKENS["inputs"])
        inputs = read_calls(reply.text, problem.entry_point)[: self.inputs]
        if not inputs:
            return 0, "no usable input in the reply: kept the best-valued program"
        tests = [TestCase(input=args, output=None) for args in inputs]
        outputs = [await self._outputs(problem, code, tests) for code in programs]
        groups: dict[tuple[str, ...], list[int]] = {}
        for index, signature in enumerate(outputs):
            groups.setdefault(signature, []).append(index)
        order = sorted(groups.values(), key=lambda members: (-len(members), members[0]))
        winner = order[0]
        notes = [f"{len(inputs)} inputs, {len(groups)} behaviours (group sizes {[len(g) for g in order]})"]
        for challenger in order[1:]:
            a, b = winner[0], challenger[0]
            where = next(i for i, (x, y) in enumerate(zip(outputs[a], outputs[b])) if x != y)
            verdict = await self._judge(problem, tests[where], outputs[a][where], outputs[b][where])
            notes.append(f"candidate {a + 1} vs {b + 1} on {_call(problem, tests[where])}: {verdict or 'unreadable'}")
            if verdict == "B":
                winner = challenger
        return winner[0], "; ".join(notes)

    async def _outputs(self, problem: CodeProblem, code: str, tests: list[TestCase]) -> tuple[str, ...]:
        result = await self.sandbox.run(code, problem.kind, tests, problem.entry_point, prelude=problem.prelude)
        if not result.outcomes:  # it did not load: one behaviour, whatever the input
            return tuple(f"<{result.status}>" for _ in tests)
        return tuple(o.actual if o.exception_type is None and o.status != "timeout" else f"<{o.exception_type or o.status}>"
                     for o in result.outcomes)

    async def _judge(self, problem: CodeProblem, test: TestCase, a: str, b: str) -> str | None:
        prompt = render(PROMPTS, "distinguish_judge", problem=problem_section(problem),
                        input=_call(problem, test), output_a=a, output_b=b)
        (reply,) = await self.client.complete([{"role": "user", "content": prompt}], n=1,
                                              temperature=self.temperature, max_tokens=MAX_TOKENS["judge"])
        found = _CORRECT.findall(reply.text)
        return found[-1].upper() if found else None


def _call(problem: CodeProblem, test: TestCase) -> str:
    return f"{problem.entry_point}({', '.join(repr(a) for a in test.input)})"


def read_calls(text: str, entry_point: str) -> list[list[Any]]:
    """The literal argument lists of the calls of ``entry_point`` in ``text`` (one per line, in
    order, without repeats): ``f(1, [2])`` in code, prose, asserts or doctests alike."""
    found: list[list[Any]] = []
    for line in text.splitlines():
        start = line.find(f"{entry_point}(")
        if start < 0:
            continue
        args = _call_args(line[start:], entry_point)
        if args is not None and args not in found:
            found.append(args)
    return found


def _call_args(text: str, entry_point: str) -> list[Any] | None:
    """The arguments of the call ``text`` starts with, when all are literals."""
    for end in [m.end() for m in re.finditer(r"\)", text)]:
        try:
            tree = compile_quietly(text[:end])
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Call):
            call = tree.body[0].value
            if not (isinstance(call.func, ast.Name) and call.func.id == entry_point) or call.keywords:
                return None
            args = [literal(a) for a in call.args]
            return None if any(a is NOT_LITERAL for a in args) else args
    return None
