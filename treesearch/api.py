"""``search(problem)``: the public entry point, and the run directory it writes.

It builds the parts a search needs from plain arguments — the policy and value model for ``model``
(the simulated coder for ``"sim"``, an LLM through litellm otherwise), the budget, the sandbox —
runs the chosen strategy, picks the final program and writes the run directory::

    config.json     the arguments and every search knob
    events.jsonl    one line per search step (append-only)
    llm_calls.jsonl every model call (LLM models only)
    tree.json       the tree (see treesearch.export.tree_json)
    result.json     the outcome (see SearchResult.to_dict)
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treesearch.budget import Budget
from treesearch.engine.code import CodeDomain
from treesearch.engine.state import CODE_STRATEGIES, SearchConfig, SearchState
from treesearch.export.events import EventLog
from treesearch.export.files import write_json
from treesearch.problems import CodeProblem
from treesearch.tree import SearchTree, SelectionConfig

SIM_MODEL = "sim"
VALUE_PRESETS = ("hybrid", "execution")


@dataclass
class BestProgram:
    code: str
    value: float
    node_id: int
    passed_visible: bool


@dataclass
class SearchResult:
    """What a search found. ``solved``: the final program passes every visible test (the hidden
    tests are not run here: see :func:`treesearch.judgement.judge`)."""

    problem_id: str
    solved: bool
    best: BestProgram | None
    stopped_because: str
    stats: dict[str, Any]
    model: str
    strategy: str
    seed: int
    tree: SearchTree
    run_dir: Path | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "solved": self.solved,
            "best": None if self.best is None else {
                "code": self.best.code, "value": self.best.value, "node_id": self.best.node_id,
            },
            "stopped_because": self.stopped_because,
            "stats": self.stats,
            "model": self.model,
            "strategy": self.strategy,
            "seed": self.seed,
        }


def search(problem: CodeProblem | str | Path | dict, **kwargs: Any) -> SearchResult:
    """Search for a program solving ``problem``; see :func:`asearch` for the arguments."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(asearch(problem, **kwargs))
    raise RuntimeError("search() was called inside a running event loop; use `await asearch(...)` there")


