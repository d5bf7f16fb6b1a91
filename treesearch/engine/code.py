"""The code domain: a function to write, checked on its visible tests in the sandbox.

::

    root: the problem
     └─ thought (``width`` per expansion, ``thought_depth`` levels; none: programs below the root)
         └─ program (``code_samples`` per thought)        an attempt, run on the visible tests
             └─ program (a repair: ``debug``)             shown its parent's feedback
             └─ program (``rethink``)                     written again after its thought was rewritten

Policies and value models see ``view``, the problem with the hidden and plus tests removed; the
sandbox runs ``view.visible_tests`` only.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from treesearch.contracts import ExpansionContext, Proposal
from treesearch.engine.nodes import CodeNode, RootNode, ThoughtNode
from treesearch.engine.state import SearchState, normalised_priors
from treesearch.engine.turns import outside
from treesearch.problems import CodeProblem, TestCase
from treesearch.tree import ROOT


async def behaviour(sandbox: Any, problem: CodeProblem, code: str, inputs: list[list[Any]]) -> tuple[str, ...]:
    """What ``code`` returns (its repr) or raises (``<ExceptionType>``, ``<timeout>``) on each
    argument list of ``inputs``, in the sandbox after the problem's prelude: two programs that
    behave alike on them have equal tuples."""
    tests = [TestCase(input=args, output=None) for args in inputs]
    result = await sandbox.run(code, problem.kind, tests, problem.entry_point, prelude=problem.prelude)
    if not result.outcomes:  # it did not load: one behaviour, whatever the input
        return tuple(f"<{result.status}>" for _ in tests)
    return tuple(o.actual if o.exception_type is None and o.status != "timeout" else f"<{o.exception_type or o.status}>"
                 for o in result.outcomes)


class CodeDomain:
    kinds = ("thought", "code", "debug", "rethink", "inputs", "oracle")
    shared_thoughts = True  # several expansions may write programs for one thought at once

    def __init__(self, problem: CodeProblem, sandbox: Any) -> None:
        self.problem = problem
        self.problem_id = problem.id
        self.view = dataclasses.replace(problem, hidden_tests=[], plus_tests=[])
        self.sandbox = sandbox

    def context(self, search: SearchState, node_id: int) -> ExpansionContext:
        return search.thought_context(node_id)

    @staticmethod
    def render(feedback: Any) -> str:
        from treesearch.sandbox import render_feedback

        return "" if feedback is None else render_feedback(feedback)

    @staticmethod
    def failure(attempt: CodeNode) -> str:
        fb = attempt.feedback
        if fb is None:
            return "not run"
        return f"{fb.passed}/{fb.total} visible tests passed ({fb.status})"

    @staticmethod
    def stats(search: SearchState) -> dict[str, int]:
        return {"executions": search.stats.checks}

    async def behaviours(self, search: SearchState, attempts: list[int], inputs: Proposal) -> list[tuple]:
        calls = inputs.metadata.get("inputs") or []
        if self.view.kind != "function" or not calls:
            return [(a,) for a in attempts]
        codes = [search.node(a).code for a in attempts]
        # All the programs run at once, in one wait outside the turn; gather keeps the input order. Its tasks
        # are created here, with the turn held, so their sandbox calls start in this order before the next turn.
        return list(await outside(asyncio.gather(*(behaviour(self.sandbox, self.view, code, calls) for code in codes))))

    async def oracle(self, search: SearchState, inputs: Proposal) -> tuple | None:
        calls = inputs.metadata.get("inputs") or []
        if self.view.kind != "function" or not calls:
            return None
        proposals = await search.propose(ROOT, "oracle", 1)
        if not proposals:
            return None
        code = proposals[0].content
        checked = await outside(self.run_visible(code))
        search.stats.checks += 1
        behaves = await outside(behaviour(self.sandbox, self.view, code, calls)) if checked.all_passed else None
        search.events.emit("oracle", passed=checked.passed, total=checked.total, behaviour=behaves, code=code[:2000])
        return behaves

    # ------------------------------------------------------------------ attempts
    def add_programs(self, search: SearchState, parent: int, proposals: list[Proposal], kind: str,
                     reserve: int | None = None, versions: list[int] | None = None) -> list[int]:
        """Programs below ``parent``. By default a new child block keeps ``rethink_cap`` spare slots
        per program so that rethought versions stay contiguous with their siblings, and room for the
        programs (and their versions) of the other expansions writing for the same thought at once.
        ``versions``: those of the thoughts the programs were asked from (default: the current ones)."""
        cfg = search.config
        versions = search.versions(parent) if versions is None else versions
        payloads = [CodeNode(p.content, kind, p.metadata, thought_versions=versions) for p in proposals]
        if reserve is None:
            per_program = cfg.rethink_cap if cfg.rethink else 0
            others = search.other_writers(parent) * cfg.code_samples
            reserve = search.spare_slots(parent, len(proposals), len(proposals) * per_program + others * (1 + per_program))
        ids = search.tree.add_children(parent, normalised_priors(proposals), payloads, reserve=reserve)
        search.events.emit("add", parent=parent, kind=kind, nodes=ids)
        return ids

    def run_visible(self, code: str, trace: bool = False) -> Any:
        """The sandbox run of ``code`` on the visible tests, after the problem's prelude (awaitable)."""
        view = self.view
        return self.sandbox.run(code, view.kind, view.visible_tests, view.entry_point, trace_first_failure=trace,
                                prelude=view.prelude)

    async def check(self, search: SearchState, program: int) -> None:
        """Run ``program`` on the visible tests in the sandbox, value it, and finish it."""
        node: CodeNode = search.node(program)
        node.feedback = await outside(self.run_visible(node.code, trace=search.config.rethink_trace))
        await search.value(node, program)
        # A program the tree already has (a repair that gave its program back) is not repaired again:
        # the same prompt would get the same answer.
        search.finish(program, terminal=search.repeats(program) or self.stale(search, program))

    @staticmethod
    def stale(search: SearchState, program: int) -> bool:
        """With ``repairs_must_improve``: ``program`` is a repair valued no higher than its program."""
        node, parent = search.node(program), search.tree.parent(program)
        if not search.config.repairs_must_improve or node.kind != "debug" or not search.is_attempt(parent):
            return False
        return node.value <= search.node(parent).value

    async def attempts(self, search: SearchState, start: int) -> AsyncIterator[int]:
        """``code_samples`` programs below a thought (or the root, when no thought could be had), or
        one repair below a program."""
        if isinstance(search.node(start), (RootNode, ThoughtNode)):
            kind, n = "code", search.config.code_samples
        else:
            kind, n = "debug", 1
        versions = search.versions(start)  # what the request sees; another expansion may rewrite it meanwhile
        proposals = await search.propose(start, kind, n)
        if not proposals:
            return
        for program in self.add_programs(search, start, proposals[:n], kind, versions=versions):
            await self.check(search, program)
            yield program

    async def redo(self, search: SearchState, failed: int, thought: int) -> int | None:
        """The program written again beside ``failed``, from the path with ``thought`` rewritten."""
        parent = search.tree.parent(failed)
        if not search.tree.can_add(parent, 1):
            return None  # no reserved slot left beside the failed program
        versions = search.versions(parent)
        rewritten = await search.propose(parent, "code", 1)
        if not rewritten or not search.tree.can_add(parent, 1):  # a concurrent writer may have taken the slot
            return None
        (program,) = self.add_programs(search, parent, rewritten[:1], "rethink", versions=versions)
        search.supersede(failed, program, thought)
        await self.check(search, program)
        return program

