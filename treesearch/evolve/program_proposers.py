"""The models that write program variants: first programs, edits of a parent, crossovers of two.

* :class:`LLMProgramEditor`: first programs from the LLM policy's own code prompt; an edit shows the
  model the parent, its score and what the evaluator rewards (``policies/prompts/evolve_edit.txt``);
  a crossover shows two parents and asks for one program combining their best ideas
  (``evolve_crossover.txt``). Replies go through the policy's code extraction, asked again once when
  no usable program comes back.
* :class:`SimulatedProgramEditor` (``--model sim``): a model *of* such an editor for offline runs. Like
  the simulated coder it writes real programs by applying real AST mutations
  (:mod:`policies.mutations`) to the problem's reference solution, which it must have; only which
  mutations a program carries is simulated (:class:`SimEditParams`). Its programs and changes say
  ``[sim]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from treesearch.archive import Archive, Variant
from treesearch.budget import Budget, BudgetExhausted
from treesearch.evolve.loop import Proposal
from treesearch.problems import CodeProblem

SIM_LABEL = "[sim]"


@dataclass(frozen=True)
class SimEditParams:
    """The simulated editor's parameters (chosen, not calibrated: no published figures exist for
    LLM edits of a working program).

    first_extra_mutations (1.0): a first program carries ``1 + Poisson(this)`` mutations of the
        reference — a first attempt is never the tuned solution — unless the run starts from given
        programs, which the editor then reads as the reference with at most two mutations.
    fix (0.5): an edit removes one of the parent's mutations (chosen at random: like the simulated
        coder's debug, it cannot tell which one costs the score) with this probability...
    new (0.3): ...and adds one at a site the parent has not mutated with this probability. An edit that
        does neither returns the parent unchanged, which the archive rejects as a duplicate.
    A crossover keeps every mutation both parents carry and each one only one of them carries with
    probability 1/2 (one per site).
    """

    first_extra_mutations: float = 1.0
    fix: float = 0.5
    new: float = 0.3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.first_extra_mutations) and self.first_extra_mutations >= 0):
            raise ValueError("first_extra_mutations must be a finite number >= 0")
        for name in ("fix", "new"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SimEditParams.{name} is a probability, got {getattr(self, name)}")


class SimulatedProgramEditor:
    """The ``sim`` editor (see the module docstring). Every proposal is one simulated call against
    ``budget``: ``len(text) // 4`` tokens each way, cost 0."""

    name = "sim"

    def __init__(self, problem: CodeProblem, first_programs: int = 4, seed: int = 0, budget: Budget | None = None,
                 params: SimEditParams | None = None, initial: list[str] | None = None) -> None:
        from policies.mutations import mutation_sites
        from policies.simulated import SimulatorError

        if not problem.reference:
            raise SimulatorError(f"problem {problem.id}: the simulated editor (--model sim) needs a reference "
                                 "solution to mutate; give the problem a 'reference' or use a real model")
        self.reference = problem.reference
        self.sites = {m.id: m for m in mutation_sites(problem.reference)}
        self.first_programs = first_programs
        self.seed = seed
        self.budget = budget
        self.params = params or SimEditParams()
        self.initial = [self.mutations_of(code) for code in initial or []]

    def mutations_of(self, code: str) -> list[str]:
        """The mutations (at most two) that turn the reference into ``code``, up to formatting,
        comments and local names; SimulatorError when there are none."""
        from itertools import combinations

        from policies.mutations import apply
        from policies.simulated import SimulatorError
        from treesearch.evolve.programs import normal_form

        target = normal_form(code)
        for count in range(3):
            for mutations in combinations(self.sites, count):
                if len({_site(m) for m in mutations}) == count and normal_form(apply(self.reference, mutations)) == target:
                    return sorted(mutations)
        raise SimulatorError("the simulated editor (--model sim) can only start from programs that are the problem's "
                             "reference with at most two of its mutations")

    async def first(self) -> list[Proposal]:
        if self.initial:
            return [await self._program(m, (), f"{SIM_LABEL} given first program: {self._describe(m)}", "first")
                    for m in self.initial]
        proposals = []
        for index in range(self.first_programs):
            rng = np.random.default_rng(_digest(["first", self.seed, index]))
            mutations = self._fresh([], 1 + int(rng.poisson(self.params.first_extra_mutations)), rng)
            try:
                proposals.append(await self._program(mutations, (), f"{SIM_LABEL} first program: "
                                                     f"{self._describe(mutations)}", "first"))
            except BudgetExhausted:
                if not proposals:
                    raise
                break  # keep what the budget paid for
        return proposals

    async def edit(self, parent: Variant, rng: np.random.Generator) -> Proposal | None:
        carried = list(parent.metadata["sim"]["mutations"])
        moves = []
        if carried and rng.random() < self.params.fix:
            removed = carried.pop(int(rng.integers(len(carried))))
            moves.append(f"removed {self._describe([removed])}")
        if rng.random() < self.params.new:
            added = self._fresh(carried, 1, rng)
            carried += added
            moves += [f"added {self._describe(added)}"] if added else []
        return await self._program(sorted(carried), (parent.id,),
                                   f"{SIM_LABEL} edit: {'; '.join(moves) or 'no change'}", "edit")

    async def crossover(self, a: Variant, b: Variant, rng: np.random.Generator) -> Proposal | None:
        mine, theirs = set(a.metadata["sim"]["mutations"]), set(b.metadata["sim"]["mutations"])
        kept: dict[str, str] = {_site(m): m for m in mine & theirs}
        for mutation in sorted(mine ^ theirs):
            if _site(mutation) not in kept and rng.random() < 0.5:
                kept[_site(mutation)] = mutation
        mutations = sorted(kept.values())
        return await self._program(mutations, (a.id, b.id),
                                   f"{SIM_LABEL} crossover of #{a.id} and #{b.id}: {self._describe(mutations)}", "crossover")

    def _fresh(self, carried: list[str], count: int, rng: np.random.Generator) -> list[str]:
        """``count`` mutations at sites not yet mutated, sites uniformly, one variant per site."""
        taken = {_site(m) for m in carried}
        by_site: dict[str, list[str]] = {}
        for mutation in self.sites:
            if _site(mutation) not in taken:
                by_site.setdefault(_site(mutation), []).append(mutation)
        sites = list(by_site)
        chosen = rng.choice(len(sites), size=min(count, len(sites)), replace=False) if sites else []
        return [by_site[sites[i]][int(rng.integers(len(by_site[sites[i]])))] for i in sorted(chosen)]

    def _describe(self, mutations: list[str]) -> str:
        return ", ".join(f"{m} ({self.sites[m].description})" for m in mutations) or "the reference itself"

    async def _program(self, mutations: list[str], parents: tuple[int, ...], change: str, kind: str) -> Proposal:
        from policies.mutations import apply

        reservation = await self.budget.areserve(est_tokens=len(self.reference)) if self.budget is not None else None
        code = apply(self.reference, mutations)
        if reservation is not None:
            self.budget.settle(reservation, prompt_tokens=len(self.reference) // 4, completion_tokens=len(code) // 4,
                               cost_usd=0.0)
        return Proposal({"code": code}, change, parents, {"kind": kind, "model": "sim", "sim": {"mutations": mutations}})


