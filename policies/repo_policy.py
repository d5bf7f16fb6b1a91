"""RepoPolicy: an LLM working on a repository, for :mod:`treesearch.swebench.agent`.

Three kinds of proposal, each a prompt template in ``policies/prompts/repo_*.txt``:

* ``thought``: ``n`` hypotheses about the cause of the issue and the fix, with confidences (priors);
* ``action``: the next action of an attempt (see :mod:`treesearch.swebench.actions`), given the
  hypothesis, this attempt's actions and observations so far, and — for a repair — the patch being
  repaired with what the checks found. The reply is a little reasoning and one JSON action;
* ``rethink``: which hypothesis the failed checks disprove, and its rewrite.

Everything else — asking again once with the parse error when a reply cannot be used, counting the
unusable replies in ``parse_failures`` (here also under "action"), the metadata kept with each node,
the hypothesis and rethink parsing — is :class:`~policies.llm_policy.LLMPolicy`'s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from policies.llm_policy import LLMPolicy
from treesearch.contracts import Proposal
from treesearch.parsing import Parsed, extract_json, fenced_blocks, json_values
from treesearch.prompting import render
from treesearch.swebench.actions import ACTIONS, Action, ActionError
from treesearch.swebench.problem import issue_section

PROMPTS = Path(__file__).parent / "prompts"
RECENT_STEPS = 4  # steps shown with their whole observation; older ones are cut short
OLD_OBSERVATION_CHARS = 600


class RepoPolicy(LLMPolicy):
    """Proposals for repository work from the LLM behind ``client``. ``parse_failures`` (see
    :class:`~policies.llm_policy.LLMPolicy`) counts unusable replies under "thought", "rethink" and
    "action"."""

    async def propose(self, ctx: Any, kind: str, n: int) -> list[Proposal]:
        if kind == "action":
            return await self._action(ctx)
        if kind in ("thought", "rethink"):
            return await super().propose(ctx, kind, n)
        raise ValueError(f"unknown proposal kind {kind!r} for repository work")

    def _messages(self, name: str, ctx: Any, **values: object) -> list[dict]:
        thoughts = "\n".join(ctx.thoughts)
        user = render(self.prompts, f"repo_{name}", issue=issue_section(ctx.problem), thoughts=thoughts, **values)
        return [{"role": "system", "content": render(self.prompts, "repo_system")}, {"role": "user", "content": user}]

    async def _action(self, ctx: Any) -> list[Proposal]:
        messages = self._messages("action", ctx, previous=_previous(ctx), steps=_steps(ctx.steps),
                                  steps_left=ctx.steps_left)
        replies = await self._ask(messages, 1, parse_action_reply, "action")
        if not replies:
            return []
        (reasoning, action), completion = replies[0]
        content = f"{reasoning}\n{Action.from_dict(action).describe()}".strip()
        return [Proposal(content, 1.0, self._metadata(completion, action=action, reasoning=reasoning))]


def parse_action_reply(text: str) -> Parsed:
    """(reasoning, action dict) from a reply: the text before the first code block, and the JSON action.

    The first JSON value in the reply that is an action wins (a ``{...}`` in the reasoning does not
    hide the action block after it). Models' variations are accepted: a one-element list, the kind
    under "tool"/"type"/"name" with the fields beside it or under "arguments"/"args"/"parameters"/
    "input", and extra fields such as "reasoning" (dropped when the action is valid without them).
    """
    first_error = None
    for value, _ in json_values(text):
        value = value[0] if isinstance(value, list) and len(value) == 1 else value
        action, error = _as_action(value)
        if action is not None:
            reasoning = text.split("```", 1)[0].strip() if fenced_blocks(text) else ""
            return Parsed.success((reasoning[:2000], action))
        first_error = first_error or error
    if first_error is not None:
        return Parsed.failure(first_error)
    parsed = extract_json(text)
    return Parsed.failure(parsed.error or "expected one JSON action object")


def _as_action(value: object) -> tuple[dict | None, str]:
    """The action dict ``value`` stands for, or None with what is wrong with it."""
    try:
        Action.from_dict(value)
        return value, ""  # type: ignore[return-value]
    except ActionError as e:
        error = str(e)
    if not isinstance(value, dict):
        return None, error
    kind = value.get("action")
    fields = dict(value)
    if kind not in ACTIONS:
        kind = next((value[k] for k in ("tool", "type", "name", "command", "action_type") if value.get(k) in ACTIONS), None)
        if kind is None:
            return None, error
        for key in ("tool", "type", "name", "action_type", "action"):
            if fields.get(key) == kind:
                del fields[key]
        if fields.get("command") == kind:
            del fields["command"]
    for key in ("arguments", "args", "parameters", "params", "input"):
        if isinstance(fields.get(key), dict):
            fields = {**{k: v for k, v in fields.items() if k != key}, **fields[key]}
    required, optional = ACTIONS[kind]
    candidate = {"action": kind, **{k: v for k, v in fields.items() if k in (*required, *optional)}}
    try:
        Action.from_dict(candidate)
    except ActionError:
        return None, error
    return candidate, ""


def _previous(ctx: Any) -> str:
    """For a repair: the patch being repaired and what the checks found (and the attempts before it)."""
    if ctx.code is None:
        return ""
    earlier = "".join(f"## An earlier patch on this path\n```diff\n{patch}\n```\nChecks:\n{feedback}\n\n"
                      for patch, feedback in ctx.attempts[-1:])
    return (f"{earlier}## The patch you are repairing (already applied)\n```diff\n{ctx.code}\n```\n"
            f"## What the checks found\n{ctx.feedback_text}\n")


def _steps(steps: list[tuple[dict[str, Any], str]]) -> str:
    if not steps:
        return "(none yet)"
    out = []
    for i, (action, observation) in enumerate(steps, 1):
        if len(steps) - i >= RECENT_STEPS and len(observation) > OLD_OBSERVATION_CHARS:
            observation = observation[:OLD_OBSERVATION_CHARS] + "\n[...]"
        out.append(f"### Step {i}\n```json\n{json.dumps(action)}\n```\n{observation}")
    return "\n\n".join(out)
