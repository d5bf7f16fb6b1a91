"""A plain-Python object tree implementing the same rules as the Numba core.

Used by the property tests (same choices, same statistics) and, as the "plain Python" baseline, by
``bench/core_bench.py``. With ``float32=True`` statistics are rounded to float32 on every store, as the
arrays store them, so that the two make bit-identical choices.
"""

from __future__ import annotations

import math

import numpy as np

UCT, PUCT, PUCB = "uct", "puct", "pucb"


class Node:
    __slots__ = ("parent", "children", "depth", "visits", "value_sum", "max_value", "prior",
                 "in_flight", "expanded", "terminal", "superseded", "shared")

    def __init__(self, parent: Node | None, prior: float, depth: int) -> None:
        self.parent = parent
        self.children: list[Node] = []
        self.depth = depth
        self.visits = 0.0
        self.value_sum = 0.0
        self.max_value = -1.0
        self.prior = prior
        self.in_flight = 0.0
        self.expanded = False
        self.terminal = False
        self.superseded = False
        self.shared = False

    @property
    def exhausted(self) -> bool:
        """By definition, recursively (the core keeps it as a mark, updated incrementally)."""
        if self.terminal:
            return True
        selectable = [ch for ch in self.children if not ch.superseded]
        return self.expanded and bool(selectable) and all(ch.exhausted for ch in selectable)


class ReferenceTree:
    def __init__(self, rule: str = PUCB, c: float = 4.0, c_base: float = 10.0, q_mode: str = "max",
                 q_unvisited: float = 0.0, virtual_loss: float = 1.0, float32: bool = True) -> None:
        self.rule, self.c, self.c_base, self.q_mode, self.q_unvisited = rule, c, c_base, q_mode, q_unvisited
        self.virtual_loss = virtual_loss
        self.store = (lambda x: float(np.float32(x))) if float32 else float
        self.root = Node(None, 0.0, 0)
        self.nodes = [self.root]

    def add_children(self, parent: Node, priors: list[float]) -> list[Node]:
        kids = [Node(parent, self.store(p), parent.depth + 1) for p in priors]
        parent.children.extend(kids)
        parent.expanded = True
        self.nodes.extend(kids)
        return kids

    def q(self, node: Node) -> float:
        """Q as selection sees it: lowered by the expansions pending below ``node`` (virtual loss)."""
        if node.visits <= 0.0:
            q = self.q_unvisited
        elif self.q_mode == "max":
            q = node.max_value
        else:
            q = node.value_sum / node.visits
        pending = self.virtual_loss * node.in_flight
        return q if pending == 0.0 else q * node.visits / (node.visits + pending)

    def exploration_scale(self, parent_n: float) -> float:
        if self.rule == PUCT:
            return self.c * math.sqrt(parent_n)
        root_log_n = math.sqrt(math.log(max(parent_n, 1.0)))
        if self.rule == UCT:
            return self.c * root_log_n
        return (math.log((parent_n + self.c_base + 1.0) / self.c_base) + self.c) * root_log_n

    def exploration(self, scale: float, child_n: float, prior: float) -> float:
        if self.rule == UCT:
            return math.inf if child_n <= 0.0 else scale / math.sqrt(child_n)
        return scale * prior / (1.0 + child_n)

    def select_child(self, node: Node) -> Node:
        scale = self.exploration_scale(node.visits + node.in_flight)
        best, best_score = None, -math.inf
        for ch in node.children:
            if ch.superseded or ch.exhausted:
                continue
            score = self.q(ch) + self.exploration(scale, ch.visits + ch.in_flight, ch.prior)
            if score > best_score:
                best, best_score = ch, score
        return best

    def _add_in_flight(self, node: Node | None, delta: float) -> None:
        while node is not None:
            node.in_flight += delta
            node = node.parent

    def select(self, k: int, max_attempts: int) -> tuple[list[Node], int]:
        out: list[Node] = []
        collided: list[Node] = []
        if self.root.exhausted:
            return out, 0
        for _ in range(max_attempts):
            if len(out) == k:
                break
            node = self.root
            while node.expanded and not node.terminal:
                child = self.select_child(node)
                if child is None:
                    break
                node = child
            already = node.in_flight > 0 and not node.shared
            self._add_in_flight(node, 1.0)
            (collided if already else out).append(node)
        for node in collided:
            self._add_in_flight(node, -1.0)
        return out, len(collided)

    def backprop(self, nodes: list[Node], values: list[float], selected: list[Node]) -> None:
        for leaf in selected:
            self._add_in_flight(leaf, -1.0)
        for node, v in zip(nodes, values):
            while node is not None:
                node.visits += 1.0
                node.value_sum = self.store(node.value_sum + v)
                if v > node.max_value:
                    node.max_value = self.store(v)
                node = node.parent

    def best_path(self) -> list[Node]:
        path, node = [self.root], self.root
        while True:
            best, best_visits, best_mean = None, -1.0, -1.0
            for ch in node.children:
                if ch.superseded:
                    continue
                mean = ch.value_sum / ch.visits if ch.visits > 0 else -1.0
                if ch.visits > best_visits or (ch.visits == best_visits and mean > best_mean):
                    best, best_visits, best_mean = ch, ch.visits, mean
            if best is None or best_visits <= 0.0:
                return path
            node = best
            path.append(node)
