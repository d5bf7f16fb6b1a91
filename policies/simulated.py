"""SimulatedCoder: a model *of* an LLM coder (``--model sim``) for offline runs, tests and benchmarks.

It writes programs by applying real AST mutations (:mod:`policies.mutations`) to the problem's
reference solution, so every program it proposes is real code that really runs in the sandbox; only
*how many* bugs a program carries, and whether a debug or rethink removes them, is simulated.

The latent model, with every parameter in :class:`SimParams`:

* **Problem ease** ``e ~ Beta(ease_alpha, ease_beta)``, fixed per problem (drawn from the problem id,
  not the seed): some problems the simulated model nearly always solves, some it rarely does, as with
  a real model. This is what makes pass@k curves and best-of-N saturate realistically.
* **Thought quality** ``q ∈ (0, 1)``: a top-level strategy draws ``q ~ Beta(κ·e, κ·(1 − e))``
  (``κ = thought_concentration``), a strategy below another draws around its parent's quality
  instead of ``e``. ``q`` is kept in the thought's ``metadata["sim"]["quality"]``; the text only says
  which strategy it is. The prior is a noisy reading of ``q`` (``prior_noise``), normalised over the n.
* **Code** from a path of thoughts carries ``k ~ Poisson(−γ · ln q)`` mutations, ``q`` the last
  thought's quality (``γ = mutation_rate``), so a program is mutation-free with probability
  ``q^γ``. Code written with no thought above it uses ``q = e``. A mutation can be harmless (the
  tests never notice it), which is why ``γ`` is calibrated on test outcomes, not on mutation counts:
  ``bench/sim_calibration.py`` measures the first-try pass rate on HumanEval's official tests.
* **Debug** removes one of the program's mutations with probability ``debug_fix_informative`` when
  the sandbox feedback shows a failing test's expected and actual values or a traceback, else
  ``debug_fix_uninformative``; it picks the mutation at random (it cannot tell a harmless one from
  the one the tests caught), and introduces a new one with probability ``debug_new_bug``.
* **Rethink** blames the plan with probability ``rethink_blames_plan`` (else "the code, not the
  plan": ``target = None``), the last thought with probability ``rethink_targets_last`` (else an
  earlier one), and raises its quality ``q ← q + g·e·u·(1 − q)``, ``u ~ Uniform(0.5, 1.5)``, with
  ``g = rethink_gain_informative`` or ``rethink_gain_uninformative`` by the same test on the
  feedback. The ease ``e`` in the gain is why rethinking does not make every problem solvable: a
  problem the model finds hard stays hard however often it replans.

Randomness is derived per call from (seed, problem id, kind, the context's thoughts, latent
qualities, code and feedback, sample index), never from a shared stream, so concurrent expansions
give the same proposals in any order. Like an LLM client with a cache, the same context asked twice
gives the same sample i.

Every ``propose`` is one simulated LLM call: reserved against the budget before, settled after with
``len(text) // 4`` tokens each way and cost 0.0, so a budget stops a simulated search exactly as it
stops a real one (:class:`treesearch.budget.BudgetExhausted`). Every proposal's metadata has
``"model": "sim"`` and every thought says ``[sim]``: the simulator never passes for an LLM.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from policies.mutations import Mutation, apply, mutation_sites
from treesearch.budget import Budget
from treesearch.contracts import ConfigError, ExpansionContext, Proposal, ProposalKind
from treesearch.problems import CodeProblem

if TYPE_CHECKING:
    from treesearch.sandbox.result import ExecutionResult

MODEL_NAME = "sim"
# Latent qualities stay inside (0, 1): ln q must be finite and a rethink must be able to move q.
Q_MIN, Q_MAX = 1e-3, 0.999
# Strategies the simulated thoughts are phrased as; which one a thought gets is random and carries
# no information (the quality is latent).
APPROACHES = (
    "iterate once, keeping the running state the answer needs",
    "sort or group the input first, then scan it",
    "split the work into small helper steps and combine them",
    "handle the edge cases first, then the general case",
    "build the result with a comprehension over the input",
    "use a dictionary to count or index what has been seen",
    "walk the input with two indices",
    "reduce the problem to a smaller instance of itself",
)


class SimulatorError(ConfigError, ValueError):
    """The simulated coder cannot work on this problem or program (no reference solution, a program
    it did not write)."""


@dataclass(frozen=True)
class SimParams:
    """The simulated coder's parameters. Each says what it means, its default and where that comes from.

    ease_alpha, ease_beta (1.4, 0.6): problem ease ``e ~ Beta(α, β)``, mean 0.70. The mean matches
        GPT-3.5-turbo's HumanEval pass@1 (70.12, as quoted in RethinkMCTS); the J shape (most
        problems easy, a tail of hard ones) is a choice that lets pass@k rise with k without every
        problem becoming solvable by sampling alone.
    thought_concentration (4.0): κ in ``q ~ Beta(κe, κ(1 − e))``; how far one strategy's quality
        strays from the problem's ease (sibling strategies differ, so choosing among them matters).
        Chosen, not calibrated.
    mutation_rate (1.0): γ in ``k ~ Poisson(−γ ln q)``. Calibrated with ``bench/sim_calibration.py``:
        first-try code from one thought passes HumanEval's official tests 69.9% ± 2.5% of the time
        (164 problems × 3 seeds) against the 70.12% target.
    prior_noise (0.15): standard deviation of the Gaussian noise on a thought's prior (a model's
        confidence is a weak reading of how good its plan is). Chosen.
    debug_fix_informative (0.5), debug_fix_uninformative (0.25): probability that a debug removes a
        mutation given feedback with expected/actual values or a traceback, and without. Chosen to
        reflect that GPT-3.5 self-repair is modest and limited by feedback quality (Olausson et al.,
        "Is Self-Repair a Silver Bullet for Code Generation?", ICLR 2024); the per-attempt rates it
        gives are measured by ``bench/sim_calibration.py``.
    debug_new_bug (0.1): probability that a debug introduces a new mutation. Chosen.
    rethink_blames_plan (0.7): probability that a rethink blames a thought rather than the code. Chosen.
    rethink_targets_last (0.85): probability that the blamed thought is the last one on the path. Chosen.
    rethink_gain_informative (0.5), rethink_gain_uninformative (0.2): ``g`` in the rethink update
        ``q ← q + g·e·u·(1 − q)``. Chosen; their effect is measured by ``bench/sim_calibration.py``.
    """

    ease_alpha: float = 1.4
    ease_beta: float = 0.6
    thought_concentration: float = 4.0
    mutation_rate: float = 1.0
    prior_noise: float = 0.15
    debug_fix_informative: float = 0.5
    debug_fix_uninformative: float = 0.25
    debug_new_bug: float = 0.1
    rethink_blames_plan: float = 0.7
    rethink_targets_last: float = 0.85
    rethink_gain_informative: float = 0.5
    rethink_gain_uninformative: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"SimParams.{f.name} must be a finite number >= 0, got {value}")
        for name in ("ease_alpha", "ease_beta", "thought_concentration"):
            if getattr(self, name) == 0:
                raise ValueError(f"SimParams.{name} must be > 0")
        probabilities = ("debug_fix_informative", "debug_fix_uninformative", "debug_new_bug",
                         "rethink_blames_plan", "rethink_targets_last")
        for name in probabilities:
            if getattr(self, name) > 1:
                raise ValueError(f"SimParams.{name} is a probability, got {getattr(self, name)}")


class SimulatedCoder:
    """The ``--model sim`` policy (see the module docstring for the model it simulates)."""

    name = MODEL_NAME

    def __init__(self, seed: int = 0, budget: Budget | None = None, params: SimParams | None = None) -> None:
        self.seed = seed
        self.budget = budget
        self.params = params or SimParams()
        # Per request (kind + context): the next sample index to hand out, as the LLM client does, so
        # asking the same thing twice gives the next samples rather than the same one again.
        self._next_sample: dict[int, int] = {}

    async def propose(self, ctx: ExpansionContext, kind: ProposalKind, n: int) -> list[Proposal]:
        reference = _reference(ctx.problem)
        if kind in ("inputs", "oracle"):
            return []  # it models writing programs, not tests or checks of them: those need a model
        if kind not in ("thought", "code", "debug", "rethink"):
            raise ValueError(f"unknown proposal kind {kind!r}")
        if n <= 0:
            return []
        prompt_tokens = len(_prompt_text(ctx)) // 4
        # The worst case of the reply: n programs somewhat longer than the reference (unparsing
        # adds spaces and parentheses, a mutation adds `+ 1`) or n short strategy texts.
        # Claimed before the first wait (the budget may be another process's), as the LLM client does,
        # so that concurrent requests get their samples in the order they were asked.
        request = seed_digest(self._request_key(ctx, kind))
        first = self._next_sample.get(request, 0)
        self._next_sample[request] = first + n
        samples = range(first, first + n)
        reservation = None
        if self.budget is not None:
            est = prompt_tokens + n * ((2 * len(reference) + 400) // 4)
            # As LLMPolicy's calls count: thoughts come n to one reply, programs one per sample.
            reservation = await self.budget.areserve(est_tokens=est, est_cost=0.0, calls=1 if kind == "thought" else n)
        try:
            if kind == "thought":
                proposals = self._thoughts(ctx, samples)
            elif kind == "code":
                proposals = [self._code(ctx, reference, i) for i in samples]
            elif kind == "debug":
                proposals = [self._debug(ctx, reference, i) for i in samples]
            else:
                proposals = [self._rethink(ctx, i) for i in samples]
        except BaseException:
            if reservation is not None:
                self.budget.release(reservation)
            raise
        completion_tokens = sum(len(p.content) // 4 for p in proposals)
        if reservation is not None:
            self.budget.settle(reservation, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                               cost_usd=0.0)
        for p in proposals:
            # Each sample's share of the call, as LLMPolicy reports it.
            p.metadata.update(prompt_tokens=prompt_tokens // len(proposals),
                              completion_tokens=len(p.content) // 4, cost_usd=0.0)
        return proposals

    # ------------------------------------------------------------------ the four kinds
    def _thoughts(self, ctx: ExpansionContext, samples: range) -> list[Proposal]:
        p = self.params
        parent_quality = _last_quality(ctx)
        centre = parent_quality if parent_quality is not None else self.ease(ctx.problem)
        qualities, readings, approaches = [], [], []
        for i in samples:
            rng = self._rng(ctx, "thought", i)
            q = clip_quality(rng.beta(p.thought_concentration * centre, p.thought_concentration * (1 - centre)))
            qualities.append(q)
            readings.append(max(0.01, min(1.0, q + rng.normal(0.0, p.prior_noise))))
            approaches.append(APPROACHES[int(rng.integers(len(APPROACHES)))])
        total = sum(readings)
        subject = _subject(ctx.problem)
        proposals = []
        for i, (q, reading, approach) in enumerate(zip(qualities, readings, approaches, strict=True), samples.start):
            text = f"[sim] strategy {i + 1} for {subject}: {approach}."
            sim = {"quality": q, "approach": approach, "strategy": i + 1, "revision": 0}
            proposals.append(Proposal(text, prior=reading / total, metadata={"model": MODEL_NAME, "sim": sim}))
        return proposals

    def _code(self, ctx: ExpansionContext, reference: str, index: int) -> Proposal:
        rng = self._rng(ctx, "code", index)
        quality = _last_quality(ctx)
        source = "thought" if quality is not None else "direct"
        if quality is None:
            quality = self.ease(ctx.problem)
        count = int(rng.poisson(-self.params.mutation_rate * math.log(quality)))
        mutations = _choose_new(mutation_sites(reference), [], count, rng)
        return _program(reference, mutations, {"quality": quality, "from": source})

    def _debug(self, ctx: ExpansionContext, reference: str, index: int) -> Proposal:
        p = self.params
        carried = _carried_mutations(ctx)
        rng = self._rng(ctx, "debug", index)
        informative = feedback_is_informative(ctx.feedback)
        fix_probability = p.debug_fix_informative if informative else p.debug_fix_uninformative
        remaining = list(carried)
        fixed = remaining.pop(int(rng.integers(len(remaining)))) if remaining and rng.random() < fix_probability else None
        introduced = None
        if rng.random() < p.debug_new_bug:
            new = _choose_new(mutation_sites(reference), remaining, 1, rng)
            if new:
                introduced = new[0]
                remaining.append(introduced)
        quality = ctx.code_metadata["sim"].get("quality")
        return _program(reference, sorted(remaining), {
            "quality": quality, "from": "debug", "fixed": fixed, "introduced": introduced, "informative": informative,
        })

    def _rethink(self, ctx: ExpansionContext, index: int) -> Proposal:
        p = self.params
        rng = self._rng(ctx, "rethink", index)
        informative = feedback_is_informative(ctx.feedback)
        summary = summarise_feedback(ctx.feedback)
        if not ctx.thoughts or rng.random() >= p.rethink_blames_plan:
            text = f"[sim] the plan holds; the program is wrong ({summary}): debug the code."
            return Proposal(text, 1.0, {"model": MODEL_NAME, "sim": {"verdict": "code", "informative": informative}})
        last = len(ctx.thoughts) - 1
        target = last if last == 0 or rng.random() < p.rethink_targets_last else int(rng.integers(last))
        old = ctx.thought_metadata[target].get("sim") if target < len(ctx.thought_metadata) else None
        old = old or {}
        old_quality = old.get("quality", self.ease(ctx.problem))
        gain = (p.rethink_gain_informative if informative else p.rethink_gain_uninformative) * self.ease(ctx.problem)
        quality = clip_quality(old_quality + min(1.0, gain * rng.uniform(0.5, 1.5)) * (1 - old_quality))
        revision = old.get("revision", 0) + 1
        strategy = old.get("strategy", target + 1)
        approach = old.get("approach", APPROACHES[0])
        text = (f"[sim] strategy {strategy} for {_subject(ctx.problem)}, revision {revision}: {approach}, "
                f"corrected after {summary}.")
        sim = {"quality": quality, "previous_quality": old_quality, "approach": approach, "strategy": strategy,
               "revision": revision, "informative": informative, "verdict": "thought"}
        return Proposal(text, 1.0, {"model": MODEL_NAME, "sim": sim}, target=target)

    # ------------------------------------------------------------------ latent state
    def ease(self, problem: CodeProblem) -> float:
        """The problem's ease ``e`` (see :class:`SimParams`): fixed per problem id, whatever the seed."""
        rng = np.random.default_rng(seed_digest(["ease", problem.id]))
        return clip_quality(rng.beta(self.params.ease_alpha, self.params.ease_beta))

    def _request_key(self, ctx: ExpansionContext, kind: str) -> list[Any]:
        latent = [m.get("sim") for m in ctx.thought_metadata]
        return [self.seed, ctx.seed, ctx.problem.id, kind, ctx.thoughts, latent, ctx.code,
                ctx.code_metadata.get("sim"), ctx.feedback_text]

    def _rng(self, ctx: ExpansionContext, kind: str, index: int) -> np.random.Generator:
        return np.random.default_rng(seed_digest([*self._request_key(ctx, kind), index]))


