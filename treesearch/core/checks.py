"""Input checks as kernels: the boundary of :class:`treesearch.tree.SearchTree` validates every id and
value, and doing it here costs a few microseconds per batch where NumPy expressions cost tens.

Each returns the index of the first bad entry, or -1 when all are good. They take single arrays,
not the whole tree: a call with one array argument is dispatched faster than one with ten.
"""

from __future__ import annotations

from numba import njit

from treesearch.core.arrays import NO_NODE, RESERVED


@njit(cache=True)
def invalid_node_index(flags, size, ids):
    """First id outside the ``size`` used rows or naming a reserved slot (per ``flags``)."""
    for i in range(ids.shape[0]):
        node = ids[i]
        if node < 0 or node >= size or (flags[node] & RESERVED) != 0:
            return i
    return -1


@njit(cache=True)
def invalid_value_index(values):
    """First value that is not a finite number in [0, 1] (NaN fails every comparison)."""
    for i in range(values.shape[0]):
        v = values[i]
        if not (v >= 0.0 and v <= 1.0):
            return i
    return -1


@njit(cache=True)
def over_release_index(in_flight, leaves):
    """First leaf released more often than it is in flight, counting repeats within ``leaves``. The
    in-flight counts are lowered while counting and restored before returning (whole numbers below
    2**24, so float32 restores them exactly)."""
    bad = -1
    done = 0
    for i in range(leaves.shape[0]):
        node = leaves[i]
        in_flight[node] -= 1.0
        done = i + 1
        if in_flight[node] < 0.0:
            bad = i
            break
    for i in range(done):
        in_flight[leaves[i]] += 1.0
    return bad


@njit(cache=True)
def invalid_parent_index(first_child, parents):
    """First parent that already has children or appears a second time. Each parent is marked (a
    first child that no row has) while counting and unmarked before returning, so repeats are found
    without sorting."""
    bad = -1
    marked = 0
    for i in range(parents.shape[0]):
        p = parents[i]
        if first_child[p] != NO_NODE:
            bad = i
            break
        first_child[p] = NO_NODE - 1
        marked = i + 1
    for i in range(marked):
        first_child[parents[i]] = NO_NODE
    return bad