class LLMProgramEditor:
    """An LLM editor (see the module docstring); ``goal`` says what the score rewards and
    ``archive`` supplies each parent's latest evaluation details."""

    def __init__(self, client: Any, problem: CodeProblem, goal: str, archive: Archive, first_programs: int = 4,
                 temperature: float = 0.8, initial: list[str] | None = None) -> None:
        from policies.llm_policy import LLMPolicy

        self.policy = LLMPolicy(client, temperature=temperature)
        self.name = client.model
        self.view = dataclasses.replace(problem, hidden_tests=[], plus_tests=[])
        self.goal = goal
        self.archive = archive
        self.first_programs = first_programs
        self.initial = initial or []

    async def first(self) -> list[Proposal]:
        from treesearch.contracts import ExpansionContext

        if self.initial:
            return [Proposal({"code": code}, "given first program", (), {"kind": "first"}) for code in self.initial]
        proposals = await self.policy.propose(ExpansionContext(problem=self.view), "code", self.first_programs)
        return [Proposal({"code": p.content}, "first program", (), {"kind": "first", **_usage(p.metadata)})
                for p in proposals]

    async def edit(self, parent: Variant, rng: np.random.Generator) -> Proposal | None:
        return await self._ask("evolve_edit", (parent,), code=parent.payload["code"], score=self._score(parent))

    async def crossover(self, a: Variant, b: Variant, rng: np.random.Generator) -> Proposal | None:
        return await self._ask("evolve_crossover", (a, b), code_a=a.payload["code"], score_a=self._score(a),
                               code_b=b.payload["code"], score_b=self._score(b))

    async def _ask(self, template: str, parents: tuple[Variant, ...], **values: str) -> Proposal | None:
        from policies.llm_policy import PROMPTS
        from treesearch.parsing import extract_code
        from treesearch.prompting import output_note, problem_section, render

        user = render(PROMPTS, template, problem=problem_section(self.view), goal=self.goal,
                      output_note=output_note(self.view), **values)
        messages = [{"role": "system", "content": render(PROMPTS, "system")}, {"role": "user", "content": user}]
        entry = self.view.entry_point if self.view.kind == "function" else None
        replies = await self.policy._ask(messages, 1, lambda text: extract_code(text, entry))
        if not replies:
            return None
        code, completion = replies[0]
        kind = "edit" if len(parents) == 1 else "crossover"
        change = f"{kind}: {_idea(completion.text)}" if len(parents) == 1 else \
            f"crossover of #{parents[0].id} and #{parents[1].id}: {_idea(completion.text)}"
        return Proposal({"code": code}, change, tuple(p.id for p in parents),
                        {"kind": kind, "model": completion.model, "raw": completion.text,
                         "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                         "cost_usd": completion.cost_usd})

    def _score(self, variant: Variant) -> str:
        details = self.archive.score_details(variant.id, variant.level - 1)
        return f"{variant.score:.6g} ({json.dumps(details[-1])})" if details else f"{variant.score:.6g}"


def _idea(reply: str) -> str:
    """The prose before the first code block, on one line and cut short: what the model says it did."""
    prose = " ".join(reply.split("```", 1)[0].split())
    return (prose[:200] + "…") if len(prose) > 200 else prose or "(no explanation)"


def _usage(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: metadata.get(k) for k in ("model", "prompt_tokens", "completion_tokens", "cost_usd")}


def _site(mutation_id: str) -> str:
    return mutation_id.split("#", 1)[0]


def _digest(key: Any) -> int:
    return int.from_bytes(hashlib.blake2b(json.dumps(key).encode(), digest_size=8).digest(), "little")

