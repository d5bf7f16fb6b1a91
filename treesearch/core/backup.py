"""Backup: values flow from evaluated nodes to the root; in-flight counts are released."""

from __future__ import annotations

import numpy as np
from numba import njit

from treesearch.core.arrays import NO_NODE


@njit(cache=True, inline="always")
def walk_in_flight(parent, in_flight, leaf, delta):
    """Add ``delta`` to the in-flight count of ``leaf`` and of every ancestor. Takes the two arrays,
    not the tree: reading a field of the tree inside a loop costs two atomic reference-count updates."""
    node = leaf
    while node != NO_NODE:
        in_flight[node] += delta
        node = parent[node]


@njit(cache=True)
def add_in_flight(t, leaf, delta):
    """Add ``delta`` to the in-flight count of ``leaf`` and of every ancestor."""
    walk_in_flight(t.parent, t.in_flight, leaf, delta)


@njit(cache=True)
def release_batch(t, leaves):
    """Cancel selections without a value (a failed expansion, a discarded rethink attempt)."""
    parent, in_flight = t.parent, t.in_flight
    for i in range(leaves.shape[0]):
        walk_in_flight(parent, in_flight, leaves[i], -1.0)


@njit(cache=True)
def backprop_batch(t, nodes, values, selected):
    r"""Back up ``values[i]`` from ``nodes[i]`` to the root and release the in-flight counts of the
    ``selected`` leaves (the expansion of ``selected[j]`` may have produced a new node below it, which
    is what ``nodes`` names). Per node on the path: :math:`N \mathrel{+}= 1`,
    :math:`W \mathrel{+}= v`, :math:`M = \max(M, v)`.

    When ``selected[i]`` is ``nodes[i]`` or one of its ancestors (a leaf valued where it was selected,
    or at its new child), its release rides along on the value walk: one walk up instead of two."""
    parent, visits, value_sum, max_value, in_flight = t.parent, t.visits, t.value_sum, t.max_value, t.in_flight
    n_nodes = nodes.shape[0]
    n_selected = selected.shape[0]
    for i in range(max(n_nodes, n_selected)):
        release = selected[i] if i < n_selected else NO_NODE
        if i < n_nodes:
            v = values[i]
            node = nodes[i]
            releasing = False
            while node != NO_NODE:
                releasing = releasing or node == release
                in_flight[node] -= np.float32(releasing)
                visits[node] += 1.0
                value_sum[node] += v
                max_value[node] = max(np.float64(max_value[node]), v)  # no branch: a new max is a coin flip
                node = parent[node]
            if releasing:
                release = NO_NODE
        if release != NO_NODE:
            walk_in_flight(parent, in_flight, release, -1.0)
