"""The repository agent as a tree search: hypotheses and actions as nodes (SWE-Search's shape, on
the engine's :class:`~treesearch.tree.SearchTree`).

::

    root: the issue
     └─ thought: a hypothesis about the cause and the fix           (``width`` per expansion, with priors)
         └─ step ─ step ─ … ─ finished step                          an *attempt*: up to ``max_steps`` actions
                                └─ step ─ … ─ finished step          a *repair*: the attempt continued, shown
                                                                      its feedback (at most ``max_repairs`` deep)

Expanding a leaf (:func:`expand`): the root gets ``width`` hypotheses and the most probable one is
tried at once; a hypothesis gets an attempt; a finished step whose checks fail gets a repair. An
attempt lends a worktree at the state of the node it starts from, asks the policy for one action at
a time (:mod:`~treesearch.swebench.actions`), adds each as a child of the previous one, and ends at
``submit`` or after ``max_steps`` actions. Its last step is *finished*: checked
(:mod:`~treesearch.swebench.checks`) and valued (execution and the value agent), and that value is
what the search backs up.

**Rethink**: when a finished attempt's checks fail — its reproduction script still fails, a related
test broke — the policy is shown the patch and the feedback and asked which hypothesis is wrong; that
hypothesis is rewritten in place (the old version stays, superseded with the feedback that disproved
it) and a new attempt starts from it. The failed attempt is superseded and never backed up. As in
:mod:`treesearch.engine.rethink`, rethinks are capped per attempt and per hypothesis, and one
*helped* when the new attempt is valued above the old.

The policy sees :class:`RepoContext`, built from the search's view of the instance: no gold patch,
no test patch, no FAIL_TO_PASS / PASS_TO_PASS.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from policies.base import ExpansionContext
from treesearch.engine.mcts import Expansion
from treesearch.engine.nodes import RootNode, ThoughtNode
from treesearch.engine.state import ThoughtSearch
from treesearch.export.events import EventLog
from treesearch.swebench.actions import Action, execute
from treesearch.swebench.checks import RepoChecker
from treesearch.swebench.environment import RepoEnvironment, Worktree
from treesearch.swebench.nodes import StepNode
from treesearch.swebench.patches import is_test_path, parse_patch
from treesearch.swebench.problem import RepoProblem
from treesearch.tree import SelectionConfig, TreeError
from value_models.base import Candidate

# --strategy: MCTS over hypotheses and attempts, or one hypothesis with an attempt and its repairs
# in a row (a mini-swe-agent-like baseline on the same machinery and budget).
STRATEGIES: dict[str, dict[str, int]] = {"mcts": {}, "linear": {"width": 1, "concurrency": 1}}
CHANGING = ("edit", "create", "run", "reproduce")  # actions after which the patch is read again


@dataclass(frozen=True)
class RepoSearchConfig:
    """The knobs of a repository search; written to ``config.json``.

    ``width``: hypotheses per expansion of the root; ``max_steps``: actions per attempt;
    ``max_repairs``: repairs in a row below an attempt (a finished attempt is terminal once it is
    solved or has that many repairs above it);
    ``concurrency``: expansions (and worktrees) in flight; ``rethink_cap``: rethinks per failed
    attempt and per hypothesis; ``early_stop``: stop at the first finished attempt whose checks all
    pass and which the value agent approves; ``discriminator_top``: the discriminator (LLM models)
    picks the final patch among this many best distinct ones.
    """

    strategy: str = "mcts"
    width: int = 2
    max_steps: int = 12
    max_repairs: int = 3
    concurrency: int = 2
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    rethink: bool = True
    rethink_cap: int = 1
    early_stop: bool = True
    discriminator_top: int = 3
    max_iterations: int = 1000
    log_selection_terms: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        for name in ("width", "max_steps", "concurrency", "max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_repairs", "rethink_cap", "discriminator_top"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def for_strategy(cls, strategy: str, **fields: Any) -> RepoSearchConfig:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        return cls(strategy=strategy, **{**fields, **STRATEGIES[strategy]})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RepoContext(ExpansionContext):
    """What a repository policy is shown. Besides :class:`~policies.base.ExpansionContext`'s fields
    (the hypotheses; for a repair or a rethink, ``code`` is the patch being repaired with its
    ``feedback`` and ``attempts`` the earlier finished patches on the path with their feedback):

    ``steps``: this attempt's actions so far with their observations; ``steps_left``: actions left;
    ``read_file`` / ``read_base``: a file's text in the worktree now / at the base commit (None if
    missing), what the agent could see with ``view``.
    """

    problem: RepoProblem
    steps: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    steps_left: int = 0
    read_file: Callable[[str], str | None] | None = None
    read_base: Callable[[str], str | None] | None = None


@dataclass
class RepoSearchStats:
    attempts: int = 0
    steps: int = 0
    checks: int = 0
    rethinks_tried: int = 0
    rethinks_helped: int = 0
    expansion_errors: int = 0


class RepoSearch(ThoughtSearch):
    """The tree of one instance's search and the parts that grow it (see the module docstring)."""

    def __init__(self, problem: RepoProblem, env: RepoEnvironment, policy: Any, value_model: Any,
                 config: RepoSearchConfig, events: EventLog | None = None, seed: int = 0) -> None:
        super().__init__(RootNode(problem.instance_id), policy, value_model, config, events, seed)
        self.view = problem.search_view()
        self.env = env
        self.checker = RepoChecker(env)
        self.stats = RepoSearchStats()

    # ------------------------------------------------------------------ reading the tree
    def finished_path(self, node_id: int) -> list[int]:
        """The finished steps from the root down to ``node_id`` (inclusive), outermost first."""
        return [n for n in self.tree.path_to(node_id, StepNode) if self.tree.payload[n].finished]

    def state(self, node_id: int) -> tuple[str, str | None]:
        """(patch, reproduction script) after ``node_id``: nothing yet above the first step."""
        payload = self.node(node_id)
        return (payload.patch, payload.reproduction) if isinstance(payload, StepNode) else ("", None)

    def finished_nodes(self) -> list[int]:
        return [n for n, p in self.tree.payload.items() if isinstance(p, StepNode) and p.finished]

    def ranked(self) -> list[int]:
        """Finished steps, best first: by value, then passing every check, then the earliest."""
        return sorted(self.finished_nodes(), key=lambda n: (self.node(n).value, self.node(n).passed_all, -n),
                      reverse=True)

    def solved_by(self, node_id: int) -> bool:
        """Every check passes and the value agent approved (a value without its judgement never
        counts): the search cannot know more without the hidden tests, so it may stop here."""
        node = self.node(node_id)
        return node.passed_all and bool(node.evaluation.components.get("approved", 0.0))

    def context(self, node_id: int, tree: Worktree | None = None, steps: list[tuple[dict[str, Any], str]] | None = None,
                ) -> RepoContext:
        thoughts = [self.node(t) for t in self.thought_path(node_id)]
        ctx = RepoContext(problem=self.view, thoughts=[t.text for t in thoughts],
                          thought_metadata=[t.metadata for t in thoughts], seed=self.seed, steps=list(steps or []),
                          steps_left=self.config.max_steps - len(steps or []))
        payload = self.node(node_id)
        if isinstance(payload, StepNode) and payload.finished:
            ctx.code, ctx.code_metadata = payload.patch, payload.metadata
            ctx.feedback, ctx.feedback_text = payload.feedback, payload.feedback.render()
            ctx.attempts = [(self.node(n).patch, self.node(n).feedback.render()) for n in self.finished_path(node_id)[:-1]]
        if tree is not None:
            ctx.read_file = lambda path: _read(tree, path)
            ctx.read_base = self.env.read_base
        return ctx

    # ------------------------------------------------------------------ growing the tree
    def add_attempt(self, start: int, steps: list[StepNode]) -> list[int]:
        """An attempt's steps as a chain below ``start``, added at once when the attempt is over (so
        no concurrent selection ever lands on a step whose attempt is still running). The first step
        below a hypothesis keeps ``rethink_cap`` spare slots beside it, so that rethought attempts stay
        contiguous with it."""
        versions = [len(self.node(t).versions) - 1 for t in self.thought_path(start)]
        reserve = self.config.rethink_cap if isinstance(self.node(start), ThoughtNode) and self.config.rethink else 0
        ids, parent = [], start
        for step in steps:
            step.thought_versions = versions
            (parent,) = self.tree.add_children(parent, [1.0], [step], reserve=reserve if not ids else 0)
            ids.append(parent)
        self.events.emit("add", parent=start, kind="action", nodes=ids, actions=[s.description for s in steps])
        self.stats.steps += len(ids)
        return ids

    async def attempt(self, start: int) -> int | None:
        """One attempt from ``start`` (a hypothesis, or a finished step to repair); returns its
        finished step, or None when the policy proposed no action at all."""
        patch, reproduction = self.state(start)
        steps: list[StepNode] = []
        seen: list[tuple[dict[str, Any], str]] = []
        self.stats.attempts += 1
        async with self.env.worktree(patch, reproduction) as tree:
            while len(steps) < self.config.max_steps:
                proposals = await self.propose(start, "action", 1, self.context(start, tree, seen))
                if not proposals:
                    break
                action = Action.from_dict(proposals[0].metadata["action"])
                observation = await execute(action, tree)
                text = observation.text
                if observation.reproduction is not None:
                    reproduction = observation.reproduction
                changed = False
                if action.kind in CHANGING:
                    new_patch, reverted = await asyncio.to_thread(_patch_without_tests, tree)
                    if reverted:
                        text += f"\n(changes to the repository's tests were undone: {', '.join(reverted)})"
                    changed, patch = new_patch != patch, new_patch
                    tree.state = (patch, reproduction)
                steps.append(StepNode(
                    action=action.to_dict(), description=action.describe(), observation=text, patch=patch,
                    reproduction=reproduction, reasoning=proposals[0].metadata.get("reasoning", ""),
                    metadata=proposals[0].metadata, patch_changed=changed))
                seen.append((action.to_dict(), text))
                if action.kind == "submit":
                    break
            if not steps:
                return None
            await self.evaluate(steps[-1], start, tree)
        end = self.add_attempt(start, steps)[-1]
        if self.solved_by(end) or len(self.finished_path(end)) > self.config.max_repairs:
            self.tree.mark_terminal(end)
        feedback, evaluation = steps[-1].feedback, steps[-1].evaluation
        self.events.emit("evaluate", node=end, value=evaluation.value, passed=feedback.passed, total=feedback.total,
                         status=feedback.status, components=evaluation.components)
        return end

    async def evaluate(self, step: StepNode, start: int, tree: Worktree) -> None:
        """Check the last step's patch in ``tree`` and value it (hypotheses: those above ``start``)."""
        step.feedback = await self.checker.check(tree, step.patch, step.reproduction)
        self.stats.checks += 1
        candidate = Candidate(step.patch, [self.node(t).text for t in self.thought_path(start)], step.metadata)
        step.evaluation = await self.value_model.evaluate(self.view, candidate, step.feedback)

    def below(self, ancestor: int, node: int) -> int:
        """The child of ``ancestor`` on the path down to ``node`` (the first step of an attempt)."""
        path = self.tree.path_to(node)
        return path[path.index(ancestor) + 1]

    async def rethink(self, end: int) -> int:
        """Rethink a failed attempt up to ``rethink_cap`` times; returns the last attempt's finished step."""
        for _ in range(self.config.rethink_cap):
            failed: StepNode = self.node(end)
            path = self.thought_path(end)
            if failed.passed_all or not path:
                break
            blamed = await self.blamed_thought(end, path)
            if blamed is None:
                break
            thought_id, rewrite = blamed
            thought: ThoughtNode = self.node(thought_id)
            thought.rewrite(rewrite.content, rewrite.metadata,
                            because=f"checks: {failed.feedback.status.replace('_', ' ')}")
            self.stats.rethinks_tried += 1
            old_head = self.below(path[-1], end)
            try:
                new_end = await self.attempt(path[-1])
            except TreeError:
                break  # no reserved slot left beside the failed attempt
            if new_end is None:
                break
            new_head = self.below(path[-1], new_end)
            self.tree.mark_superseded(old_head)
            self.node(old_head).superseded_by = new_head
            helped = self.node(new_end).value > (failed.value or 0.0)
            self.stats.rethinks_helped += int(helped)
            self.events.emit("rethink", node=end, verdict="thought", thought=thought_id,
                             version=len(thought.versions) - 1, new_node=new_end, old_value=failed.value,
                             new_value=self.node(new_end).value, helped=helped)
            end = new_end
        return end


