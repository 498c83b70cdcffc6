"""Tier (c): property tests over the whole domain, edges included (hypothesis)."""
import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pt.kernels as K

EPS = np.finfo(np.float64).eps

settings.register_profile("pt", deadline=None, max_examples=200)
settings.load_profile("pt")


def log_uniform(lo_exp, hi_exp):
    """Positive floats spread evenly in log scale over [10**lo_exp, 10**hi_exp]."""
    return st.floats(lo_exp, hi_exp).map(lambda e: 10.0 ** e)


# Parameters from tiny to huge, with the special values 1/2, 1 and 2 mixed in.
params = st.one_of(log_uniform(-3, 6), st.sampled_from([0.5, 1.0, 2.0]))
moderate = st.one_of(log_uniform(-2, 4), st.sampled_from([0.5, 1.0, 2.0]))
probabilities = st.one_of(st.floats(0.0, 1.0), log_uniform(-300, 0).map(lambda p: min(p, 1.0)),
                          log_uniform(-16, 0).map(lambda p: 1.0 - p))


def _bracket(x, rel):
    """x -+ rel * min(x, 1 - x), but at least 4 ulps of x (the grid is coarse near 1)."""
    delta = max(rel * min(x, 1.0 - x), 4 * float(np.spacing(x)))
    return max(x - delta, 0.0), min(x + delta, 1.0)


# ----------------------------------------------------------------- Beta CDF and quantile

@given(q=probabilities, a=moderate, b=moderate)
def test_ppf_brackets_the_root(q, a, b):
    """beta_cdf(beta_ppf(q)) = q: the cdf crosses q within 1e-12 (relative, in x or 1 - x)."""
    x = float(K.beta_ppf(q, a, b))
    assume(0.0 < x < 1.0 and 1e-300 < min(x, 1.0 - x))
    lo, hi = _bracket(x, 1e-12)
    below, above = K.beta_cdf(lo, a, b), K.beta_cdf(hi, a, b)
    slack = 8 * EPS * max(q, 1e-300)            # cdf rounding where it is flat in x
    assert below <= q + slack
    assert above >= q - slack


@given(q=hnp.arrays(np.float64, st.integers(0, 30), elements=probabilities), a=params, b=params)
def test_ppf_is_monotone_in_q(q, a, b):
    q = np.sort(q)
    x = K.beta_ppf(q, a, b)
    assert np.all((x >= 0.0) & (x <= 1.0))
    assert np.all(np.diff(x) >= 0.0)


@given(a=params, b=params)
def test_ppf_and_cdf_endpoints(a, b):
    assert K.beta_ppf(0.0, a, b) == 0.0 and K.beta_ppf(1.0, a, b) == 1.0
    assert K.beta_cdf(0.0, a, b) == 0.0 and K.beta_cdf(1.0, a, b) == 1.0


@given(x=hnp.arrays(np.float64, st.integers(0, 30), elements=st.floats(0.0, 1.0)),
       a=params, b=params)
def test_cdf_is_a_monotone_probability(x, a, b):
    p = K.beta_cdf(np.sort(x), a, b)
    assert np.all((p >= 0.0) & (p <= 1.0))
    assert np.all(np.diff(p) >= 0.0)


@given(x=st.floats(0.5, 1.0), a=params, b=params)
def test_cdf_reflection(x, a, b):
    """I_x(a, b) + I_{1-x}(b, a) = 1 (1 - x is exact for x >= 1/2).

    Each term is accurate to a few eps times its condition number in x, which is
    about (1 - x) f(x) (large near the mode of a narrow distribution).
    """
    total = K.beta_cdf(x, a, b) + K.beta_cdf(1.0 - x, b, a)
    cond = (1.0 - x) * math.exp(K.beta_logpdf(x, a, b)) if x < 1.0 else 0.0
    assert abs(total - 1.0) <= 16 * EPS * (1.0 + cond)


# ----------------------------------------------------------------- log Beta and densities

@given(a=params, b=params)
def test_betaln_symmetry_and_recurrence(a, b):
    """B(a, b) = B(b, a) exactly; log B(a + 1, b) = log B(a, b) + log(a / (a + b))."""
    assert K.betaln(a, b) == K.betaln(b, a)
    assume(a + 1.0 > a)
    lhs = K.betaln(a + 1.0, b)
    rhs = K.betaln(a, b) - math.log1p(b / a)
    scale = abs(K.betaln(a, b)) + abs(math.log1p(b / a)) + 1.0
    assert abs(lhs - rhs) <= 64 * EPS * scale


