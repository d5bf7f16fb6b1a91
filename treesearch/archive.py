r"""A Darwin-style archive of variants: parent selection, lineage, staged evaluation.

An archive keeps every valid variant ever made — an agent configuration, a program, any JSON
payload — with its parent, its scores per evaluation stage, its creation time and metadata, so that
evolution stays open-ended: a child worse than its parent is kept, because its own children may be
better (the Darwin Gödel Machine; OpenEvolve and ShinkaEvolve do the same for programs). It lives
in one SQLite file and every change is committed before the call returns, so a run killed at any
moment resumes with nothing lost.

**Duplicates.** A :class:`VariantFormat` says what a payload is: how to check it, its *exact key*
(two payloads with the same key are the same variant) and its *near key* (the same after a
normalisation that removes differences that cannot matter: whitespace, comments, local names,
rounding). :meth:`Archive.add` rejects a payload whose exact or near key is already in the archive,
and an invalid one, and records why.

**Parent selection** (:func:`parent_probabilities`) over the variants with scores :math:`s_i` and
:math:`n_i` children:

* ``dgm`` (Darwin Gödel Machine): :math:`p_i \propto \sigma(\lambda (s_i - \alpha_0)) / (1 + n_i)`
  with :math:`\lambda = 10`, :math:`\alpha_0 = 0.5`, for scores in [0, 1];
* ``median`` (ShinkaEvolve's weighted sampling, made scale-robust): the same with the sigmoid centred
  on the median score :math:`\tilde s` and measured in median absolute deviations,
  :math:`p_i \propto \sigma(\lambda (s_i - \tilde s) / d) / (1 + n_i)`, :math:`\lambda = 2`, so it
  behaves alike whether scores are pass rates or runs per second;
* ``uniform`` and ``best`` (all mass on the top score, split among ties): the baselines.

**Staged evaluation** (:func:`evaluate_staged`): stage 1 scores a variant on a small set of work; the
next stage runs only when the score reaches the stage's ``threshold``; every evaluation runs under a
hard wall-clock limit (``Stage.timeout_s``). Stages measure the same score on growing sets of work,
so a variant's :attr:`Variant.score` is the mean of its scores at the deepest stage it reached.

**Elites are re-evaluated before they are trusted** (:func:`confirm_elite`): a variant whose final-stage
score beats the best trusted one (on the same seeds) is evaluated again with further seeds until it
has ``confirmations`` final-stage scores; :meth:`Archive.best` considers only variants that have
them, ranked by their mean, so one lucky score never becomes the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import sqlite3
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

SELECTION_RULES = ("dgm", "median", "uniform", "best")
DEFAULT_SHARPNESS = {"dgm": 10.0, "median": 2.0}
DGM_MIDPOINT = 0.5
STATUSES = ("evaluating", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS variants (
    id INTEGER PRIMARY KEY, parent INTEGER REFERENCES variants(id), generation INTEGER NOT NULL,
    slot INTEGER NOT NULL, payload TEXT NOT NULL, change TEXT NOT NULL, diff TEXT NOT NULL,
    created REAL NOT NULL, metadata TEXT NOT NULL, exact_key TEXT NOT NULL UNIQUE, near_key TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT);
CREATE INDEX IF NOT EXISTS variants_near ON variants(near_key);
CREATE INDEX IF NOT EXISTS variants_parent ON variants(parent);
CREATE TABLE IF NOT EXISTS scores (
    variant INTEGER NOT NULL REFERENCES variants(id), stage INTEGER NOT NULL, seed INTEGER NOT NULL,
    score REAL NOT NULL, details TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (variant, stage, seed));
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY, generation INTEGER NOT NULL, slot INTEGER NOT NULL, parent INTEGER,
    reason TEXT NOT NULL, change TEXT NOT NULL, created REAL NOT NULL);
"""


class ArchiveError(ValueError):
    """The archive cannot do what was asked (an unknown variant, settings that differ on resume)."""


