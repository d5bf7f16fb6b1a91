r"""Selection: walk from the root to up to K leaves in one call.

For a child :math:`a` of node :math:`s` let :math:`N = N(s) + O(s)` and :math:`n = N(a) + O(a)`, where
:math:`O` counts expansions in flight (WU-UCT: a pending expansion already counts as a visit in the
exploration term, so K concurrent selections spread over the tree). :math:`Q(a)` is the mean of the
backed-up values (``Q_MEAN``) or their maximum (``Q_MAX``), ``q_unvisited`` before any visit;
values are normalised to [0, 1] before they reach the tree. Selection sees it lowered by the
expansions in flight below :math:`a` (virtual loss, weight :math:`w`):

.. math:: \tilde Q(a) = Q(a) \, \frac{N(a)}{N(a) + w \, O(a)}

For the mean this is the classic virtual loss (each pending expansion counted as a value-0 visit);
for the maximum, which no single loss can lower, it is the same fraction of completed visits, so a
high-valued path with work pending still yields to its siblings. :math:`w = 0` turns it off. The rules:

* UCT:   :math:`\tilde Q + c \sqrt{\ln N} / \sqrt{n}`, and :math:`+\infty` while :math:`n = 0`.
* PUCT:  :math:`\tilde Q + c \, P(a) \sqrt{N} / (1 + n)`.
* P-UCB (RethinkMCTS, after PG-TD): :math:`\tilde Q + \beta(N) \, P(a) \sqrt{\ln N} / (1 + n)` with
  :math:`\beta(N) = \ln\frac{N + c_{base} + 1}{c_{base}} + c`.

:math:`\ln N` is taken of :math:`\max(N, 1)`. Ties go to the lowest child id. Superseded and
exhausted children (``EXHAUSTED``: terminal, or every selectable child exhausted) are never
selected, so a walk below a root that is not exhausted always ends on work that can still change a
value; below an exhausted root there is nothing to select. A node is a leaf when it is not
expanded, is terminal, or has no selectable child. A leaf in flight is a collision unless it is
``SHARED`` (a thought several expansions may write programs for at once).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from treesearch.core.arrays import EXHAUSTED, EXPANDED, NO_NODE, SHARED, SUPERSEDED, TERMINAL
from treesearch.core.backup import walk_in_flight

RULE_UCT = 0
RULE_PUCT = 1
RULE_PUCB = 2
RULES = {"uct": RULE_UCT, "puct": RULE_PUCT, "pucb": RULE_PUCB}

Q_MEAN = 0
Q_MAX = 1
Q_MODES = {"mean": Q_MEAN, "max": Q_MAX}

PATH_BUFFER = 64  # nodes a walk remembers; deeper walks follow parent links (see select_batch)


@njit(cache=True, inline="always")
def q_value(q_mode, q_unvisited, visits, value_sum, max_value):
    """Q of one node from its statistics (as float64)."""
    # Both arms are computed and one is picked, so the compiler can emit a conditional move: whether
    # a child has been visited is a coin flip to the branch predictor. max(visits, 1) only guards the
    # arm that is not picked.
    q = max_value if q_mode == Q_MAX else value_sum / max(visits, 1.0)
    return q if visits > 0.0 else q_unvisited


@njit(cache=True, inline="always")
def seen_q(q, visits, in_flight, virtual_loss):
    r""":math:`\tilde Q = Q \, N / (N + w \, O)`: ``q`` as selection sees it with ``in_flight``
    expansions pending below the node (see the module docstring)."""
    pending = virtual_loss * in_flight
    return q if pending == 0.0 else q * visits / (visits + pending)


@njit(cache=True)
def exploration_scale(rule, c, c_base, parent_n):
    r"""The part of the exploration term shared by all children of one parent: :math:`c\sqrt{\ln N}`
    (UCT), :math:`c\sqrt{N}` (PUCT), :math:`\beta(N)\sqrt{\ln N}` (P-UCB)."""
    if rule == RULE_PUCT:
        return c * math.sqrt(parent_n)
    root_log_n = math.sqrt(math.log(max(parent_n, 1.0)))
    if rule == RULE_UCT:
        return c * root_log_n
    return (math.log((parent_n + c_base + 1.0) / c_base) + c) * root_log_n


@njit(cache=True)
def exploration_scale_table(rule, c, c_base, size):
    """:func:`exploration_scale` for N = 0 .. size - 1. Visit counts are whole numbers, and most nodes
    on a path have small ones, so selection looks the shared factor up instead of taking two
    logarithms and a square root per level; the entries are the same floats the function returns."""
    table = np.empty(size, np.float64)
    for n in range(size):
        table[n] = exploration_scale(rule, c, c_base, np.float64(n))
    return table


@njit(cache=True, inline="always")
def exploration(rule, scale, child_n, prior):
    """The exploration term of one child, given its parent's :func:`exploration_scale`."""
    if rule == RULE_UCT:
        # visit counts are whole numbers, so max(n, 1) is n whenever the term is finite (no branch)
        u = scale / math.sqrt(max(child_n, 1.0))
        return u if child_n > 0.0 else np.inf
    return scale * prior / (1.0 + child_n)


