"""tree_marginals: exact against brute force on every forest shape up to 8 nodes,
against flooding (loopy-schedule) belief propagation on random forests, and on
the edges: empty, one class, -inf evidence, cycles, self-parents, bad input."""
import itertools

import numpy as np
import pytest

from pt.kernels import logsumexp, tree_marginals


def _rooted_shapes(n):
    """Every unlabelled rooted tree on n nodes, as canonical nested tuples."""
    shapes = {(): None}                      # a single node
    for _ in range(n - 1):
        grown = {}
        for tree in shapes:
            for new in _add_leaf(tree):
                grown[new] = None
        shapes = grown
    return list(shapes)


def _add_leaf(tree):
    """Every tree made by hanging one leaf under some node of ``tree`` (canonical)."""
    yield tuple(sorted(tree + ((),)))
    for i, sub in enumerate(tree):
        for grown in _add_leaf(sub):
            yield tuple(sorted(tree[:i] + (grown,) + tree[i + 1:]))


def _parents(tree):
    """Parent array of a nested-tuple tree, node 0 the root."""
    parent = [-1]

    def walk(node, me):
        for sub in node:
            parent.append(me)
            walk(sub, len(parent) - 1)
    walk(tree, 0)
    return np.array(parent)


def _forest_shapes(max_nodes):
    """Every unlabelled forest of 1..max_nodes nodes: a rooted tree on one more
    node with its root removed."""
    for n in range(2, max_nodes + 2):
        for tree in _rooted_shapes(n):
            parent = _parents(tree)[1:] - 1   # drop node 0: its children become roots (-1)
            yield parent


def _brute_force(parent, log_lik, log_coupling, log_prior):
    n, k = log_lik.shape
    states = np.array(list(itertools.product(range(k), repeat=n)))          # (k**n, n)
    joint = log_lik[np.arange(n), states].sum(axis=1)
    for i, p in enumerate(parent):
        joint = joint + (log_prior[states[:, i]] if p < 0 else log_coupling[states[:, p], states[:, i]])
    total = logsumexp(joint)
    out = np.empty((n, k))
    for i in range(n):
        for c in range(k):
            out[i, c] = logsumexp(joint[states[:, i] == c]) - total
    return out


def _flooding_bp(parent, log_lik, log_coupling, log_prior, sweeps):
    """Belief propagation with every message updated at once each sweep (the
    loopy schedule); exact on a forest after diameter sweeps."""
    n, k = log_lik.shape
    child = np.flatnonzero(parent >= 0)
    par = parent[child]
    unary = log_lik + np.where((parent < 0)[:, None], log_prior, 0.0)
    up = np.zeros((len(child), k))          # child -> parent, over the parent's class
    down = np.zeros((len(child), k))        # parent -> child, over the child's class
    for _ in range(sweeps):
        into = unary.copy()
        np.add.at(into, par, up)
        into[child] += down
        from_child = into[child] - down     # child's belief without the parent's message
        from_parent = into[par] - up
        up = logsumexp(log_coupling[None, :, :] + from_child[:, None, :], axis=2)
        down = logsumexp(log_coupling[None, :, :] + from_parent[:, :, None], axis=1)
    belief = unary.copy()
    np.add.at(belief, par, up)
    belief[child] += down
    return belief - logsumexp(belief, axis=1)[:, None]


def _random_problem(rng, parent, k, spread=3.0):
    n = len(parent)
    return (rng.normal(0, spread, (n, k)), rng.normal(0, 1.0, (k, k)),
            np.log(rng.dirichlet(np.ones(k))))


def test_every_forest_shape_up_to_8_nodes_matches_brute_force():
    rng = np.random.default_rng(12)
    shapes = 0
    for parent in _forest_shapes(8):
        shapes += 1
        n = len(parent)
        perm = rng.permutation(n)            # any node order: relabel the nodes
        inverse = np.argsort(perm)
        shuffled = np.where(parent[perm] >= 0, inverse[np.maximum(parent[perm], 0)], -1)
        lik, coupling, prior = _random_problem(rng, shuffled, 3)
        got = tree_marginals(shuffled, lik, coupling, prior)
        np.testing.assert_allclose(got, _brute_force(shuffled, lik, coupling, prior),
                                   rtol=1e-12, atol=1e-12)
    assert shapes == 1 + 1 + 2 + 4 + 9 + 20 + 48 + 115 + 286 - 1   # OEIS A000081, n = 2..9


