"""Time-series kernels (BOCPD, Hawkes, Kalman, change point, CPU increments) against
independent references: dense O(T^2) recursions, O(n^2) sums, Gaussian conditioning
with numpy.linalg, mpmath quadrature and scipy.special; plus simulations and edges."""
import math

import mpmath
import numpy as np
import pytest
import scipy.special as sc
from scipy.special import betaln, gammaln
from scipy.special import logsumexp as sp_logsumexp

import pt.kernels as K


@pytest.fixture
def rng():
    return np.random.default_rng(20260101)


# ----------------------------------------------------------------- BOCPD

def dense_bocpd(x, e, model, hazard, a0, b0):
    """Straightforward O(T^2) recursion over J[t, r] = log P(r_t = r, x_1..t), no pruning."""
    T = len(x)
    J = np.full((T, T), -np.inf)
    cx = np.concatenate([[0.0], np.cumsum(x)])
    ce = np.concatenate([[0.0], np.cumsum(e)])

    def lpred(t, r):                           # predictive of x[t] given x[t-r..t-1]
        sx, se = cx[t] - cx[t - r], ce[t] - ce[t - r]
        xt, et = x[t], e[t]
        if model == "poisson":
            a, b = a0 + sx, b0 + se
            return (gammaln(a + xt) - gammaln(a) - gammaln(xt + 1) + a * np.log(b / (b + et))
                    + xt * np.log(et / (b + et)))
        a, b = a0 + sx, b0 + se - sx
        return (gammaln(et + 1) - gammaln(xt + 1) - gammaln(et - xt + 1)
                + betaln(a + xt, b + et - xt) - betaln(a, b))

    for t in range(T):
        if t == 0:
            J[0, 0] = lpred(0, 0)
            continue
        prev = J[t - 1, :t]
        J[t, 0] = np.log(hazard) + sp_logsumexp(prev) + lpred(t, 0)
        for r in range(1, t + 1):
            J[t, r] = prev[r - 1] + np.log1p(-hazard) + lpred(t, r)
    lz = sp_logsumexp(J, axis=1)
    return np.exp(J - lz[:, None]), float(lz[-1])


def piecewise_poisson(rng, T, mean_len):
    xs, cps, t = [], [], 0
    while t < T:
        length = rng.geometric(1 / mean_len)
        xs.append(rng.poisson(10 ** rng.uniform(0, 2), length))
        cps.append(t)
        t += length
    return np.concatenate(xs)[:T].astype(float), [c for c in cps if c < T]


