"""Solution evolution (``treesearch.evolve_solution``): make a correct program faster, generation by generation.

The problem (``examples/evolve/count_primes.json``) is scored by a number, not pass/fail: runs per
second of ``count_primes(200000)``, measured in the sandbox, and 0 for a program that fails a test.
Evolution starts from a correct but naive sieve (the problem's ``metadata.initial``: it runs the outer
loop to n and sieves with composites too). With ``--model sim`` the editor is simulated: its programs
are real AST mutations of the problem's fast reference sieve — each edit removes one of a program's
mutations or adds one, which makes it wrong or slower — so evolution has to find the shortcuts back,
by edits and by crossing two parents that each found one. With a real model
(``--model openai/gpt-4o-mini``), the model edits and crosses the programs itself.

    python examples/evolve_speed.py --model sim --generations 6 --out runs/evolve_speed
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from treesearch.evolve.loop import GenerationRecord
from treesearch.evolve.scoring import BenchmarkEvaluator
from treesearch.evolve.solutions import evolve_solution
from treesearch.problems import CodeProblem, TestCase

PROBLEM = Path(__file__).resolve().parent / "evolve" / "count_primes.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sim", help="'sim' (offline) or a litellm model string")
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--children", type=int, default=4, help="children per generation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/evolve_speed"))
    args = parser.parse_args()

    problem = CodeProblem.from_file(PROBLEM)
    benchmark = [TestCase(input=t["input"], output=t["output"]) for t in problem.metadata["benchmark"]]
    evaluator = BenchmarkEvaluator(problem, benchmark)
    if args.model == "sim":
        print("model: sim — a simulated editor (real mutations of a reference solution), not an LLM")

    def report(record: GenerationRecord) -> None:
        best = "-" if record.best_score is None else f"{record.best_score:8.1f} runs/s (#{record.best_id})"
        made = "-" if record.generation_best is None else f"{record.generation_best:.1f}"
        print(f"generation {record.generation}: best so far {best}; best made in it {made} "
              f"({record.variants} programs)", flush=True)

    result = evolve_solution(problem, evaluator, model=args.model, generations=args.generations,
                             children_per_generation=args.children, initial=[problem.metadata["initial"]],
                             seed=args.seed, out=args.out, on_generation=report)
    first = result.history[0].best_score
    print(f"\nstopped: {result.stopped_because}; {result.stats['variants']} programs kept, "
          f"{result.stats['rejected']} proposals rejected, {result.stats['executions']} sandbox runs")
    if result.best is None:
        print("no program was scored")
        return
    if first:
        print(f"best: #{result.best.node_id}, {result.best.value:.1f} runs/s "
              f"({result.best.value / first:.1f}x the naive first program), "
              f"{'passes' if result.solved else 'fails'} the visible tests")
    print(result.best.code)
    if problem.reference and args.model == "sim":
        from treesearch.sandbox import Sandbox

        with Sandbox(trusted_code=True) as sandbox:  # the reference solution
            check = asyncio.run(evaluator.evaluate(problem.reference, 1, sandbox))
        print(f"(for scale: the reference solution measures {check.score:.1f} runs/s here)")
    print(f"lineage viewer: {args.out / 'tree.html'}")


if __name__ == "__main__":
    main()