@pytest.mark.parametrize("k", [2, 4])
def test_random_small_trees_with_k_classes_match_brute_force(k):
    rng = np.random.default_rng(k)
    for _ in range(30):
        n = int(rng.integers(1, 8))
        parent = np.array([int(rng.integers(-1, i)) if i else -1 for i in range(n)])
        lik, coupling, prior = _random_problem(rng, parent, k, spread=20.0)
        np.testing.assert_allclose(tree_marginals(parent, lik, coupling, prior),
                                   _brute_force(parent, lik, coupling, prior), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("spread", [3.0, 300.0])      # the linear path, and the log path it falls back to
def test_random_forests_match_flooding_belief_propagation(seed, spread):
    rng = np.random.default_rng(seed)
    n, k = 300, int(rng.integers(1, 6))
    parent = np.array([int(rng.integers(-3, i)) if i else -1 for i in range(n)])
    parent[parent < 0] = -1
    perm = rng.permutation(n)
    inverse = np.argsort(perm)
    parent = np.where(parent[perm] >= 0, inverse[np.maximum(parent[perm], 0)], -1)
    lik, coupling, prior = _random_problem(rng, parent, k, spread)
    np.testing.assert_allclose(tree_marginals(parent, lik, coupling, prior),
                               _flooding_bp(parent, lik, coupling, prior, sweeps=n),
                               rtol=1e-9, atol=1e-9)


def test_uniform_coupling_gives_the_independent_posteriors():
    rng = np.random.default_rng(3)
    parent = np.array([-1, 0, 0, 1, 7, 3, -1, 6])
    lik, _, prior = _random_problem(rng, parent, 4)
    got = tree_marginals(parent, lik, np.full((4, 4), -0.7), prior)
    alone = lik + np.where((parent < 0)[:, None], prior, 0.0)
    np.testing.assert_allclose(got, alone - logsumexp(alone, axis=1)[:, None], rtol=1e-13, atol=1e-13)


def test_empty_forest_and_one_class():
    assert tree_marginals(np.empty(0, dtype=np.int64), np.empty((0, 4)), np.zeros((4, 4)),
                          np.zeros(4)).shape == (0, 4)
    np.testing.assert_array_equal(tree_marginals([-1, 0, 0], [[-5.0], [2.0], [0.0]], [[1.0]], [0.0]),
                                  np.zeros((3, 1)))


def test_minus_infinity_rules_classes_out_exactly():
    parent = np.array([-1, 0, 1, 0])
    with np.errstate(divide="ignore"):
        lik = np.log(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8]]))
        coupling = np.log(np.array([[0.8, 0.2, 0.0], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]]))
        prior = np.log(np.array([0.3, 0.3, 0.4]))
        want = _brute_force(parent, lik, coupling, prior)
    got = tree_marginals(parent, lik, coupling, prior)
    assert np.isneginf(want).any()
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-12)


def test_extreme_ranges_stay_exact_in_logs():
    """Terms 1e-400 apart underflow a linear sum; the log-domain fallback keeps them."""
    parent = np.array([-1, 0])
    lik = np.array([[0.0, -900.0], [-900.0, 0.0]])
    coupling = np.array([[0.0, -900.0], [-900.0, 0.0]])
    prior = np.array([0.0, 0.0])
    np.testing.assert_allclose(tree_marginals(parent, lik, coupling, prior),
                               _brute_force(parent, lik, coupling, prior), rtol=1e-12)


