"""The meta-models that propose a changed agent configuration from a parent and its failure logs.

* :class:`LLMMetaModel`: an LLM reads the parent's search parameters, prompt templates and the logs
  of problems it failed (``policies/prompts/evolve_agent.txt``) and replies with a JSON change —
  parameters to set, templates to replace, one sentence why — which is applied to the parent and
  checked (:class:`~treesearch.evolve.agents.AgentFormat`) before it goes anywhere near the archive;
  a reply that cannot be used is asked again once with the reason.
* :class:`SimulatedMetaModel` (``--meta-model sim``): a stand-in for offline runs and tests. It does
  not reason: it moves one or two search parameters to a neighbouring value (prompts are left alone:
  the simulated coder ignores them), quotes the failure summary it was shown, and says ``[sim]``.

:class:`AgentProposer` turns either into a :class:`~treesearch.evolve.loop.Proposer`: the engine's
default configuration first, then one meta-model change per child; a crossover (used only with a
crossover rate above 0) takes each parameter and each template from one parent or the other.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Protocol

import numpy as np

from treesearch.archive import InvalidVariant, Variant
from treesearch.budget import Budget
from treesearch.evolve.agents import (
    PROMPT_NAMES,
    PROMPT_PLACEHOLDERS,
    AgentEvaluator,
    AgentFormat,
    FailureReport,
    FloatRange,
    default_config,
    parameter_space,
)
from treesearch.evolve.loop import Proposal
from treesearch.parsing import Parsed, extract_json

SIM_LABEL = "[sim meta-model]"


class MetaModel(Protocol):
    name: str

    async def change(self, config: dict[str, Any], report: FailureReport,
                     rng: np.random.Generator) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
        """(the changed configuration, what changed, metadata), or None when nothing usable came."""
        ...


class AgentProposer:
    """Agent variants for :func:`~treesearch.evolve.loop.run_evolution`; ``seed`` picks the
    evaluation whose logs the meta-model reads."""

    def __init__(self, meta_model: MetaModel, evaluator: AgentEvaluator, seed: int = 0) -> None:
        self.meta_model = meta_model
        self.evaluator = evaluator
        self.seed = seed

    async def first(self) -> list[Proposal]:
        return [Proposal(default_config(), "the engine's default configuration")]

    async def edit(self, parent: Variant, rng: np.random.Generator) -> Proposal | None:
        report = self.evaluator.failures(parent, self.seed)
        made = await self.meta_model.change(parent.payload, report, rng)
        if made is None:
            return None
        config, change, metadata = made
        return Proposal(config, change, (parent.id,), {"kind": "edit", "meta_model": self.meta_model.name,
                                                       "read": report.summary(), **metadata})

    async def crossover(self, a: Variant, b: Variant, rng: np.random.Generator) -> Proposal | None:
        config = copy.deepcopy(a.payload)
        taken = []
        for name in config["params"]:
            if rng.random() < 0.5 and config["params"][name] != b.payload["params"][name]:
                config["params"][name] = b.payload["params"][name]
                taken.append(name)
        for name in PROMPT_NAMES:
            if rng.random() < 0.5 and config["prompts"][name] != b.payload["prompts"][name]:
                config["prompts"][name] = b.payload["prompts"][name]
                taken.append(f"{name}.txt")
        change = f"crossover of #{a.id} and #{b.id}: " + (f"{', '.join(taken)} from #{b.id}" if taken else "nothing taken")
        return Proposal(config, change, (a.id, b.id), {"kind": "crossover"})


class SimulatedMetaModel:
    """A random local move in the parameter space, labelled sim (see the module docstring). Each
    proposal is one simulated call against ``budget`` (no tokens, no cost)."""

    name = "sim"

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget

    async def change(self, config: dict[str, Any], report: FailureReport,
                     rng: np.random.Generator) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
        from treesearch.tree import DEFAULT_C

        reservation = await self.budget.areserve() if self.budget is not None else None
        space = parameter_space()
        names = list(space)
        chosen = rng.choice(len(names), size=1 + int(rng.random() < 0.3), replace=False)
        child = copy.deepcopy(config)
        moves = []
        for index in sorted(chosen):
            name = names[int(index)]
            old = child["params"][name]
            allowed = space[name]
            if isinstance(allowed, FloatRange) and name == "selection.c":
                new = allowed.neighbour(old, rng, default=DEFAULT_C[child["params"]["selection.rule"]])
            else:
                new = allowed.neighbour(old, rng)
            child["params"][name] = new
            moves.append(f"{name} {json.dumps(old)} -> {json.dumps(new)}")
        if reservation is not None:
            self.budget.settle(reservation, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        return child, f"{SIM_LABEL} {'; '.join(moves)} (read: {report.summary()})", {"model": "sim"}


class LLMMetaModel:
    """An LLM that proposes the change (see the module docstring)."""

    def __init__(self, client: Any, temperature: float = 0.7) -> None:
        from policies.llm_policy import LLMPolicy

        # LLMPolicy's ask, parse, ask-again-once-with-the-error loop, for the meta-model's own prompt.
        self.asker = LLMPolicy(client, temperature=temperature)
        self.name = client.model

    async def change(self, config: dict[str, Any], report: FailureReport,
                     rng: np.random.Generator) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
        replies = await self.asker._ask(self.messages(config, report), 1, lambda text: apply_change(config, text))
        if not replies:
            return None
        (child, description), completion = replies[0]
        return child, description, {"model": completion.model, "raw": completion.text,
                                    "prompt_tokens": completion.prompt_tokens,
                                    "completion_tokens": completion.completion_tokens, "cost_usd": completion.cost_usd}

    @staticmethod
    def messages(config: dict[str, Any], report: FailureReport) -> list[dict[str, str]]:
        from policies.llm_policy import PROMPTS
        from treesearch.prompting import render

        space = "\n".join(f"- {name}: {allowed.describe()}" for name, allowed in parameter_space().items())
        prompts = "\n\n".join(
            f"### {name}.txt (placeholders it may use: {', '.join('$' + p for p in sorted(PROMPT_PLACEHOLDERS[name])) or 'none'})"
            f"\n```\n{config['prompts'][name].rstrip()}\n```" for name in PROMPT_NAMES)
        failures = "\n\n".join(
            f"### {log['problem_id']}\n{log['prompt']}\n\nThe search stopped because: {log['stopped_because']}; "
            f"its final program {'passes' if log['final_program_passes_visible_tests'] else 'fails'} the visible tests "
            f"({log['llm_calls']} LLM calls, {log['rethinks']} rethinks).\n```python\n{log['final_program']}\n```"
            for log in report.logs) or "(no failed problems logged)"
        user = render(PROMPTS, "evolve_agent", params=json.dumps(config["params"], indent=1), space=space,
                      prompts=prompts, summary=report.summary(), failures=failures)
        return [{"role": "system", "content": render(PROMPTS, "system")}, {"role": "user", "content": user}]


def apply_change(config: dict[str, Any], reply: str) -> Parsed[tuple[dict[str, Any], str]]:
    """The meta-model's JSON change applied to ``config`` and checked: (child, description), or the
    reason it cannot be used."""
    parsed = extract_json(reply)
    if not parsed.ok or not isinstance(parsed.value, dict):
        return Parsed.failure(parsed.error if not parsed.ok else "expected one JSON object")
    change = parsed.value
    params, prompts = change.get("params") or {}, change.get("prompts") or {}
    if not isinstance(params, dict) or not isinstance(prompts, dict):
        return Parsed.failure('"params" and "prompts" must be JSON objects')
    child = copy.deepcopy(config)
    child["params"].update(params)
    child["prompts"].update(prompts)
    if child == config:
        return Parsed.failure("the change leaves the configuration as it was")
    try:
        AgentFormat().check(child)
    except InvalidVariant as e:
        return Parsed.failure(f"the changed configuration is invalid: {e}")
    description = str(change.get("description") or "").strip() or "(no description given)"
    return Parsed.success((child, description))
