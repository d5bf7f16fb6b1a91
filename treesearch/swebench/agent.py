"""The repository domain: an issue to fix in a real repository, by an agent acting in a worktree
(SWE-Search's shape, on the engine's MCTS, rethink and final pick).

::

    root: the issue
     └─ thought: a hypothesis about the cause and the fix           (``width`` per expansion, with priors)
         └─ step ─ step ─ … ─ finished step                          an *attempt*: up to ``max_steps`` actions
                                └─ step ─ … ─ finished step          a *repair*: the attempt continued, shown
                                                                      its feedback (at most ``max_debug_depth`` deep)

An attempt lends a worktree at the state of the node it starts from, asks the policy for one action
at a time (:mod:`~treesearch.swebench.actions`), and ends at ``submit`` or after ``max_steps``
actions. Its last step is *finished*: checked (:mod:`~treesearch.swebench.checks`) and valued, and
that value is what the search backs up. The steps are added to the tree when the attempt is over, so
no concurrent selection ever lands on a step whose attempt is still running. A rethink starts a new
attempt from the rewritten hypothesis; it supersedes the failed attempt from its first step down.

The policy sees :class:`RepoContext`, built from the instance's search view: no gold patch, no test
patch, no FAIL_TO_PASS / PASS_TO_PASS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from treesearch.contracts import ExpansionContext
from treesearch.engine.nodes import ThoughtNode
from treesearch.engine.state import SearchState
from treesearch.engine.turns import outside
from treesearch.swebench.actions import Action, execute
from treesearch.swebench.checks import RepoChecker
from treesearch.swebench.environment import RepoEnvironment, Worktree
from treesearch.swebench.nodes import StepNode
from treesearch.swebench.problem import RepoProblem

CHANGING = ("edit", "create", "run", "reproduce")  # actions after which the patch is read again


@dataclass
class RepoContext(ExpansionContext):
    """What a repository policy is shown. Besides :class:`~treesearch.contracts.ExpansionContext`'s
    fields (``code`` is the patch being repaired or rethought):

    ``steps``: this attempt's actions so far with their observations; ``steps_left``: actions left;
    ``read_file`` / ``read_base``: a file's text in the worktree now / at the base commit (None if
    missing), what the agent could see with ``view``.
    """

    problem: RepoProblem
    steps: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    steps_left: int = 0
    read_file: Callable[[str], str | None] | None = None
    read_base: Callable[[str], str | None] | None = None


class RepoDomain:
    kinds = ("thought", "action", "rethink")

    def __init__(self, problem: RepoProblem, env: RepoEnvironment) -> None:
        self.problem_id = problem.instance_id
        self.view = problem.search_view()
        self.env = env
        self.checker = RepoChecker(env)

    def context(self, search: SearchState, node_id: int, tree: Worktree | None = None,
                steps: list[tuple[dict[str, Any], str]] | None = None) -> RepoContext:
        ctx = search.thought_context(node_id, context_type=RepoContext, steps=list(steps or []),
                                     steps_left=search.config.max_steps - len(steps or []))
        if tree is not None:
            ctx.read_file = tree.read_file
            ctx.read_base = self.env.read_base
        return ctx

    @staticmethod
    def render(feedback: Any) -> str:
        return "" if feedback is None else feedback.render()

    @staticmethod
    def failure(attempt: StepNode) -> str:
        return f"checks: {attempt.feedback.status.replace('_', ' ')}"

    @staticmethod
    def stats(search: SearchState) -> dict[str, int]:
        return {"attempts": search.stats.attempts, "steps": search.stats.steps, "checks": search.stats.checks}

    @staticmethod
    async def behaviours(search: SearchState, attempts: list[int], inputs: Any) -> list[tuple]:
        return [(a,) for a in attempts]  # patches are not compared by running them on inputs

    @staticmethod
    async def oracle(search: SearchState, inputs: Any) -> None:
        return None

    async def attempts(self, search: SearchState, start: int) -> AsyncIterator[int]:
        if (end := await self.attempt(search, start)) is not None:
            yield end

    async def redo(self, search: SearchState, failed: int, thought: int) -> int | None:
        hypothesis = search.thought_path(failed)[-1]
        if not search.tree.can_add(hypothesis, 1):
            return None  # no reserved slot left beside the failed attempt
        old_head = _below(search, hypothesis, failed)
        end = await self.attempt(search, hypothesis)
        if end is not None:
            search.supersede(old_head, _below(search, hypothesis, end), thought)
        return end

    async def attempt(self, search: SearchState, start: int) -> int | None:
        """One attempt from ``start`` (a hypothesis, or a finished step to repair); returns its
        finished step, or None when the policy proposed no action at all."""
        payload = search.node(start)
        patch, reproduction = (payload.patch, payload.reproduction) if isinstance(payload, StepNode) else ("", None)
        steps: list[StepNode] = []
        seen: list[tuple[dict[str, Any], str]] = []
        search.stats.attempts += 1
        async with AsyncExitStack() as lent:
            # Waiting for a free worktree, acting in it and checking it are waits outside the search
            # tree: they give the turn up (treesearch.engine.turns), so other attempts go on meanwhile.
            tree = await outside(lent.enter_async_context(self.env.worktree(patch, reproduction)))
            while len(steps) < search.config.max_steps:
                proposals = await search.propose(start, "action", 1, self.context(search, start, tree, seen))
                if not proposals:
                    break
                action = Action.from_dict(proposals[0].metadata["action"])
                observation = await outside(execute(action, tree))
                text = observation.text
                if observation.reproduction is not None:
                    reproduction = observation.reproduction
                changed = False
                if action.kind in CHANGING:
                    new_patch, reverted = await outside(asyncio.to_thread(tree.patch_without_tests))
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
            steps[-1].feedback = await outside(self.checker.check(tree, steps[-1].patch, steps[-1].reproduction))
            await search.value(steps[-1], start)
        end = self._add(search, start, steps)
        search.finish(end)
        return end

    @staticmethod
    def _add(search: SearchState, start: int, steps: list[StepNode]) -> int:
        """An attempt's steps as a chain below ``start``; returns its end. The first step below a
        hypothesis keeps ``rethink_cap`` spare slots beside it, for rethought attempts, and one per other
        expansion writing below ``start`` (a repair and a selection of one failed attempt); the first
        below the root keeps the root's room (``plain_first``: the hypotheses come after it)."""
        versions = search.versions(start)
        rethinks = search.config.rethink_cap if search.config.rethink else 0
        reserve = rethinks if isinstance(search.node(start), ThoughtNode) else 0
        reserve += search.other_writers(start)  # their attempts' first steps go beside this one's
        reserve = search.spare_slots(start, 1, reserve)
        ids, parent = [], start
        for step in steps:
            step.thought_versions = versions
            (parent,) = search.tree.add_children(parent, [1.0], [step], reserve=0 if ids else reserve)
            ids.append(parent)
        search.events.emit("add", parent=start, kind="action", nodes=ids, actions=[s.description for s in steps])
        search.stats.steps += len(ids)
        return ids[-1]


def _below(search: SearchState, ancestor: int, node: int) -> int:
    """The child of ``ancestor`` on the path down to ``node`` (the first step of an attempt)."""
    path = search.tree.path_to(node)
    return path[path.index(ancestor) + 1]