# ---------------------------------------------------------------------------------------------------
# Reading the feedback, as an LLM would: only what the sandbox reported.


def feedback_is_informative(feedback: ExecutionResult | None) -> bool:
    """Whether ``feedback`` points at the bug: a failing test showing the expected and the actual
    value, an exception with a traceback inside the program, or the error that stopped it loading.
    A bare failed assert or a timeout says only *that* something is wrong."""
    if feedback is None:
        return False
    if feedback.status in ("syntax_error", "load_error"):
        return True
    return any(
        o.traceback or (o.expected is not None and o.actual is not None)
        for o in feedback.outcomes if not o.passed
    )


def summarise_feedback(feedback: ExecutionResult | None) -> str:
    """A short account of the feedback for a rewritten thought's text."""
    if feedback is None:
        return "no feedback"
    errors = sorted({o.exception_type for o in feedback.outcomes if not o.passed and o.exception_type})
    text = f"{feedback.passed}/{feedback.total} visible tests passing"
    if feedback.status != "ok":
        text += f", {feedback.status.replace('_', ' ')}"
    return text + (f", raising {', '.join(errors)}" if errors else "")


# ---------------------------------------------------------------------------------------------------
# Helpers


def _reference(problem: CodeProblem) -> str:
    if not problem.reference:
        raise SimulatorError(
            f"problem {problem.id}: the simulated coder (--model sim) needs a reference solution to mutate, "
            "and this problem has none; give it a 'reference' or use a real model"
        )
    try:
        mutation_sites(problem.reference)
    except SyntaxError as e:
        raise SimulatorError(f"problem {problem.id}: the reference solution does not parse: {e.msg} (line {e.lineno})") from e
    return problem.reference