class Rejected(ArchiveError):
    """A payload the archive does not take: ``kind`` is "duplicate", "near_duplicate" or "invalid"."""

    def __init__(self, kind: str, message: str, twin: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.twin = twin


class InvalidVariant(ValueError):
    """Raised by :meth:`VariantFormat.check` for a payload that cannot be a variant; says why."""


class EvaluationError(Exception):
    """An evaluation that could not produce a score (the variant fails; the run goes on)."""


class VariantFormat(Protocol):
    """What a payload is: how to check it, when two are the same, and how to show a change."""

    def check(self, payload: Any) -> None:
        """Raise :class:`InvalidVariant` when ``payload`` cannot be a variant."""
        ...

    def exact_key(self, payload: Any) -> str:
        """Equal for payloads that are the same variant."""
        ...

    def near_key(self, payload: Any) -> str:
        """Equal for payloads that differ only in ways that cannot matter."""
        ...

    def diff(self, parent: Any, payload: Any) -> str:
        """The change from ``parent`` to ``payload``, for people (a unified diff)."""
        ...

    def show(self, payload: Any) -> dict[str, Any]:
        """The payload's fields for the tree viewer (``code`` for a program, ``config`` ...)."""
        ...


@dataclass(frozen=True)
class Variant:
    """One variant. ``scores[k]`` holds its stage-``k`` scores in evaluation order (one per seed);
    ``children`` counts the variants made from it."""

    id: int
    parent: int | None
    generation: int
    slot: int
    payload: Any
    change: str
    diff: str
    created: float
    metadata: dict[str, Any]
    status: str
    reason: str | None
    scores: tuple[tuple[float, ...], ...]
    children: int

    @property
    def level(self) -> int:
        """How many stages it has reached (0 before any score)."""
        return len(self.scores)

    @property
    def score(self) -> float | None:
        """The mean of its scores at the deepest stage it reached."""
        return statistics.fmean(self.scores[-1]) if self.scores else None

    def stage_score(self, stage: int) -> float | None:
        return statistics.fmean(self.scores[stage]) if stage < len(self.scores) else None


@dataclass(frozen=True)
class Stage:
    """One evaluation stage: the score needed here to go on to the next (``None``: always go on,
    and ignored on the last stage) and the hard wall-clock limit on one evaluation."""

    name: str
    threshold: float | None = None
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"stage {self.name}: timeout_s must be a positive number of seconds")


@dataclass
class StageResult:
    """An evaluation's score and whatever the evaluator wants kept with it."""

    score: float
    details: dict[str, Any] = field(default_factory=dict)


# (variant, stage index, seed) -> its score at that stage
Evaluate = Callable[[Variant, int, int], Awaitable[StageResult]]


# ---------------------------------------------------------------------- parent selection
def parent_probabilities(
    scores: Sequence[float], children: Sequence[int], rule: str = "dgm", sharpness: float | None = None,
) -> np.ndarray:
    r"""The probability of each variant being picked as the next parent (see the module docstring).

    ``dgm``: :math:`w_i = \sigma(\lambda(s_i - 0.5)) / (1 + n_i)`; ``median``:
    :math:`w_i = \sigma(\lambda(s_i - \tilde s)/d) / (1 + n_i)` with :math:`d` the median absolute
    deviation of the scores (their mean absolute deviation when that is 0, and 1 when both are);
    :math:`p_i = w_i / \sum_j w_j`. ``sharpness`` is :math:`\lambda` (10 for dgm, 2 for median).
    """
    s = np.asarray(scores, dtype=np.float64)
    n = np.asarray(children, dtype=np.float64)
    if s.ndim != 1 or s.size == 0 or n.shape != s.shape:
        raise ValueError("parent selection needs one score and one child count per variant, at least one")
    if not np.isfinite(s).all() or (n < 0).any():
        raise ValueError("scores must be finite and child counts >= 0")
    if rule == "uniform":
        return np.full(s.size, 1.0 / s.size)
    if rule == "best":
        top = s == s.max()
        return top / top.sum()
    if rule not in DEFAULT_SHARPNESS:
        raise ValueError(f"unknown selection rule {rule!r}; choose one of {', '.join(SELECTION_RULES)}")
    lam = DEFAULT_SHARPNESS[rule] if sharpness is None else float(sharpness)
    if rule == "dgm":
        z = s - DGM_MIDPOINT
    else:
        centre = float(np.median(s))
        spread = float(np.median(np.abs(s - centre))) or float(np.mean(np.abs(s - centre))) or 1.0
        z = (s - centre) / spread
    weights = 0.5 * (1.0 + np.tanh(0.5 * lam * z)) / (1.0 + n)  # the sigmoid, without overflow
    return weights / weights.sum()


