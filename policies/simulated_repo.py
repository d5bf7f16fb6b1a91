"""SimulatedRepoCoder: the ``--model sim`` agent for repository work, a model *of* an LLM agent.

It needs the instance's gold patch, its reference solution, and works through the same actions as
an LLM (:mod:`treesearch.swebench.actions`), so every patch it makes is real: written into a real
worktree, checked, and judged by the repository's real tests. Only *how wrong* it is, is simulated,
with :class:`~policies.simulated.SimParams` as for the function-level coder:

* **Hypotheses** get a latent quality ``q ~ Beta(κe, κ(1 − e))`` around the instance's ease
  ``e ~ Beta(ease_alpha, ease_beta)`` (fixed per instance id), a prior that is a noisy reading of
  ``q``, and a text that says which file and function it suspects (never how good it is).
* **An attempt** from a hypothesis searches for the function the gold patch changes, views it, then
  edits each file towards a *target*: the base file with the gold patch's hunks applied, except that
  each hunk is left out with probability ``hunk_drop · (1 − q)`` (when there is more than one; one
  always stays) and ``k ~ Poisson(−γ ln q)`` real AST mutations (:mod:`policies.mutations`) are
  applied to the functions the kept hunks change, at lines they add (a mutated function is written
  back as ``ast.unparse`` prints it). An edit replaces one changed block with enough context to be
  unique (files the gold patch deletes or renames away are removed with ``rm``); then it submits.
* **A repair** (an attempt continuing a finished one) removes one of its faults — a mutation, or a
  left-out hunk put back — with probability ``debug_fix_informative`` when the checks' feedback
  shows the output of what failed, else ``debug_fix_uninformative``, and adds a mutation with
  probability ``debug_new_bug``.
* **Rethink** blames the hypothesis with probability ``rethink_blames_plan`` and raises its quality
  ``q ← q + g·u·(1 − q)`` as the function-level coder does.

The faults a patch carries are in every step's ``metadata["sim"]["mutations"]`` (mutations as
``<path>::<function>::<mutation id>``, left-out hunks as ``drop::<path>#<k>``), which is what
:class:`~value_models.simulated_critic.SimulatedCritic` reads as the truth it gives a noisy reading of.
Randomness is derived from the context (seed, instance, hypotheses, latent qualities, the patch being
repaired and its feedback), so the steps of one attempt share one plan. Every call is one simulated
LLM call on the budget, and every output says ``sim``.
"""

from __future__ import annotations

import ast
import difflib
import math
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from policies.mutations import apply, mutation_sites
from policies.simulated import (
    MODEL_NAME,
    SimParams,
    SimulatedCoder,
    SimulatorError,
    clip_quality,
    seed_digest,
)
from treesearch.budget import Budget
from treesearch.contracts import Proposal
from treesearch.swebench.patches import FilePatch, PatchError, apply_hunks, is_test_path, parse_patch

DROP = "drop::"
REPLY_TOKENS = 1500  # the reservation per simulated call: an edit's worth of reply
SUSPICIONS = (
    "a condition that misses a case", "a wrong value computed on one path", "an unhandled input",
    "an exception raised where the issue expects a result", "a boundary handled off by one",
)


@dataclass(frozen=True)
class RepoSimParams:
    """hunk_drop (0.5): the probability of leaving a gold hunk out is ``hunk_drop · (1 − q)``
    (a weak hypothesis fixes only part of the issue). Chosen, not calibrated."""

    hunk_drop: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.hunk_drop <= 1.0:
            raise ValueError(f"RepoSimParams.hunk_drop is a probability, got {self.hunk_drop}")


