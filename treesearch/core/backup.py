"""Backup: values flow from evaluated nodes to the root; in-flight counts are released."""

from __future__ import annotations

from numba import njit

from treesearch.core.arrays import NO_NODE


@njit(cache=True)
def add_in_flight(t, leaf, delta):
    """Add ``delta`` to the in-flight count of ``leaf`` and of every ancestor."""
    node = leaf
    while node != NO_NODE:
        t.in_flight[node] += delta
        node = t.parent[node]


@njit(cache=True)
def release_batch(t, leaves):
    """Cancel selections without a value (a failed expansion, a discarded rethink attempt)."""
    for i in range(leaves.shape[0]):
        add_in_flight(t, leaves[i], -1.0)


@njit(cache=True)
def backprop_batch(t, nodes, values, selected):
    r"""Back up ``values[i]`` from ``nodes[i]`` to the root and release the in-flight counts of the
    ``selected`` leaves (the expansion of ``selected[j]`` may have produced a new node below it, which
    is what ``nodes`` names). Per node on the path: :math:`N \mathrel{+}= 1`,
    :math:`W \mathrel{+}= v`, :math:`M = \max(M, v)`."""
    release_batch(t, selected)
    for i in range(nodes.shape[0]):
        v = values[i]
        node = nodes[i]
        while node != NO_NODE:
            t.visits[node] += 1.0
            t.value_sum[node] += v
            if v > t.max_value[node]:
                t.max_value[node] = v
            node = t.parent[node]