def choose_parent(variants: Sequence[Variant], rng: np.random.Generator, rule: str = "dgm",
                  sharpness: float | None = None) -> Variant:
    """One parent drawn by :func:`parent_probabilities` (every variant needs a score)."""
    p = parent_probabilities([v.score for v in variants], [v.children for v in variants], rule, sharpness)
    return variants[int(rng.choice(len(variants), p=p))]


# ---------------------------------------------------------------------- the archive
class Archive:
    """The variants of one evolution run in SQLite at ``path`` (``":memory:"`` for none).

    ``settings`` (JSON-able) are stored with a new archive; reopening it with different settings is
    an :class:`ArchiveError` naming them, so a resume never mixes two runs.
    """

    def __init__(self, path: str | Path, fmt: VariantFormat, settings: dict[str, Any] | None = None) -> None:
        self.path = path
        self.format = fmt
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        if settings is not None:
            self._check_settings(settings)

    def _check_settings(self, settings: dict[str, Any]) -> None:
        stored = {k: orjson.loads(v) for k, v in self._db.execute("SELECT key, value FROM settings")}
        wanted = orjson.loads(orjson.dumps(settings))
        if not stored:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO settings VALUES (?, ?)",
                                     [(k, orjson.dumps(v).decode()) for k, v in wanted.items()])
            return
        differ = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        if differ:
            shown = "; ".join(f"{k}: {stored.get(k)!r} here, {wanted.get(k)!r} now" for k in differ[:4])
            raise ArchiveError(f"{self.path} holds a run with other settings ({shown}); use another directory")

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ adding
    def add(self, payload: Any, parent: int | None = None, change: str = "", generation: int = 0,
            slot: int = 0, metadata: dict[str, Any] | None = None) -> Variant:
        """Insert a new variant (status "evaluating"), or raise :class:`Rejected` — after recording
        the rejection — for an invalid payload or an exact or near duplicate of any variant."""
        try:
            self.format.check(payload)
        except InvalidVariant as e:
            raise self._reject(generation, slot, parent, change, Rejected("invalid", f"invalid: {e}")) from None
        exact, near = _digest(self.format.exact_key(payload)), _digest(self.format.near_key(payload))
        for column, kind, key in (("exact_key", "duplicate", exact), ("near_key", "near_duplicate", near)):
            row = self._db.execute(f"SELECT id FROM variants WHERE {column} = ? LIMIT 1", (key,)).fetchone()
            if row is not None:
                what = "a duplicate" if kind == "duplicate" else "a near duplicate"
                raise self._reject(generation, slot, parent, change, Rejected(kind, f"{what} of #{row[0]}", row[0]))
        diff = "" if parent is None else self.format.diff(self.get(parent).payload, payload)
        cursor = self._db.execute(
            "INSERT INTO variants (parent, generation, slot, payload, change, diff, created, metadata, exact_key,"
            " near_key, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'evaluating')",
            (parent, generation, slot, _json(payload), change, diff, time.time(), _json(metadata or {}), exact, near),
        )
        return self.get(int(cursor.lastrowid))

    def _reject(self, generation: int, slot: int, parent: int | None, change: str, error: Rejected) -> Rejected:
        self._db.execute("INSERT INTO rejections (generation, slot, parent, reason, change, created)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (generation, slot, parent, str(error), change, time.time()))
        return error

    def record_rejection(self, generation: int, slot: int, parent: int | None, reason: str, change: str = "") -> None:
        """A proposal that never became a payload (the proposer had nothing usable)."""
        self._reject(generation, slot, parent, change, Rejected("invalid", reason))

    def rejections(self, generation: int | None = None, slot: int | None = None) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT generation, slot, parent, reason, change FROM rejections"
            " WHERE (? IS NULL OR generation = ?) AND (? IS NULL OR slot = ?) ORDER BY id",
            (generation, generation, slot, slot)).fetchall()
        return [dict(zip(("generation", "slot", "parent", "reason", "change"), r)) for r in rows]

    # ------------------------------------------------------------------ scores and status
    def record_score(self, variant: int, stage: int, seed: int, result: StageResult) -> None:
        if not math.isfinite(result.score):
            raise ArchiveError(f"variant #{variant}: score must be a finite number, got {result.score!r}")
        self._db.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                         (variant, stage, seed, float(result.score), _json(result.details), time.time()))

    def set_status(self, variant: int, status: str, reason: str | None = None) -> None:
        if status not in STATUSES:
            raise ArchiveError(f"unknown status {status!r}")
        self._db.execute("UPDATE variants SET status = ?, reason = ? WHERE id = ?", (status, reason, variant))

    def score_details(self, variant: int, stage: int) -> list[dict[str, Any]]:
        """The details kept with each stage-``stage`` score of ``variant``, in evaluation order."""
        rows = self._db.execute("SELECT details FROM scores WHERE variant = ? AND stage = ? ORDER BY seed",
                                (variant, stage))
        return [orjson.loads(r[0]) for r in rows]

    # ------------------------------------------------------------------ reading
    def get(self, variant: int) -> Variant:
        found = self._load("WHERE v.id = ?", (variant,))
        if not found:
            raise ArchiveError(f"no variant #{variant} in the archive")
        return found[0]

    def variants(self, status: str | None = None, before_generation: int | None = None) -> list[Variant]:
        """Every variant (with ``status``; made before ``before_generation``), oldest first."""
        return self._load("WHERE (? IS NULL OR v.status = ?) AND (? IS NULL OR v.generation < ?)",
                          (status, status, before_generation, before_generation))

    def in_slot(self, generation: int, slot: int) -> Variant | None:
        found = self._load("WHERE v.generation = ? AND v.slot = ?", (generation, slot))
        return found[0] if found else None

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM variants").fetchone()[0]

    def _load(self, where: str, args: tuple) -> list[Variant]:
        rows = self._db.execute(
            "SELECT v.id, v.parent, v.generation, v.slot, v.payload, v.change, v.diff, v.created, v.metadata,"
            " v.status, v.reason, (SELECT COUNT(*) FROM variants c WHERE c.parent = v.id)"
            f" FROM variants v {where} ORDER BY v.id", args).fetchall()
        if not rows:
            return []
        scores: dict[int, dict[int, list[float]]] = {}
        ids = [r[0] for r in rows]
        for start in range(0, len(ids), 500):  # SQLite caps the number of bound parameters
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for variant, stage, score in self._db.execute(
                    f"SELECT variant, stage, score FROM scores WHERE variant IN ({marks}) ORDER BY seed", chunk):
                scores.setdefault(variant, {}).setdefault(stage, []).append(score)
        out = []
        for (vid, parent, gen, slot, payload, change, diff, created, meta, status, reason, children) in rows:
            by_stage = scores.get(vid, {})
            levels = tuple(tuple(by_stage[k]) for k in range(len(by_stage)) if k in by_stage)
            out.append(Variant(vid, parent, gen, slot, orjson.loads(payload), change, diff, created,
                               orjson.loads(meta), status, reason, levels, children))
        return out

    # ------------------------------------------------------------------ the record
    def best(self, stages: int, confirmations: int, before_generation: int | None = None) -> Variant | None:
        """The trusted best: the highest mean final-stage score among variants with at least
        ``confirmations`` final-stage scores (ties: the oldest); None while no variant has them."""
        trusted = [v for v in self.variants("done", before_generation)
                   if v.level == stages and len(v.scores[-1]) >= confirmations]
        return max(trusted, key=lambda v: (v.score, -v.id)) if trusted else None

    def awaiting_confirmation(self, variant: int, stages: int, confirmations: int) -> bool:
        """Whether ``variant`` is an elite to re-evaluate before it is trusted: it reached the final
        stage with fewer than ``confirmations`` scores there, and their mean beats the trusted best's
        mean over *its first as many* final-stage scores — the same seeds, so a tie of two equal
        variants is no reason to re-evaluate (common random numbers)."""
        v = self.get(variant)
        if v.level != stages or len(v.scores[-1]) >= confirmations:
            return False
        best = self.best(stages, confirmations)
        return best is None or v.score > statistics.fmean(best.scores[-1][: len(v.scores[-1])])

    # ------------------------------------------------------------------ the lineage as a tree
    def tree_document(self, title: str, stage_names: Sequence[str]) -> dict[str, Any]:
        """The lineage in the ``tree.json`` schema: a root (``title``) above the first variants, and a
        node of kind "variant" per variant whose payload holds its scores per stage, the change that
        made it and its diff, and the format's fields. ``value`` (the viewer's colour) is the score
        itself when every score is in [0, 1], else the score scaled min-max over the archive."""
        variants = self.variants()
        scored = [v.score for v in variants if v.score is not None]
        low, high = (min(scored), max(scored)) if scored else (0.0, 1.0)
        unit = low >= 0.0 and high <= 1.0

        def value(score: float | None) -> float | None:
            if score is None:
                return None
            return score if unit else (score - low) / (high - low) if high > low else 1.0

        nodes = [{"id": 0, "parent": None, "kind": "root", "payload": {"problem_id": title}}]
        for v in variants:
            nodes.append({
                "id": v.id, "parent": v.parent if v.parent is not None else 0, "kind": "variant", "payload": {
                    "kind": "variant", "value": value(v.score), "score": v.score,
                    "scores": {stage_names[k] if k < len(stage_names) else str(k): list(s) for k, s in enumerate(v.scores)},
                    "change": v.change, "diff": v.diff, "generation": v.generation, "status": v.status,
                    "reason": v.reason, "children": v.children, "metadata": v.metadata,
                    **self.format.show(v.payload),
                },
            })
        return {"schema_version": 1, "root": 0, "best_path": [], "nodes": nodes}