class SimulatedRepoCoder:
    """The ``--model sim`` repository agent (see the module docstring)."""

    name = MODEL_NAME

    def __init__(self, gold_patch: str, seed: int = 0, budget: Budget | None = None,
                 params: SimParams | None = None, repo_params: RepoSimParams | None = None) -> None:
        try:
            files = [f for f in parse_patch(gold_patch) if not is_test_path(f.path)]
        except PatchError as e:
            raise SimulatorError(f"the gold patch cannot be read: {e}") from e
        if not files:
            raise SimulatorError("the simulated coder (--model sim) needs the instance's gold patch to work from, "
                                 "and this instance has none that changes non-test files; use a real model")
        self.gold: list[FilePatch] = files
        self.seed = seed
        self.budget = budget
        self.params = params or SimParams()
        self.repo_params = repo_params or RepoSimParams()
        self._coder = SimulatedCoder(seed, params=self.params)  # the instance's ease, as for functions

    async def propose(self, ctx: Any, kind: str, n: int) -> list[Proposal]:
        if kind not in ("thought", "action", "rethink"):
            raise ValueError(f"unknown proposal kind {kind!r} for repository work")
        if n <= 0:
            return []
        prompt_tokens = len(_prompt_text(ctx)) // 4
        reservation = None
        if self.budget is not None:
            reservation = await self.budget.areserve(est_tokens=prompt_tokens + n * REPLY_TOKENS, est_cost=0.0)
        try:
            if kind == "thought":
                proposals = self._hypotheses(ctx, n)
            elif kind == "action":
                proposals = [self._action(ctx)]
            else:
                proposals = [self._rethink(ctx)]
        except BaseException:
            if reservation is not None:
                self.budget.release(reservation)
            raise
        completion_tokens = sum(len(p.content) + len(str(p.metadata.get("action", ""))) for p in proposals) // 4
        if reservation is not None:
            self.budget.settle(reservation, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                               cost_usd=0.0)
        return proposals

    # ------------------------------------------------------------------ the three kinds
    def _hypotheses(self, ctx: Any, n: int) -> list[Proposal]:
        p = self.params
        centre = self._coder.ease(ctx.problem)
        drawn = []
        for i in range(n):
            rng = self._rng(ctx, "thought", i)
            q = clip_quality(rng.beta(p.thought_concentration * centre, p.thought_concentration * (1 - centre)))
            drawn.append((q, max(0.01, min(1.0, q + rng.normal(0.0, p.prior_noise))),
                          SUSPICIONS[int(rng.integers(len(SUSPICIONS)))]))
        total = sum(reading for _, reading, _ in drawn)
        where = self._where()
        return [Proposal(f"[sim] hypothesis {i + 1} for {ctx.problem.id}: the cause is in {where}: {suspicion}.",
                         prior=reading / total,
                         metadata={"model": MODEL_NAME, "sim": {"quality": q, "suspicion": suspicion,
                                                                "hypothesis": i + 1, "revision": 0}})
                for i, (q, reading, suspicion) in enumerate(drawn)]

    def _action(self, ctx: Any) -> Proposal:
        if ctx.read_file is None or ctx.read_base is None:
            raise SimulatorError("the simulated repository agent needs the worktree (read_file, read_base)")
        quality = self._quality(ctx)
        faults = self._faults(ctx, quality)
        sim = {"quality": quality, "mutations": faults}
        first = self.gold[0]
        if ctx.code is None and not ctx.steps:
            name = self._functions(ctx, first)
            pattern = f"def {name[0]}" if name else PurePosixPath(first.path).stem
            return _step({"action": "search", "pattern": pattern}, f"[sim] find where {pattern} is defined", sim)
        if ctx.code is None and len(ctx.steps) == 1:
            hunk = first.hunks[0]
            start = max(1, hunk.old_start - 3)
            return _step({"action": "view", "path": first.path, "start": start, "end": start + len(hunk.old_lines) + 6},
                         f"[sim] read {first.path} around line {hunk.old_start}", sim)
        for path, target in self._targets(ctx, faults).items():
            current = ctx.read_file(path)
            if current is None:
                return _step({"action": "create", "path": path, "content": target}, f"[sim] add {path}", sim)
            if current != target:
                old, new = _edit(current, target)
                return _step({"action": "edit", "path": path, "old": old, "new": new}, f"[sim] change {path}", sim)
        for gold in self.gold:  # files the gold patch deletes or renames away
            if gold.old_path is not None and gold.old_path != gold.new_path and ctx.read_file(gold.old_path) is not None:
                return _step({"action": "run", "command": f"rm -f -- {shlex.quote(gold.old_path)}"},
                             f"[sim] remove {gold.old_path}", sim)
        return _step({"action": "submit"}, "[sim] the change is in place", sim)

    def _rethink(self, ctx: Any) -> Proposal:
        p = self.params
        rng = self._rng(ctx, "rethink", 0)
        informative = bool(ctx.feedback is not None and ctx.feedback.informative)
        status = ctx.feedback.status.replace("_", " ") if ctx.feedback is not None else "no feedback"
        if not ctx.thoughts or rng.random() >= p.rethink_blames_plan:
            return Proposal(f"[sim] the hypothesis holds; the patch is wrong ({status}).", 1.0,
                            {"model": MODEL_NAME, "sim": {"verdict": "code"}})
        last = len(ctx.thoughts) - 1
        target = last if last == 0 or rng.random() < p.rethink_targets_last else int(rng.integers(last))
        old = ctx.thought_metadata[target].get("sim") or {}
        old_quality = old.get("quality", self._coder.ease(ctx.problem))
        gain = p.rethink_gain_informative if informative else p.rethink_gain_uninformative
        quality = clip_quality(old_quality + min(1.0, gain * rng.uniform(0.5, 1.5)) * (1 - old_quality))
        revision = old.get("revision", 0) + 1
        text = (f"[sim] hypothesis {old.get('hypothesis', target + 1)} for {ctx.problem.id}, revision {revision}: "
                f"the cause is in {self._where()}: {old.get('suspicion', SUSPICIONS[0])}, corrected after {status}.")
        sim = {**old, "quality": quality, "previous_quality": old_quality, "revision": revision,
               "informative": informative, "verdict": "thought"}
        return Proposal(text, 1.0, {"model": MODEL_NAME, "sim": sim}, target=target)

    # ------------------------------------------------------------------ the latent plan
    def _quality(self, ctx: Any) -> float:
        sim = ctx.thought_metadata[-1].get("sim") if ctx.thought_metadata else None
        return sim["quality"] if isinstance(sim, dict) and "quality" in sim else self._coder.ease(ctx.problem)

    def _faults(self, ctx: Any, quality: float) -> list[str]:
        """The faults of the patch this attempt writes (the same at every step of one attempt)."""
        p = self.params
        carried = (ctx.code_metadata.get("sim") or {}).get("mutations") if ctx.code is not None else None
        if carried is None:
            rng = self._rng(ctx, "plan", 0)
            hunks = [f"{DROP}{f.path}#{k}" for f in self.gold for k in range(len(f.hunks))]
            dropped = [h for h in hunks if rng.random() < self.repo_params.hunk_drop * (1 - quality)] if len(hunks) > 1 else []
            if len(dropped) == len(hunks):
                dropped.pop(int(rng.integers(len(dropped))))
            count = int(rng.poisson(-p.mutation_rate * math.log(quality)))
            return dropped + self._new_mutations(ctx, dropped, count, rng)
        rng = self._rng(ctx, "repair", 0)
        faults = list(carried)
        informative = bool(ctx.feedback is not None and ctx.feedback.informative)
        if faults and rng.random() < (p.debug_fix_informative if informative else p.debug_fix_uninformative):
            faults.pop(int(rng.integers(len(faults))))
        if rng.random() < p.debug_new_bug:
            faults += self._new_mutations(ctx, faults, 1, rng)
        return faults

    def _new_mutations(self, ctx: Any, faults: list[str], count: int, rng: np.random.Generator) -> list[str]:
        """``count`` mutations at sites not yet mutated, in the functions the kept hunks change."""
        taken = {f.split("#", 1)[0] for f in faults if not f.startswith(DROP)}
        by_site: dict[str, list[str]] = {}
        for gold in self.gold:
            if gold.new_path is None:
                continue
            text, added = self._gold_text(ctx, gold, faults)
            for fn, snippet, first_line in _changed_functions(text, added):
                for m in mutation_sites(snippet):
                    site = f"{gold.path}::{fn}::{m.id.split('#', 1)[0]}"
                    if first_line + m.line - 1 in added and site not in taken:
                        by_site.setdefault(site, []).append(f"{gold.path}::{fn}::{m.id}")
        sites = list(by_site)
        chosen = rng.choice(len(sites), size=min(count, len(sites)), replace=False) if count and sites else []
        return [by_site[sites[i]][int(rng.integers(len(by_site[sites[i]])))] for i in sorted(chosen)]

    def _gold_text(self, ctx: Any, gold: FilePatch, faults: list[str]) -> tuple[str, list[int]]:
        """The file with the gold hunks that are not left out, and the lines they add."""
        base = ctx.read_base(gold.old_path) if gold.old_path is not None else ""
        if base is None:
            raise SimulatorError(f"{gold.old_path} is not in the repository at the base commit")
        kept = [h for k, h in enumerate(gold.hunks) if f"{DROP}{gold.path}#{k}" not in faults]
        try:
            return apply_hunks(base, kept)
        except PatchError as e:
            raise SimulatorError(f"the gold patch does not apply to {gold.path} at the base commit: {e}") from e

    def _targets(self, ctx: Any, faults: list[str]) -> dict[str, str]:
        """Each gold file as this attempt means to leave it: kept hunks, then the mutations."""
        targets = {}
        for gold in self.gold:
            if gold.new_path is None:
                continue
            text, added = self._gold_text(ctx, gold, faults)
            prefix = f"{gold.path}::"
            mutations = [f[len(prefix):] for f in faults if f.startswith(prefix)]
            targets[gold.path] = _mutate(text, added, mutations)
        return targets

    def _functions(self, ctx: Any, gold: FilePatch) -> list[str]:
        text, added = self._gold_text(ctx, gold, [])
        return [fn for fn, _, _ in _changed_functions(text, added)]

    def _where(self) -> str:
        return ", ".join(f.path for f in self.gold[:2])

    def _rng(self, ctx: Any, kind: str, index: int) -> np.random.Generator:
        latent = [m.get("sim") for m in ctx.thought_metadata]
        # The earlier attempts on the path are part of the key: a repair of a repair that changed
        # nothing is a new try, not a replay of the last one.
        key = [self.seed, ctx.seed, ctx.problem.id, kind, ctx.thoughts, latent, ctx.code,
               (ctx.code_metadata or {}).get("sim"), ctx.feedback_text, len(ctx.attempts), index]
        return np.random.default_rng(seed_digest(key))


