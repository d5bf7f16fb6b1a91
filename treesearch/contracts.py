"""The contracts the engine runs on, in one place: what it asks of a policy, a value model and a
problem domain, and what it hands back. Plugins (``policies``, ``value_models``) implement these;
the engine never imports a plugin.

A **policy** proposes: ``thought`` (``n`` alternative strategies for the next step, each with a
prior), ``code`` (a program written from the path of thoughts), ``debug`` (a fixed program, given
failing code and its feedback), ``action`` (one step of a repository agent) and ``rethink`` (which
thought on the path the feedback disproves, :attr:`Proposal.target`, and its rewrite as
``content``; ``target=None`` blames the code, not the plan).

A **value model** scores a checked attempt in [0, 1]. A **domain** (:class:`Domain`) is what a
kind of problem supplies to the one search engine: code problems (:mod:`treesearch.engine.code`)
and repository issues (:mod:`treesearch.swebench.domain`).

Policies and value models see only the problem's *view*: the hidden tests (or, for a repository,
the gold and test patches) are removed before the search starts, so no plugin can use them even by
mistake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from treesearch.engine.state import SearchState

ProposalKind = Literal["thought", "code", "debug", "rethink", "action", "inputs", "oracle"]
PROPOSAL_KINDS: tuple[str, ...] = ("thought", "code", "debug", "rethink", "action", "inputs", "oracle")


@dataclass
class Proposal:
    """One proposal. ``target`` (rethink only): the index into ``ctx.thoughts`` of the thought the
    feedback disproves, or None when the plan is right and the code is wrong. ``metadata`` is stored
    with the node: the raw reply, tokens, and anything the policy wants back later (the simulated
    coder keeps its latent state there, and gets it back through the context)."""

    content: str
    prior: float = 1.0
    metadata: dict[str, Any] = field(default_factory=dict)
    target: int | None = None


@dataclass
class ExpansionContext:
    """What a policy is shown for one expansion.

    ``problem`` is the domain's view of the problem. ``thoughts`` and ``thought_metadata`` are the
    current versions of the thoughts on the path from the root, outermost first.
    ``code``/``code_metadata``/``feedback``/``feedback_text`` describe the attempt being repaired or
    rethought (its program or patch, and the feedback of its checks). ``attempts`` lists earlier
    failed attempts on this path (the program or patch, and rendered feedback), newest last.
    """

    problem: Any
    thoughts: list[str] = field(default_factory=list)
    thought_metadata: list[dict[str, Any]] = field(default_factory=list)
    code: str | None = None
    code_metadata: dict[str, Any] = field(default_factory=dict)
    feedback: Any = None
    feedback_text: str = ""
    attempts: list[tuple[str, str]] = field(default_factory=list)
    seed: int = 0


class ConfigError(Exception):
    """A setting cannot work (a model, a key, a server, a problem the simulator cannot read): bad
    input the user must fix; the message says what to set."""


class ProposalError(Exception):
    """A policy cannot make proposals any more: the model service failed for good, or the simulator
    cannot work on this problem. The search counts it against the expansion, never as bad input."""


@runtime_checkable
class Policy(Protocol):
    """An expansion policy. ``name`` is recorded in every result (``sim`` for the simulator)."""

    name: str

    async def propose(self, ctx: ExpansionContext, kind: ProposalKind, n: int) -> list[Proposal]:
        """Up to ``n`` proposals of ``kind``; fewer (even none) when the policy could produce no
        usable one. Raises :class:`treesearch.budget.BudgetExhausted` when the budget is spent and
        :class:`ProposalError` when it cannot go on."""
        ...


@dataclass
class Candidate:
    """The attempt being valued (a program or a patch), with the thoughts it was written from and the
    policy's metadata."""

    code: str
    thoughts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Evaluation:
    """``value`` in [0, 1]; ``components`` holds each part (``pass_fraction``, ``critique``, ...);
    ``approved``: the critic's verdict, None when no critic judged the attempt."""

    value: float
    components: dict[str, float] = field(default_factory=dict)
    explanation: str = ""
    approved: bool | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"an evaluation's value must be in [0, 1], got {self.value}")


