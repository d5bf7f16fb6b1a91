"""Core throughput: the batched Numba array tree against a plain Python object tree, in one run.

For each size (1e3, 1e5, 1e6 nodes) and branching factor (4, 16), iterations per second of

* ``grow``: select + expand + backprop, the search loop itself, timed over the last fifth of the
  growth to that size (so the tree holds 80-100 % of it; the median of three builds for the array
  tree below 1e6 nodes, whose timed stretch is short);
* ``steady``: select + backprop on the tree at that size, with fresh random values (the selected
  leaves are valued without being expanded, so the size holds);

for the array tree (batches of K selections) and the object tree (one at a time, as a sequential
search runs), their ratio, and bytes per node for both (array rows; tracemalloc for the objects).
Then the cold start of a fresh process that imports the core and runs one step with a warm Numba
cache, next to the floor: a fresh process loading one trivial cached Numba kernel.

``--quick`` leaves out 1e6 nodes for the object tree and shortens the runs; ``--json`` prints the
figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine_info import cores, cpu_model  # noqa: E402
from tests.reference_tree import ReferenceTree  # noqa: E402
from treesearch.tree import SearchTree, SelectionConfig  # noqa: E402

BATCH = 256


GROW_TIMED_FROM = 0.8  # grow rates are timed from this fraction of the target size


def grow_rate(steps: list[tuple[int, float, int]], n_nodes: int) -> float:
    """Iterations per second over the steps (size before, seconds, iterations) that started at or past
    GROW_TIMED_FROM of ``n_nodes``; the last step alone when one batch jumped over that mark."""
    timed = [s for s in steps if s[0] >= GROW_TIMED_FROM * n_nodes] or steps[-1:]
    return sum(s[2] for s in timed) / sum(s[1] for s in timed)


def array_build(n_nodes: int, branching: int, rng: np.random.Generator) -> tuple[SearchTree, float]:
    """An array tree grown to ``n_nodes`` by the batched search loop; and its select + expand +
    backprop iterations per second over the last fifth of the growth."""
    tree = SearchTree(capacity=1024, selection=SelectionConfig(rule="pucb"))
    tree.add_children(0, rng.random(branching))
    steps = []
    while tree.size < n_nodes:
        size, start = tree.size, time.perf_counter()
        leaves, _ = tree.select(BATCH)
        firsts = tree.add_children_batch(leaves, np.full(leaves.size, branching), rng.random(leaves.size * branching))
        tree.backprop(firsts, rng.random(leaves.size), selected=leaves)
        steps.append((size, time.perf_counter() - start, leaves.size))
    return tree, grow_rate(steps, n_nodes)


def array_steady(tree: SearchTree, batches: int, rng: np.random.Generator) -> tuple[float, float]:
    """Iterations per second over a fixed number of batches, and collisions (walks that ended on a
    leaf already in flight) per selected leaf. A fixed amount of work, not a time window, so every
    run walks the same sequence of states. Fresh random values for every backup, as in a real search:
    replaying one fixed set of values drives every walk to the same few leaves."""
    iterations, collisions, start = 0, 0, time.perf_counter()
    for _ in range(batches):
        leaves, collided = tree.select(BATCH)
        tree.backprop(leaves, rng.random(leaves.size), selected=leaves)
        iterations += leaves.size
        collisions += collided
    return iterations / (time.perf_counter() - start), collisions / max(iterations, 1)


def object_build(n_nodes: int, branching: int, rng: np.random.Generator) -> tuple[ReferenceTree, float]:
    """The same for the object tree, one selection at a time."""
    tree = ReferenceTree(rule="pucb", float32=False)
    tree.add_children(tree.root, rng.random(branching).tolist())
    steps = []
    while len(tree.nodes) < n_nodes:
        size, start = len(tree.nodes), time.perf_counter()
        (leaf,), _ = tree.select(1, 2)
        kids = tree.add_children(leaf, rng.random(branching).tolist())
        tree.backprop([kids[0]], [rng.random()], [leaf])
        steps.append((size, time.perf_counter() - start, 1))
    return tree, grow_rate(steps, n_nodes)


def object_bytes_per_node(n_nodes: int, branching: int, rng: np.random.Generator) -> float:
    """Bytes per node of an object tree of ``n_nodes``, traced by tracemalloc in a separate build
    (tracing slows every allocation, so the timed build runs without it)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    tree, _ = object_build(n_nodes, branching, rng)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / len(tree.nodes)


def object_steady(tree: ReferenceTree, iterations: int, rng: np.random.Generator) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        (leaf,), _ = tree.select(1, 2)
        tree.backprop([leaf], [rng.random()], [leaf])
    return iterations / (time.perf_counter() - start)


COLD_START = """
import time
t0 = time.perf_counter()
from treesearch.tree import SearchTree
t1 = time.perf_counter()
tree = SearchTree()
tree.add_children(0, [0.5, 0.5])
leaves, _ = tree.select(2)
tree.backprop(leaves, [0.5, 1.0], selected=leaves)
tree.best_path()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


NUMBA_FLOOR = """
import sys, time
sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import trivial_kernel
t1 = time.perf_counter()
trivial_kernel.add_one(1)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

TRIVIAL_KERNEL = """
from numba import njit

@njit(cache=True)
def add_one(x):
    return x + 1
"""


