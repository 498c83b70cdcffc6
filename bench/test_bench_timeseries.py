"""Benchmarks: the time-series kernels against plain numpy/scipy references, in the same run.

    pytest bench/test_bench_timeseries.py --benchmark-enable

Each pt case times the public ``pt.kernels`` function (validation included); the
baseline is a straightforward vectorised numpy/scipy implementation of the same
computation.  Ratios (baseline median / pt median) are printed at the end
(bench/conftest.py).  Per-step / per-event figures: divide by T or n.
"""
import math

import numpy as np
import pytest
import scipy.special as sc

import pt.kernels as K

T_BOCPD = 10_000
N_HAWKES = 1_000_000


def bocpd_series(T=T_BOCPD, mean_len=100, seed=0):
    """Poisson counts, piecewise constant rate (log-uniform 1..100), geometric segments."""
    rng = np.random.default_rng(seed)
    xs, t = [], 0
    while t < T:
        n = rng.geometric(1 / mean_len)
        xs.append(rng.poisson(10 ** rng.uniform(0, 2), n))
        t += n
    return np.concatenate(xs)[:T].astype(float)


def numpy_bocpd(x, hazard, a0, b0, threshold, keep_recent):
    """The same pruned recursion, vectorised over the active run lengths with numpy/scipy."""
    r = np.zeros(0, dtype=np.int64)
    lp = np.zeros(0)
    a = np.zeros(0)
    b = np.zeros(0)
    lh, l1h = math.log(hazard), math.log1p(-hazard)
    kept = 1.0
    cp = np.empty(len(x))
    for t, xt in enumerate(x):
        a = np.append(a, a0)
        b = np.append(b, b0)
        r = np.append(r, -1)
        lp = np.append(lp, 0.0 if t == 0 else lh + math.log(kept))
        pred = (sc.gammaln(a + xt) - sc.gammaln(a) - sc.gammaln(xt + 1) + a * np.log(b / (b + 1))
                - xt * np.log(b + 1))
        g = lp + l1h + pred
        g[-1] -= l1h
        lz = sc.logsumexp(g)
        lp = g - lz
        r = r + 1
        a = a + xt
        b = b + 1
        p = np.exp(lp)
        cp[t] = p[-1]
        keep = (p >= min(threshold, p.max())) | (r < keep_recent)
        kept = p[keep].sum()
        r, lp, a, b = r[keep], lp[keep], a[keep], b[keep]
    return cp


def numpy_hawkes(t, mu, alpha, beta, T):
    """Vectorised: A_i = sum_{j<i} exp(-beta (t_i - t_j)) = exp(L_{i-1} - beta t_i), L the
    running log-sum-exp of beta t (np.logaddexp.accumulate)."""
    bt = beta * t
    L = np.logaddexp.accumulate(bt)
    A = np.empty_like(t)
    A[0] = 0.0
    A[1:] = np.exp(L[:-1] - bt[1:])
    lam = mu + alpha * beta * A
    return np.log(lam).sum() - mu * T - alpha * np.sum(-np.expm1(-beta * (T - t)))


def python_kalman(y, r, ql, qb, m0, v0):
    l, b = m0
    p00, p01, p11 = v0[0], 0.0, v0[1]
    out = np.empty((len(y), 2))
    for t, yt in enumerate(y.tolist()):
        s = p00 + r
        k0, k1 = p00 / s, p01 / s
        v = yt - l
        l, b = l + k0 * v, b + k1 * v
        p11, p00, p01 = p11 - k1 * p01, k0 * r, k1 * r
        out[t] = l, b
        l = l + b
        p00, p01, p11 = p00 + 2 * p01 + p11 + ql, p01 + p11, p11 + qb
    return out


def numpy_changepoint(k, n, a1, b1, a2, b2, rho):
    K_, N_ = np.r_[0, np.cumsum(k)], np.r_[0, np.cumsum(n)]
    KT, NT = K_[-1], N_[-1]
    left = np.where(N_ > 0, sc.betaln(a1 + K_, b1 + N_ - K_) - sc.betaln(a1, b1), 0.0)
    right = np.where(NT - N_ > 0, sc.betaln(a2 + KT - K_, b2 + (NT - N_) - (KT - K_)) - sc.betaln(a2, b2),
                     0.0)
    j = np.arange(len(k) + 1)
    prior = np.where(j < len(k), math.log(rho) + j * math.log1p(-rho), len(k) * math.log1p(-rho))
    joint = left + right + prior + np.sum(sc.gammaln(n + 1) - sc.gammaln(k + 1) - sc.gammaln(n - k + 1))
    lm = sc.logsumexp(joint)
    return np.exp(joint - lm), lm


