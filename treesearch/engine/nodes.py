"""What the payload store holds for each node of a search tree.

* :class:`RootNode`: the problem (the decision node the first thoughts hang from).
* :class:`ThoughtNode`: a strategy. Rethink rewrites it *in place*: the current text is the last of
  ``versions``; earlier versions stay, marked superseded with the feedback that disproved them.
* :class:`CodeNode`: a program written from the thoughts above it (``kind="code"``), a repair of its
  parent program (``kind="debug"``), or a program regenerated after a rethink (``kind="rethink"``).
  It carries the execution feedback on the visible tests and its evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RootNode:
    problem_id: str
    kind: str = "root"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "problem_id": self.problem_id}


@dataclass
class ThoughtVersion:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    superseded_because: str | None = None


@dataclass
class ThoughtNode:
    versions: list[ThoughtVersion]
    rethinks: int = 0
    kind: str = "thought"

    @property
    def text(self) -> str:
        return self.versions[-1].text

    @property
    def metadata(self) -> dict[str, Any]:
        return self.versions[-1].metadata

    def rewrite(self, text: str, metadata: dict[str, Any], because: str) -> None:
        """Make ``text`` the current version; the old one is kept, superseded ``because``."""
        self.versions[-1].superseded_because = because
        self.versions.append(ThoughtVersion(text, metadata))
        self.rethinks += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "text": self.text, "rethinks": self.rethinks,
            "versions": [
                {"text": v.text, "superseded_because": v.superseded_because, "metadata": plain_metadata(v.metadata)}
                for v in self.versions
            ],
        }


@dataclass
class CodeNode:
    code: str
    kind: str = "code"  # code | debug | rethink
    metadata: dict[str, Any] = field(default_factory=dict)
    feedback: Any = None  # sandbox ExecutionResult on the visible tests
    evaluation: Any = None  # value_models Evaluation
    superseded_by: int | None = None  # the node that replaced this failed attempt after a rethink
    thought_versions: list[int] = field(default_factory=list)  # version index of each path thought used

    @property
    def solution(self) -> str:
        return self.code

    @property
    def value(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.value

    @property
    def passed_all(self) -> bool:
        return self.feedback is not None and bool(self.feedback.all_passed)

    def to_dict(self) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "kind": self.kind, "code": self.code, "metadata": plain_metadata(self.metadata),
            "feedback": None if self.feedback is None else self.feedback.to_dict(),
            "evaluation": None if ev is None else {
                "value": ev.value, "components": ev.components, "explanation": ev.explanation,
            },
            "value": self.value, "passed_all": self.passed_all, "superseded_by": self.superseded_by,
            "thought_versions": self.thought_versions,
        }


def plain_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata without the raw reply bulk: JSON-safe scalars, short strings, lists and dicts."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, (int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, str):
            out[key] = value if len(value) <= 4000 else value[:4000] + "…"
        elif isinstance(value, (list, tuple, dict)):
            out[key] = value
        else:
            out[key] = repr(value)
    return out
