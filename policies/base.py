"""The expansion policy protocol: what the engine asks of a coder, LLM or simulated.

The engine asks for four kinds of proposal:

* ``thought``: ``n`` alternative strategies for the next step, each with a prior;
* ``code``: a program written from the path of thoughts;
* ``debug``: a fixed program, given failing code and its execution feedback;
* ``rethink``: given the feedback, which thought on the path is wrong (``metadata["target"]``, an index
  into ``ctx.thoughts``) and its rewrite as ``content``, or ``metadata["target"] = None`` when the
  plan is right and the code is wrong.

A policy sees only :class:`ExpansionContext`; its ``problem`` is the search view, with the hidden
tests removed, so a policy cannot use them even by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from treesearch.problems import CodeProblem

ProposalKind = Literal["thought", "code", "debug", "rethink"]
PROPOSAL_KINDS: tuple[str, ...] = ("thought", "code", "debug", "rethink")


@dataclass
class Proposal:
    """One proposal. ``metadata`` carries what the engine stores with the node: the raw reply,
    tokens, and anything the policy wants back later (the simulated coder keeps its latent state
    there, and gets it back through the context)."""

    content: str
    prior: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExpansionContext:
    """What a policy is shown for one expansion.

    ``thoughts`` and ``thought_metadata`` are the current versions of the thoughts on the path from
    the root, outermost first. ``code``/``code_metadata``/``feedback``/``feedback_text`` describe the
    program being debugged or rethought (``feedback`` is a :class:`treesearch.sandbox.ExecutionResult`).
    ``attempts`` lists earlier failed programs on this path (code and rendered feedback), newest last.
    """

    problem: CodeProblem
    thoughts: list[str] = field(default_factory=list)
    thought_metadata: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    code_metadata: dict[str, Any] = field(default_factory=dict)
    feedback: Any = None
    feedback_text: str = ""
    attempts: list[tuple[str, str]] = field(default_factory=list)
    seed: int = 0


@runtime_checkable
class Policy(Protocol):
    """An expansion policy. ``name`` is recorded in every result (``sim`` for the simulator)."""

    name: str

    async def propose(self, ctx: ExpansionContext, kind: ProposalKind, n: int) -> list[Proposal]:
        """Up to ``n`` proposals of ``kind``; fewer (even none) when the policy could produce no
        usable one. Raises :class:`treesearch.budget.BudgetExhausted` when the budget is spent."""
        ...