# ---------------------------------------------------------------------------------------------------
# Helpers


def _step(action: dict[str, Any], reasoning: str, sim: dict[str, Any]) -> Proposal:
    return Proposal(reasoning, 1.0, {"model": MODEL_NAME, "action": action, "reasoning": reasoning, "sim": sim})


def _changed_functions(text: str, added: list[int]) -> list[tuple[str, str, int]]:
    """(name, dedented source, first line) of each outermost function holding an added line."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.splitlines()
    found: list[tuple[str, str, int]] = []
    covered: list[tuple[int, int]] = []
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for fn in sorted(functions, key=lambda n: (n.lineno, -n.end_lineno)):
        if any(a <= fn.lineno <= b for a, b in covered):
            continue  # nested in a function already taken
        if any(fn.lineno <= line <= fn.end_lineno for line in added):
            covered.append((fn.lineno, fn.end_lineno))
            found.append((fn.name, textwrap.dedent("\n".join(lines[fn.lineno - 1:fn.end_lineno])) + "\n", fn.lineno))
    return found


def _mutate(text: str, added: list[int], mutations: list[str]) -> str:
    """``text`` with ``mutations`` (``<function>::<id>``) applied to its changed functions; ids that
    no longer fit their function (a hunk put back changed it) are dropped."""
    if not mutations:
        return text
    lines = text.splitlines()
    for name, snippet, first in sorted(_changed_functions(text, added), key=lambda f: -f[2]):
        ids = [m.split("::", 1)[1] for m in mutations if m.split("::", 1)[0] == name]
        valid = {m.id for m in mutation_sites(snippet)}
        ids = [i for i in ids if i in valid]
        if not ids:
            continue
        indent = lines[first - 1][: len(lines[first - 1]) - len(lines[first - 1].lstrip())]
        mutated = textwrap.indent(apply(snippet, ids), indent).splitlines()
        last = first - 1 + len(snippet.splitlines())
        lines[first - 1:last] = mutated
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def _edit(current: str, target: str) -> tuple[str, str]:
    """(old, new): the first block where ``current`` and ``target`` differ, widened with context (a
    neighbouring changed block is taken whole) until ``old`` occurs once in ``current``."""
    a, b = current.splitlines(keepends=True), target.splitlines(keepends=True)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    k = next(i for i, op in enumerate(opcodes) if op[0] != "equal")
    _, i1, i2, j1, j2 = opcodes[k]
    left, right = k, k
    while True:
        old = "".join(a[i1:i2])
        if old and current.count(old) == 1:
            return old, "".join(b[j1:j2])
        grew = False
        if i1 > 0 or j1 > 0:
            if opcodes[left][1] < i1 or opcodes[left][3] < j1:
                i1, j1 = i1 - 1, j1 - 1  # one more line of the equal block before
            else:
                left -= 1
                i1, j1 = opcodes[left][1], opcodes[left][3]
                if opcodes[left][0] == "equal":
                    i1, j1 = opcodes[left][2] - 1, opcodes[left][4] - 1
            grew = True
        if i2 < len(a) or j2 < len(b):
            if opcodes[right][2] > i2 or opcodes[right][4] > j2:
                i2, j2 = i2 + 1, j2 + 1
            else:
                right += 1
                i2, j2 = opcodes[right][2], opcodes[right][4]
                if opcodes[right][0] == "equal":
                    i2, j2 = opcodes[right][1] + 1, opcodes[right][3] + 1
            grew = True
        if not grew:
            return old, "".join(b[j1:j2])


def _prompt_text(ctx: Any) -> str:
    """What an LLM would have been shown for this call, for token accounting."""
    steps = "\n".join(observation for _, observation in getattr(ctx, "steps", []))
    return "\n".join([ctx.problem.prompt, *ctx.thoughts, steps, ctx.code or "", ctx.feedback_text])
