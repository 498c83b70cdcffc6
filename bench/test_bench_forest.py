"""Sum-product on a 100,000-node forest, K = 4, against the same two passes in numpy.

    pytest bench/test_bench_forest.py --benchmark-enable

The forest is a random recursive tree set (each node's parent uniform among
earlier nodes, one node in 50 a root), its nodes shuffled so parents do not
come first. The numpy baseline runs level by level (every node of one depth
at once), the fastest plain-numpy schedule for this recursion. The summary
prints numpy/pt and pt's nanoseconds per node.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from pt.kernels import tree_marginals

N, K = 100_000, 4


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(12)
    parent = np.array([-1] + [int(x) for x in rng.integers(0, np.arange(1, N))])
    parent[rng.random(N) < 0.02] = -1
    perm = rng.permutation(N)
    inverse = np.argsort(perm)
    parent = np.where(parent[perm] >= 0, inverse[np.maximum(parent[perm], 0)], -1)
    return (parent, rng.normal(0, 3, (N, K)), rng.normal(0, 1, (K, K)),
            np.log(rng.dirichlet(np.ones(K))))


def numpy_tree_marginals(parent, log_lik, log_coupling, log_prior):
    """The same two passes, vectorised over each depth (acyclic input only)."""
    n = len(parent)
    depth = np.zeros(n, dtype=np.int64)
    up_chain = parent.copy()
    while (live := up_chain >= 0).any():
        depth[live] += 1
        up_chain[live] = parent[up_chain[live]]
    levels = [np.flatnonzero(depth == d) for d in range(depth.max() + 1)]
    up, msg = log_lik.copy(), np.zeros_like(log_lik)
    for nodes in reversed(levels[1:]):
        msg[nodes] = logsumexp(log_coupling[None] + up[nodes][:, None, :], axis=2)
        np.add.at(up, parent[nodes], msg[nodes])
    down = np.empty_like(log_lik)
    down[levels[0]] = log_prior
    for nodes in levels[1:]:
        p = parent[nodes]
        excl = down[p] + up[p] - msg[nodes]
        down[nodes] = logsumexp(log_coupling[None] + excl[:, :, None], axis=1)
    belief = up + down
    return belief - logsumexp(belief, axis=1, keepdims=True)


def test_numpy_baseline_agrees(forest):
    np.testing.assert_allclose(tree_marginals(*forest), numpy_tree_marginals(*forest),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("impl", ["pt", "numpy"])
def test_tree_marginals(benchmark, forest, impl, record_reference):
    fn = tree_marginals if impl == "pt" else numpy_tree_marginals
    benchmark.group = f"tree_marginals n={N} K={K}"
    benchmark.extra_info["role"] = impl
    benchmark.pedantic(fn, args=forest, rounds=30 if impl == "pt" else 3, warmup_rounds=1)
    if impl == "pt" and benchmark.stats is not None:
        benchmark.extra_info["ns_per_node"] = benchmark.stats.stats.median / N * 1e9