@runtime_checkable
class ValueModel(Protocol):
    async def evaluate(self, problem: Any, node: Candidate, feedback: Any) -> Evaluation:
        """Value ``node`` given the ``feedback`` of its checks (for code, a sandbox ExecutionResult on
        the visible tests)."""
        ...


@runtime_checkable
class Discriminator(Protocol):
    async def choose(self, problem: Any, candidates: list[str]) -> tuple[int, str]:
        """The index of the best of ``candidates`` (best-valued first) and why."""
        ...


StopKind = Literal["solved", "budget", "exhausted", "error", "max_iterations"]


@dataclass(frozen=True)
class StopReason:
    """Why a search stopped; ``str()`` is the form results record (``"budget: max_calls"``)."""

    kind: StopKind
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" if self.detail else self.kind


@runtime_checkable
class Attempt(Protocol):
    """A node that ends an attempt (a program, or an agent's finished step): checked, then valued.
    ``solution`` is what the search returns if this attempt wins (the program, the patch)."""

    feedback: Any
    evaluation: Evaluation | None
    metadata: dict[str, Any]
    superseded_by: int | None
    thought_versions: list[int]

    @property
    def solution(self) -> str: ...

    @property
    def value(self) -> float | None: ...

    @property
    def passed_all(self) -> bool: ...


class Domain(Protocol):
    """What a problem domain supplies to the engine.

    ``problem_id`` names the root; ``view`` is the problem as plugins see it. The engine grows the
    tree: the root (and thoughts above ``thought_depth``) get thoughts; below a thought, and below a
    checked attempt that failed (a repair), the domain makes attempts.

    Several expansions run at once and take turns on the tree (:mod:`treesearch.engine.turns`): a
    domain waits for anything slow (a sandbox, a repository command) through
    :func:`~treesearch.engine.turns.outside`, and touches no tree inside it. A domain whose attempts
    for one thought can be written by several expansions at once, side by side below it, says so
    with ``shared_thoughts = True`` (optional; default False).
    """

    problem_id: str
    view: Any
    kinds: tuple[ProposalKind, ...]

    def context(self, search: SearchState, node_id: int) -> ExpansionContext:
        """What a policy sees when it grows ``node_id``."""
        ...

    def attempts(self, search: SearchState, start: int) -> AsyncIterator[int]:
        """New attempts below ``start`` (a thought: fresh ones; a checked attempt: a repair), added to
        the tree, checked and valued (:meth:`SearchState.value`); yields each attempt's end as it is
        ready. Yields nothing when the policy proposed nothing."""
        ...

    async def redo(self, search: SearchState, failed: int, thought: int) -> int | None:
        """After rethink rewrote ``thought`` (on the path above ``failed``): a new attempt from the
        corrected path, which supersedes the failed one (:meth:`SearchState.supersede`), checked
        and valued; returns its end, or None when none could be made."""
        ...

    def render(self, feedback: Any) -> str:
        """An attempt's feedback as a policy reads it ("" for none)."""
        ...

    def failure(self, attempt: Any) -> str:
        """Why ``attempt`` failed, in a few words (kept on the thought version it disproved)."""
        ...

    def stats(self, search: SearchState) -> dict[str, int]:
        """The domain's own figures for the result (executions, steps, ...)."""
        ...

    async def behaviours(self, search: SearchState, attempts: list[int], inputs: Proposal) -> list[tuple]:
        """What each of ``attempts`` does on ``inputs`` (a policy's "inputs" proposal): equal tuples
        for attempts that behave alike. A domain that cannot tell gives every attempt its own."""
        ...

    async def oracle(self, search: SearchState, inputs: Proposal) -> tuple | None:
        """What an oracle (a policy's "oracle" proposal: the problem solved literally, by brute force)
        does on ``inputs``, comparable with :meth:`behaviours`; None when there is no oracle to trust
        (none proposed, or it fails a visible check) or the domain cannot run one."""
        ...
