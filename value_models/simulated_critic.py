"""SimulatedCritic: a model *of* an LLM critic, the ``--model sim`` counterpart of LLMCritic.

The truth it reads is whether the program still carries mutations (the simulated coder lists them
in the program's metadata) — never hidden tests. Its score is a noisy reading of that truth:

.. math:: s = \\operatorname{clip}_{[0, 1]}\\big(\\mu + \\varepsilon\\big), \\quad
          \\mu = \\begin{cases} \\texttt{clean\\_score} & \\text{no mutation left} \\\\
                                 \\texttt{buggy\\_score} & \\text{otherwise} \\end{cases}, \\quad
          \\varepsilon \\sim \\mathcal N(0, \\texttt{noise}^2)

With the defaults (0.8, 0.3, noise 0.15) and HybridValue's approval threshold 0.5, a buggy program is
approved about 9% of the time and a clean one rejected about 2% of the time. These are chosen, not
calibrated: a critic that sees what tests cannot (a harmless-looking off-by-one the visible tests do
not reach) but is not an oracle. Deterministic under a seed; each evaluation is one simulated call
against the budget, like the coder's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.simulated import MODEL_NAME, SimulatorError
from treesearch.budget import Budget
from treesearch.contracts import Candidate, Evaluation
from treesearch.problems import CodeProblem


@dataclass(frozen=True)
class CriticParams:
    """clean_score / buggy_score: the mean critique of a program without / with mutations left.
    noise: the standard deviation of the Gaussian noise on each reading."""

    clean_score: float = 0.8
    buggy_score: float = 0.3
    noise: float = 0.15

    def __post_init__(self) -> None:
        for name in ("clean_score", "buggy_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"CriticParams.{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.noise >= 0.0:
            raise ValueError(f"CriticParams.noise must be >= 0, got {self.noise}")


class SimulatedCritic:
    """A noisy critic over the simulated coder's programs (see the module docstring)."""

    name = MODEL_NAME

    def __init__(self, seed: int = 0, budget: Budget | None = None, params: CriticParams | None = None) -> None:
        self.seed = seed
        self.budget = budget
        self.params = params or CriticParams()

    async def evaluate(self, problem: CodeProblem, node: Candidate, feedback: Any) -> Evaluation:
        sim = node.metadata.get("sim") if node.metadata else None
        if not isinstance(sim, dict) or "mutations" not in sim:
            raise SimulatorError(
                f"problem {problem.id}: the simulated critic can only judge programs written by the simulated "
                "coder (their metadata lists the mutations they carry)"
            )
        reservation = None
        if self.budget is not None:
            est = (len(problem.prompt) + 2 * len(node.code) + 400) // 4
            reservation = await self.budget.areserve(est_tokens=est, est_cost=0.0)
        bugs = len(sim["mutations"])
        key = json.dumps([self.seed, problem.id, node.code, sorted(sim["mutations"])]).encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(key, digest_size=16).digest(), "little"))
        mean = self.params.buggy_score if bugs else self.params.clean_score
        score = float(min(1.0, max(0.0, mean + rng.normal(0.0, self.params.noise))))
        verdict = "looks correct" if score >= 0.5 else "looks wrong"
        explanation = f"[sim] simulated critic: {verdict} (score {score:.2f}; a noisy reading, not a review)"
        if reservation is not None:
            self.budget.settle(reservation, prompt_tokens=(len(problem.prompt) + len(node.code)) // 4,
                               completion_tokens=len(explanation) // 4, cost_usd=0.0)
        return Evaluation(score, {"critique": score}, explanation)