async def asearch(
    problem: CodeProblem | str | Path | dict,
    model: str | None = None,
    strategy: str | None = None,
    budget: int | Budget | dict | None = 16,
    concurrency: int | None = None,
    seed: int = 0,
    value: str | Any = "hybrid",
    out: str | Path | None = None,
    api_base: str | None = None,
    config: SearchConfig | dict | None = None,
    sandbox: Any = None,
    policy: Any = None,
    critic: Any = None,
    cache: Any = True,
    on_event: Any = None,
    sandbox_backend: str = "auto",
) -> SearchResult:
    """Search for a program solving ``problem``.

    problem: a :class:`CodeProblem`, a problem file path, or its dict.
    model: a litellm model string, ``"sim"`` for the simulated coder, or None for
        ``$TREESEARCH_MODEL``. api_base: for local servers (default ``$TREESEARCH_API_BASE``).
    strategy: mcts | best_of_n | self_debug | beam | s_star. budget: max LLM calls (int), a :class:`Budget`,
        or a dict of Budget limits. concurrency: expansions (and so LLM calls) in flight.
        ``strategy`` and ``concurrency`` override ``config``'s; unset, ``config``'s hold (else mcts, 4).
    value: "hybrid" (RethinkMCTS: 0.8 · pass + 0.2 · critique once all visible tests pass; the
        critic is asked only where its score changes a decision: with ``require_approval`` or
        without ``early_stop``; else, and for S*, the value is the pass fraction),
        "execution" (pass fraction only) or a ValueModel. With a ``policy`` of your own and neither
        ``critic`` nor ``model``, there is no critic to ask: "hybrid" values by execution alone.
    config: further search knobs (:class:`SearchConfig` or a dict of its fields; ``selection`` may
        be a dict of :class:`SelectionConfig` fields). out: the run directory to write.
    sandbox / policy / critic: override the parts built from the arguments.
    sandbox_backend: for the sandbox built here: "auto" (bubblewrap; where it cannot run, a
        SandboxError before the model is asked for anything, except for ``model="sim"``, whose
        programs are mutations of the problem's reference solution and may run on the rlimit
        fallback), "bwrap", or "unsafe-rlimit" (the model's code runs without namespaces; see
        :mod:`treesearch.sandbox.backends` for what is still confined).
    on_event: called with every event as it is logged (progress displays).

    To evolve programs for a scored (not pass/fail) problem, see :func:`treesearch.evolve_solution`.
    """
    started = time.monotonic()
    problem = _load_problem(problem)
    search_config = _search_config(config, strategy, concurrency)
    budget = _budget(budget)
    run_dir = Path(out) if out is not None else None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)

    model_name = policy.name if policy is not None else _model_name(model)
    if sandbox is None:  # first: without an isolating sandbox, no model is asked for code
        from treesearch.sandbox import Sandbox

        sandbox = Sandbox(sandbox_backend, trusted_code=model_name == SIM_MODEL)
    if search_config.strategy == "s_star" and search_config.discriminator_top == 0:
        from treesearch.engine.baselines import s_star_plan

        chains, _ = s_star_plan(budget.max_calls or search_config.max_iterations)
        search_config = dataclasses.replace(search_config, discriminator_top=chains)
    # A critic only where it changes a decision: when the first program to pass every visible test
    # ends the search and needs no approval, a critique of it would be read by nobody.
    wants_critic = value == "hybrid" and (search_config.require_approval or not search_config.early_stop)
    builds_critic = critic is None and wants_critic and (policy is None or model is not None)
    discriminator = None
    if policy is None or builds_critic:
        built_policy, built_critic, discriminator = _build_model_parts(_model_name(model), api_base, budget, seed,
                                                                       run_dir, search_config, cache, sandbox)
        policy = policy or built_policy
        critic = critic or built_critic
    value_model = _value_model(value, critic if wants_critic else None)

    if run_dir is not None:
        write_json(run_dir / "config.json", {
            "problem_id": problem.id, "model": model_name, "api_base": api_base, "strategy": search_config.strategy,
            "seed": seed, "budget": _budget_limits(budget), "value": value if isinstance(value, str) else type(value).__name__,
            "search": search_config.to_dict(), "sandbox_backend": getattr(sandbox, "backend", None),
        })
    events = EventLog(run_dir / "events.jsonl" if run_dir is not None else None)
    state = SearchState(CodeDomain(problem, sandbox), policy, value_model, search_config, events, seed)
    if on_event is not None:
        events.listeners.append(on_event)
    stopped_because, best_id = await state.run(_strategy(search_config), budget, discriminator,
                                               problem_id=problem.id, model=model_name,
                                               strategy=search_config.strategy, seed=seed)
    best = None
    if best_id is not None:
        node = state.node(best_id)
        best = BestProgram(node.code, float(node.value), best_id, node.passed_all)
    result = SearchResult(
        problem_id=problem.id, solved=best is not None and best.passed_visible, best=best,
        stopped_because=stopped_because, stats=state.result_stats(budget.usage, time.monotonic() - started),
        model=model_name, strategy=search_config.strategy, seed=seed, tree=state.tree, run_dir=run_dir,
        events=events.events,
    )
    if run_dir is not None:
        state.save(run_dir, result.to_dict())
    return result


def _strategy(config: SearchConfig) -> Any:
    from treesearch.engine.baselines import RUNNERS
    from treesearch.engine.mcts import run_mcts

    return run_mcts if config.strategy == "mcts" else RUNNERS[config.strategy]


# ---------------------------------------------------------------------- building the parts
def _load_problem(problem: CodeProblem | str | Path | dict) -> CodeProblem:
    if isinstance(problem, CodeProblem):
        return problem
    if isinstance(problem, dict):
        return CodeProblem.from_dict(problem)
    return CodeProblem.from_file(problem)