def scipy_cpu_increment(c, d, kappa, beta):
    m = kappa * d
    with np.errstate(divide="ignore", invalid="ignore"):
        z = 2 * np.sqrt(m * beta * c)
        out = -m - beta * c + 0.5 * np.log(m * beta / c) + np.log(sc.i1e(z)) + z
    return np.where(c == 0, -m, out)


def _cases():
    x = bocpd_series()
    rng = np.random.default_rng(1)
    # Hawkes: 1e6 event times (stationary rate ~ mu / (1 - alpha) = 2.5).
    gaps = rng.exponential(0.4, N_HAWKES)
    times = np.cumsum(gaps)
    T = float(times[-1]) + 1.0
    y = 0.3 + np.cumsum(rng.normal(0, 0.002, 100_000)) + rng.normal(0, 0.05, 100_000)
    kk = np.r_[rng.binomial(100, 0.05, 5000), rng.binomial(100, 0.2, 5000)].astype(float)
    nn = np.full(10_000, 100.0)
    c = np.where(rng.random(100_000) < 0.3, 0.0, rng.gamma(2.0, 0.5, 100_000))
    d = np.ones(100_000)
    return {
        "bocpd poisson T=1e4 (per-step /1e4)": (
            "numpy", 5,
            lambda: K.bocpd(x, hazard=0.01, prior=(1.0, 0.01)),
            lambda: numpy_bocpd(x, 0.01, 1.0, 0.01, 1e-9, 64)),
        "hawkes_loglik n=1e6 (per-event /1e6)": (
            "numpy", 7,
            lambda: K.hawkes_loglik(times, 1.0, 0.6, 3.0, T),
            lambda: numpy_hawkes(times, 1.0, 0.6, 3.0, T)),
        "kalman_filter n=1e5": (
            "python", 5,
            lambda: K.kalman_filter(y, obs_var=0.05**2, level_var=1e-5, trend_var=1e-8,
                                    init_mean=(0.3, 0.0), init_var=(1.0, 1.0)),
            lambda: python_kalman(y, 0.05**2, 1e-5, 1e-8, (0.3, 0.0), (1.0, 1.0))),
        "beta_changepoint T=1e4": (
            "numpy", 20,
            lambda: K.beta_changepoint(kk, nn, rho=0.01),
            lambda: numpy_changepoint(kk, nn, 1.0, 1.0, 1.0, 1.0, 0.01)),
        "cpu_increment_logpdf n=1e5": (
            "scipy", 20,
            lambda: K.cpu_increment_logpdf(c, d, kappa=2.0, beta=2.0),
            lambda: scipy_cpu_increment(c, d, 2.0, 2.0)),
    }


CASES = _cases()


def test_baselines_agree():
    """The baselines compute what pt computes (so the ratios compare like with like)."""
    x = bocpd_series(2000)
    np.testing.assert_allclose(numpy_bocpd(x, 0.01, 1.0, 0.01, 1e-9, 64),
                               K.bocpd(x, hazard=0.01, prior=(1.0, 0.01)).cp_prob, rtol=1e-8, atol=1e-12)
    pt_h, np_h = (CASES["hawkes_loglik n=1e6 (per-event /1e6)"][i]() for i in (2, 3))
    assert pt_h == pytest.approx(np_h, rel=1e-8)


@pytest.mark.parametrize("impl", ["pt", "baseline"])
@pytest.mark.parametrize("case", list(CASES))
def test_timeseries(benchmark, case, impl):
    name, rounds, pt_call, base_call = CASES[case]
    benchmark.group = case
    benchmark.extra_info["role"] = "pt" if impl == "pt" else name
    benchmark.pedantic(pt_call if impl == "pt" else base_call, rounds=rounds, warmup_rounds=1)
