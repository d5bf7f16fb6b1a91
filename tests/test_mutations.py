"""AST mutation operators: each operator on small programs, composition, determinism, and every
HumanEval canonical solution."""

from __future__ import annotations

import ast
import gzip
import json
import os
import random
from pathlib import Path

import pytest

from policies import mutations
from policies.mutations import OPERATORS, Mutation, apply, mutation_sites


def variants(source: str, operator: str) -> dict[str, str]:
    """description -> mutated code, for one operator."""
    return {m.description: apply(source, [m]) for m in mutation_sites(source) if m.operator == operator}


def outputs(source: str, operator: str) -> list[str]:
    return [apply(source, [m]) for m in mutation_sites(source) if m.operator == operator]


def body(code: str) -> str:
    return ast.unparse(ast.parse(code))


def test_range_off_by_one_moves_stop_and_start_and_folds_constants():
    out = variants("def f(n):\n    for i in range(1, n - 1):\n        print(i)\n", "range_off_by_one")
    assert "for i in range(1, n - 2):" in out["range stop -1"]
    assert "for i in range(1, n):" in out["range stop +1"]  # n - 1 + 1 folds to n
    assert "for i in range(0, n - 1):" in out["range start -1"]
    assert "for i in range(2, n - 1):" in out["range start +1"]


def test_index_off_by_one_on_subscripts_and_slices_but_not_string_keys_or_annotations():
    src = "def f(xs: list[int], d: dict) -> list[int]:\n    return xs[i] + xs[1:j] + d['k']\n"
    out = variants(src, "index_off_by_one")
    codes = set(out.values())
    assert any("xs[i + 1]" in c for c in codes) and any("xs[i - 1]" in c for c in codes)
    assert any("xs[2:j]" in c for c in codes) and any("xs[1:j - 1]" in c for c in codes)
    assert not any("'k'" in c and "d['k']" not in c for c in codes)
    assert all("list[int]" in c for c in codes)  # annotations are never mutated


@pytest.mark.parametrize(
    ("op", "swapped"), [("<", "<="), ("<=", "<"), (">", ">="), (">=", ">"), ("==", "!="), ("!=", "=="),
                        ("in", "not in"), ("is", "is not")],
)
def test_cmp_swap(op, swapped):
    out = variants(f"def f(a, b):\n    return a {op} b\n", "cmp_swap")
    assert list(out.values()) == [body(f"def f(a, b):\n    return a {swapped} b\n")]


def test_arith_swap_skips_string_and_list_operations():
    out = variants("def f(a, b, s):\n    x = a * b\n    y = s + 'x'\n    z = [0] * a\n    a -= b\n    return x\n",
                   "arith_swap")
    codes = sorted(out.values())
    assert any("x = a // b" in c for c in codes)
    assert any("a += b" in c for c in codes)
    assert len(codes) == 2  # neither s + 'x' nor [0] * a is touched


def test_boolop_swap():
    out = variants("def f(a, b):\n    return a and b\n", "boolop_swap")
    assert list(out.values()) == [body("def f(a, b):\n    return a or b\n")]


def test_const_boundary_on_small_ints_only():
    out = variants("def f(x):\n    return [x + 0, x + 1, x + 5, x + 1000, True]\n", "const_boundary")
    got = {d for d in out}
    assert got == {"constant 0 -> 1", "constant 1 -> 0", "constant 1 -> 2", "constant 5 -> 4", "constant 5 -> 6"}


def test_negate_condition_on_if_while_ifexp_and_comprehension_and_unwraps_not():
    src = "def f(xs):\n    if not xs:\n        return 0\n    while xs:\n        xs.pop()\n    return [x for x in xs if x > 0][0] if xs else 1\n"
    codes = outputs(src, "negate_condition")
    assert len(codes) == 4
    assert any("if xs:\n        return 0" in c for c in codes)
    assert any("while not xs:" in c for c in codes)
    assert any("if not x > 0" in c for c in codes)
    assert any("if not xs else 1" in c for c in codes)


def test_drop_branch_removes_else_and_elif():
    src = "def f(x):\n    if x < 0:\n        return -1\n    elif x == 0:\n        return 0\n    else:\n        return 1\n"
    out = variants(src, "drop_branch")
    assert out["elif branch removed"] == body("def f(x):\n    if x < 0:\n        return -1\n    else:\n        return 1\n")
    assert out["else branch of the if/elif chain removed"] == body(
        "def f(x):\n    if x < 0:\n        return -1\n    elif x == 0:\n        return 0\n"
    )