def _search_config(config: SearchConfig | dict | None, strategy: str | None, concurrency: int | None) -> SearchConfig:
    """``config`` with the explicit ``strategy`` and ``concurrency`` over it (None keeps its own)."""
    explicit = {name: v for name, v in (("strategy", strategy), ("concurrency", concurrency)) if v is not None}
    if isinstance(config, SearchConfig):
        search_config = dataclasses.replace(config, **explicit)
    else:
        fields = dict(config or {})
        if isinstance(fields.get("selection"), dict):
            fields["selection"] = SelectionConfig(**fields["selection"])
        search_config = SearchConfig(**{**fields, **explicit})
    if search_config.strategy not in CODE_STRATEGIES:
        raise ValueError(f"unknown strategy {search_config.strategy!r}; choose one of {', '.join(CODE_STRATEGIES)}")
    return search_config


def _budget(budget: int | Budget | dict | None) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget is None:
        return Budget()
    if isinstance(budget, dict):
        return Budget(**budget)
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1:
        return Budget(max_calls=budget)
    raise ValueError(f"budget must be a positive number of LLM calls, a Budget or a dict of limits, got {budget!r}")


def _budget_limits(budget: Budget) -> dict[str, Any]:
    return {name: getattr(budget, name) for name in ("max_calls", "max_tokens", "max_cost_usd", "max_wall_s")}


def _model_name(model: str | None) -> str:
    from treesearch.config import resolve_model_name

    return resolve_model_name(model)


def check_prompts(directory: str | Path) -> Path:
    """``directory`` as a prompts directory for the LLM policy (``SearchConfig.prompts``): it must be
    one, and each of its templates must have the name of one the policy uses; else ValueError."""
    from policies.llm_policy import checked_prompts

    return checked_prompts(Path(directory))


def _build_model_parts(model: str, api_base: str | None, budget: Budget, seed: int, run_dir: Path | None,
                       config: SearchConfig, cache: Any, sandbox: Any) -> tuple[Any, Any, Any]:
    """(policy, critic, discriminator) for ``model``: S* picks by running the candidates on inputs
    the model writes, other strategies by the model's comparison (with ``discriminator_top`` > 1)."""
    if model == SIM_MODEL:
        from policies.simulated import SimulatedCoder
        from value_models.simulated_critic import SimulatedCritic

        return SimulatedCoder(seed=seed, budget=budget), SimulatedCritic(seed=seed, budget=budget), None
    from policies.llm_policy import PROMPTS, LLMPolicy
    from treesearch.config import llm_client
    from value_models.critic import LLMCritic
    from value_models.discriminator import Discriminator
    from value_models.distinguishing import DistinguishingPick

    client = llm_client(model, api_base, budget=budget, concurrency=config.concurrency, log_dir=run_dir, cache=cache,
                        seed=seed)
    discriminator = None
    if config.strategy == "s_star":
        discriminator = DistinguishingPick(client, sandbox)
    elif config.discriminator_top > 1:
        discriminator = Discriminator(client)
    prompts = Path(config.prompts) if config.prompts else PROMPTS  # LLMPolicy checks it
    sampling = {"temperature": config.temperature} if config.temperature is not None else {}
    policy = LLMPolicy(client, prompts=prompts, greedy_first=config.greedy_first, **sampling)
    return policy, LLMCritic(client), discriminator


def _value_model(value: str | Any, critic: Any) -> Any:
    from value_models.execution import ExecutionValue
    from value_models.hybrid import HybridValue

    if value == "hybrid":
        return HybridValue.rethinkmcts(critic) if critic is not None else ExecutionValue()
    if value == "execution":
        return ExecutionValue()
    if isinstance(value, str):
        raise ValueError(f"unknown value preset {value!r}; choose one of {', '.join(VALUE_PRESETS)} or pass a ValueModel")
    return value
