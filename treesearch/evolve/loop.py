"""The evolution loop both uses share: pick parents, ask a proposer for a child, keep it if the
archive takes it, evaluate it stage by stage, confirm it if it would be the new record.

Generation 0 holds the proposer's first variants. Each later generation ``g`` has
``children_per_generation`` *slots*; slot ``i`` draws its parent(s) from the finished variants of
generations before ``g`` (with their child counts as they stand), using a random generator seeded by
``(seed, g, i, attempt)``, and asks the proposer for an edit of one parent or, with probability
``crossover_rate``, a crossover of two. A proposal the archive rejects (a duplicate, an invalid
payload) or that the proposer could not make costs one of ``attempts`` tries of the slot.

Children are made and evaluated one at a time, so a run is a sequence of committed steps: started
again after a kill, it finishes the variant that was being evaluated (its stages resume where they
stopped), skips every filled slot and goes on from the first empty one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from treesearch.archive import (
    SELECTION_RULES,
    Archive,
    Evaluate,
    Rejected,
    Stage,
    Variant,
    choose_parent,
    confirm_elite,
    evaluate_staged,
)
from treesearch.budget import BudgetExhausted


@dataclass(frozen=True)
class Proposal:
    """A proposed variant: its payload, what changed (for people), the parents it came from (the
    first is its parent in the lineage) and metadata kept with it."""

    payload: Any
    change: str
    parents: tuple[int, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


class Proposer(Protocol):
    """Makes variants: the first ones, an edit of a parent, a crossover of two parents. ``None``
    when it could produce nothing usable; raises BudgetExhausted when its budget is spent."""

    async def first(self) -> list[Proposal]: ...

    async def edit(self, parent: Variant, rng: np.random.Generator) -> Proposal | None: ...

    async def crossover(self, a: Variant, b: Variant, rng: np.random.Generator) -> Proposal | None: ...


@dataclass(frozen=True)
class EvolutionSettings:
    """``selection``: the parent-selection rule (see :mod:`treesearch.archive`), ``sharpness`` its λ;
    ``confirmations``: final-stage evaluations an elite needs before it is trusted as the best."""

    generations: int = 5
    children_per_generation: int = 2
    selection: str = "dgm"
    sharpness: float | None = None
    confirmations: int = 2
    crossover_rate: float = 0.0
    attempts: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.selection not in SELECTION_RULES:
            raise ValueError(f"unknown selection rule {self.selection!r}; choose one of {', '.join(SELECTION_RULES)}")
        for name in ("generations", "children_per_generation", "attempts", "confirmations"):
            minimum = 0 if name == "generations" else 1
            if getattr(self, name) < minimum:
                raise ValueError(f"{name} must be >= {minimum}, got {getattr(self, name)}")
        if not 0.0 <= self.crossover_rate <= 1.0:
            raise ValueError(f"crossover_rate must be in [0, 1], got {self.crossover_rate}")


@dataclass
class GenerationRecord:
    """After generation ``generation``: the trusted best so far and the best score made in it."""

    generation: int
    best_id: int | None
    best_score: float | None
    generation_best: float | None
    variants: int


async def run_evolution(
    archive: Archive, proposer: Proposer, stages: Sequence[Stage], evaluate: Evaluate,
    settings: EvolutionSettings, on_variant: Callable[[Variant], None] | None = None,
    on_generation: Callable[[GenerationRecord], None] | None = None,
) -> str:
    """Evolve until every slot of ``settings.generations`` generations is filled; returns why it
    stopped ("generations", "budget: <limit>", or "no variant to evolve"). ``on_variant`` hears of
    each variant evaluated, ``on_generation`` of each generation completed (also those a resumed
    run finds complete)."""

    def generation_done(generation: int) -> None:
        if on_generation is not None:
            on_generation(generation_record(archive, generation, len(stages), settings.confirmations))

    async def finish(variant: Variant) -> None:
        variant = await evaluate_staged(archive, variant.id, stages, evaluate, settings.seed)
        if variant.status == "done":
            variant = await confirm_elite(archive, variant.id, stages, evaluate, settings.confirmations, settings.seed)
        if on_variant is not None:
            on_variant(variant)

    try:
        if archive.in_slot(0, 0) is None and not archive.rejections(0):
            for slot, proposal in enumerate(await proposer.first()):
                _add(archive, proposal, 0, slot)
        for variant in archive.variants("evaluating"):
            await finish(variant)
        generation_done(0)
        for generation in range(1, settings.generations + 1):
            for slot in range(settings.children_per_generation):
                if archive.in_slot(generation, slot) is not None:
                    continue
                for attempt in range(len(archive.rejections(generation, slot)), settings.attempts):
                    parents = archive.variants("done", before_generation=generation)
                    if not parents:
                        return "no variant to evolve"
                    rng = np.random.default_rng([settings.seed, generation, slot, attempt])
                    proposal = await _propose(proposer, parents, rng, settings)
                    if proposal is None:
                        archive.record_rejection(generation, slot, None, "the proposer produced nothing usable")
                        continue
                    variant = _add(archive, proposal, generation, slot)
                    if variant is not None:
                        await finish(variant)
                        break
            generation_done(generation)
    except BudgetExhausted as e:
        return f"budget: {e.limit}"
    return "generations"


async def _propose(proposer: Proposer, parents: list[Variant], rng: np.random.Generator,
                   settings: EvolutionSettings) -> Proposal | None:
    first = choose_parent(parents, rng, settings.selection, settings.sharpness)
    if len(parents) > 1 and rng.random() < settings.crossover_rate:
        others = [v for v in parents if v.id != first.id]
        return await proposer.crossover(first, choose_parent(others, rng, settings.selection, settings.sharpness), rng)
    return await proposer.edit(first, rng)


def _add(archive: Archive, proposal: Proposal, generation: int, slot: int) -> Variant | None:
    parent = proposal.parents[0] if proposal.parents else None
    metadata = {**proposal.metadata, "parents": list(proposal.parents)}
    try:
        return archive.add(proposal.payload, parent, proposal.change, generation, slot, metadata)
    except Rejected:
        return None


def generation_record(archive: Archive, generation: int, stages: int, confirmations: int) -> GenerationRecord:
    """The trusted best once ``generation`` was complete, and the best score made in it."""
    best = archive.best(stages, confirmations, before_generation=generation + 1)
    made = [v for v in archive.variants(before_generation=generation + 1) if v.generation == generation]
    scores = [v.score for v in made if v.score is not None]
    return GenerationRecord(generation, best.id if best else None, best.score if best else None,
                            max(scores) if scores else None, len(made))


def generation_records(archive: Archive, stages: int, confirmations: int) -> list[GenerationRecord]:
    """:func:`generation_record` of every generation so far."""
    last = max((v.generation for v in archive.variants()), default=-1)
    return [generation_record(archive, g, stages, confirmations) for g in range(last + 1)]
