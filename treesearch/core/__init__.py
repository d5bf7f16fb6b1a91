"""Numba kernels over the array tree: selection, backup, growth, best path and input checks.

Every kernel is ``@njit(cache=True)`` and takes the tree as a :class:`TreeArrays` NamedTuple (the
input checks take the one array they read); none checks bounds, so callers go through
:class:`treesearch.tree.SearchTree`, which validates at the Python boundary with the check kernels.
Kernels read each field of the tree once, into a local, before their loops: reading ``t.field``
inside a loop takes and drops a reference to the array each time.
"""

from treesearch.core.arrays import (
    BYTES_PER_NODE,
    EXHAUSTED,
    EXPANDED,
    NO_NODE,
    RESERVED,
    SHARED,
    SUPERSEDED,
    TERMINAL,
    TreeArrays,
    allocate,
    grown,
)
from treesearch.core.backup import add_in_flight, backprop_batch, release_batch
from treesearch.core.checks import (
    invalid_node_index,
    invalid_parent_index,
    invalid_value_index,
    over_release_index,
)
from treesearch.core.selection import (
    Q_MAX,
    Q_MEAN,
    Q_MODES,
    RULE_PUCB,
    RULE_PUCT,
    RULE_UCT,
    RULES,
    child_scores,
    exploration_scale_table,
    select_batch,
)
from treesearch.core.structure import (
    append_children,
    best_path,
    mark_superseded,
    mark_terminal,
    refresh_exhausted,
)

__all__ = [
    "BYTES_PER_NODE", "add_in_flight", "EXHAUSTED", "EXPANDED", "NO_NODE", "Q_MAX", "Q_MEAN", "Q_MODES", "RESERVED", "RULES",
    "RULE_PUCB", "RULE_PUCT", "RULE_UCT", "SUPERSEDED", "TERMINAL", "TreeArrays", "allocate",
    "append_children", "backprop_batch", "best_path", "child_scores", "exploration_scale_table", "grown", "invalid_node_index", "invalid_parent_index",
    "invalid_value_index", "mark_superseded", "mark_terminal", "over_release_index", "refresh_exhausted", "SHARED",
    "release_batch", "select_batch",
]