# ---------------------------------------------------------------------- evaluation
async def evaluate_staged(archive: Archive, variant: int, stages: Sequence[Stage], evaluate: Evaluate,
                          seed: int = 0) -> Variant:
    """Score ``variant`` stage by stage with ``seed``, going on only while each stage's score reaches
    its threshold; stages already scored (a resumed run) are not run again. A stage over its time
    limit, or an :class:`EvaluationError`, fails the variant with the reason. Returns it, updated."""
    for k, stage in enumerate(stages):
        v = archive.get(variant)
        if k > 0:
            previous = stages[k - 1]
            if previous.threshold is not None and v.stage_score(k - 1) < previous.threshold:
                break
        if k < v.level:
            continue
        try:
            result = await _run_stage(evaluate, v, k, seed, stage)
        except EvaluationError as e:
            archive.set_status(variant, "failed", str(e))
            return archive.get(variant)
        archive.record_score(variant, k, seed, result)
    archive.set_status(variant, "done")
    return archive.get(variant)


async def confirm_elite(archive: Archive, variant: int, stages: Sequence[Stage], evaluate: Evaluate,
                        confirmations: int, seed: int = 0) -> Variant:
    """Re-evaluate ``variant`` on the final stage, with seeds ``seed + 1``, ``seed + 2`` ..., while it
    is :meth:`Archive.awaiting_confirmation`. A re-evaluation that fails leaves it unconfirmed."""
    final = len(stages) - 1
    while archive.awaiting_confirmation(variant, len(stages), confirmations):
        v = archive.get(variant)
        try:
            result = await _run_stage(evaluate, v, final, seed + len(v.scores[final]), stages[final])
        except EvaluationError:
            break
        archive.record_score(variant, final, seed + len(v.scores[final]), result)
    return archive.get(variant)


async def _run_stage(evaluate: Evaluate, variant: Variant, k: int, seed: int, stage: Stage) -> StageResult:
    try:
        return await asyncio.wait_for(evaluate(variant, k, seed), stage.timeout_s)
    except asyncio.TimeoutError:
        raise EvaluationError(f"{stage.name}: evaluation over its {stage.timeout_s:g} s limit") from None


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY, default=repr).decode()


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
