"""The Numba core against the plain-Python reference, and its boundary checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reference_tree import ReferenceTree
from treesearch.tree import ROOT, SearchTree, SelectionConfig, TreeError, TreeFullError

VALUES = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))
PRIORS = st.one_of(st.sampled_from([0.0, 0.25, 1.0]), st.floats(0.0, 1.0))

step = st.fixed_dictionaries({
    "k": st.integers(1, 5),
    "attempts_extra": st.integers(0, 4),
    # per selected leaf: 0 = expand + backprop from a new child, 1 = backprop at the leaf,
    # 2 = release without value, 3 = keep in flight until the next step
    "actions": st.lists(st.integers(0, 3), min_size=5, max_size=5),
    "child_priors": st.lists(st.lists(PRIORS, min_size=0, max_size=4), min_size=5, max_size=5),
    "values": st.lists(VALUES, min_size=5, max_size=5),
    "supersede": st.lists(st.integers(0, 10_000), max_size=1),
    "terminal": st.lists(st.integers(0, 10_000), max_size=1),
    "shared": st.lists(st.integers(0, 10_000), max_size=1),
})


def assert_same_stats(tree: SearchTree, ref: ReferenceTree) -> None:
    a = tree.arrays
    assert tree.size == len(ref.nodes)
    for i, node in enumerate(ref.nodes):
        assert a.visits[i] == node.visits, i
        assert float(a.value_sum[i]) == node.value_sum, i
        assert float(a.max_value[i]) == node.max_value, i
        assert float(a.in_flight[i]) == node.in_flight, i
        assert float(a.prior[i]) == node.prior, i
        assert a.depth[i] == node.depth, i
        assert tree.stats(i)["exhausted"] == node.exhausted, i  # the incremental mark, by definition


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rule=st.sampled_from(["uct", "puct", "pucb"]),
    q_mode=st.sampled_from(["mean", "max"]),
    c=st.sampled_from([0.0, 1.0, math.sqrt(2), 4.0]),
    q_unvisited=st.sampled_from([0.0, 0.5]),
    virtual_loss=st.sampled_from([0.0, 1.0, 3.0]),
    root_priors=st.lists(PRIORS, min_size=1, max_size=5),
    steps=st.lists(step, min_size=1, max_size=12),
)
def test_kernels_match_reference(rule, q_mode, c, q_unvisited, virtual_loss, root_priors, steps):
    tree = SearchTree(capacity=2, selection=SelectionConfig(rule=rule, c=c, q_mode=q_mode, q_unvisited=q_unvisited,
                                                            virtual_loss=virtual_loss))
    ref = ReferenceTree(rule=rule, c=c, q_mode=q_mode, q_unvisited=q_unvisited, virtual_loss=virtual_loss)
    tree.add_children(ROOT, root_priors)
    ref.add_children(ref.root, root_priors)
    pending: list[int] = []  # leaves still in flight from earlier steps
    for s in steps:
        attempts = s["k"] + s["attempts_extra"]
        leaves, collisions = tree.select(s["k"], max_attempts=attempts)
        ref_leaves, ref_collisions = ref.select(s["k"], attempts)
        assert leaves.tolist() == [ref.nodes.index(n) for n in ref_leaves]
        assert collisions == ref_collisions
        nodes, values, released, cancelled = [], [], [], []
        for j, leaf in enumerate(leaves.tolist()):
            action = s["actions"][j]
            priors = s["child_priors"][j]
            if action == 0 and priors and not tree.arrays.first_child[leaf] >= 0:
                kids = tree.add_children(leaf, priors)
                ref.add_children(ref.nodes[leaf], priors)
                nodes.append(kids[0])
                values.append(s["values"][j])
                released.append(leaf)
            elif action in (0, 1):
                nodes.append(leaf)
                values.append(s["values"][j])
                released.append(leaf)
            elif action == 2:
                cancelled.append(leaf)
            else:
                pending.append(leaf)
        # half of the earlier pending leaves come back now, with a value
        back, pending = pending[: len(pending) // 2], pending[len(pending) // 2:]
        nodes += back
        values += [0.25] * len(back)
        released += back
        tree.backprop(nodes, values, selected=released)
        ref.backprop([ref.nodes[n] for n in nodes], values, [ref.nodes[n] for n in released])
        tree.release(cancelled)
        ref.backprop([], [], [ref.nodes[n] for n in cancelled])
        for target in s["supersede"]:
            node = 1 + target % (tree.size - 1)
            tree.mark_superseded(node)
            ref.nodes[node].superseded = True
        for target in s["terminal"]:
            node = target % tree.size
            tree.mark_terminal(node)
            ref.nodes[node].terminal = True
        for target in s["shared"]:
            node = target % tree.size
            tree.mark_shared(node)
            ref.nodes[node].shared = True
        assert_same_stats(tree, ref)
    assert tree.best_path() == [ref.nodes.index(n) for n in ref.best_path()]


def test_in_flight_spreads_a_batch_over_the_children():
    tree = SearchTree(selection=SelectionConfig(rule="puct"))
    tree.add_children(ROOT, [0.25] * 4)
    tree.backprop([ROOT], [0.5])
    leaves, collisions = tree.select(4)
    assert sorted(leaves.tolist()) == [1, 2, 3, 4]
    assert collisions == 0
    assert tree.arrays.in_flight[ROOT] == 4
    # a fifth selection finds every leaf in flight: a collision, and the counts are unchanged
    more, collisions = tree.select(1)
    assert more.size == 0 and collisions == 2
    assert tree.arrays.in_flight[ROOT] == 4
    tree.backprop(leaves, [1.0, 0.0, 0.5, 0.5], selected=leaves)
    assert tree.arrays.in_flight[: tree.size].sum() == 0
    assert tree.stats(ROOT)["visits"] == 5
    assert tree.stats(ROOT)["q_max"] == 1.0


def test_superseded_children_are_never_selected():
    tree = SearchTree(selection=SelectionConfig(rule="uct"))
    a, b = tree.add_children(ROOT, [0.5, 0.5])
    tree.mark_superseded(a)
    for _ in range(5):
        leaves, _ = tree.select(1)
        assert leaves.tolist() == [b]
        tree.backprop(leaves, [0.1], selected=leaves)


def test_q_max_and_q_mean_differ():
    for q_mode, expected_first in (("max", 1), ("mean", 2)):
        tree = SearchTree(selection=SelectionConfig(rule="puct", c=0.0, q_mode=q_mode))
        a, b = tree.add_children(ROOT, [0.5, 0.5])
        tree.backprop([a, a, b], [1.0, 0.0, 0.6])
        leaves, _ = tree.select(1)
        assert leaves.tolist() == [expected_first], q_mode


def test_reserved_slots_keep_children_contiguous():
    tree = SearchTree()
    kids = tree.add_children(ROOT, [0.5, 0.5], reserve=2)
    grandchild = tree.add_children(kids[0], [1.0])
    later = tree.add_children(ROOT, [0.1])
    assert later == [kids[-1] + 1]
    assert tree.children(ROOT) == kids + later
    assert grandchild[0] > later[0]
    tree.add_children(ROOT, [0.1])
    with pytest.raises(TreeError, match="reserved slots"):
        tree.add_children(ROOT, [0.1])
    with pytest.raises(TreeError, match="reserved slots"):
        tree.add_children(kids[0], [0.3])  # no slots were reserved there
    with pytest.raises(TreeError, match="invalid node id"):
        tree.stats(tree.size)  # past the used rows


def test_growth_by_doubling_keeps_data():
    tree = SearchTree(capacity=2)
    kids = tree.add_children(ROOT, [0.1] * 10)
    tree.backprop(kids, np.linspace(0, 1, 10))
    assert tree.arrays.capacity >= 11
    assert tree.stats(ROOT)["visits"] == 10
    assert tree.stats(kids[-1])["q_max"] == 1.0


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5, float("inf")])
def test_bad_values_are_rejected(bad):
    tree = SearchTree()
    tree.add_children(ROOT, [1.0])
    before = tree.arrays.value_sum.copy()
    with pytest.raises(TreeError, match=r"in \[0, 1\]"):
        tree.backprop([1], [bad])
    with pytest.raises(TreeError, match=r"in \[0, 1\]"):
        tree.add_children(1, [bad])
    assert np.array_equal(before, tree.arrays.value_sum)


@pytest.mark.parametrize("bad", [-1, 5, 10**9, 2**32, 2.5, True])  # 2**32 would wrap to 0 in int32
def test_bad_node_ids_are_rejected(bad):
    tree = SearchTree()
    tree.add_children(ROOT, [1.0])
    with pytest.raises(TreeError):
        tree.backprop([bad], [0.5])
    with pytest.raises(TreeError):
        tree.add_children(bad, [0.5])
    with pytest.raises(TreeError):
        tree.mark_superseded(bad)


def test_release_more_than_in_flight_is_rejected():
    tree = SearchTree()
    tree.add_children(ROOT, [1.0])
    leaves, _ = tree.select(1)
    with pytest.raises(TreeError, match="in flight"):
        tree.release([leaves[0], leaves[0]])
    tree.release(leaves)
    with pytest.raises(TreeError, match="in flight"):
        tree.release(leaves)


def test_a_failed_release_check_leaves_the_counts_unchanged():
    tree = SearchTree()
    tree.add_children(ROOT, [0.5, 0.5])
    leaves, _ = tree.select(2)
    before = tree.arrays.in_flight[: tree.size].copy()
    with pytest.raises(TreeError, match="in flight"):
        tree.backprop(leaves, [0.5, 0.5], selected=[leaves[0], leaves[1], leaves[1]])
    assert np.array_equal(tree.arrays.in_flight[: tree.size], before)
    assert tree.arrays.visits[ROOT] == 0


def test_reserved_slots_are_not_valid_ids():
    tree = SearchTree()
    (child,) = tree.add_children(ROOT, [0.5], reserve=2)
    with pytest.raises(TreeError, match="reserved slot"):
        tree.backprop([child + 1], [0.5])


def test_deep_walks_count_in_flight_on_every_ancestor():
    """A path longer than the walk's first path buffer, and a walk from a subtree root, which must
    still count the nodes above that root."""
    tree = SearchTree()
    chain = [ROOT]
    for _ in range(150):
        chain.append(tree.add_children(chain[-1], [1.0])[0])
    leaves, _ = tree.select(1)
    assert leaves.tolist() == [chain[-1]]
    assert (tree.arrays.in_flight[chain] == 1).all()
    tree.backprop(leaves, [0.5], selected=leaves)
    assert (tree.arrays.in_flight[chain] == 0).all() and (tree.arrays.visits[chain] == 1).all()
    leaves, _ = tree.select(1, root=chain[100])
    assert leaves.tolist() == [chain[-1]]
    assert (tree.arrays.in_flight[chain] == 1).all()
    tree.release(leaves)
    assert (tree.arrays.in_flight[chain] == 0).all()


def test_batch_expansion_gives_each_parent_a_contiguous_block():
    tree = SearchTree()
    a, b, c = tree.add_children(ROOT, [0.2, 0.3, 0.5])
    firsts = tree.add_children_batch(np.array([c, a]), np.array([2, 3]), np.linspace(0.0, 1.0, 5))
    assert firsts.tolist() == [4, 6]
    assert tree.children(c) == [4, 5] and tree.children(a) == [6, 7, 8]
    assert tree.arrays.prior[4:9].tolist() == pytest.approx(np.linspace(0.0, 1.0, 5).tolist())
    assert tree.children(b) == [] and tree.max_depth == 2


@pytest.mark.parametrize("parents, counts, match", [
    ([1, 2, 1], [1, 1, 1], "1 is repeated"),
    ([2, 0], [1, 1], "0 has children"),
    ([1, 2], [1, -1], "non-negative"),
    ([1, 2], [1], "non-negative"),
    ([1, 2], [1.0, 1.0], "non-negative"),
])
def test_bad_batch_expansions_change_nothing(parents, counts, match):
    tree = SearchTree()
    tree.add_children(ROOT, [0.5, 0.5, 0.5])
    before = [a.copy() for a in tree.arrays]
    with pytest.raises(TreeError, match=match):
        tree.add_children_batch(np.array(parents), np.array(counts), np.full(3, 0.5))
    assert all(np.array_equal(x, y) for x, y in zip(before, tree.arrays))
    assert tree.size == 4


def test_node_limit_raises_instead_of_growing():
    tree = SearchTree(capacity=2, max_nodes=5)
    tree.add_children(ROOT, [0.5] * 4)
    with pytest.raises(TreeFullError, match="limit of 5"):
        tree.add_children(1, [0.5])
    assert tree.size == 5


def test_bad_selection_config_is_rejected():
    with pytest.raises(TreeError, match="unknown selection rule"):
        SelectionConfig(rule="ucb2")
    with pytest.raises(TreeError, match="q_mode"):
        SelectionConfig(q_mode="median")


def test_networkx_view_is_read_only_and_complete():
    import networkx as nx

    tree = SearchTree()
    kids = tree.add_children(ROOT, [0.5, 0.5], payloads=["a", "b"], reserve=3)
    tree.add_children(kids[0], [1.0])
    g = tree.as_networkx()
    assert g.number_of_nodes() == 4  # reserved slots are not nodes
    assert set(g.successors(ROOT)) == set(kids)
    assert g.nodes[kids[1]]["payload"] == "b"
    with pytest.raises(nx.NetworkXError):
        g.add_node(99)


def test_score_terms_match_the_pucb_formula():
    tree = SearchTree(selection=SelectionConfig(rule="pucb", c=4.0, c_base=10.0))
    a, b = tree.add_children(ROOT, [0.75, 0.25])
    tree.backprop([a, a, b], [0.5, 1.0, 0.0])
    terms = tree.score_terms(ROOT)
    n_parent = 3.0
    beta = math.log((n_parent + 10 + 1) / 10) + 4.0
    expected_u = beta * 0.75 * math.sqrt(math.log(n_parent)) / (1 + 2)
    assert terms[0]["q"] == pytest.approx(1.0)
    assert terms[0]["u"] == pytest.approx(expected_u)
    assert terms[1]["score"] == pytest.approx(0.0 + beta * 0.25 * math.sqrt(math.log(n_parent)) / 2)


def test_a_held_leaf_is_not_selected_until_released():
    tree = SearchTree(selection=SelectionConfig(rule="uct"))
    a, b = tree.add_children(ROOT, [0.5, 0.5])
    tree.hold(a)
    leaves, _ = tree.select(2)
    assert leaves.tolist() == [b]
    tree.release(leaves)
    tree.release([a])
    assert tree.arrays.in_flight[: tree.size].sum() == 0
    assert sorted(tree.select(2)[0].tolist()) == [a, b]


def test_virtual_loss_turns_selection_away_from_a_pending_maximum():
    """With Q = max one pending expansion cannot lower the mean-style way; the fraction of completed
    visits does, so the second slot goes to the sibling instead of colliding."""
    for virtual_loss, expected in ((1.0, [2]), (0.0, [])):
        tree = SearchTree(selection=SelectionConfig(rule="puct", c=0.1, q_mode="max", virtual_loss=virtual_loss))
        a, b = tree.add_children(ROOT, [0.5, 0.5])
        tree.backprop([a, b], [1.0, 0.6])
        tree.hold(a)
        leaves, _ = tree.select(1)
        assert leaves.tolist() == expected, virtual_loss
        # a: max 1.0 over one completed visit, one pending: 1.0 * 1 / (1 + w * 1)
        assert tree.score_terms(ROOT)[0]["q"] == pytest.approx(1.0 / (1.0 + virtual_loss))


def test_exhausted_subtrees_are_passed_by_until_nothing_is_left():
    tree = SearchTree(selection=SelectionConfig(rule="puct", c=0.0))
    a, b = tree.add_children(ROOT, [0.9, 0.1])
    a1, a2 = tree.add_children(a, [0.5, 0.5], reserve=1)
    tree.backprop([a1, b], [1.0, 0.1])
    tree.mark_terminal(a1)
    assert not tree.exhausted(a)
    tree.mark_terminal(a2)
    assert tree.exhausted(a) and not tree.exhausted(ROOT)
    for _ in range(3):  # a holds the best value, but nothing below it can change
        leaves, _ = tree.select(2)
        assert leaves.tolist() == [b]
        tree.backprop(leaves, [0.1], selected=leaves)
    (a3,) = tree.add_children(a, [0.5])  # a rethought version beside a2 reopens a
    assert not tree.exhausted(a)
    tree.mark_terminal(a3)
    tree.mark_terminal(b)
    assert tree.exhausted(ROOT)
    leaves, collisions = tree.select(4)
    assert leaves.size == 0 and collisions == 0
    tree.mark_superseded(a3)  # a2 and a1 are still terminal: a stays exhausted
    assert tree.exhausted(a)


def test_a_shared_leaf_takes_several_expansions_at_once():
    tree = SearchTree(selection=SelectionConfig(rule="puct"))
    (thought,) = tree.add_children(ROOT, [1.0])
    tree.mark_shared(thought)
    leaves, collisions = tree.select(3)
    assert leaves.tolist() == [thought] * 3 and collisions == 0
    assert tree.stats(thought)["in_flight"] == 3
    tree.release(leaves)
    (program,) = tree.add_children(thought, [1.0])  # once expanded, walks go below it
    leaves, collisions = tree.select(2)
    assert leaves.tolist() == [program] and collisions >= 1
