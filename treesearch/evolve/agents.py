"""Agent variants: an agent configuration, its checks, and its evaluation on a benchmark.

An agent configuration is the JSON payload ::

    {"params": {"strategy": "mcts", "width": 3, ..., "selection.rule": "pucb", "selection.c": null, ...,
                "value": "hybrid"},
     "prompts": {"system": "...", "thought": "...", "code": "...", "debug": "...", "rethink": "..."}}

``params`` are the search parameters of :func:`parameter_space` — the strategy, the selection rule and its
constants, the width, the value weights (``hybrid``: 0.8 · pass + 0.2 · critique, ``execution``: the
pass fraction alone), the rethink cap, and how a problem's LLM-call budget is split between
breadth (``width``, ``code_samples``, ``thought_depth``) and depth (``max_debug_depth``,
``rethink_cap``); the budget itself is fixed by the run, so a variant cannot win by spending more.
``prompts`` are the LLM policy's templates (``policies/prompts/*.txt``), kept whole in the payload
so an archive holds everything needed to rerun any variant.

A variant is evaluated with the ``treesearch eval`` machinery (:func:`treesearch.evaluation.run_eval`)
on nested subsets of one dataset — stage ``k`` on its first ``stage_sizes[k]`` problems — in its own
results directory, so a later stage runs only the problems the earlier one did not, a re-evaluation
with another seed adds its own lines, and a killed evaluation resumes where it stopped. Its score on
a stage is the fraction of the stage's problems whose final program passes the hidden tests.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from treesearch.archive import EvaluationError, InvalidVariant, StageResult, Variant
from treesearch.evaluation import RESULTS, EvalSettings, ResultsFile, run_eval
from treesearch.executors import Executor
from treesearch.export.files import safe_name
from treesearch.problems import CodeProblem

PROMPT_NAMES = ("system", "thought", "code", "debug", "rethink")
# What LLMPolicy fills into each template (policies/llm_policy.py), and what a template must use to
# do its job (a debug prompt that never shows the failing program cannot work).
PROMPT_PLACEHOLDERS = {
    "system": frozenset(),
    "thought": frozenset({"problem", "statement", "thoughts", "output_note", "n"}),
    "code": frozenset({"problem", "statement", "thoughts", "output_note", "follow_plan"}),
    "debug": frozenset({"problem", "statement", "thoughts", "output_note", "attempts", "code", "feedback"}),
    "rethink": frozenset({"problem", "statement", "thoughts", "output_note", "numbered_thoughts", "code", "feedback"}),
}
REQUIRED_PLACEHOLDERS = {
    "system": frozenset(),
    "thought": frozenset({"problem", "n"}),
    "code": frozenset({"problem"}),
    "debug": frozenset({"problem", "code", "feedback"}),
    "rethink": frozenset({"problem", "numbered_thoughts", "code", "feedback"}),
}


# ---------------------------------------------------------------------- the parameter space
@dataclass(frozen=True)
class IntRange:
    low: int
    high: int

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            return f"an integer in [{self.low}, {self.high}]"
        return None

    def neighbour(self, value: int, rng: np.random.Generator) -> int:
        steps = [v for v in (value - 1, value + 1) if self.low <= v <= self.high]
        return int(steps[int(rng.integers(len(steps)))])

    def describe(self) -> str:
        return f"integer {self.low}..{self.high}"


@dataclass(frozen=True)
class FloatRange:
    """A positive constant, or None for "the default" when ``optional``; it moves by factors of 1.5."""

    low: float
    high: float
    optional: bool = False

    def check(self, value: Any) -> str | None:
        if value is None and self.optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return f"a number in [{self.low:g}, {self.high:g}]" + (" or null (the default)" if self.optional else "")
        return None

    def neighbour(self, value: float | None, rng: np.random.Generator, default: float = 1.0) -> float:
        start = default if value is None else value
        moved = start * 1.5 if rng.random() < 0.5 else start / 1.5
        return float(f"{min(self.high, max(self.low, moved)):.3g}")

    def describe(self) -> str:
        return f"number {self.low:g}..{self.high:g}" + (" or null (the rule's default)" if self.optional else "")


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def check(self, value: Any) -> str | None:
        return None if any(value == o and type(value) is type(o) for o in self.options) else \
            f"one of {', '.join(json.dumps(o) for o in self.options)}"

    def neighbour(self, value: Any, rng: np.random.Generator) -> Any:
        others = [o for o in self.options if o != value]
        return others[int(rng.integers(len(others)))]

    def describe(self) -> str:
        return " | ".join(json.dumps(o) for o in self.options)


@functools.cache
def parameter_space() -> dict[str, IntRange | FloatRange | Choice]:
    """Every search parameter a variant sets, with the values it may take."""
    from treesearch.core import Q_MODES, RULES
    from treesearch.engine.state import CODE_STRATEGIES as STRATEGIES

    return {
        "strategy": Choice(tuple(STRATEGIES)),
        "width": IntRange(1, 8),
        "code_samples": IntRange(1, 4),
        "thought_depth": IntRange(0, 3),
        "root_widening": Choice((0.0, 0.5, 0.75, 1.0)),
        "max_debug_depth": IntRange(0, 6),
        "repairs_must_improve": Choice((False, True)),
        "plain_first": Choice((False, True)),
        "rethink": Choice((True, False)),
        "rethink_cap": IntRange(0, 4),
        "rethink_trace": Choice((False, True)),
        "beam_width": IntRange(1, 4),
        "selection.rule": Choice(tuple(RULES)),
        "selection.c": FloatRange(0.05, 20.0, optional=True),
        "selection.c_base": FloatRange(1.0, 1000.0),
        "selection.q_mode": Choice(tuple(Q_MODES)),
        "value": Choice(("hybrid", "execution")),
    }



def default_params() -> dict[str, Any]:
    """The engine's defaults (:class:`SearchConfig`, :class:`SelectionConfig`) and the hybrid value."""
    from treesearch.engine.state import SearchConfig

    config = SearchConfig()
    params: dict[str, Any] = {}
    for name in parameter_space():
        if name == "value":
            params[name] = "hybrid"
        elif name.startswith("selection."):
            params[name] = getattr(config.selection, name.removeprefix("selection."))
        else:
            params[name] = getattr(config, name)
    return params


