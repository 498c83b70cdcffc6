"""Sum-product on a 100,000-node forest, K = 4, against the same two passes in numpy.

    pytest bench/test_bench_forest.py --benchmark-enable

The forest is a random recursive tree set (each node's parent uniform among
earlier nodes, one node in 50 a root), its nodes shuffled so parents do not
come first. The numpy baseline runs level by level (every node of one depth
at once), the fastest plain-numpy schedule for this recursion; a plain C version
(tools/forestfloor.c, the same two passes written plainly, libm exp and log)
runs on the same forest in the same session. The summary prints numpy/pt and
plain C/pt, and each one's least thread CPU time per node (steadier than wall
time on a shared machine).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.special import logsumexp

from pt.kernels import tree_marginals

N, K = 100_000, 4
GROUP = f"tree_marginals n={N} K={K}"
FLOOR_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "forestfloor.c"


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


def least_cpu_ns_per_node(fn, args, calls):
    """The least thread CPU time of ``calls`` calls, in nanoseconds per node."""
    best = np.inf
    for _ in range(calls):
        start = time.thread_time()
        fn(*args)
        best = min(best, time.thread_time() - start)
    return best / N * 1e9


@pytest.mark.parametrize("impl", ["pt", "numpy"])
def test_tree_marginals(benchmark, forest, impl, record_figure):
    fn = tree_marginals if impl == "pt" else numpy_tree_marginals
    benchmark.group = GROUP
    benchmark.extra_info["role"] = impl
    rounds = 30 if impl == "pt" else 3
    benchmark.pedantic(fn, args=forest, rounds=rounds, warmup_rounds=1)
    if benchmark.enabled:
        record_figure(f"{impl} tree_marginals least thread CPU per node", least_cpu_ns_per_node(fn, forest, rounds),
                      "ns")


def test_plain_c(request, forest, tmp_path, record_reference, record_figure):
    """Build and run tools/forestfloor.c on the same forest (once in a smoke
    run); its answer must agree with pt's."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    timed = not request.config.getoption("benchmark_disable")
    exe, data, answer = tmp_path / "forestfloor", tmp_path / "forest.bin", tmp_path / "marginals.bin"
    subprocess.run([cc, "-O2", "-o", str(exe), str(FLOOR_SOURCE), "-lm"], check=True)
    parent, log_lik, log_coupling, log_prior = forest
    data.write_bytes(np.int64(N).tobytes() + parent.astype(np.int64).tobytes() + log_lik.tobytes()
                     + log_coupling.tobytes() + log_prior.tobytes())
    out = subprocess.run([str(exe), str(data), str(answer), "21" if timed else "1"], capture_output=True,
                         text=True, check=True).stdout
    phases = {p["phase"]: p for p in map(json.loads, out.splitlines())}
    got = np.fromfile(answer).reshape(N, K)
    np.testing.assert_allclose(got, tree_marginals(*forest), rtol=1e-9, atol=1e-9)
    if timed:
        record_reference(GROUP, "plain C", phases["total"]["median_wall"])
        for phase, p in phases.items():
            record_figure(f"plain C ({phase}) least thread CPU per node", p["min_cpu"] / N * 1e9, "ns")