def test_drop_statement_drops_guards_and_assignments_but_not_returns_docstrings_or_loops():
    src = 'def f(xs):\n    """Doc."""\n    if not xs:\n        return []\n    out = []\n    for x in xs:\n        out.append(x)\n    return out\n'
    out = variants(src, "drop_statement")
    assert set(out) == {"statement removed: if not xs:", "statement removed: out = []", "statement removed: out.append(x)"}
    # The loop's only statement dropped leaves a valid `pass` body.
    assert "for x in xs:\n        pass" in out["statement removed: out.append(x)"]


def test_wrong_return_variants():
    src = "def f(x):\n    if x:\n        return True\n    return len(x) - 1\n"
    out = variants(src, "wrong_return")
    assert "return False" in out["return False instead of True"]
    assert "return len(x) - 2" in out["returned value -1"]
    assert "return len(x)\n" in out["returned value +1"] + "\n"
    assert "return True" in out["returns True (another branch's value)"].split("\n")[-1]
    assert sum(d == "returns None" for d in out) == 1 and "return None" in out["returns None"]


def test_every_operator_is_exercised_and_ids_are_well_formed():
    src = ('def f(xs, n):\n    if not xs:\n        return 0\n    t = 0\n    for i in range(n):\n'
           '        if xs[i] < 3 and i:\n            t += xs[i] * 2\n        else:\n            t -= 1\n    return t\n')
    sites = mutation_sites(src)
    assert {m.operator for m in sites} == set(OPERATORS)
    assert len({m.id for m in sites}) == len(sites)
    for m in sites:
        assert m.id.startswith(f"{m.operator}@L{m.line}:C{m.col}#")


def test_composition_applies_all_relative_to_the_original():
    src = "def f(a, b):\n    if a < b:\n        return a + 1\n    return b\n"
    by_desc = {m.description: m for m in mutation_sites(src)}
    both = apply(src, [by_desc["< -> <="], by_desc["+ -> -"]])
    assert both == body("def f(a, b):\n    if a <= b:\n        return a - 1\n    return b\n")
    # Inner and outer mutations of the same condition compose: the swapped comparison, negated.
    nested = apply(src, [by_desc["< -> <="], by_desc["condition negated"]])
    assert "if not a <= b:" in nested
    # Order of the set does not matter for mutations at different nodes; ids work as well as objects.
    assert apply(src, [by_desc["+ -> -"].id, by_desc["< -> <="].id]) == both
    assert apply(src, []) == body(src)


def test_unknown_ids_are_an_error():
    with pytest.raises(ValueError, match="unknown mutation"):
        apply("def f(a):\n    return a\n", ["cmp_swap@L2:C11#0"])
    with pytest.raises(ValueError, match="not a mutation id"):
        apply("def f(a):\n    return a\n", ["nonsense"])


def test_no_mutation_leaves_the_code_unchanged_and_each_is_distinct():
    src = "def f(x):\n    y = x\n    return y * 1\n"
    original = body(src)
    outputs = [apply(src, [m]) for m in mutation_sites(src)]
    assert original not in outputs
    assert len(set(outputs)) == len(outputs)


def test_deterministic():
    src = "def f(xs):\n    return [x + 1 for x in xs if x % 2 == 0][0:2]\n"
    assert mutation_sites(src) == mutation_sites(src)
    first = [(m, apply(src, [m])) for m in mutation_sites(src)]
    mutations._mutation_sites.cache_clear()  # enumerate again from scratch, not from the cache
    assert [(m, apply(src, [m])) for m in mutation_sites(src)] == first
    assert all(isinstance(m, Mutation) for m, _ in first)


def _humaneval_path() -> Path | None:
    for root in (os.environ.get("TREESEARCH_DATA"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if root and (Path(root) / "HumanEval.jsonl.gz").exists():
            return Path(root) / "HumanEval.jsonl.gz"
    return None


def test_every_humaneval_solution_mutates_and_always_parses():
    path = _humaneval_path()
    if path is None:
        pytest.skip("HumanEval.jsonl.gz not found: set TREESEARCH_DATA to the directory holding it")
    rng = random.Random(0)
    with gzip.open(path, "rt") as f:
        tasks = [json.loads(line) for line in f]
    assert len(tasks) == 164
    for task in tasks:
        src = task["prompt"] + task["canonical_solution"]
        # mutation_sites has applied (and apply has parsed) every single mutation already.
        sites = mutation_sites(src)
        assert sites, task["task_id"]
        for _ in range(3):
            chosen = rng.sample(sites, rng.randint(1, min(5, len(sites))))
            ast.parse(apply(src, chosen))