def default_prompts() -> dict[str, str]:
    """The LLM policy's templates as shipped (``policies/prompts/``), a fresh dict each call."""
    return dict(_shipped_prompts())


@functools.cache
def _shipped_prompts() -> tuple[tuple[str, str], ...]:
    from policies.llm_policy import PROMPTS

    return tuple((name, (PROMPTS / f"{name}.txt").read_text(encoding="utf-8")) for name in PROMPT_NAMES)


def default_config() -> dict[str, Any]:
    return {"params": default_params(), "prompts": default_prompts()}


def search_fields(params: dict[str, Any]) -> dict[str, Any]:
    """The :class:`SearchConfig` fields of ``params`` (``selection`` as a dict), without the strategy
    and the value preset, which the eval settings carry."""
    fields: dict[str, Any] = {"selection": {}}
    for name, value in params.items():
        if name.startswith("selection."):
            fields["selection"][name.removeprefix("selection.")] = value
        elif name not in ("strategy", "value"):
            fields[name] = value
    return fields


def placeholders(template: str) -> set[str]:
    """The ``$name`` / ``${name}`` placeholders of a template; a stray ``$`` raises ValueError."""
    found = set()
    for match in Template.pattern.finditer(template):
        if match.group("invalid") is not None:
            line = template[: match.start()].count("\n") + 1
            raise ValueError(f"a '$' on line {line} starts no placeholder (write $$ for a dollar sign)")
        name = match.group("named") or match.group("braced")
        if name:
            found.add(name)
    return found