def test_cycles_and_self_parents_are_cut_not_followed():
    rng = np.random.default_rng(5)
    lik, coupling, prior = _random_problem(rng, np.zeros(6), 3)
    # 0 -> 1 -> 2 -> 0 is a cycle with 3 and 4 hanging from it; 5 is its own parent.
    cyclic = np.array([2, 0, 1, 2, 3, 5])
    got = tree_marginals(cyclic, lik, coupling, prior)
    # The walk up from node 0 (the lowest unreached) repeats first at 0: 0 becomes a root.
    cut = np.array([-1, 0, 1, 2, 3, -1])
    np.testing.assert_allclose(got, _brute_force(cut, lik, coupling, prior), rtol=1e-12)
    two_cycle = tree_marginals(np.array([1, 0]), lik[:2], coupling, prior)
    np.testing.assert_allclose(two_cycle, _brute_force(np.array([-1, 0]), lik[:2], coupling, prior),
                               rtol=1e-12)


def test_missing_parents_are_roots():
    rng = np.random.default_rng(6)
    lik, coupling, prior = _random_problem(rng, np.zeros(4), 3)
    got = tree_marginals([99, 0, -7, 2], lik, coupling, prior)
    np.testing.assert_allclose(got, _brute_force(np.array([-1, 0, -1, 2]), lik, coupling, prior),
                               rtol=1e-12)


def test_read_only_inputs_are_accepted():
    parent, lik = np.array([-1, 0]), np.zeros((2, 2))
    coupling, prior = np.zeros((2, 2)), np.zeros(2)
    for a in (parent, lik, coupling, prior):
        a.setflags(write=False)
    np.testing.assert_allclose(tree_marginals(parent, lik, coupling, prior), np.log(0.5))


@pytest.mark.parametrize("args, message", [
    (([-1, 0], np.zeros((2, 2, 1)), np.zeros((2, 2)), np.zeros(2)), "log_lik must be 2-D"),
    (([-1], np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2)), r"parent must have shape \(2,\)"),
    (([-1, 0.5], np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2)), "parent must be integers"),
    (([-1, 0], np.zeros((2, 2)), np.zeros((2, 3)), np.zeros(2)), r"log_coupling must have shape \(2, 2\)"),
    (([-1, 0], np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(3)), r"log_prior must have shape \(2,\)"),
    (([-1, 0], [[0.0, np.nan], [0, 0]], np.zeros((2, 2)), np.zeros(2)), r"log_lik\[0, 1\] = nan"),
    (([-1, 0], np.zeros((2, 2)), [[0.0, np.inf], [0, 0]], np.zeros(2)), r"log_coupling\[0, 1\] = inf"),
    (([-1, 0], np.zeros((2, 2)), np.zeros((2, 2)), [np.nan, 0]), r"log_prior\[0\] = nan"),
    (([-1, 0], [[0.0, 0.0], [-np.inf, -np.inf]], np.zeros((2, 2)), np.zeros(2)),
     "node 0's tree no possible labelling"),
    (([-1, 0], np.zeros((2, 2)), [[0.0, -np.inf], [-np.inf, -np.inf]], [-np.inf, 0.0]),
     "probability zero"),
    (([-1, 0], np.zeros((2, 2)), np.zeros((2, 2)), ["a", "b"]), "log_prior must be real numbers"),
])
def test_bad_input_is_a_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        tree_marginals(*args)


@pytest.mark.parametrize("k", [3, 4])                   # K = 4 has its own unrolled passes
def test_impossible_classes_with_a_positive_coupling_match_brute_force(k):
    """-inf evidence and prior entries under a coupling with no zero: the
    linear path, where a child's exclusion is a division by its message."""
    rng = np.random.default_rng(40 + k)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        parent = np.array([int(rng.integers(-1, i)) if i else -1 for i in range(n)])
        lik, coupling, prior = _random_problem(rng, parent, k)
        lik[rng.random((n, k)) < 0.3] = -np.inf
        lik[np.isneginf(lik).all(axis=1), 0] = 0.0       # every node keeps a possible class
        prior[rng.integers(0, k)] = -np.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            want = _brute_force(parent, lik, coupling, prior)
        if not np.isfinite(want).any(axis=1).all():        # the prior ruled a tree out
            continue
        got = tree_marginals(parent, lik, coupling, prior)
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
        np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("k", [2, 4])
