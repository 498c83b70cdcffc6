"""Inference + decision for 10,000 processes (a synthetic table) against the
same model written plainly with scipy.stats and scipy.special; and the
forest coupling of the same posteriors (``coupling-10k``) against the same
function copying the terms in C order, as it did before (its sums over
features then run across the feature-major layout's largest stride).

    pytest bench/test_bench_infer.py --benchmark-enable
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from pt import kernels
from pt.config import ACTIONS, CATEGORICAL_LEVELS, load_policy, load_priors
from pt.decide.loss import decide, loss_matrix
from pt.infer import forest
from pt.infer.posterior import CATEGORICAL, N_CLASSES, Evidence, Inference, ModelTables, infer

N = 10_000
PRIORS, POLICY = load_priors(), load_policy()
TABLES = ModelTables(PRIORS)
#: Per-class (a, b) arrays of the Beta-Bernoulli features, for the baseline.
PAIRS = {f: tuple(np.array(v) for v in zip(*PRIORS.pairs[f].values())) for f in ("orphan", "io_window")}


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(11)
    levels = {f: len(v) for f, v in CATEGORICAL_LEVELS.items()}
    ev = Evidence(
        cpu_ticks=rng.integers(0, 31, N), window_ticks=np.full(N, 30),
        age_s=rng.exponential(3 * 3600.0, N), orphaned=rng.integers(0, 2, N),
        io_active=rng.integers(-1, 2, N),
        tty_idle_s=np.where(rng.random(N) < 0.5, np.nan, rng.exponential(3 * 3600.0, N)),
        **{f: rng.integers(0, levels[f], N) for f in CATEGORICAL if f != "activity"})
    available = np.ones((N, len(ACTIONS)), bool)
    available[:, ACTIONS.index("restart")] = rng.random(N) < 0.1
    return ev, available


def pt_pipeline(ev, available):
    inference = infer(ev, TABLES)
    return decide(inference, POLICY, impact=np.zeros(N), available=available,
                  protected=np.zeros(N, bool)).action


def scipy_pipeline(ev, available):
    """The same posterior and least-loss action, one scipy call per term."""
    cat = ev.command
    k = np.minimum(ev.cpu_ticks, ev.window_ticks)[:, None]
    terms = [stats.betabinom.logpmf(k, ev.window_ticks[:, None], TABLES.cpu_alpha[cat], TABLES.cpu_beta[cat]),
             stats.gamma.logpdf(ev.age_s[:, None], TABLES.runtime_shape, scale=TABLES.runtime_scale),
             -TABLES.surv_a[cat] * np.log1p(ev.age_s[:, None] / TABLES.surv_b[cat]),
             stats.betabinom.logpmf(ev.orphaned[:, None], 1, *PAIRS["orphan"])]
    io = ev.io_active[:, None]
    terms.append(np.where(io >= 0, stats.betabinom.logpmf(np.maximum(io, 0), 1, *PAIRS["io_window"]), 0))
    for feature in CATEGORICAL:
        alphas = np.array([PRIORS.categorical[feature][c] for c in PRIORS.pairs["orphan"]])
        code = getattr(ev, feature)                     # -1: not observed, no term
        terms.append(np.where(code[:, None] >= 0, np.log(alphas[:, code].T / alphas.sum(axis=1)), 0))
    joint = np.log(PRIORS.class_prior) + sum(terms)
    post = np.exp(joint - special.logsumexp(joint, axis=1, keepdims=True))
    expected = np.where(available, post @ loss_matrix(POLICY).T, np.inf)
    return np.argmin(expected, axis=1)


def test_pt_infer_decide(benchmark, table):
    benchmark.group = "infer+decide-10k"
    benchmark.extra_info["role"] = "pt"
    actions = benchmark(pt_pipeline, *table)
    assert len(actions) == N


def test_scipy_formulation(benchmark, table):
    benchmark.group = "infer+decide-10k"
    benchmark.extra_info["role"] = "scipy.stats formulation"
    actions = benchmark(scipy_pipeline, *table)
    assert len(actions) == N


def test_the_two_formulations_agree(table):
    """The baseline is the same model: the point-prior posterior matches exactly."""
    ev, available = table
    inference = infer(ev, TABLES)
    expected = np.where(available, inference.posterior @ loss_matrix(POLICY).T, np.inf).argmin(axis=1)
    np.testing.assert_array_equal(scipy_pipeline(ev, available), expected)


@pytest.fixture(scope="module")
def coupling_input(table):
    """The table's posteriors and a random forest over it (one row in 20 a root)."""
    rng = np.random.default_rng(13)
    parent = np.array([-1] + [int(x) for x in rng.integers(0, np.arange(1, N))])
    parent[rng.random(N) < 0.05] = -1
    return infer(table[0], TABLES), parent, PRIORS.tree_coupling


def c_order_couple(inference, parent, strength):
    """forest.couple as it was, with a C-order copy of the terms."""
    linked = parent >= 0
    linked[parent[linked]] = True
    terms, observed = inference.terms.copy(), inference.observed.copy()
    terms[:, forest.TREE] = 0.0
    observed[:, forest.TREE] = False
    own = inference.log_prior + terms.sum(axis=1)
    alone = own - kernels.logsumexp(own, axis=1)[:, None]
    coupled = kernels.tree_marginals(parent, own, forest.potts(strength), np.zeros(N_CLASSES))
    terms[linked, forest.TREE] = (coupled - alone)[linked]
    observed[linked, forest.TREE] = True
    return Inference.from_terms(terms, observed, inference.log_prior)


def test_pt_couple(benchmark, coupling_input):
    benchmark.group = "coupling-10k"
    benchmark.extra_info["role"] = "pt"
    coupled = benchmark(forest.couple, *coupling_input)
    np.testing.assert_allclose(coupled.log_posterior, c_order_couple(*coupling_input).log_posterior,
                               rtol=0, atol=1e-9)


def test_c_order_couple(benchmark, coupling_input):
    benchmark.group = "coupling-10k"
    benchmark.extra_info["role"] = "C-order terms"
    assert len(benchmark(c_order_couple, *coupling_input).posterior) == N
