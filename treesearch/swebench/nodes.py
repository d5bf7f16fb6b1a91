"""What the payload store holds for a node of a repository search, besides the engine's
:class:`~treesearch.engine.nodes.RootNode` (the issue) and
:class:`~treesearch.engine.nodes.ThoughtNode` (a hypothesis about the cause and the fix, rewritten
in place by rethink).

A :class:`StepNode` is one action of the agent with what it observed, and the repository state after
it: a diff against the base commit plus the path's reproduction script. The last step of an attempt
(a ``submit``, or the step that used up the attempt's actions) is *finished*: it carries the checks'
feedback and its evaluation, and its value is what the search backs up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from treesearch.engine.nodes import plain_metadata


@dataclass
class StepNode:
    action: dict[str, Any]
    description: str
    observation: str
    patch: str
    reproduction: str | None = None
    reasoning: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    patch_changed: bool = False
    feedback: Any = None  # treesearch.swebench.checks.RepoFeedback, on finished steps
    evaluation: Any = None  # value_models Evaluation, on finished steps
    superseded_by: int | None = None  # the first step of the attempt that replaced this one after a rethink
    thought_versions: list[int] = field(default_factory=list)
    kind: str = "action"

    @property
    def finished(self) -> bool:
        return self.evaluation is not None

    @property
    def solution(self) -> str:
        return self.patch

    @property
    def value(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.value

    @property
    def passed_all(self) -> bool:
        """Every check passed (the patch applies, compiles, keeps the related tests, fixes the
        reproduction): what the search can know without the hidden tests."""
        return self.feedback is not None and bool(self.feedback.all_passed)

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        out: dict[str, Any] = {
            "kind": self.kind, "text": self.description, "reasoning": self.reasoning, "action": self.action,
            "observation": self.observation, "metadata": plain_metadata(self.metadata),
            "superseded_by": self.superseded_by, "thought_versions": self.thought_versions,
        }
        if self.patch_changed or self.finished:
            out["patch"] = self.patch
        if self.finished:
            out.update(
                feedback=self.feedback.to_dict(), passed_all=self.passed_all, value=self.value,
                evaluation={"value": ev.value, "components": ev.components, "explanation": ev.explanation},
                reproduction=self.reproduction,
            )
        return out