@given(a=params, b=params)
def test_beta_bernoulli_probabilities_sum_to_one(a, b):
    lp = K.beta_bernoulli_logpmf(np.array([0, 1]), a, b)
    assert np.all(lp <= 0.0)
    assert abs(K.logsumexp(lp)) <= 4 * EPS


@given(alpha=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 12)),
                        elements=log_uniform(-3, 6)))
def test_dirichlet_categorical_probabilities_sum_to_one(alpha):
    n_rows, n_cat = alpha.shape
    k = np.broadcast_to(np.arange(n_cat), (n_rows, n_cat))
    lp = K.dirichlet_categorical_logpmf(k, alpha[:, None, :])    # (rows, 1, K) vs k (rows, K)
    assert lp.shape == (n_rows, n_cat)
    assert np.all(lp <= 0.0)
    assert np.all(np.abs(K.logsumexp(lp, axis=-1)) <= 4 * n_cat * EPS)


@given(x=st.floats(0.0, 1.0), a=params, b=params)
def test_beta_logpdf_reflection(x, a, b):
    """f(x; a, b) = f(1 - x; b, a) where 1 - x is exact."""
    assume(x >= 0.5)
    lhs, rhs = K.beta_logpdf(x, a, b), K.beta_logpdf(1.0 - x, b, a)
    if math.isinf(lhs) or math.isinf(rhs):
        assert lhs == rhs
    else:
        assert abs(lhs - rhs) <= 64 * EPS * max(abs(lhs), 1.0)


@given(x=log_uniform(-300, 300), k=params, scale=log_uniform(-6, 6))
def test_gamma_logpdf_scale_family(x, k, scale):
    """log f(x; k, s) = log f(x / s; k, 1) - log s."""
    y = x / scale
    assume(1e-300 < y < 1e300)
    lhs = K.gamma_logpdf(x, k, scale)
    rhs = K.gamma_logpdf(y, k, 1.0) - math.log(scale)
    # x / s rounds once: the log density moves by |d log f / d log y| * eps = |k - 1 - y| eps.
    tol = 64 * EPS * (abs(lhs) + abs(k - 1.0 - y) + abs(math.log(scale)) + 1.0)
    assert abs(lhs - rhs) <= tol


# ----------------------------------------------------------------- log-sum-exp

finite_rows = hnp.arrays(np.float64, st.tuples(st.integers(0, 5), st.integers(1, 40)),
                         elements=st.floats(-1e3, 1e3))


@given(a=finite_rows, shift=st.floats(-1e3, 1e3))
def test_logsumexp_shift_invariance(a, shift):
    got = K.logsumexp(a + shift)
    want = K.logsumexp(a) + shift
    scale = np.abs(a).max(axis=-1, initial=0.0) + abs(shift) + 1.0
    assert np.all(np.abs(got - want) <= 16 * EPS * scale)


@given(a=finite_rows)
def test_logsumexp_matches_max_plus_log_sum(a):
    m = a.max(axis=-1)
    want = m + np.log(np.sum(np.exp(a - m[:, None]), axis=-1))
    got = K.logsumexp(a)
    assert np.all(np.abs(got - want) <= 16 * EPS * (np.abs(m) + 1.0) + a.shape[1] * EPS)
    assert np.all((got >= m) & (got <= m + np.log(a.shape[1]) + 1e-12))


@given(a=finite_rows, extra=st.integers(1, 5))
def test_logsumexp_ignores_minus_infinity(a, extra):
    padded = np.concatenate([a, np.full((a.shape[0], extra), -np.inf)], axis=-1)
    np.testing.assert_array_equal(K.logsumexp(padded), K.logsumexp(a))


@given(shape=st.tuples(st.integers(0, 3), st.integers(0, 3)), axis=st.sampled_from([0, 1, -1]))
def test_empty_reductions_and_batches(shape, axis):
    a = np.zeros(shape)
    got = K.logsumexp(a, axis=axis)
    expected_shape = tuple(n for i, n in enumerate(shape) if i != axis % 2)
    assert got.shape == expected_shape
    if shape[axis % 2] == 0:
        assert np.all(got == -np.inf)