# ---------------------------------------------------------------------- the variant format
class AgentFormat:
    """:class:`treesearch.archive.VariantFormat` for agent configurations.

    Near duplicates: the same configuration once each constant is rounded to two significant digits
    and each prompt's whitespace and letter case are normalised.
    """

    def check(self, payload: Any) -> None:
        from treesearch.engine.state import SearchConfig

        if not isinstance(payload, dict) or set(payload) != {"params", "prompts"}:
            raise InvalidVariant('an agent configuration is {"params": {...}, "prompts": {...}}')
        params, prompts, space = payload["params"], payload["prompts"], parameter_space()
        if not isinstance(params, dict) or not isinstance(prompts, dict):
            raise InvalidVariant("params and prompts must be objects")
        unknown, missing = sorted(set(params) - set(space)), sorted(set(space) - set(params))
        if unknown or missing:
            raise InvalidVariant("; ".join(filter(None, [unknown and f"unknown parameter(s) {', '.join(unknown)}",
                                                         missing and f"missing parameter(s) {', '.join(missing)}"])))
        for name, allowed in space.items():
            if (wanted := allowed.check(params[name])) is not None:
                raise InvalidVariant(f"{name} must be {wanted}, got {params[name]!r}")
        self._check_prompts(prompts)
        fields = search_fields(params)
        if prompts != default_prompts():
            fields["prompts"] = "<directory>"
        try:
            SearchConfig(strategy=params["strategy"], **fields)
        except (TypeError, ValueError) as e:
            raise InvalidVariant(f"the engine refuses it: {e}") from None

    @staticmethod
    def _check_prompts(prompts: dict[str, Any]) -> None:
        if set(prompts) != set(PROMPT_NAMES):
            raise InvalidVariant(f"prompts must be exactly {', '.join(PROMPT_NAMES)}")
        for name in PROMPT_NAMES:
            text = prompts[name]
            if not isinstance(text, str) or not (text.strip() or name == "system"):  # empty system: none sent
                raise InvalidVariant(f"prompt {name!r} must be non-empty text")
            try:
                used = placeholders(text)
            except ValueError as e:
                raise InvalidVariant(f"prompt {name!r}: {e}") from None
            if unknown := sorted(used - PROMPT_PLACEHOLDERS[name]):
                raise InvalidVariant(f"prompt {name!r} uses ${', $'.join(unknown)}, which the policy does not fill "
                                     f"(it fills: {', '.join(sorted(PROMPT_PLACEHOLDERS[name])) or 'nothing'})")
            if missing := sorted(REQUIRED_PLACEHOLDERS[name] - used):
                raise InvalidVariant(f"prompt {name!r} must use ${', $'.join(missing)}")

    def exact_key(self, payload: dict[str, Any]) -> str:
        return json.dumps(payload, sort_keys=True)

    def near_key(self, payload: dict[str, Any]) -> str:
        params = {k: float(f"{v:.2g}") if isinstance(v, float) else v for k, v in payload["params"].items()}
        prompts = {k: " ".join(v.split()).casefold() for k, v in payload["prompts"].items()}
        return json.dumps({"params": params, "prompts": prompts}, sort_keys=True)

    def diff(self, parent: dict[str, Any], payload: dict[str, Any]) -> str:
        lines = list(difflib.unified_diff(_param_lines(parent), _param_lines(payload), "parent/params", "child/params",
                                          lineterm="", n=0))
        for name in PROMPT_NAMES:
            if parent["prompts"][name] != payload["prompts"][name]:
                lines += difflib.unified_diff(parent["prompts"][name].splitlines(), payload["prompts"][name].splitlines(),
                                              f"parent/{name}.txt", f"child/{name}.txt", lineterm="")
        return "\n".join(lines)

    def show(self, payload: dict[str, Any]) -> dict[str, Any]:
        defaults = default_prompts()
        return {"config": payload["params"],
                "prompts_changed": [n for n in PROMPT_NAMES if payload["prompts"][n] != defaults[n]]}


def _param_lines(payload: dict[str, Any]) -> list[str]:
    return [f"{name} = {json.dumps(value)}" for name, value in payload["params"].items()]


def describe_params(params: dict[str, Any]) -> str:
    """One line: ``mcts w3 cs1 td1 dbg4 rethink<=2 pucb(c=default, base=10, max) hybrid`` (with
    the root's widening, ``td0/pw0.5``; ``dbg4+`` when repairs must improve)."""
    rethink = f"rethink<={params['rethink_cap']}" + ("+trace" if params["rethink_trace"] else "") \
        if params["rethink"] else "no-rethink"
    c = "default" if params["selection.c"] is None else f"{params['selection.c']:g}"
    widening = f"/pw{params['root_widening']:g}" if params["root_widening"] > 0 else ""
    improve = "+" if params["repairs_must_improve"] else ""
    return (f"{params['strategy']} w{params['width']} cs{params['code_samples']} td{params['thought_depth']}{widening} "
            f"dbg{params['max_debug_depth']}{improve} {rethink} beam{params['beam_width']} "
            f"{params['selection.rule']}(c={c}, base={params['selection.c_base']:g}, {params['selection.q_mode']}) "
            f"{params['value']}")


