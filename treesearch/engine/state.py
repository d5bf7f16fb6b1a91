"""The state every strategy and every domain shares: the tree, the parts it calls, and the
bookkeeping around them.

A strategy (MCTS or a baseline) decides *which* node to grow; a domain (:class:`~treesearch.contracts.Domain`)
makes and checks attempts; :class:`SearchState` does the rest: asking the policy, adding thoughts,
valuing checked attempts, marking them terminal, rethink's supersession, the final pick, and logging
each step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treesearch.budget import BudgetExhausted
from treesearch.contracts import (
    Candidate,
    Domain,
    ExpansionContext,
    Policy,
    Proposal,
    ProposalError,
    StopReason,
    ValueModel,
)
from treesearch.engine.nodes import RootNode, ThoughtNode, ThoughtVersion
from treesearch.engine.turns import outside
from treesearch.export.events import EventLog
from treesearch.tree import ROOT, SearchTree, SelectionConfig

CODE_STRATEGIES = ("mcts", "best_of_n", "self_debug", "beam", "s_star")
# A repository search runs MCTS, or one hypothesis with an attempt and its repairs in a row (a
# mini-swe-agent-like baseline on the same machinery and budget).
REPO_STRATEGIES: dict[str, dict[str, int]] = {"mcts": {}, "linear": {"width": 1, "concurrency": 1}}
STRATEGIES = (*CODE_STRATEGIES, "linear")


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of a search, for code and repository search alike; written to ``config.json``.
    Repository search starts from :meth:`for_repository`'s defaults."""

    strategy: str = "mcts"  # mcts | best_of_n | self_debug | beam | s_star (code); mcts | linear (repository)
    width: int = 3  # thoughts proposed per expansion
    code_samples: int = 1  # programs written per thought (code)
    thought_depth: int = 1  # levels of thoughts above the attempts (0: programs straight from the problem)
    # With thought_depth 0, execution first: the root keeps taking new programs (fresh samples) while
    # it has fewer than ceil(N^root_widening) of them, N = expansions started (progressive widening;
    # 0: the root is expanded once, 1: every expansion a fresh sample); a slot that selection cannot
    # fill takes a fresh sample too. Repairs of the failing programs compete through selection.
    # With thoughts (thought_depth >= 1) the root is expanded once (its thoughts), and its fresh
    # programs, written straight from the problem, compete with the thoughts' lines. 1.0 with
    # rethink_cap 1 was chosen on the dev-wide subset: a real small model's fresh programs passed
    # more often than its second rethinks and its repairs (README, the quality bench). With
    # thought_depth 0, α = 1 is best-of-N: set a smaller α there.
    root_widening: float = 1.0
    # With thoughts, the root's first expansion writes a program straight from the problem before its
    # thoughts (with greedy_first, the model's own greedy answer): a search that starts where a single
    # sample would, and weighs repairing that program against the thoughts' programs (code). Chosen on
    # the dev subset: without it MCTS lost problems the greedy program solves (README, the quality bench).
    plain_first: bool = True
    max_debug_depth: int = 4  # repairs in a row below an attempt before it is terminal
    # A repair valued no higher than the program it repairs ends that line of repairs (code): a weak
    # model that could not improve a program once tends not to on the next try either.
    repairs_must_improve: bool = False
    max_steps: int = 12  # actions per attempt (repository)
    concurrency: int = 4  # expansions in flight (K)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    rethink: bool = True  # rewrite the thought a failed attempt disproves, then attempt again
    rethink_cap: int = 1  # rethinks per failed attempt and per thought
    rethink_trace: bool = False  # show the policy a line trace of the first failing test (code)
    early_stop: bool = True  # stop at the first attempt that counts as solved (see require_approval)
    # MCTS: distinct solved attempts that must behave alike on inputs the policy writes before the
    # search stops (1: the first solved attempt stops it); the final pick then favours the largest
    # group of alike attempts. 1 by default: with Qwen2.5-Coder 0.5B and 1.5B a second agreeing
    # program bought nothing at twice the calls (the wrong ones agree: one misreading, twice).
    confirm: int = 1
    # With an oracle, a solved attempt ends the search only if it behaves like the oracle on the policy's
    # inputs, where the oracle gives a value (the oracle: one program the policy writes from the problem
    # taken literally, by brute force, trusted once it passes the visible tests); the final pick favours
    # the attempts that agree with it. The visible tests cannot tell a misreading of the problem from a
    # right reading; a brute-force reading is wrong in other ways than a clever one (ALGO, Zhang et al. 2023).
    # On by default, chosen on the dev subset at 8 calls: Qwen2.5-Coder 1.5B 16 of 24 with it, 15
    # without; 0.5B 14 and 14 (README, the quality bench).
    oracle: bool = True
    beam_width: int = 2  # programs kept per level by the beam baseline
    discriminator_top: int = 0  # > 1: the discriminator (LLM models) picks among this many best distinct
    require_approval: bool = False  # solved needs every check passed *and* the critic's approval
    log_selection_terms: bool = False  # select events carry each child's Q, exploration and score
    prompts: str | None = None  # a directory of LLM policy templates overriding policies/prompts/ by name
    temperature: float | None = None  # the LLM policy's sampling temperature (None: the policy's own)
    greedy_first: bool = True  # the LLM policy writes a search's first program at temperature 0
    max_iterations: int = 10_000  # loop steps before the search gives up

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        for name in ("width", "code_samples", "max_steps", "concurrency", "beam_width",
                     "max_iterations", "confirm"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_debug_depth", "rethink_cap", "discriminator_top", "thought_depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.root_widening <= 1.0:
            raise ValueError(f"root_widening must be in [0, 1], got {self.root_widening}")

    @classmethod
    def for_repository(cls, strategy: str = "mcts", **fields: Any) -> SearchConfig:
        """A repository search's defaults (fewer, longer attempts; approval required to stop, no
        confirmation on inputs, no oracle) and
        ``strategy``'s settings over ``fields``."""
        if strategy not in REPO_STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(REPO_STRATEGIES)}")
        # patches are not run on inputs (confirm 1, no oracle); hypotheses first, without fresh attempts
        # beside them (plain_first and root_widening were chosen on code problems)
        defaults = dict(width=2, max_debug_depth=3, concurrency=2, rethink_cap=1, discriminator_top=3,
                        require_approval=True, max_iterations=1000, confirm=1, oracle=False, plain_first=False,
                        root_widening=0.0)
        return cls(strategy=strategy, **{**defaults, **fields, **REPO_STRATEGIES[strategy]})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SearchStats:
    """``checks``: attempts checked (programs run on the visible tests, patches checked);
    ``attempts``/``steps``: repository attempts and their actions."""

    checks: int = 0
    attempts: int = 0
    steps: int = 0
    rethinks_tried: int = 0
    rethinks_helped: int = 0
    expansion_errors: int = 0