async def expand(search: RepoSearch, leaf: int) -> Expansion | None:
    """Grow ``leaf`` by one attempt (see the module docstring); None when the policy proposed nothing."""
    payload = search.node(leaf)
    if search.tree.stats(leaf)["terminal"]:
        if isinstance(payload, StepNode) and payload.finished:
            return Expansion([leaf], [payload.value], search.solved_by(leaf), called_model=False)
        return Expansion([leaf], [0.0], called_model=False)
    start = leaf
    if isinstance(payload, RootNode):
        start = await search.think(leaf)  # held: this expansion tries it
        if start is None:
            return None
    try:
        end = await search.attempt(start)
        if end is None:
            return None
        if search.config.rethink and not search.node(end).passed_all:
            end = await search.rethink(end)
    finally:
        if start != leaf:
            search.tree.release([start])
    return Expansion([end], [search.node(end).value], search.solved_by(end))


def _read(tree: Worktree, path: str) -> str | None:
    try:
        target = tree.resolve(path)
        return tree.read(path) if target.is_file() else None
    except ValueError:
        return None


def _patch_without_tests(tree: Worktree) -> tuple[str, list[str]]:
    """The worktree's patch, after undoing any change to the repository's tests (a ``run`` command
    can write anywhere in the worktree); returns the patch and the test files it undid."""
    patch = tree.diff()
    tests = [f.path for f in parse_patch(patch) if is_test_path(f.path)]
    if tests:
        tree.undo(tests)
        patch = tree.diff()
    return patch, tests