@njit(cache=True)
def child_scores(t, node, rule, c, c_base, q_mode, q_unvisited, virtual_loss, out_q, out_u):
    """Every score term of every child of ``node`` (for logging): Q as selection sees it (virtual
    loss included) into ``out_q``, exploration into ``out_u``; superseded children get NaN (exhausted
    ones are scored, though selection passes them by). Returns the number of children written."""
    scale = exploration_scale(rule, c, c_base, np.float64(t.visits[node]) + np.float64(t.in_flight[node]))
    first = t.first_child[node]
    count = t.num_children[node]
    for i in range(count):
        ch = first + i
        if (t.flags[ch] & SUPERSEDED) != 0:
            out_q[i] = np.nan
            out_u[i] = np.nan
            continue
        visits = np.float64(t.visits[ch])
        pending = np.float64(t.in_flight[ch])
        q = q_value(q_mode, q_unvisited, visits, np.float64(t.value_sum[ch]), np.float64(t.max_value[ch]))
        out_q[i] = seen_q(q, visits, pending, virtual_loss)
        out_u[i] = exploration(rule, scale, visits + pending, np.float64(t.prior[ch]))
    return count


@njit(cache=True)
def select_batch(t, root, k, max_attempts, rule, c, c_base, q_mode, q_unvisited, virtual_loss, scales,
                 out_leaves):
    """Select up to ``k`` leaves below ``root`` into ``out_leaves`` (distinct, except that a
    ``SHARED`` leaf may be chosen more than once); none when ``root`` is exhausted.

    Each selection adds one in-flight count on its path, so the next one sees it. A walk that ends on
    a leaf already in flight (chosen earlier in this batch or by a pending expansion) and not shared
    is a collision: its in-flight count stays while the batch is drawn, so later walks move
    elsewhere, and is removed before returning. At most ``max_attempts`` walks are made. ``scales``
    is an :func:`exploration_scale_table` for the same rule and constants.

    Returns ``(selected, collisions)``; the selected leaves keep their in-flight counts until
    ``backprop_batch`` or ``release_batch``.
    """
    # Each ``t.field`` read inside a loop would take and drop a reference to the array (two atomic
    # operations); reading the fields once makes the walk about twice as fast.
    parent, first_child, num_children, flags = t.parent, t.first_child, t.num_children, t.flags
    visits, value_sum, max_value, prior, in_flight = t.visits, t.value_sum, t.max_value, t.prior, t.in_flight
    table_size = scales.shape[0]
    selected = 0
    collisions = 0
    collided = np.empty(max_attempts, np.int32)
    # The walk remembers its path: adding the in-flight count along it is then a run of independent
    # stores, where following parent links back up is a chain of dependent loads. A path longer than
    # the buffer falls back to the parent links (the buffer is never replaced: a variable that may
    # be rebound costs a reference count per use).
    path = np.empty(PATH_BUFFER, np.int32)
    if (flags[root] & EXHAUSTED) != 0:
        return 0, 0
    for _ in range(max_attempts):
        if selected == k:
            break
        node = root
        length = 0
        while (flags[node] & EXPANDED) != 0 and (flags[node] & TERMINAL) == 0:
            parent_n = np.float64(visits[node]) + np.float64(in_flight[node])
            if parent_n < table_size:
                scale = scales[np.int64(parent_n)]
            else:
                scale = exploration_scale(rule, c, c_base, parent_n)
            best = NO_NODE
            best_score = -np.inf
            first = first_child[node]
            for ch in range(first, first + num_children[node]):
                if (flags[ch] & (SUPERSEDED | EXHAUSTED)) != 0:
                    continue
                n = np.float64(visits[ch])
                pending = np.float64(in_flight[ch])
                q = q_value(q_mode, q_unvisited, n, np.float64(value_sum[ch]), np.float64(max_value[ch]))
                score = seen_q(q, n, pending, virtual_loss) + exploration(rule, scale, n + pending, np.float64(prior[ch]))
                # picked without a branch: which child wins is unpredictable, a mispredicted
                # branch costs more than the whole score
                better = np.int64(score > best_score)
                best += better * (ch - best)
                best_score = max(score, best_score)
            if best == NO_NODE:
                break
            if length < PATH_BUFFER:
                path[length] = node
            length += 1
            node = best
        already = in_flight[node] > 0 and (flags[node] & SHARED) == 0
        if length <= PATH_BUFFER:
            in_flight[node] += 1.0
            for i in range(length):
                in_flight[path[i]] += 1.0
            walk_in_flight(parent, in_flight, parent[root], 1.0)  # above a subtree's root
        else:
            walk_in_flight(parent, in_flight, node, 1.0)
        if already:
            collided[collisions] = node
            collisions += 1
        else:
            out_leaves[selected] = node
            selected += 1
    for i in range(collisions):
        walk_in_flight(parent, in_flight, collided[i], -1.0)
    return selected, collisions