def same_value(ours: str, theirs: str) -> bool:
    """Two results (reprs) are the same value: equal, or numbers equal to 9 significant digits (a sum
    taken in another order differs in its last bits)."""
    if ours == theirs:
        return True
    try:
        return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


class SearchState:
    """The tree of one search and the parts that grow it. Policies and value models only ever see
    ``domain.view``, the problem without what judges the final answer."""

    def __init__(self, domain: Domain, policy: Policy, value_model: ValueModel, config: SearchConfig,
                 events: EventLog | None = None, seed: int = 0) -> None:
        self.domain = domain
        self.policy = policy
        self.value_model = value_model
        self.config = config
        self.events = events or EventLog()
        self.seed = seed
        self.stats = SearchStats()
        self.failures_in_a_row = 0
        self.inputs: Proposal | None | bool = None  # the policy's inputs once asked (False: none to be had)
        self._behaviour: dict[int, tuple] = {}
        self.oracle: tuple | bool | None = None  # the oracle's behaviour once asked (False: none to trust)
        self._solutions: dict[str, int] = {}  # each solution :meth:`repeats` was asked about: its first attempt
        self.root_room = 0  # children the root keeps room for below its programs (set by MCTS: root_widening, plain_first)
        self.tree = SearchTree(selection=config.selection, root_payload=RootNode(domain.problem_id))
        self.tree.events = self.events.events

    @property
    def view(self) -> Any:
        return self.domain.view

    # ------------------------------------------------------------------ reading the tree
    def node(self, node_id: int) -> Any:
        return self.tree.payload[node_id]

    def is_attempt(self, node_id: int) -> bool:
        """Whether ``node_id`` ends a checked attempt (a program, a finished agent step)."""
        return getattr(self.node(node_id), "evaluation", None) is not None

    def thought_path(self, node_id: int) -> list[int]:
        """Ids of the thoughts on the path from the root to ``node_id`` (inclusive), outermost first."""
        return self.tree.path_to(node_id, ThoughtNode)

    def attempts_above(self, node_id: int) -> list[int]:
        """The checked attempts above ``node_id`` (exclusive), outermost first: what it repairs."""
        return [n for n in self.tree.path_to(node_id)[:-1] if self.is_attempt(n)]

    def context(self, node_id: int) -> ExpansionContext:
        return self.domain.context(self, node_id)

    def thought_context(self, node_id: int, **fields: Any) -> ExpansionContext:
        """The part of every context the engine knows: the view, the thoughts above ``node_id``, the
        seed; below them, the attempt, its feedback (none while its check runs) and the checked
        attempts it repairs.
        ``fields`` (a domain's own context type among them) complete it."""
        make = fields.pop("context_type", ExpansionContext)
        thoughts = [self.node(t) for t in self.thought_path(node_id)]
        ctx = make(problem=self.view, thoughts=[t.text for t in thoughts],
                   thought_metadata=[t.metadata for t in thoughts], seed=self.seed, **fields)
        attempt = self.node(node_id)
        if not isinstance(attempt, (RootNode, ThoughtNode)):
            ctx.code, ctx.code_metadata = attempt.solution, attempt.metadata
            ctx.feedback, ctx.feedback_text = attempt.feedback, self.domain.render(attempt.feedback)
            ctx.attempts = [(self.node(n).solution, self.domain.render(self.node(n).feedback))
                            for n in self.attempts_above(node_id)]
        return ctx

    def solved_by(self, node_id: int) -> bool:
        """Whether the attempt ending at ``node_id`` ends the search: every check passes and, with
        ``require_approval``, the critic approved it (no critic, no approval)."""
        node = self.node(node_id)
        return node.passed_all and (not self.config.require_approval or node.evaluation.approved is True)

    def ranked(self) -> list[int]:
        """Checked attempts, best first: by value, then passing every check, then the first added (the
        payload store's order, which a stable sort keeps; not the lowest id: a thought's programs have
        ids set aside when the thought was added, below the root's later programs)."""
        ends = [n for n in self.tree.payload if self.is_attempt(n)]
        return sorted(ends, key=lambda n: (self.node(n).value, self.node(n).passed_all), reverse=True)

    # ------------------------------------------------------------------ growing the tree
    async def propose(self, node_id: int, kind: str, n: int, ctx: ExpansionContext | None = None) -> list[Proposal]:
        """``n`` proposals of ``kind`` for ``node_id``, from its :meth:`context` unless ``ctx`` is given."""
        before = self.parse_failures().get(kind, 0)
        proposals = await outside(self.policy.propose(ctx or self.context(node_id), kind, n))
        unusable = self.parse_failures().get(kind, 0) - before
        self.events.emit("propose", node=node_id, kind=kind, asked=n, got=len(proposals),
                         **({"unusable_replies": unusable} if unusable else {}))
        return proposals

    def parse_failures(self) -> dict[str, int]:
        """Replies the policy could not use, per proposal kind (a policy that counts them keeps a
        ``parse_failures`` mapping)."""
        return dict(getattr(self.policy, "parse_failures", None) or {})

    def replies(self) -> dict[str, int]:
        """Replies the policy read, per proposal kind (a policy that counts them keeps a ``replies``
        mapping): what :meth:`parse_failures` are a share of."""
        return dict(getattr(self.policy, "replies", None) or {})

    def add_thoughts(self, parent: int, proposals: list[Proposal]) -> list[int]:
        """Thoughts below ``parent``. Those that attempts are made from (the last thought level) take
        several expansions at once when the domain can keep their attempts side by side
        (``shared_thoughts``)."""
        payloads = [ThoughtNode([ThoughtVersion(p.content, p.metadata)]) for p in proposals]
        ids = self.tree.add_children(parent, normalised_priors(proposals), payloads,
                                     reserve=self.spare_slots(parent, len(payloads), 0))
        if getattr(self.domain, "shared_thoughts", False) and len(self.thought_path(parent)) + 1 >= self.config.thought_depth:
            for thought in ids:
                self.tree.mark_shared(thought)
        self.events.emit("add", parent=parent, kind="thought", nodes=ids,
                         priors=[float(self.tree.arrays.prior[i]) for i in ids])
        return ids

    @asynccontextmanager
    async def rollout(self, leaf: int) -> AsyncIterator[int | None]:
        """``width`` thoughts below ``leaf``; yields the one with the highest prior (ties: the first),
        counted in flight while the calling expansion works on it, so that the other expansions leave
        it alone; None when the policy proposed nothing."""
        proposals = await self.propose(leaf, "thought", self.config.width)
        if not proposals:
            yield None
            return
        thoughts = self.add_thoughts(leaf, proposals)
        chosen = max(thoughts, key=lambda t: (self.tree.arrays.prior[t], -t))
        self.tree.hold(chosen)
        try:
            yield chosen
        finally:
            self.tree.release([chosen])

    def spare_slots(self, parent: int, adding: int, wanted: int) -> int:
        """The slots to keep free beside ``adding`` new children of ``parent``: ``wanted``, and below the
        root at least what is left of :attr:`root_room` (the root's later children stay contiguous)."""
        return max(wanted, self.root_room - adding) if parent == ROOT else wanted

    def other_writers(self, node_id: int) -> int:
        """The expansions besides the calling one that will add attempts below ``node_id`` and have
        not yet: while it is childless, each expansion writing for it holds it in flight once (by its
        selection or its rollout); once it has children, walks go below it and no new writer comes."""
        if self.tree.children(node_id):
            return 0
        return max(0, int(self.tree.stats(node_id)["in_flight"]) - 1)

    def versions(self, node_id: int) -> list[int]:
        """The version index of each thought above ``node_id``: what an attempt below it was made from."""
        return [len(self.node(t).versions) - 1 for t in self.thought_path(node_id)]

    async def value(self, attempt: Any, start: int) -> None:
        """Value a checked ``attempt`` (its feedback set) made below ``start``."""
        self.stats.checks += 1
        candidate = Candidate(attempt.solution, [self.node(t).text for t in self.thought_path(start)],
                              attempt.metadata)
        attempt.evaluation = await outside(self.value_model.evaluate(self.view, candidate, attempt.feedback))

    def finish(self, end: int, terminal: bool = False) -> None:
        """A valued attempt is in the tree at ``end``: terminal once solved, with ``max_debug_depth``
        repairs above it, or when the domain says so (``terminal``); logged."""
        node = self.node(end)
        if terminal or self.solved_by(end) or len(self.attempts_above(end)) >= self.config.max_debug_depth:
            self.tree.mark_terminal(end)
        self.events.emit("evaluate", node=end, value=node.evaluation.value, passed=node.feedback.passed,
                         total=node.feedback.total, status=node.feedback.status,
                         components=node.evaluation.components)

    def repeats(self, end: int) -> bool:
        """Whether an attempt checked before ``end`` has the same solution (each attempt asked once,
        when it is checked)."""
        return self._solutions.setdefault(self.node(end).solution, end) != end

    def supersede(self, old_head: int, new_head: int, thought: int) -> None:
        """Rethink replaced the attempt starting at ``old_head`` (with its subtree) by ``new_head``,
        made from the rewritten ``thought``: the old one is never backed up again."""
        self.tree.mark_superseded(old_head)
        self.node(old_head).superseded_by = new_head
        self.events.emit("supersede", node=old_head, by=new_head, thought=thought,
                         version=len(self.node(thought).versions) - 1)

    async def blamed_thought(self, failed: int, path: list[int]) -> tuple[int, Proposal] | str:
        """Ask the policy which thought on ``path`` (the thoughts above ``failed``) the failure
        disproves: its id and the rewrite; else why not: "code" (the policy blames the code, logged),
        "unusable" (it proposed nothing usable) or "capped" (that thought was rethought
        ``rethink_cap`` times already)."""
        proposals = await self.propose(failed, "rethink", 1)
        if not proposals:
            return "unusable"
        target = proposals[0].target
        if not isinstance(target, int) or not 0 <= target < len(path):
            self.events.emit("rethink", node=failed, verdict="code", reason=proposals[0].content[:500])
            return "code"
        if self.node(path[target]).rethinks >= self.config.rethink_cap:
            return "capped"
        return path[target], proposals[0]

    async def alike(self) -> list[list[int]]:
        """The distinct solved attempts in groups that behave alike on the policy's inputs (asked for
        once, at the first call), largest group first, ties by rank; one group per attempt when the
        policy gave no inputs."""
        solved: dict[str, int] = {}
        for node_id in self.ranked():
            if self.solved_by(node_id):
                solved.setdefault(self.node(node_id).solution, node_id)
        if self.inputs is None:
            proposals = await self.propose(ROOT, "inputs", 1)
            self.inputs = proposals[0] if proposals else False
        if not self.inputs:
            return [[a] for a in solved.values()]
        if self.config.oracle and self.oracle is None:
            try:
                self.oracle = await self.domain.oracle(self, self.inputs) or False
            except (BudgetExhausted, ProposalError):
                self.oracle = False
        new = [a for a in solved.values() if a not in self._behaviour]
        for attempt, behaviour in zip(new, await self.domain.behaviours(self, new, self.inputs)):
            self._behaviour[attempt] = behaviour
        groups: dict[tuple, list[int]] = {}
        for attempt in solved.values():
            groups.setdefault(self._behaviour[attempt], []).append(attempt)
        return sorted(groups.values(), key=lambda g: (self.agrees(g[0]), len(g)), reverse=True)

    def agrees(self, attempt: int) -> bool:
        """Whether ``attempt`` behaves like the oracle wherever the oracle gives a value (True without
        an oracle). The oracle's errors and timeouts say nothing: a brute force may be too slow for
        a large input, and an input the problem does not allow may make it raise."""
        if not self.oracle:
            return True
        return all(same_value(ours, theirs) for ours, theirs in zip(self._behaviour[attempt], self.oracle, strict=True)
                   if not theirs.startswith("<"))

    async def confirmed(self) -> bool:
        """Whether the solved attempts end the search: ``confirm`` of them behave alike (with an
        oracle: alike and like the oracle), or there is nothing to tell them apart with (the policy
        wrote no inputs, or the budget has no call left to ask for them): then the first solved one
        does, as without ``confirm``."""
        if self.config.confirm <= 1 and not self.config.oracle:
            return True
        try:
            groups = await self.alike()
        except (BudgetExhausted, ProposalError):
            self.inputs = self.inputs or False
            return True
        self.events.emit("confirm", groups=[g[:10] for g in groups[:5]], needed=self.config.confirm,
                         agree=[self.agrees(g[0]) for g in groups[:5]] if self.inputs else [])
        return not self.inputs or (len(groups[0]) >= self.config.confirm and self.agrees(groups[0][0]))

    def failed(self, node_id: int, error: Exception) -> StopReason | None:
        """An expansion of ``node_id`` failed for good (:class:`ProposalError`): it costs that
        expansion; ``3 K`` failures in a row (``K`` = concurrency) stop the search."""
        self.stats.expansion_errors += 1
        self.failures_in_a_row += 1
        self.events.emit("error", node=node_id, error=str(error)[:1000])
        if self.failures_in_a_row >= 3 * self.config.concurrency:
            return StopReason("error", str(error))
        return None

    # ------------------------------------------------------------------ the answer
    async def final_pick(self, discriminator: Any = None) -> int | None:
        """The best-valued attempt (after ``confirm``: the best of the largest group of solved attempts
        that behave alike); with a discriminator and more than one candidate, its choice among the
        ``discriminator_top`` best distinct solutions, those that pass every check when any does (a
        spent budget keeps the value ranking)."""
        ranked = self.ranked()
        if any(self.node(n).passed_all for n in ranked):
            ranked = [n for n in ranked if self.node(n).passed_all]
        if self.inputs:  # confirmation grouped the solved attempts: the largest group's best first
            ranked = [n for group in await self.alike() for n in group] + ranked
        distinct: dict[str, int] = {}
        for node_id in ranked:
            distinct.setdefault(self.node(node_id).solution, node_id)
        top = list(distinct.values())[: max(1, self.config.discriminator_top)]
        if discriminator is None or len(top) < 2:
            return top[0] if top else None
        try:
            index, why = await discriminator.choose(self.view, [self.node(n).solution for n in top])
        except BudgetExhausted:
            return top[0]
        self.events.emit("discriminate", candidates=top, chosen=top[index], explanation=why[:1000])
        return top[index]

    async def run(self, runner: Any, budget: Any, discriminator: Any = None, **start: Any) -> tuple[str, int | None]:
        """Run ``runner`` (MCTS or a baseline) until it stops, then make the final pick; returns why
        it stopped and the pick. The event log records the start (with ``start``) and the stop."""
        self.events.emit("start", **start)
        try:
            stopped = str(await runner(self, budget))
            best = await self.final_pick(discriminator)
            self.events.emit("stop", reason=stopped, best=best)
        finally:
            self.events.close()
        return stopped, best

    def save(self, out: Path, result: dict[str, Any]) -> None:
        """The run directory's outcome: ``tree.json``, ``result.json`` and the viewer ``tree.html``."""
        from treesearch.export.files import write_json
        from treesearch.export.html import write_viewer
        from treesearch.export.tree_json import save_tree_json

        save_tree_json(self.tree, out / "tree.json")
        write_json(out / "result.json", result)
        write_viewer(out)

    def result_stats(self, usage: dict[str, Any], wall_s: float) -> dict[str, Any]:
        """The figures of a result: the budget's usage, the domain's own, the engine's."""
        return {
            "llm_calls": usage["calls"], "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            # rounded: the sum of float costs depends on the order calls end in, which K > 1 varies
            "cost_usd": round(usage["cost_usd"], 10) if usage.get("cost_known", True) else None,
            **self.domain.stats(self),
            "rethinks_tried": self.stats.rethinks_tried, "rethinks_helped": self.stats.rethinks_helped,
            "expansion_errors": self.stats.expansion_errors, "parse_failures": self.parse_failures(),
            "replies": self.replies(),
            "nodes": len(self.tree.nodes()),
            "wall_s": round(wall_s, 3),
        }


def normalised_priors(proposals: list[Proposal]) -> list[float]:
    """Priors that sum to one (uniform when the policy gave none that are positive)."""
    raw = [max(0.0, float(p.prior)) if p.prior == p.prior else 0.0 for p in proposals]
    total = sum(raw)
    if total <= 0.0:
        return [1.0 / len(proposals)] * len(proposals) if proposals else []
    return [min(1.0, r / total) for r in raw]


__all__ = ["CODE_STRATEGIES", "REPO_STRATEGIES", "ROOT", "STRATEGIES", "SearchConfig", "SearchState", "SearchStats", "normalised_priors"]
