"""Growing the tree and reading paths out of it."""

from __future__ import annotations

import numpy as np
from numba import njit

from treesearch.core.arrays import EXHAUSTED, EXPANDED, NO_NODE, RESERVED, SUPERSEDED, TERMINAL


@njit(cache=True)
def append_children(t, size, parents, counts, priors, reserve):
    """Give each ``parents[i]`` (childless) a fresh block of ``counts[i]`` children at the end of the
    used rows, followed by ``reserve`` reserved slots; priors are read in order from ``priors``.
    Marks the parents expanded and returns the new number of used rows. The caller has checked the
    capacity and that each parent is childless."""
    parent, first_child, num_children, depth, flags = t.parent, t.first_child, t.num_children, t.depth, t.flags
    visits, value_sum, max_value, prior, in_flight = t.visits, t.value_sum, t.max_value, t.prior, t.in_flight
    offset = 0
    for i in range(parents.shape[0]):
        p = parents[i]
        n = counts[i]
        first_child[p] = size
        num_children[p] = n
        flags[p] |= EXPANDED
        for j in range(n + reserve):
            node = size + j
            parent[node] = p
            depth[node] = depth[p] + 1
            first_child[node] = NO_NODE
            num_children[node] = 0
            visits[node] = 0.0
            value_sum[node] = 0.0
            max_value[node] = -1.0
            in_flight[node] = 0.0
            if j < n:
                prior[node] = priors[offset + j]
                flags[node] = 0
            else:
                prior[node] = 0.0
                flags[node] = RESERVED
        offset += n
        size += n + reserve
    return size


@njit(cache=True)
def best_path(t, root, out):
    """The most visited path from ``root`` (ties: higher mean value, then lower id), skipping
    superseded children, into ``out``; returns its length (root included)."""
    first_child, num_children, flags, visits, value_sum = t.first_child, t.num_children, t.flags, t.visits, t.value_sum
    length = 0
    node = root
    while True:
        out[length] = node
        length += 1
        best = NO_NODE
        best_visits = -1.0
        best_mean = -1.0
        first = first_child[node]
        for ch in range(first, first + num_children[node]):
            if (flags[ch] & SUPERSEDED) != 0:
                continue
            n = np.float64(visits[ch])
            mean = np.float64(value_sum[ch]) / n if n > 0.0 else -1.0
            if n > best_visits or (n == best_visits and mean > best_mean):
                best = ch
                best_visits = n
                best_mean = mean
        if best == NO_NODE or best_visits <= 0.0:
            return length
        node = best


@njit(cache=True)
def mark_superseded(t, node):
    """Exclude ``node`` (and so its subtree) from selection; its statistics stay for inspection."""
    t.flags[node] |= SUPERSEDED
    refresh_exhausted(t, t.parent[node])


@njit(cache=True)
def mark_terminal(t, node):
    """Nothing more grows below ``node``: its value is final."""
    t.flags[node] |= TERMINAL
    refresh_exhausted(t, node)


@njit(cache=True)
def refresh_exhausted(t, node):
    r"""Bring the ``EXHAUSTED`` marks of ``node`` and its ancestors up to date after ``node``'s own
    flags or children changed:

    .. math:: X(s) = T(s) \lor \big(E(s) \land \exists a: \lnot S(a) \,\land\, \forall a: \lnot S(a) \Rightarrow X(a)\big)

    over the children :math:`a` of :math:`s` (T terminal, E expanded, S superseded). A node's mark
    depends only on its children's, so the walk stops at the first ancestor whose mark holds."""
    parent, first_child, num_children, flags = t.parent, t.first_child, t.num_children, t.flags
    while node != NO_NODE:
        exhausted = (flags[node] & TERMINAL) != 0
        if not exhausted and (flags[node] & EXPANDED) != 0:
            selectable = 0
            open_children = 0
            first = first_child[node]
            for ch in range(first, first + num_children[node]):
                if (flags[ch] & SUPERSEDED) == 0:
                    selectable += 1
                    open_children += (flags[ch] & EXHAUSTED) == 0
            exhausted = selectable > 0 and open_children == 0
        if exhausted == ((flags[node] & EXHAUSTED) != 0):
            return
        if exhausted:
            flags[node] |= EXHAUSTED
        else:
            flags[node] &= ~EXHAUSTED
        node = parent[node]