@pytest.mark.parametrize("model", ["poisson", "binomial"])
def test_bocpd_matches_dense_recursion(rng, model):
    x = np.concatenate([rng.poisson(3, 50), rng.poisson(14, 40), rng.poisson(1, 60)]).astype(float)
    if model == "poisson":
        e = rng.uniform(0.5, 2.0, x.size)
        kw = {"exposure": e}
    else:
        x = np.minimum(x, 20)
        e = np.full(x.size, 20.0)
        kw = {"trials": e}
    post, lev = dense_bocpd(x, e, model, 0.02, 1.5, 0.7)
    res = K.bocpd(x, model=model, hazard=0.02, prior=(1.5, 0.7), prune_threshold=0.0,
                  return_matrix=True, window=4, **kw)
    np.testing.assert_allclose(res.run_length_posterior, post, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.cp_prob, post[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.recent_cp_prob, post[:, :4].sum(1), rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.mean_run_length, post @ np.arange(x.size), rtol=1e-10)
    np.testing.assert_array_equal(res.map_run_length, post.argmax(1))
    assert res.log_evidence == pytest.approx(lev, rel=1e-12)
    assert res.log_pred.sum() == pytest.approx(lev, rel=1e-12)
    assert res.pruned_mass == 0.0


def test_bocpd_pruned_close_to_exact_on_10k(rng):
    x, _ = piecewise_poisson(rng, 10_000, 100)
    exact = K.bocpd(x, hazard=0.01, prune_threshold=0.0)
    pruned = K.bocpd(x, hazard=0.01, prune_threshold=1e-10)
    assert pruned.mean_active < exact.mean_active / 5
    assert np.abs(pruned.cp_prob - exact.cp_prob).max() < 1e-6
    assert np.abs(pruned.recent_cp_prob - exact.recent_cp_prob).max() < 1e-6
    assert 0 < pruned.pruned_mass < 1e-3
    # Pruning drops non-negative terms: the evidence is a lower bound.
    assert pruned.log_evidence <= exact.log_evidence + 1e-9 * abs(exact.log_evidence)


def test_bocpd_detects_known_change_points(rng):
    T = 3000
    cps = [0, 700, 1500, 2300]
    rates = [2.0, 20.0, 5.0, 40.0]
    x = np.concatenate([rng.poisson(r, b - a) for r, a, b in zip(rates, cps, cps[1:] + [T])])
    res = K.bocpd(x, hazard=1 / 500, prior=(1.0, 0.1), window=5)
    # Each true change is flagged within a few samples and nowhere else.
    flagged = np.flatnonzero(res.recent_cp_prob[5:] > 0.9) + 5   # t < window: trivially 1
    for c in cps[1:]:
        near = flagged[(flagged >= c) & (flagged < c + 10)]
        assert near.size and near[0] - c <= 4
    assert np.all(np.min(np.abs(flagged[:, None] - np.array(cps[1:])[None, :]), axis=1) < 10)
    # Offline: the run length at each segment end points back to the change.
    for c, nxt in zip(cps[1:], cps[2:] + [T]):
        assert abs((nxt - 1 - res.map_run_length[nxt - 1]) - c) <= 3


def test_bocpd_binomial_detects_cpu_share_change(rng):
    n = np.full(400, 100)
    k = np.r_[rng.binomial(100, 0.05, 200), rng.binomial(100, 0.6, 200)]
    res = K.bocpd(k, model="binomial", trials=n, hazard=0.01)
    assert np.argmax(res.recent_cp_prob[5:] > 0.9) + 5 in range(200, 204)


def test_bocpd_streaming_equals_batch(rng):
    x, _ = piecewise_poisson(rng, 500, 60)
    batch = K.bocpd(x, hazard=0.02, max_run_length=80)
    det = K.BOCPD("poisson", hazard=0.02, max_run_length=80)
    steps = [det.update(v) for v in x[:200]]
    rest = det.update_many(x[200:])
    np.testing.assert_allclose([s.cp_prob for s in steps], batch.cp_prob[:200], rtol=1e-13)
    np.testing.assert_allclose(rest.recent_cp_prob, batch.recent_cp_prob[200:], rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal([s.map_run_length for s in steps], batch.map_run_length[:200])
    assert det.log_evidence == pytest.approx(batch.log_evidence, rel=1e-13)
    assert det.pruned_mass == pytest.approx(batch.pruned_mass, rel=1e-12)
    r, p = det.run_length_posterior()
    assert r.size <= 80 and np.all(np.diff(r) > 0) and p.sum() <= 1 + 1e-12


def test_bocpd_edges():
    empty = K.bocpd([])
    assert empty.map_run_length.shape == (0,) and empty.log_evidence == 0.0
    one = K.bocpd([4])
    assert one.cp_prob[0] == 1.0 and one.map_run_length[0] == 0
    # Constant series: no change is ever probable, the run simply grows.
    const = K.bocpd(np.full(500, 7), hazard=0.01)
    np.testing.assert_array_equal(const.map_run_length, np.arange(500))
    assert const.recent_cp_prob[10:].max() < 0.05
    # Huge counts (IO bytes deltas): finite, and the change is found.
    big = np.r_[np.full(50, 3e12), np.full(50, 9e12)]
    res = K.bocpd(big, hazard=0.01)
    assert np.all(np.isfinite(res.log_pred)) and res.map_run_length[-1] == 49
    # All zeros (an idle process).
    assert np.all(np.isfinite(K.bocpd(np.zeros(100)).log_pred))
    # Read-only input.
    ro = np.arange(20.0)
    ro.setflags(write=False)
    K.bocpd(ro)


@pytest.mark.parametrize("kwargs, match", [
    ({"x": [1, -1]}, r"x must be a non-negative integer count, got x\[1\] = -1.0"),
    ({"x": [1, 1.5]}, r"x must be a non-negative integer count"),
    ({"x": [1, np.nan]}, r"x must be finite"),
    ({"x": [[1, 2]]}, r"x must be 1-D"),
    ({"x": [1, 2], "hazard": 1.0}, r"hazard must be < 1"),
    ({"x": [1, 2], "hazard": 0}, r"hazard must be > 0"),
    ({"x": [1, 2], "prior": (0.0, 1.0)}, r"prior\[0\] must be > 0"),
    ({"x": [1, 2], "prior": 3}, r"prior must be a pair"),
    ({"x": [1, 2], "prune_threshold": 1.0}, r"prune_threshold must be < 1"),
    ({"x": [1, 2], "max_run_length": 0}, r"max_run_length must be >= 1"),
    ({"x": [1, 2], "window": 2.5}, r"window must be an integer"),
    ({"x": [1, 2], "model": "gauss"}, r"model must be one of"),
    ({"x": [1, 2], "exposure": [1.0, 0.0]}, r"exposure must be > 0, got exposure\[1\] = 0.0"),
    ({"x": [1, 2], "exposure": [1.0]}, r"exposure must have length 2"),
    ({"x": [1, 2], "model": "binomial"}, r"trials must be given"),
    ({"x": [1, 5], "model": "binomial", "trials": 4}, r"x must be <= trials, got x\[1\]"),
])
def test_bocpd_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        K.bocpd(**kwargs)


def test_bocpd_streaming_validation():
    det = K.BOCPD("binomial")
    with pytest.raises(ValueError, match="trials must be given"):
        det.update(3)
    with pytest.raises(ValueError, match="x must be <= trials"):
        det.update(3, 2)
    with pytest.raises(ValueError, match="x must be a non-negative integer count"):
        K.BOCPD().update(2.5)
    with pytest.raises(ValueError, match="exposure must be > 0"):
        K.BOCPD().update(2, 0.0)


# ----------------------------------------------------------------- Hawkes

def hawkes_direct(t, mu, alpha, beta, T):
    d = t[:, None] - t[None, :]
    lam = mu + alpha * beta * np.where(d > 0, np.exp(-beta * np.clip(d, 0, None)), 0.0).sum(1)
    return np.log(lam).sum() - mu * T - alpha * np.sum(1 - np.exp(-beta * (T - t))), lam


def simulate_hawkes(rng, mu, alpha, beta, T):
    """Ogata's thinning: the intensity only decays between events, so its value just
    after the last event bounds it until the next one."""
    t, events, excite = 0.0, [], 0.0        # excite = alpha beta sum exp(-beta (t - t_i))
    while True:
        bound = mu + excite
        w = rng.exponential(1 / bound)
        excite *= math.exp(-beta * w)
        t += w
        if t > T:
            return np.array(events)
        if rng.random() * bound <= mu + excite:
            events.append(t)
            excite += alpha * beta


@pytest.mark.parametrize("params", [(2.0, 0.5, 1.5), (0.3, 0.9, 20.0), (5.0, 0.0, 1.0),
                                    (1.0, 2.0, 0.1)])
def test_hawkes_matches_direct_sum(rng, params):
    mu, alpha, beta = params
    t = np.sort(rng.uniform(0, 200, 800))
    ref, _ = hawkes_direct(t, mu, alpha, beta, 200.0)
    assert K.hawkes_loglik(t, mu, alpha, beta, 200.0) == pytest.approx(ref, rel=1e-9)


def test_hawkes_ties_and_edges():
    t = np.array([1.0, 1.0, 2.0, 5.0])           # ties excite each other? no: strict t_i < t
    ref, _ = hawkes_direct(t, 1.0, 0.5, 2.0, 6.0)
    # The recursion treats an earlier tied event as preceding (d = 0 contributes 1):
    # direct sum with d >= 0 for earlier indices.
    lam = 1.0 + 0.5 * 2.0 * np.array([0.0, 1.0, 2 * np.exp(-2.0), 2 * np.exp(-8.0) + np.exp(-6.0)])
    comp = 1.0 * 6.0 + 0.5 * np.sum(1 - np.exp(-2.0 * (6.0 - t)))
    assert K.hawkes_loglik(t, 1.0, 0.5, 2.0, 6.0) == pytest.approx(np.log(lam).sum() - comp, rel=1e-12)
    assert K.hawkes_loglik([], 2.0, 0.5, 1.0, 3.0) == -6.0
    assert K.hawkes_loglik([0.0], 2.0, 0.5, 1.0, 0.0) == pytest.approx(math.log(2.0))
    assert K.hawkes_loglik([3.0], 2.0, 0.5, 1.0, 3.0) == pytest.approx(math.log(2.0) - 6.0)


def test_hawkes_grid_mle_recovers_parameters(rng):
    mu, alpha, beta, T = 1.0, 0.6, 3.0, 4000.0
    t = simulate_hawkes(rng, mu, alpha, beta, T)
    assert t.size > 3000
    grid = [(m, a, b) for m in np.linspace(0.6, 1.4, 9) for a in np.linspace(0.3, 0.9, 13)
            for b in [1.5, 2.0, 3.0, 4.5, 6.0]]
    best = max(grid, key=lambda p: K.hawkes_loglik(t, *p, T))
    assert abs(best[0] - mu) <= 0.2 and abs(best[1] - alpha) <= 0.1 and 2.0 <= best[2] <= 4.5


def test_hawkes_baseline_posterior(rng):
    t = np.sort(rng.uniform(0, 100, 300))
    _, lam = hawkes_direct(t, 2.0, 0.4, 1.5, 100.0)
    a, b = K.hawkes_baseline_posterior(t, 2.0, 0.4, 1.5, 100.0, prior=(2.0, 0.5))
    assert a == pytest.approx(2.0 + np.sum(2.0 / lam), rel=1e-12) and b == 100.5
    assert K.hawkes_baseline_posterior([], 1.0, 0.5, 1.0, 10.0) == (1.0, 11.0)


@pytest.mark.parametrize("args, match", [
    (([2.0, 1.0], 1, 0.5, 1, 5), r"times must be sorted"),
    (([1.0, 6.0], 1, 0.5, 1, 5), r"times must lie in \[0, T\]"),
    (([-1.0], 1, 0.5, 1, 5), r"times must lie in"),
    (([np.inf], 1, 0.5, 1, 5), r"times must be finite"),
    (([1.0], 0, 0.5, 1, 5), r"mu must be > 0"),
    (([1.0], 1, -0.5, 1, 5), r"alpha must be >= 0"),
    (([1.0], 1, 0.5, 0, 5), r"beta must be > 0"),
    (([1.0], 1, 0.5, 1, np.nan), r"T must be a finite"),
])
def test_hawkes_validation(args, match):
    with pytest.raises(ValueError, match=match):
        K.hawkes_loglik(*args)


# ----------------------------------------------------------------- Kalman

def gaussian_conditioning(y, r, ql, qb, m0, v0):
    """Joint Gaussian of (s_1..s_n, y_observed); condition with numpy.linalg."""
    n = len(y)
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    Q = np.diag([ql, qb])
    # s_t = F^{t} s_1 + sum_j F^{t-1-j} w_j: build the linear map from (s_1, w_1..w_{n-1}).
    A = np.zeros((2 * n, 2 * n))
    Fp = [np.linalg.matrix_power(F, k) for k in range(n)]
    for t in range(n):
        A[2 * t:2 * t + 2, 0:2] = Fp[t]
        for j in range(1, t + 1):
            A[2 * t:2 * t + 2, 2 * j:2 * j + 2] = Fp[t - j]
    cov_src = np.zeros((2 * n, 2 * n))
    cov_src[:2, :2] = np.diag(v0)
    for j in range(1, n):
        cov_src[2 * j:2 * j + 2, 2 * j:2 * j + 2] = Q
    mean_src = np.zeros(2 * n)
    mean_src[:2] = m0
    ms, Ps = A @ mean_src, A @ cov_src @ A.T

    def condition(upto):
        obs = [t for t in range(upto) if not np.isnan(y[t])]
        H = np.zeros((len(obs), 2 * n))
        for i, t in enumerate(obs):
            H[i, 2 * t] = 1.0
        Syy = H @ Ps @ H.T + r * np.eye(len(obs))
        Ssy = Ps @ H.T
        v = y[obs] - H @ ms
        m = ms + Ssy @ np.linalg.solve(Syy, v)
        P = Ps - Ssy @ np.linalg.solve(Syy, Ssy.T)
        ll = -0.5 * (len(obs) * np.log(2 * np.pi) + np.linalg.slogdet(Syy)[1] + v @ np.linalg.solve(Syy, v))
        return m, P, ll

    filt = np.zeros((n, 5))
    for t in range(n):
        m, P, _ = condition(t + 1)
        filt[t] = m[2 * t], m[2 * t + 1], P[2 * t, 2 * t], P[2 * t, 2 * t + 1], P[2 * t + 1, 2 * t + 1]
    m, P, ll = condition(n)
    smooth = np.array([[m[2 * t], m[2 * t + 1], P[2 * t, 2 * t], P[2 * t, 2 * t + 1],
                        P[2 * t + 1, 2 * t + 1]] for t in range(n)])
    return filt, smooth, ll


@pytest.mark.parametrize("missing", [False, True])
def test_kalman_matches_gaussian_conditioning(rng, missing):
    n = 25
    y = 0.3 + 0.01 * np.arange(n) + rng.normal(0, 0.05, n)
    if missing:
        y[[0, 7, 8, 20]] = np.nan
    args = dict(obs_var=0.05**2, level_var=1e-3, trend_var=1e-4, init_mean=(0.2, 0.0),
                init_var=(0.5, 0.1))
    filt, smooth, ll = gaussian_conditioning(y, 0.05**2, 1e-3, 1e-4, (0.2, 0.0), (0.5, 0.1))
    for res, ref in ((K.kalman_filter(y, **args), filt), (K.kalman_smoother(y, **args), smooth)):
        got = np.c_[res.level, res.trend, res.level_var, res.level_trend_cov, res.trend_var]
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
        assert res.loglik == pytest.approx(ll, rel=1e-9)


def test_kalman_edges():
    res = K.kalman_filter([], obs_var=1.0, level_var=0.1, trend_var=0.1)
    assert res.level.shape == (0,) and res.loglik == 0.0
    one = K.kalman_smoother([0.4], obs_var=0.01, level_var=0.1, trend_var=0.1)
    assert one.level[0] == pytest.approx(0.4) and one.level_var[0] < 0.01
    allnan = K.kalman_filter([np.nan] * 3, obs_var=1.0, level_var=0.1, trend_var=0.0,
                             init_var=(1.0, 0.0))
    np.testing.assert_allclose(allnan.level_var, [1.0, 1.1, 1.2])
    const = K.kalman_smoother(np.full(200, 0.25), obs_var=1e-4, level_var=1e-6, trend_var=1e-8)
    np.testing.assert_allclose(const.level, 0.25, atol=1e-9)
    np.testing.assert_allclose(const.trend, 0.0, atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    ({"y": [1, np.inf]}, r"y must be finite or NaN \(missing\), got y\[1\] = inf"),
    ({"y": [[1.0]]}, r"y must be 1-D"),
    ({"y": [1.0], "obs_var": 0.0}, r"obs_var must be > 0"),
    ({"y": [1.0], "level_var": -1.0}, r"level_var must be >= 0"),
    ({"y": [1.0], "init_var": (1.0,)}, r"must be pairs"),
])
def test_kalman_validation(kwargs, match):
    args = {"obs_var": 1.0, "level_var": 0.1, "trend_var": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        K.kalman_filter(**args)


# ----------------------------------------------------------------- change point (idea D)

def test_beta_changepoint_against_quadrature():
    k = np.array([1, 0, 2, 7, 9, 8])
    n = np.array([10, 10, 10, 10, 10, 10])
    pb, pa, rho = (1.0, 3.0), (2.0, 1.0), 0.2
    res = K.beta_changepoint(k, n, prior_before=pb, prior_after=pa, rho=rho)
    mpmath.mp.dps = 30
    T = len(k)

    def seg(ks, ns, a, b):                       # integral of prod Bin(k|n,p) Beta(p|a,b) dp
        if len(ks) == 0:
            return mpmath.mpf(1)
        f = lambda p: (mpmath.fprod(mpmath.binomial(int(nn), int(kk)) * p**int(kk) * (1 - p)**int(nn - kk)
                                    for kk, nn in zip(ks, ns)) * p**(a - 1) * (1 - p)**(b - 1) / mpmath.beta(a, b))
        return mpmath.quad(f, [0, 1])

    joint = []
    for tau in range(1, T + 2):
        prior = rho * (1 - rho) ** (tau - 1) if tau <= T else (1 - rho) ** T
        joint.append(prior * seg(k[:tau - 1], n[:tau - 1], *pb) * seg(k[tau - 1:], n[tau - 1:], *pa))
    total = mpmath.fsum(joint)
    assert res.log_marginal == pytest.approx(float(mpmath.log(total)), rel=1e-12)
    np.testing.assert_allclose(res.tau_posterior, [float(j / total) for j in joint], rtol=1e-10)
    assert res.tau_map == 4 and res.p_change == pytest.approx(1 - float(joint[-1] / total), rel=1e-12)


def test_beta_changepoint_simulated_and_edges(rng):
    k = np.r_[rng.binomial(50, 0.1, 80), rng.binomial(50, 0.5, 40)]
    res = K.beta_changepoint(k, 50, rho=0.01)
    assert abs(res.tau_map - 81) <= 2 and res.p_change > 0.999
    const = K.beta_changepoint(np.full(100, 5), 50, prior_before=(5, 45), prior_after=(40, 10))
    assert const.tau_map == 101 and const.p_change < 1e-6
    empty = K.beta_changepoint([], 10)
    assert empty.tau_posterior.tolist() == [1.0] and empty.log_marginal == 0.0
    huge = K.beta_changepoint([10**12, 10**12, 9 * 10**12], 10**13)
    assert np.isfinite(huge.log_marginal) and huge.tau_map == 3
    with pytest.raises(ValueError, match=r"k must be <= n, got k\[0\]"):
        K.beta_changepoint([3], 2)
    with pytest.raises(ValueError, match=r"rho must be < 1"):
        K.beta_changepoint([1], 2, rho=1.0)
    with pytest.raises(ValueError, match=r"prior_after\[1\] must be > 0"):
        K.beta_changepoint([1], 2, prior_after=(1.0, -1.0))


# ----------------------------------------------------------------- CPU increments (idea G)

def test_cpu_increment_against_series_sum():
    c = np.array([0.0, 1e-3, 0.2, 1.0, 5.0, 40.0, 300.0])
    d = np.array([1.0, 0.5, 1.0, 2.0, 1.0, 10.0, 30.0])
    kappa, beta = 3.0, 2.5
    got = K.cpu_increment_logpdf(c, d, kappa=kappa, beta=beta)
    j = np.arange(1, 5000)
    for ci, di, g in zip(c, d, got):
        m = kappa * di
        if ci == 0:
            ref = -m
        else:                                     # sum_j Pois(j; m) Gamma(c; j, beta), j < 5000
            ref = sp_logsumexp(j * math.log(m) - m - gammaln(j + 1) + j * math.log(beta)
                               + (j - 1) * math.log(ci) - beta * ci - gammaln(j))
        assert g == pytest.approx(ref, rel=1e-12, abs=1e-13)


def test_log_i1_against_scipy():
    from pt._kernels import _changepoint
    z = np.r_[10.0 ** np.linspace(-5, 3, 200), 29.99, 30.0, 30.01]
    np.testing.assert_allclose(_changepoint.log_i1(z), np.log(sc.i1e(z)) + z, rtol=1e-14, atol=1e-15)


def test_cpu_increment_validation():
    with pytest.raises(ValueError, match=r"c must be >= 0, got c\[1\] = -1.0"):
        K.cpu_increment_logpdf([1.0, -1.0], 1.0, kappa=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"dt must be > 0"):
        K.cpu_increment_logpdf([1.0], 0.0, kappa=1.0, beta=1.0)
    with pytest.raises(ValueError, match=r"kappa must be > 0"):
        K.cpu_increment_logpdf([1.0], 1.0, kappa=0.0, beta=1.0)
    assert K.cpu_increment_logpdf([], 1.0, kappa=1.0, beta=1.0).shape == (0,)
