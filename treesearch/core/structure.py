"""Growing the tree and reading paths out of it."""

from __future__ import annotations

import numpy as np
from numba import njit

from treesearch.core.arrays import EXPANDED, NO_NODE, RESERVED, SUPERSEDED


@njit(cache=True)
def append_children(t, size, parents, counts, priors, reserve):
    """Give each ``parents[i]`` (childless) a fresh block of ``counts[i]`` children at the end of the
    used rows, followed by ``reserve`` reserved slots; priors are read in order from ``priors``.
    Marks the parents expanded and returns the new number of used rows. The caller has checked the
    capacity and that each parent is childless."""
    offset = 0
    for i in range(parents.shape[0]):
        p = parents[i]
        n = counts[i]
        t.first_child[p] = size
        t.num_children[p] = n
        t.flags[p] |= EXPANDED
        for j in range(n + reserve):
            node = size + j
            t.parent[node] = p
            t.depth[node] = t.depth[p] + 1
            t.first_child[node] = NO_NODE
            t.num_children[node] = 0
            t.visits[node] = 0.0
            t.value_sum[node] = 0.0
            t.max_value[node] = -1.0
            t.in_flight[node] = 0.0
            if j < n:
                t.prior[node] = priors[offset + j]
                t.flags[node] = 0
            else:
                t.prior[node] = 0.0
                t.flags[node] = RESERVED
        offset += n
        size += n + reserve
    return size


@njit(cache=True)
def best_path(t, root, out):
    """The most visited path from ``root`` (ties: higher mean value, then lower id), skipping
    superseded children, into ``out``; returns its length (root included)."""
    length = 0
    node = root
    while True:
        out[length] = node
        length += 1
        best = NO_NODE
        best_visits = -1.0
        best_mean = -1.0
        first = t.first_child[node]
        for ch in range(first, first + t.num_children[node]):
            if (t.flags[ch] & SUPERSEDED) != 0:
                continue
            visits = np.float64(t.visits[ch])
            mean = np.float64(t.value_sum[ch]) / visits if visits > 0.0 else -1.0
            if visits > best_visits or (visits == best_visits and mean > best_mean):
                best = ch
                best_visits = visits
                best_mean = mean
        if best == NO_NODE or best_visits <= 0.0:
            return length
        node = best


@njit(cache=True)
def mark_superseded(t, node):
    """Exclude ``node`` (and so its subtree) from selection; its statistics stay for inspection."""
    t.flags[node] |= SUPERSEDED
