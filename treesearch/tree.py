"""SearchTree: the core arrays plus a Python-side payload store.

The arrays (:mod:`treesearch.core`) hold structure and statistics; the payload store maps a node id to
whatever the engine keeps for that node (a thought with its superseded versions, a program, its
execution feedback). Text never enters the arrays. Every method checks its arguments here, because
the Numba kernels do no bounds checks: a bad id or value raises :class:`TreeError`, never corrupts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from treesearch.core import (
    EXHAUSTED,
    EXPANDED,
    NO_NODE,
    Q_MODES,
    RESERVED,
    RULES,
    SHARED,
    SUPERSEDED,
    TERMINAL,
    add_in_flight,
    allocate,
    append_children,
    backprop_batch,
    best_path,
    child_scores,
    exploration_scale_table,
    grown,
    invalid_node_index,
    invalid_parent_index,
    invalid_value_index,
    mark_superseded,
    mark_terminal,
    over_release_index,
    refresh_exhausted,
    release_batch,
    select_batch,
)

ROOT = 0

DEFAULT_C = {"uct": math.sqrt(2.0), "puct": 1.5, "pucb": 4.0}


class TreeError(ValueError):
    """An invalid operation on the tree (bad id, bad value, broken contiguity)."""


class TreeFullError(TreeError):
    """Growing the tree would pass its configured node limit."""


@dataclass(frozen=True)
class SelectionConfig:
    """How children are scored (see :mod:`treesearch.core.selection` for the formulas).

    ``c`` defaults per rule: √2 for UCT, 1.5 for PUCT, 4 for P-UCB (RethinkMCTS's c, with c_base 10).
    ``virtual_loss`` is the weight :math:`w` with which pending expansions lower the Q selection sees
    (0: only the exploration term counts them).
    """

    rule: str = "pucb"
    c: float | None = None
    c_base: float = 10.0
    q_mode: str = "max"
    q_unvisited: float = 0.0
    virtual_loss: float = 1.0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise TreeError(f"unknown selection rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.q_mode not in Q_MODES:
            raise TreeError(f"unknown q_mode {self.q_mode!r}; choose one of {', '.join(Q_MODES)}")
        if self.c is not None and not (math.isfinite(self.c) and self.c >= 0):
            raise TreeError(f"selection constant c must be a finite number >= 0, got {self.c}")
        if not (math.isfinite(self.c_base) and self.c_base > 0):
            raise TreeError(f"c_base must be > 0, got {self.c_base}")
        if not 0.0 <= self.q_unvisited <= 1.0:
            raise TreeError(f"q_unvisited must be in [0, 1], got {self.q_unvisited}")
        if not (math.isfinite(self.virtual_loss) and self.virtual_loss >= 0):
            raise TreeError(f"virtual_loss must be a finite number >= 0, got {self.virtual_loss}")

    @property
    def constant(self) -> float:
        return DEFAULT_C[self.rule] if self.c is None else float(self.c)

    def kernel_args(self) -> tuple[int, float, float, int, float, float]:
        return (RULES[self.rule], self.constant, float(self.c_base), Q_MODES[self.q_mode], float(self.q_unvisited),
                float(self.virtual_loss))

    def scale_table(self) -> np.ndarray:
        """The exploration factor for small visit counts, shared by every tree with this config."""
        return _scale_table(RULES[self.rule], self.constant, float(self.c_base))


# Visit counts below this look the exploration factor up. 512 KB: it stays in L2, and it covers the
# upper levels of a 1e5-node tree, where two logarithms per level otherwise cost a tenth of a walk.
SCALE_TABLE_SIZE = 1 << 16


@functools.lru_cache(maxsize=16)
def _scale_table(rule: int, c: float, c_base: float) -> np.ndarray:
    table = exploration_scale_table(rule, c, c_base, SCALE_TABLE_SIZE)
    table.setflags(write=False)
    return table


class SearchTree:
    """A search tree whose root (id 0) exists from the start.

    ``capacity`` is the initial allocation (doubled as needed); ``max_nodes`` is a hard limit that
    raises :class:`TreeFullError` instead of growing further.
    """

    def __init__(
        self,
        capacity: int = 1024,
        max_nodes: int = 50_000_000,
        selection: SelectionConfig | None = None,
        root_payload: Any = None,
    ) -> None:
        if max_nodes < 1:
            raise TreeError(f"max_nodes must be >= 1, got {max_nodes}")
        self.max_nodes = int(max_nodes)
        self.arrays = allocate(min(max(capacity, 1), self.max_nodes))
        self.selection = selection or SelectionConfig()
        self._scales = self.selection.scale_table()
        self.payload: dict[int, Any] = {}
        self.events: list[dict[str, Any]] = []  # the search's event log, when a search owns the tree
        self.size = 1
        self.max_depth = 0
        if root_payload is not None:
            self.payload[ROOT] = root_payload

    def __len__(self) -> int:
        return self.size

    # ---------------------------------------------------------------- checks at the boundary
    def _check_node(self, node: int) -> int:
        if not isinstance(node, (int, np.integer)) or isinstance(node, bool):
            raise TreeError(f"node id must be an integer, got {type(node).__name__}")
        node = int(node)
        if not 0 <= node < self.size or self.arrays.flags[node] & RESERVED:
            raise TreeError(f"invalid node id {node} (tree has {self.size} rows)")
        return node

    def _check_nodes(self, nodes: Iterable[int] | np.ndarray) -> np.ndarray:
        ids = np.asarray(nodes)
        if ids.size == 0:
            return np.empty(0, np.int32)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise TreeError("node ids must be a 1-d sequence of integers")
        if ids.dtype != np.int32:
            # range first: a cast to int32 could wrap a huge id into a valid one
            outside = (ids < 0) | (ids >= self.size)
            if outside.any():
                raise TreeError(f"invalid node id {int(ids[outside][0])} (tree has {self.size} rows)")
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        bad = invalid_node_index(self.arrays.flags, self.size, ids)
        if bad >= 0:
            node = int(ids[bad])
            if 0 <= node < self.size:
                raise TreeError(f"node id {node} is a reserved slot")
            raise TreeError(f"invalid node id {node} (tree has {self.size} rows)")
        return ids

    @staticmethod
    def _check_values(values: Iterable[float] | np.ndarray, what: str, n: int) -> np.ndarray:
        arr = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise TreeError(f"{n} nodes but {arr.shape[0]} {what}")
        bad = invalid_value_index(arr)
        if bad >= 0:
            raise TreeError(f"{what} must be finite numbers in [0, 1], got {arr[bad]!r}")
        return arr

    def _ensure_capacity(self, needed: int) -> None:
        if needed > self.max_nodes:
            raise TreeFullError(f"tree would grow to {needed} nodes, past its limit of {self.max_nodes}")
        if needed > self.arrays.capacity:
            capacity = self.arrays.capacity
            while capacity < needed:
                capacity *= 2
            self.arrays = grown(self.arrays, min(capacity, self.max_nodes))

    # ---------------------------------------------------------------- growth
    def add_children(
        self, parent: int, priors: Sequence[float], payloads: Sequence[Any] | None = None, reserve: int = 0
    ) -> list[int]:
        """Add children with the given priors to ``parent``; returns their ids.

        A childless parent gets a fresh contiguous block plus ``reserve`` reserved slots; a parent that
        already has children takes new ones from its reserved slots (children stay contiguous), and
        raises :class:`TreeError` when it has too few.
        """
        parent = self._check_node(parent)
        pri = self._check_values(priors, "priors", len(priors))
        if payloads is not None and len(payloads) != len(pri):
            raise TreeError(f"{len(pri)} priors but {len(payloads)} payloads")
        if reserve < 0:
            raise TreeError(f"reserve must be >= 0, got {reserve}")
        a = self.arrays
        if a.first_child[parent] == NO_NODE:
            self._ensure_capacity(self.size + len(pri) + reserve)
            a = self.arrays
            first = self.size
            self.size = append_children(
                a, self.size, np.array([parent], np.int32), np.array([len(pri)], np.int32), pri, reserve
            )
            ids = list(range(first, first + len(pri)))
        else:
            start = int(a.first_child[parent] + a.num_children[parent])
            slots = np.arange(start, start + len(pri))
            if not self.can_add(parent, len(pri)):
                raise TreeError(
                    f"node {parent} already has children and too few reserved slots for {len(pri)} more "
                    "(children must stay contiguous: reserve slots when adding the first ones)"
                )
            a.flags[slots] = 0
            a.prior[slots] = pri
            a.num_children[parent] += len(pri)
            a.flags[parent] |= EXPANDED
            ids = slots.tolist()
            refresh_exhausted(a, parent)  # an open child below an exhausted parent reopens it
        if ids:
            self.max_depth = max(self.max_depth, int(a.depth[parent]) + 1)
        if payloads is not None:
            for node, item in zip(ids, payloads):
                self.payload[node] = item
        return ids

    def can_add(self, parent: int, n: int) -> bool:
        """Whether ``n`` more children fit below ``parent``: it has none yet, or ``n`` reserved slots
        are left beside its children."""
        parent = self._check_node(parent)
        a = self.arrays
        if a.first_child[parent] == NO_NODE or n == 0:
            return True
        start = int(a.first_child[parent] + a.num_children[parent])
        slots = np.arange(start, start + n)
        return (slots[-1] < self.size and bool(np.all(a.parent[slots] == parent))
                and bool(np.all(a.flags[slots] & RESERVED)))

    def add_children_batch(self, parents: np.ndarray, counts: np.ndarray, priors: np.ndarray) -> np.ndarray:
        """Give each of several childless, distinct ``parents`` ``counts[i]`` children in one kernel
        call; returns the first child id of each."""
        parents = self._check_nodes(parents)
        counts = np.asarray(counts)
        if (counts.shape != parents.shape or not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any()
                or (counts > self.max_nodes).any()):
            raise TreeError("counts must give a non-negative child count per parent")
        counts = counts.astype(np.int32, copy=False)
        bad = invalid_parent_index(self.arrays.first_child, parents)
        if bad >= 0:
            if parents[bad] in parents[:bad]:
                raise TreeError(f"each parent may appear once per batch; {int(parents[bad])} is repeated")
            raise TreeError(f"add_children_batch needs childless parents; {int(parents[bad])} has children")
        total = int(counts.sum())
        pri = self._check_values(priors, "priors", total)
        self._ensure_capacity(self.size + total)
        firsts = self.size + np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int32)
        self.size = append_children(self.arrays, self.size, parents, counts, pri, 0)
        if total:
            self.max_depth = max(self.max_depth, int(self.arrays.depth[parents[counts > 0]].max()) + 1)
        return firsts

    # ---------------------------------------------------------------- search steps
    def select(self, k: int = 1, max_attempts: int | None = None, root: int = ROOT) -> tuple[np.ndarray, int]:
        """Up to ``k`` leaves (distinct unless shared), each left with one in-flight count; and the
        number of collisions. None below an exhausted ``root``. See :func:`treesearch.core.select_batch`."""
        root = self._check_node(root)
        if k < 1:
            raise TreeError(f"k must be >= 1, got {k}")
        attempts = 2 * k if max_attempts is None else max_attempts
        if attempts < 1:
            raise TreeError(f"max_attempts must be >= 1, got {attempts}")
        out = np.empty(k, np.int32)
        n, collisions = select_batch(self.arrays, root, k, attempts, *self.selection.kernel_args(),
                                     self._scales, out)
        return out[:n], int(collisions)

    def _check_release(self, selected: Iterable[int] | np.ndarray) -> np.ndarray:
        sel = self._check_nodes(selected)
        bad = over_release_index(self.arrays.in_flight, sel)
        if bad >= 0:
            raise TreeError(f"node {int(sel[bad])} is not in flight that many times")
        return sel

    def backprop(
        self, nodes: Iterable[int] | np.ndarray, values: Iterable[float] | np.ndarray,
        selected: Iterable[int] | np.ndarray = (),
    ) -> None:
        """Back up ``values`` (each in [0, 1]) from ``nodes`` and release the ``selected`` leaves."""
        ids = self._check_nodes(nodes)
        vals = self._check_values(values, "values", ids.size)
        sel = self._check_release(selected)
        backprop_batch(self.arrays, ids, vals, sel)

    def hold(self, node: int) -> None:
        """Count ``node`` as in flight (with its ancestors) until :meth:`release`: an expansion is
        working below a leaf that no selection has chosen, e.g. the thought it rolls out."""
        add_in_flight(self.arrays, self._check_node(node), 1.0)

    def release(self, selected: Iterable[int] | np.ndarray) -> None:
        """Cancel selections that produced no value."""
        release_batch(self.arrays, self._check_release(selected))

    def best_path(self, root: int = ROOT) -> list[int]:
        """Most visited path from the root."""
        root = self._check_node(root)
        out = np.empty(self.max_depth - int(self.arrays.depth[root]) + 1, np.int32)
        n = best_path(self.arrays, root, out)
        return out[:n].tolist()

    def mark_superseded(self, node: int) -> None:
        node = self._check_node(node)
        if node == ROOT:
            raise TreeError("the root cannot be superseded")
        mark_superseded(self.arrays, node)

    def mark_terminal(self, node: int) -> None:
        """Nothing more grows below ``node``; it and every ancestor left with only exhausted
        children are passed by selection from now on."""
        mark_terminal(self.arrays, self._check_node(node))

    def mark_shared(self, node: int) -> None:
        """Let several expansions grow the leaf ``node`` at once (see :mod:`treesearch.core.selection`)."""
        self.arrays.flags[self._check_node(node)] |= SHARED

    def exhausted(self, node: int = ROOT) -> bool:
        """Whether nothing below ``node`` can still change a value (terminal, or only exhausted children)."""
        return bool(self.arrays.flags[self._check_node(node)] & EXHAUSTED)

    # ---------------------------------------------------------------- reading
    def children(self, node: int) -> list[int]:
        node = self._check_node(node)
        first = int(self.arrays.first_child[node])
        return list(range(first, first + int(self.arrays.num_children[node]))) if first != NO_NODE else []

    def parent(self, node: int) -> int | None:
        p = int(self.arrays.parent[self._check_node(node)])
        return None if p == NO_NODE else p

    def path_to(self, node: int, kind: type | None = None) -> list[int]:
        """Ids from the root down to ``node``; with ``kind``, only those whose payload is one."""
        path = [self._check_node(node)]
        while (p := int(self.arrays.parent[path[-1]])) != NO_NODE:
            path.append(p)
        if kind is not None:
            path = [n for n in path if isinstance(self.payload.get(n), kind)]
        return path[::-1]

    def stats(self, node: int) -> dict[str, Any]:
        a, node = self.arrays, self._check_node(node)
        visits = float(a.visits[node])
        return {
            "visits": visits,
            "q_mean": float(a.value_sum[node]) / visits if visits else None,
            "q_max": float(a.max_value[node]) if visits else None,
            "prior": float(a.prior[node]),
            "in_flight": float(a.in_flight[node]),
            "depth": int(a.depth[node]),
            "expanded": bool(a.flags[node] & EXPANDED),
            "terminal": bool(a.flags[node] & TERMINAL),
            "superseded": bool(a.flags[node] & SUPERSEDED),
            "exhausted": bool(a.flags[node] & EXHAUSTED),
        }

    def score_terms(self, node: int) -> list[dict[str, float | int | None]]:
        """Q, exploration term and score of every child of ``node`` under the selection rule."""
        node = self._check_node(node)
        count = int(self.arrays.num_children[node])
        q = np.empty(count, np.float64)
        u = np.empty(count, np.float64)
        child_scores(self.arrays, node, *self.selection.kernel_args(), q, u)
        first = int(self.arrays.first_child[node])
        return [
            {"child": first + i, "q": None if math.isnan(q[i]) else float(q[i]),
             "u": None if math.isnan(u[i]) else float(u[i]),
             "score": None if math.isnan(q[i]) else float(q[i] + u[i])}
            for i in range(count)
        ]

    def nodes(self) -> list[int]:
        """Every node id in use (reserved slots left out)."""
        return np.flatnonzero((self.arrays.flags[: self.size] & RESERVED) == 0).tolist()

    def as_networkx(self):
        """A read-only networkx DiGraph with each node's statistics and payload as attributes."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.nodes():
            graph.add_node(node, **self.stats(node), payload=self.payload.get(node))
            p = int(self.arrays.parent[node])
            if p != NO_NODE:
                graph.add_edge(p, node)
        return nx.freeze(graph)
