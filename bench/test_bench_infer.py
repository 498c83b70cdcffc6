"""Inference + decision for 10,000 processes (a synthetic table) against the
same model written plainly with scipy.stats and scipy.special.

    pytest bench/test_bench_infer.py --benchmark-enable
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from pt.config import ACTIONS, CATEGORICAL_LEVELS, load_policy, load_priors
from pt.decide.loss import decide, loss_matrix
from pt.infer.posterior import CATEGORICAL, Evidence, ModelTables, infer

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
