"""LLMPolicy: the four kinds of proposal as prompts to a model through :class:`treesearch.llm.LLMClient`.

Prompt templates are the ``.txt`` files in ``policies/prompts/`` (``$name`` placeholders). Replies
are parsed with :mod:`treesearch.parsing`; a reply that cannot be used (no code block, no entry
point, code that does not parse, unreadable JSON) is asked again once with the parse error appended,
then skipped, so a bad reply never ends a search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treesearch.contracts import ExpansionContext, Proposal, ProposalKind
from treesearch.parsing import Parsed, extract_code, extract_json
from treesearch.prompting import output_note, problem_section, render

PROMPTS = Path(__file__).parent / "prompts"


class LLMPolicy:
    """Proposals from an LLM. ``temperature`` applies to every call; thoughts come ``n`` to a call,
    programs one per sample (``n`` samples of one request)."""

    def __init__(self, client: Any, temperature: float = 0.8, prompts: Path = PROMPTS) -> None:
        self.client = client
        self.name = client.model
        self.temperature = temperature
        self.prompts = prompts

    async def propose(self, ctx: ExpansionContext, kind: ProposalKind, n: int) -> list[Proposal]:
        if kind == "thought":
            return await self._thoughts(ctx, n)
        if kind == "rethink":
            return await self._rethink(ctx)
        if kind in ("code", "debug"):
            return await self._programs(ctx, kind, n)
        raise ValueError(f"unknown proposal kind {kind!r}")

    # ------------------------------------------------------------------ prompts
    def _messages(self, name: str, ctx: ExpansionContext, **values: object) -> list[dict]:
        thoughts = "".join(f"## Plan step {i}\n{t}\n\n" for i, t in enumerate(ctx.thoughts, 1))
        user = render(
            self.prompts, name, problem=problem_section(ctx.problem), thoughts=thoughts,
            output_note=output_note(ctx.problem), **values,
        )
        return [{"role": "system", "content": render(self.prompts, "system")}, {"role": "user", "content": user}]

    async def _ask(self, messages: list[dict], n: int, parse) -> list[tuple[Any, Any]]:
        """``n`` samples parsed by ``parse``; each unusable one is asked again once."""
        completions = await self.client.complete(messages, n=n, temperature=self.temperature)
        out = []
        for completion in completions:
            parsed: Parsed = parse(completion.text)
            if not parsed.ok:
                retry = [*messages, {"role": "assistant", "content": completion.text},
                         {"role": "user", "content": f"That reply could not be used: {parsed.error}. Please answer again in the requested format."}]
                (completion,) = await self.client.complete(retry, n=1, temperature=self.temperature)
                parsed = parse(completion.text)
            if parsed.ok:
                out.append((parsed.value, completion))
        return out

    @staticmethod
    def _metadata(completion: Any, **extra: Any) -> dict[str, Any]:
        return {
            "model": completion.model, "raw": completion.text, "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens, "cost_usd": completion.cost_usd,
            "cached": completion.cached, **extra,
        }

    async def _thoughts(self, ctx: ExpansionContext, n: int) -> list[Proposal]:
        messages = self._messages("thought", ctx, n=n)
        replies = await self._ask(messages, 1, _parse_strategies)
        if not replies:
            return []
        strategies, completion = replies[0]
        return [
            Proposal(text, prior=confidence, metadata=self._metadata(completion, confidence=confidence))
            for text, confidence in strategies[:n]
        ]

    async def _programs(self, ctx: ExpansionContext, kind: str, n: int) -> list[Proposal]:
        if kind == "debug":
            attempts = "".join(
                f"## Earlier attempt {i}\n```python\n{code}\n```\nFeedback:\n{fb}\n\n"
                for i, (code, fb) in enumerate(ctx.attempts[-2:], 1)
            )
            messages = self._messages("debug", ctx, attempts=attempts, code=ctx.code, feedback=ctx.feedback_text)
        else:
            messages = self._messages("code", ctx)
        entry = ctx.problem.entry_point if ctx.problem.kind == "function" else None
        replies = await self._ask(messages, n, lambda text: extract_code(text, entry))
        return [Proposal(code, 1.0, self._metadata(c)) for code, c in replies]

    async def _rethink(self, ctx: ExpansionContext) -> list[Proposal]:
        numbered = "\n".join(f"Step {i}: {t}" for i, t in enumerate(ctx.thoughts, 1))
        messages = self._messages("rethink", ctx, numbered_thoughts=numbered, code=ctx.code, feedback=ctx.feedback_text)
        replies = await self._ask(messages, 1, lambda text: _parse_rethink(text, len(ctx.thoughts)))
        if not replies:
            return []
        (target, rewrite, reason), completion = replies[0]
        return [Proposal(rewrite or reason, 1.0, self._metadata(completion, reason=reason), target=target)]


def _parse_strategies(text: str) -> Parsed:
    parsed = extract_json(text)
    if not parsed.ok:
        return parsed
    items = parsed.value if isinstance(parsed.value, list) else [parsed.value]
    out = []
    for item in items:
        if isinstance(item, str) and item.strip():
            out.append((item.strip(), 1.0))
        elif isinstance(item, dict) and isinstance(item.get("strategy"), str) and item["strategy"].strip():
            try:
                confidence = min(1.0, max(0.0, float(item.get("confidence", 1.0))))
            except (TypeError, ValueError):
                confidence = 1.0
            out.append((item["strategy"].strip(), confidence))
    return Parsed.success(out) if out else Parsed.failure('expected a JSON list of {"strategy", "confidence"} objects')


def _parse_rethink(text: str, steps: int) -> Parsed:
    parsed = extract_json(text)
    if not parsed.ok or not isinstance(parsed.value, dict):
        return Parsed.failure(parsed.error if not parsed.ok else "expected a JSON object")
    try:
        step = int(parsed.value.get("wrong_step", 0))
    except (TypeError, ValueError):
        return Parsed.failure("wrong_step must be a step number or 0")
    if not 0 <= step <= steps:
        return Parsed.failure(f"wrong_step must be between 0 and {steps}")
    rewrite = str(parsed.value.get("rewrite") or "").strip()
    reason = str(parsed.value.get("reason") or "").strip()
    if step and not rewrite:
        return Parsed.failure("a wrong step needs its rewrite")
    return Parsed.success((step - 1 if step else None, rewrite, reason))
