"""The search tree as a tuple of preallocated arrays (no objects, no text).

Node ``i`` is described by row ``i`` of every array. Children of a node occupy the contiguous ids
``first_child[i] .. first_child[i] + num_children[i] - 1``; a node may also *reserve* further slots
right after its children (flag ``RESERVED``) so that later children (a rethought code version, a
debug child) stay contiguous with the first ones.

Per node: four int32 (parent, first child, child count, depth), five float32 statistics (visits,
value sum, max value, prior, in-flight count) and one uint8 of flags: 37 bytes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NO_NODE = -1

# Bits of ``flags``.
EXPANDED = np.uint8(1)
TERMINAL = np.uint8(2)
SUPERSEDED = np.uint8(4)
RESERVED = np.uint8(8)
# Terminal, or expanded with every selectable child exhausted: nothing below can change its value,
# so selection passes it by (MCTS-Solver's proven nodes, for values that are final rather than won).
EXHAUSTED = np.uint8(16)
# A leaf that several expansions may grow at once (a thought, each expansion writing its programs):
# selecting it while it is in flight is not a collision.
SHARED = np.uint8(32)

STAT_DTYPE = np.float32
INDEX_DTYPE = np.int32


class TreeArrays(NamedTuple):
    """The arrays of one tree; a NamedTuple so Numba kernels take it as a single argument."""

    parent: np.ndarray  # int32, NO_NODE for the root
    first_child: np.ndarray  # int32, NO_NODE while childless
    num_children: np.ndarray  # int32, children in use (reserved slots not counted)
    depth: np.ndarray  # int32, root = 0
    visits: np.ndarray  # float32, completed visits
    value_sum: np.ndarray  # float32, sum of backed-up values in [0, 1]
    max_value: np.ndarray  # float32, max backed-up value, -1 before the first visit
    prior: np.ndarray  # float32, policy prior of the edge into this node
    in_flight: np.ndarray  # float32, selections whose expansion has not been backed up yet
    flags: np.ndarray  # uint8, EXPANDED | TERMINAL | SUPERSEDED | RESERVED | EXHAUSTED | SHARED

    @property
    def capacity(self) -> int:
        return int(self.parent.shape[0])

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self))


BYTES_PER_NODE = 4 * 4 + 5 * 4 + 1


def allocate(capacity: int) -> TreeArrays:
    """Fresh arrays for ``capacity`` nodes, all rows in the empty state."""
    capacity = max(int(capacity), 1)
    arrays = TreeArrays(
        parent=np.empty(capacity, INDEX_DTYPE),
        first_child=np.empty(capacity, INDEX_DTYPE),
        num_children=np.empty(capacity, INDEX_DTYPE),
        depth=np.empty(capacity, INDEX_DTYPE),
        visits=np.empty(capacity, STAT_DTYPE),
        value_sum=np.empty(capacity, STAT_DTYPE),
        max_value=np.empty(capacity, STAT_DTYPE),
        prior=np.empty(capacity, STAT_DTYPE),
        in_flight=np.empty(capacity, STAT_DTYPE),
        flags=np.empty(capacity, np.uint8),
    )
    clear_rows(arrays, 0, capacity)
    return arrays


def clear_rows(arrays: TreeArrays, start: int, stop: int) -> None:
    """Put rows ``start:stop`` in the empty state."""
    arrays.parent[start:stop] = NO_NODE
    arrays.first_child[start:stop] = NO_NODE
    arrays.num_children[start:stop] = 0
    arrays.depth[start:stop] = 0
    arrays.visits[start:stop] = 0
    arrays.value_sum[start:stop] = 0
    arrays.max_value[start:stop] = -1
    arrays.prior[start:stop] = 0
    arrays.in_flight[start:stop] = 0
    arrays.flags[start:stop] = 0


def grown(arrays: TreeArrays, capacity: int) -> TreeArrays:
    """A copy of ``arrays`` with room for ``capacity`` nodes; the new rows are empty."""
    old = arrays.capacity
    new = allocate(capacity)
    for src, dst in zip(arrays, new):
        dst[:old] = src
    return new
