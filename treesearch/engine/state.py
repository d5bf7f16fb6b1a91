"""The state every strategy shares: the tree, the parts it calls, and the bookkeeping around them.

A strategy (MCTS or a baseline) decides *which* node to grow; :class:`SearchState` does the growing:
building the context a policy sees, asking the policy, adding nodes, running the visible tests in
the sandbox, valuing the result, and logging each step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from policies.base import ExpansionContext, Policy, Proposal
from treesearch.engine.nodes import CodeNode, RootNode, ThoughtNode, ThoughtVersion
from treesearch.export.events import EventLog
from treesearch.problems import CodeProblem
from treesearch.tree import ROOT, SearchTree, SelectionConfig
from value_models.base import Candidate, Evaluation, ValueModel

STRATEGIES = ("mcts", "best_of_n", "self_debug", "beam")


@dataclass(frozen=True)
class SearchConfig:
    """Every knob of a search; written to ``config.json``.

    ``width``: thoughts proposed per expansion; ``code_samples``: programs per thought;
    ``thought_depth``: levels of thoughts above the code; ``max_debug_depth``: debug children in a
    row before a program counts as terminal; ``concurrency``: expansions in flight (K);
    ``rethink_cap``: rethinks per failing program and per thought; ``rethink_trace``: show the policy a
    line trace of the first failing test; ``early_stop``: stop at the first program that passes every
    visible test; ``beam_width``: programs kept per level by the beam baseline;
    ``discriminator_top``: when > 0, the discriminator picks the final program among the top few;
    ``require_approval``: a program that passes the visible tests ends the search only when the
    critic (if the value model has one) also approves it; ``log_selection_terms``: every ``select``
    event carries the Q, exploration and score of each child on the selected paths; ``prompts``: a
    directory of LLM policy templates replacing ``policies/prompts/`` (agent evolution rewrites them).
    """

    strategy: str = "mcts"
    width: int = 3
    code_samples: int = 1
    thought_depth: int = 1
    max_debug_depth: int = 4
    concurrency: int = 4
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    rethink: bool = True
    rethink_cap: int = 2
    rethink_trace: bool = False
    early_stop: bool = True
    beam_width: int = 2
    discriminator_top: int = 0
    require_approval: bool = False
    log_selection_terms: bool = False
    prompts: str | None = None
    max_iterations: int = 10_000

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        for name in ("width", "code_samples", "thought_depth", "concurrency", "beam_width", "max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_debug_depth", "rethink_cap", "discriminator_top"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SearchStats:
    executions: int = 0
    rethinks_tried: int = 0
    rethinks_helped: int = 0
    expansion_errors: int = 0


class ThoughtSearch:
    """What code search and repository search share: a tree whose root holds the problem's id and
    whose nodes a policy proposes, the event log, and the seed. Subclasses build the context a
    policy sees (:meth:`context`) and add their own kinds of node."""

    def __init__(self, root: RootNode, policy: Any, value_model: Any, config: Any, events: EventLog | None,
                 seed: int) -> None:
        self.policy = policy
        self.value_model = value_model
        self.config = config
        self.events = events or EventLog()
        self.seed = seed
        self.tree = SearchTree(selection=config.selection, root_payload=root)
        self.tree.events = self.events.events

    def node(self, node_id: int) -> Any:
        return self.tree.payload[node_id]

    def thought_path(self, node_id: int) -> list[int]:
        """Ids of the thoughts on the path from the root to ``node_id`` (inclusive), outermost first."""
        return self.tree.path_to(node_id, ThoughtNode)

    def context(self, node_id: int) -> ExpansionContext:
        raise NotImplementedError

    async def propose(self, node_id: int, kind: str, n: int, ctx: ExpansionContext | None = None) -> list[Proposal]:
        """``n`` proposals of ``kind`` for ``node_id``, from its :meth:`context` unless ``ctx`` is given."""
        proposals = await self.policy.propose(ctx or self.context(node_id), kind, n)
        self.events.emit("propose", node=node_id, kind=kind, asked=n, got=len(proposals))
        return proposals

    def add_thoughts(self, parent: int, proposals: list[Proposal]) -> list[int]:
        payloads = [ThoughtNode([ThoughtVersion(p.content, p.metadata)]) for p in proposals]
        ids = self.tree.add_children(parent, normalised_priors(proposals), payloads)
        self.events.emit("add", parent=parent, kind="thought", nodes=ids,
                         priors=[float(self.tree.arrays.prior[i]) for i in ids])
        return ids

    async def think(self, leaf: int) -> int | None:
        """``width`` thoughts below ``leaf``; the one with the highest prior (ties: the first) comes
        back held in flight, because the calling expansion goes on with it and the other expansions
        must leave it alone until it releases it. None when the policy proposed nothing."""
        proposals = await self.propose(leaf, "thought", self.config.width)
        if not proposals:
            return None
        thoughts = self.add_thoughts(leaf, proposals)
        rollout = max(thoughts, key=lambda t: (self.tree.arrays.prior[t], -t))
        self.tree.hold(rollout)
        return rollout

    async def blamed_thought(self, failed: int, path: list[int]) -> tuple[int, Proposal] | None:
        """Ask the policy which thought on ``path`` (the thoughts above ``failed``) the failure
        disproves: its id and the rewrite. None when the policy blames the code instead (logged),
        proposes nothing, or the thought has already been rethought ``rethink_cap`` times."""
        proposals = await self.propose(failed, "rethink", 1)
        if not proposals:
            return None
        target = proposals[0].metadata.get("target")
        if not isinstance(target, int) or not 0 <= target < len(path):
            self.events.emit("rethink", node=failed, verdict="code", reason=proposals[0].content[:500])
            return None
        if self.node(path[target]).rethinks >= self.config.rethink_cap:
            return None
        return path[target], proposals[0]


class SearchState(ThoughtSearch):
    """The tree of one search and the parts that grow it.

    ``problem`` is the full problem; policies and value models only ever see ``view``, the same
    problem with the hidden and plus tests removed, and the sandbox only runs ``view.visible_tests``.
    """

    def __init__(
        self,
        problem: CodeProblem,
        policy: Policy,
        value_model: ValueModel,
        sandbox: Any,
        config: SearchConfig,
        events: EventLog | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(RootNode(problem.id), policy, value_model, config, events, seed)
        self.problem = problem
        self.view = dataclasses.replace(problem, hidden_tests=[], plus_tests=[])
        self.sandbox = sandbox
        self.stats = SearchStats()

    # ------------------------------------------------------------------ reading the tree
    def code_ancestors(self, node_id: int) -> list[int]:
        """Ids of the programs above ``node_id`` (exclusive), outermost first."""
        return [n for n in self.tree.path_to(node_id, CodeNode) if n != node_id]

    def context(self, node_id: int) -> ExpansionContext:
        """What a policy sees when it grows ``node_id``: the thoughts above it and, for a program,
        that program with its feedback and the failed programs before it on the path."""
        thoughts = [self.node(t) for t in self.thought_path(node_id)]
        ctx = ExpansionContext(
            problem=self.view,
            thoughts=[t.text for t in thoughts],
            thought_metadata=[t.metadata for t in thoughts],
            seed=self.seed,
        )
        payload = self.node(node_id)
        if isinstance(payload, CodeNode):
            ctx.code = payload.code
            ctx.code_metadata = payload.metadata
            ctx.feedback = payload.feedback
            ctx.feedback_text = self.feedback_text(payload)
            ctx.attempts = [
                (self.node(n).code, self.feedback_text(self.node(n))) for n in self.code_ancestors(node_id)
            ]
        return ctx

    @staticmethod
    def feedback_text(node: CodeNode) -> str:
        from treesearch.sandbox import render_feedback

        return "" if node.feedback is None else render_feedback(node.feedback)

    def code_nodes(self) -> list[int]:
        return [n for n, p in self.tree.payload.items() if isinstance(p, CodeNode) and p.evaluation is not None]

    # ------------------------------------------------------------------ growing the tree
    def add_code(self, parent: int, proposals: list[Proposal], kind: str, reserve: int | None = None) -> list[int]:
        """Programs below ``parent``. By default each child block keeps ``rethink_cap`` spare slots
        per program so that rethought versions stay contiguous with their siblings."""
        versions = [len(self.node(t).versions) - 1 for t in self.thought_path(parent)]
        payloads = [CodeNode(p.content, kind, p.metadata, thought_versions=versions) for p in proposals]
        if reserve is None:
            reserve = len(proposals) * self.config.rethink_cap if self.config.rethink else 0
        ids = self.tree.add_children(parent, normalised_priors(proposals), payloads, reserve=reserve)
        self.events.emit("add", parent=parent, kind=kind, nodes=ids)
        return ids

    async def evaluate(self, node_id: int) -> Evaluation:
        """Run the program on the visible tests in the sandbox and value it."""
        node: CodeNode = self.node(node_id)
        view = self.view
        node.feedback = await self.sandbox.run(
            node.code, view.kind, view.visible_tests, view.entry_point,
            trace_first_failure=self.config.rethink_trace,
        )
        self.stats.executions += 1
        candidate = Candidate(node.code, [self.node(t).text for t in self.thought_path(node_id)], node.metadata)
        node.evaluation = await self.value_model.evaluate(view, candidate, node.feedback)
        depth = len(self.code_ancestors(node_id))
        if node.passed_all or depth >= self.config.max_debug_depth:
            self.tree.mark_terminal(node_id)
        self.events.emit(
            "evaluate", node=node_id, value=node.evaluation.value, passed=node.feedback.passed,
            total=node.feedback.total, status=node.feedback.status, components=node.evaluation.components,
        )
        return node.evaluation

    def solved_by(self, node_id: int) -> bool:
        """Whether ``node_id`` ends the search: it passes every visible test (and, when the value model
        has a critic that must approve, the critic approved)."""
        node = self.node(node_id)
        if not node.passed_all:
            return False
        approved = node.evaluation.components.get("approved")
        return not self.config.require_approval or approved is None or bool(approved)

    # ------------------------------------------------------------------ the answer
    def best_code_node(self) -> int | None:
        """The final pick: highest value over every evaluated program; ties go to the one passing
        the visible tests, then to the earliest."""
        best, best_key = None, None
        for node_id in self.code_nodes():
            node = self.node(node_id)
            key = (node.value, node.passed_all, -node_id)
            if best_key is None or key > best_key:
                best, best_key = node_id, key
        return best

    def top_code_nodes(self, k: int) -> list[int]:
        ranked = sorted(self.code_nodes(), key=lambda n: (self.node(n).value, self.node(n).passed_all, -n),
                        reverse=True)
        return ranked[:k]


async def discriminate(events: EventLog, discriminator: Any, view: Any, top: list[int], texts: list[str]) -> int | None:
    """The final pick among ``top`` (best-valued first): the discriminator's choice when there is one
    and more than one candidate, else the best-valued; a spent budget keeps the value ranking."""
    from treesearch.budget import BudgetExhausted

    if discriminator is None or len(top) < 2:
        return top[0] if top else None
    try:
        index, why = await discriminator.choose(view, texts)
    except BudgetExhausted:
        return top[0]
    events.emit("discriminate", candidates=top, chosen=top[index], explanation=why[:1000])
    return top[index]


def normalised_priors(proposals: list[Proposal]) -> list[float]:
    """Priors that sum to one (uniform when the policy gave none that are positive)."""
    raw = [max(0.0, float(p.prior)) if p.prior == p.prior else 0.0 for p in proposals]
    total = sum(raw)
    if total <= 0.0:
        return [1.0 / len(proposals)] * len(proposals) if proposals else []
    return [min(1.0, r / total) for r in raw]


__all__ = ["ROOT", "STRATEGIES", "SearchConfig", "SearchState", "SearchStats", "discriminate", "normalised_priors"]