# ---------------------------------------------------------------------- evaluation
class AgentEvaluator:
    """Scores agent variants with :func:`run_eval`: stage ``k`` on ``problems[:stage_sizes[k]]``, in
    ``out/variants/v<id>/``. ``base`` gives the dataset, model, per-problem budget, workers and
    API base every variant shares; the variant gives strategy, value preset and search fields.
    ``executor`` runs each stage's searches (default: here)."""

    def __init__(self, problems: list[CodeProblem], stage_sizes: list[int], out: Path, base: EvalSettings,
                 executor: Executor | None = None) -> None:
        if any(b <= a for a, b in zip(stage_sizes, stage_sizes[1:])) or not stage_sizes or stage_sizes[0] < 1:
            raise ValueError(f"stage sizes must be increasing and positive, got {stage_sizes}")
        if stage_sizes[-1] > len(problems):
            raise ValueError(f"the last stage needs {stage_sizes[-1]} problems; the dataset has {len(problems)}")
        self.problems = problems
        self.stage_sizes = stage_sizes
        self.out = out
        self.base = base
        self.executor = executor

    def directory(self, variant: int) -> Path:
        return self.out / "variants" / f"v{variant:04d}"

    def settings(self, variant: Variant, seed: int) -> EvalSettings:
        params, prompts = variant.payload["params"], variant.payload["prompts"]
        config = search_fields(params)
        if prompts != default_prompts():
            directory = self.directory(variant.id) / "prompts"
            directory.mkdir(parents=True, exist_ok=True)
            for name, text in prompts.items():
                (directory / f"{name}.txt").write_text(text, encoding="utf-8")
            config["prompts"] = str(directory)
        return dataclasses.replace(self.base, strategy=params["strategy"], value=params["value"], seeds=(seed,),
                                   config=config)

    async def __call__(self, variant: Variant, stage: int, seed: int) -> StageResult:
        from treesearch.llm import LLMError
        from treesearch.sandbox import SandboxError

        problems = self.problems[: self.stage_sizes[stage]]
        try:
            records = await run_eval(problems, self.settings(variant, seed), self.directory(variant.id),
                                     executor=self.executor)
        except (ValueError, LLMError, SandboxError) as e:
            raise EvaluationError(f"evaluation failed: {e}") from e
        wanted = {p.id for p in problems}
        rows = [r for r in records if r["seed"] == seed and r["problem_id"] in wanted]
        passed = sum(bool(r["passed_base"]) for r in rows)
        return StageResult(passed / len(problems), {
            "passed": passed, "problems": len(problems), "seed": seed,
            "llm_calls": sum(r["llm_calls"] for r in rows), "tokens": sum(r["tokens"] for r in rows),
            "wall_s": round(sum(r["wall_s"] for r in rows), 3),
        })

    def failures(self, variant: Variant, seed: int, limit: int = 5) -> FailureReport:
        """What the meta-model reads about ``variant``'s evaluation with ``seed`` over the problems of
        the deepest stage it reached: up to ``limit`` failed problems — the problem, why its search
        stopped, the final program — and the counts. Hidden tests are never shown."""
        path = self.directory(variant.id) / RESULTS
        if not path.exists() or variant.level == 0:
            return FailureReport([], 0, 0)
        stage_ids = {p.id: p for p in self.problems[: self.stage_sizes[variant.level - 1]]}
        rows = [r for r in ResultsFile(path).records if r["seed"] == seed and r["problem_id"] in stage_ids]
        failed = [r for r in rows if not r["passed_base"]]
        logs = []
        for record in failed[:limit]:
            problem = stage_ids[record["problem_id"]]
            result_file = self.directory(variant.id) / "runs" / f"{safe_name(problem.id)}-s{seed}" / "result.json"
            result = json.loads(result_file.read_text()) if result_file.exists() else {}
            logs.append({
                "problem_id": problem.id, "prompt": _clip(problem.prompt, 1200),
                "stopped_because": record["stopped_because"],
                "final_program_passes_visible_tests": record["solved_visible"],
                "llm_calls": record["llm_calls"], "rethinks": record["rethinks_tried"],
                "final_program": _clip((result.get("best") or {}).get("code") or "(none)", 1500),
            })
        return FailureReport(logs, len(failed), len(rows))


@dataclass
class FailureReport:
    """Failed problems of one evaluation (``logs``: the first few in detail) out of ``scored``."""

    logs: list[dict[str, Any]]
    failed: int
    scored: int

    def summary(self) -> str:
        """``failed 3 of 30 (e.g. HumanEval/10, HumanEval/32; most stopped: budget: max_calls)``."""
        if not self.scored:
            return "no evaluation logs"
        if not self.failed:
            return f"failed none of {self.scored}"
        reason = statistics.mode(r["stopped_because"] for r in self.logs)
        return (f"failed {self.failed} of {self.scored} (e.g. {', '.join(r['problem_id'] for r in self.logs[:3])}; "
                f"most stopped: {reason})")


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text.strip())
    return text if len(text) <= limit else text[: limit - 20] + "\n... (cut)"