def _carried_mutations(ctx: ExpansionContext) -> list[str]:
    sim = ctx.code_metadata.get("sim") if ctx.code_metadata else None
    if not isinstance(sim, dict) or "mutations" not in sim:
        raise SimulatorError(
            f"problem {ctx.problem.id}: the simulated coder can only debug programs it wrote "
            "(their metadata lists the mutations they carry)"
        )
    return list(sim["mutations"])


def _choose_new(sites: list[Mutation], carried: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` mutation ids at sites not already mutated, one variant per site, sites uniformly."""
    taken = {_site(m) for m in carried}
    by_site: dict[str, list[str]] = {}
    for m in sites:
        if _site(m.id) not in taken:
            by_site.setdefault(_site(m.id), []).append(m.id)
    keys = list(by_site)
    count = min(count, len(keys))
    chosen = rng.choice(len(keys), size=count, replace=False) if count else []
    return [by_site[keys[i]][int(rng.integers(len(by_site[keys[i]])))] for i in sorted(chosen)]


def _site(mutation_id: str) -> str:
    return mutation_id.split("#", 1)[0]


def _program(reference: str, mutations: list[str], sim: dict[str, Any]) -> Proposal:
    return Proposal(apply(reference, mutations), 1.0, {"model": MODEL_NAME, "sim": {**sim, "mutations": mutations}})


def _last_quality(ctx: ExpansionContext) -> float | None:
    if not ctx.thought_metadata:
        return None
    sim = ctx.thought_metadata[-1].get("sim")
    return sim.get("quality") if isinstance(sim, dict) else None


def _subject(problem: CodeProblem) -> str:
    """What a strategy is about: the function name and the first sentence of its description."""
    docstring = re.search(r'"""(.*?)(?:"""|$)', problem.prompt, re.S)
    text = docstring.group(1) if docstring else problem.prompt
    first = " ".join(text.strip().split())
    first = re.split(r"(?<=[.!?])\s|>>>", first, maxsplit=1)[0][:80].rstrip()
    name = f"{problem.entry_point}()" if problem.entry_point else "the program"
    return f"{name} ({first})" if first else name


def _prompt_text(ctx: ExpansionContext) -> str:
    """What an LLM would have been shown for this call, for token accounting."""
    return "\n".join([ctx.problem.prompt, *ctx.thoughts, ctx.code or "", ctx.feedback_text])


def seed_digest(key: Any) -> int:
    """A stable 128-bit integer for any JSON-able key: seeds that do not depend on hash randomisation."""
    encoded = json.dumps(key, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.blake2b(encoded, digest_size=16).digest(), "little")


def clip_quality(q: float) -> float:
    """A latent quality kept inside [Q_MIN, Q_MAX]."""
    return float(min(Q_MAX, max(Q_MIN, q)))