def test_extreme_log_likelihoods_stay_exact(k):
    """-1e300 and -inf evidence (classes far beyond any linear scale) against
    brute force: the log path, never an overflow or a NaN."""
    rng = np.random.default_rng(k)
    parent = np.array([-1, 0, 0, 1, 1, -1])
    lik, coupling, prior = _random_problem(rng, parent, k)
    lik[0, 0], lik[1, 1], lik[2, 1:] = -1e300, -1e300, -1e300
    lik[3, 0], lik[4, 1:] = -np.inf, -1e300
    want = _brute_force(parent, lik, coupling, prior)
    got = tree_marginals(parent, lik, coupling, prior)
    assert (got == -1e300).any() and np.isfinite(got[~np.isneginf(want)]).all()
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)


def test_a_row_shifted_by_1e300_has_the_same_marginals():
    """Only differences within a row matter: +-1e300 added to a whole row
    (or -inf classes beside it) changes nothing."""
    rng = np.random.default_rng(11)
    parent = np.array([-1, 0, 0, 1])
    lik, coupling, prior = _random_problem(rng, parent, 4)
    want = tree_marginals(parent, lik, coupling, prior)
    shifted = lik.copy()
    shifted[1] = 1e300
    shifted[2] = -1e300
    plain = lik.copy()
    plain[1:3] = 0.0
    np.testing.assert_allclose(tree_marginals(parent, shifted, coupling, prior),
                               tree_marginals(parent, plain, coupling, prior), rtol=1e-14, atol=1e-14)
    assert not np.array_equal(want, tree_marginals(parent, plain, coupling, prior))


def test_a_wide_node_whose_messages_underflow_a_linear_product_stays_exact():
    """Two hundred children, each message to the root 59 times likelier for
    one class: their product, e^-816, is below any double; the answer comes
    from the log path (the root's own evidence cancels it to even odds)."""
    n = 201
    parent = np.r_[-1, np.zeros(n - 1, dtype=np.int64)]
    lik = np.tile([0.0, -5.0], (n, 1))
    coupling = np.log([[0.99, 0.01], [0.01, 0.99]])
    message = logsumexp(coupling + lik[1], axis=1)          # each child's, over the root's class
    lik[0] = [-(n - 1) * (message[0] - message[1]), 0.0]
    prior = np.log([0.5, 0.5])
    got = tree_marginals(parent, lik, coupling, prior)
    want = _flooding_bp(parent, lik, coupling, prior, sweeps=4)      # exact on a star (diameter 2)
    # Both sum 200 messages to ~816 in a different order: each rounding is up to ulp(816) / 2.
    np.testing.assert_allclose(got, want, rtol=0, atol=200 * np.spacing(816.0))
    np.testing.assert_allclose(got[0], np.log([0.5, 0.5]), atol=1e-9)


def test_non_contiguous_and_other_dtype_input_gives_the_same_answer():
    rng = np.random.default_rng(8)
    parent = np.array([2, -1, 1, 1, 3, 0])
    lik, coupling, prior = _random_problem(rng, parent, 4)
    want = tree_marginals(parent, lik, coupling, prior)
    wide = np.zeros((6, 8))
    wide[:, ::2] = lik                                     # a strided view
    got = tree_marginals(parent.astype(np.int32)[::1], wide[:, ::2], np.asfortranarray(coupling),
                         prior[::-1][::-1])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(tree_marginals(np.array([9, 9])[::2], lik[:1], coupling, prior),
                                  tree_marginals([-1], lik[:1], coupling, prior))


def test_several_cycles_and_their_branches_are_each_cut_once():
    """Two cycles (0 -> 1 -> 0 and 3 -> 4 -> 5 -> 3), branches hanging from
    both, and a tree apart: each cycle loses one edge, where the walk up from
    its lowest node first repeats."""
    rng = np.random.default_rng(9)
    parent = np.array([1, 0, 1, 5, 3, 4, 4, -1, 7])
    lik, coupling, prior = _random_problem(rng, parent, 3)
    cut = np.array([-1, 0, 1, -1, 3, 4, 4, -1, 7])      # walks from 0 and from 3 repeat at 0 and 3
    np.testing.assert_allclose(tree_marginals(parent, lik, coupling, prior),
                               _brute_force(cut, lik, coupling, prior), rtol=1e-12, atol=1e-12)