def fresh_processes(args: list[str], repeats: int) -> tuple[float, float, float, float]:
    """Best-of-``repeats`` fresh interpreters running a script that prints its import time and its
    first-step time: (whole process, import, first step, import + first step)."""
    subprocess.run(args, check=True, capture_output=True)  # warms the Numba cache if it is cold
    walls, imports, firsts = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
        walls.append(time.perf_counter() - start)
        imports.append(float(out[0]))
        firsts.append(float(out[1]))
    return min(walls), min(imports), min(firsts), min(i + f for i, f in zip(imports, firsts))


def cold_start(repeats: int) -> dict[str, float]:
    """Fresh interpreters with a warm Numba cache: wall time of the whole process, of the import, and
    of the first step (loading the kernels from the cache). The floor is the same for a module with
    one trivial cached kernel: what importing Numba and loading any cached kernel costs here."""
    wall, imported, first, total = fresh_processes([sys.executable, "-c", COLD_START], repeats)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "trivial_kernel.py").write_text(TRIVIAL_KERNEL)
        _, floor_import, floor_first, floor_total = fresh_processes(
            [sys.executable, "-c", NUMBA_FLOOR, tmp], repeats)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - start
    return {
        "process_wall_s": wall, "import_s": imported, "first_step_s": first, "import_plus_first_step_s": total,
        "bare_python_s": bare, "numba_floor_import_s": floor_import, "numba_floor_first_call_s": floor_first,
        "numba_floor_s": floor_total,
    }


def machine() -> dict[str, str | int]:
    import numba

    cpu = cpu_model()
    return {"cpu": cpu, "cores": cores(), "python": platform.python_version(),
            "numba": numba.__version__, "numpy": np.__version__, "backend": "numba njit(cache=True)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    steady_batches = 1_000 if args.quick else 4_000  # array tree, K leaves each
    steady_iterations = 20_000 if args.quick else 80_000  # object tree
    sizes = [1_000, 100_000, 1_000_000]
    rng = np.random.default_rng(0)

    # compile (or load) every kernel before timing anything
    array_build(2_000, 4, rng)

    rows = []
    for branching in (4, 16):
        for n in sizes:
            builds = 1 if n > 100_000 else 3
            grow_rates = []
            for _ in range(builds):
                tree, rate = array_build(n, branching, rng)
                grow_rates.append(rate)
            row = {
                "nodes": n, "branching": branching,
                "array_grow_it_s": float(np.median(grow_rates)),
                "array_steady_it_s": None, "array_steady_collisions_per_leaf": None,
                "array_bytes_per_node": tree.arrays.nbytes / tree.arrays.capacity,
                "array_bytes_per_used_node": tree.arrays.nbytes / tree.size,
                "object_grow_it_s": None, "object_steady_it_s": None, "object_bytes_per_node": None,
                "grow_ratio": None, "steady_ratio": None,
            }
            row["array_steady_it_s"], row["array_steady_collisions_per_leaf"] = array_steady(tree, steady_batches, rng)
            if not (args.quick and n > 100_000):
                obj, obj_rate = object_build(n, branching, rng)
                row.update(object_grow_it_s=obj_rate, object_steady_it_s=object_steady(obj, steady_iterations, rng))
                del obj
                row["object_bytes_per_node"] = object_bytes_per_node(n, branching, rng)
                row["grow_ratio"] = row["array_grow_it_s"] / row["object_grow_it_s"]
                row["steady_ratio"] = row["array_steady_it_s"] / row["object_steady_it_s"]
            rows.append(row)
            del tree
    result = {"machine": machine(), "batch": BATCH, "rows": rows, "cold_start": cold_start(3 if args.quick else 7)}

    if args.json:
        print(json.dumps(result))
        return
    print_table(result)


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    console = Console(width=150)
    console.print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numba {m['numba']}, "
                  f"numpy {m['numpy']}; batch K={result['batch']}")

    def fmt(x: float | None, spec: str = ",.0f") -> str:
        return "-" if x is None else format(x, spec)

    table = Table(title="iterations/s: select+expand+backprop (grow) and select+backprop (steady)")
    for col in ("nodes", "b", "array grow", "object grow", "grow ratio", "array steady", "collisions",
                "object steady", "steady ratio", "B/node array", "B/node object"):
        table.add_column(col, justify="right")
    for r in result["rows"]:
        table.add_row(
            f"{r['nodes']:,}", str(r["branching"]), fmt(r["array_grow_it_s"]), fmt(r["object_grow_it_s"]),
            fmt(r["grow_ratio"], ".1f") + "x", fmt(r["array_steady_it_s"]),
            fmt(r["array_steady_collisions_per_leaf"], ".2f"), fmt(r["object_steady_it_s"]),
            fmt(r["steady_ratio"], ".1f") + "x",
            f"{r['array_bytes_per_node']:.0f} ({r['array_bytes_per_used_node']:.0f} used)",
            fmt(r["object_bytes_per_node"]),
        )
    console.print(table)
    console.print("collisions: walks of the array tree's batches that ended on a leaf already in flight, per "
                  "selected leaf (wasted walks; the object tree selects one leaf at a time and has none)")
    c = result["cold_start"]
    console.print(
        f"cold start, warm Numba cache (best of runs): import {c['import_s']:.3f} s + first step "
        f"{c['first_step_s']:.3f} s = {c['import_plus_first_step_s']:.3f} s; whole process "
        f"{c['process_wall_s']:.3f} s (bare interpreter {c['bare_python_s']:.3f} s)"
    )
    console.print(
        f"Numba floor, one trivial cached kernel: import {c['numba_floor_import_s']:.3f} s + first call "
        f"{c['numba_floor_first_call_s']:.3f} s = {c['numba_floor_s']:.3f} s"
    )


if __name__ == "__main__":
    main()
