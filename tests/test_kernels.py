"""pt.kernels against SciPy (tier a) and the public API contract.

Tier (a): each vectorised kernel against its SciPy reference at rtol 1e-12 on a
domain where both are well conditioned.  Results that are differences of large
terms (log densities, log B near its zeros) are compared with
``assert_allclose_scaled``, whose tolerance is relative to the size of those terms:
a relative tolerance on a result near 0 would ask for more than its condition
number allows.  The rest: validation messages, broadcasting, scalars, read-only,
empty and non-contiguous inputs.
"""
import doctest

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

import pt.kernels as K
from pt.testing import assert_allclose_scaled

N = 2000


@pytest.fixture
def rng():
    return np.random.default_rng(20240501)


def _log_uniform(rng, lo, hi, size):
    return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), size)


# ----------------------------------------------------------------- tier (a)

def test_betaln_matches_scipy(rng):
    # b/a <= 100: SciPy's cephes lbeta loses ~1e-11 for ratios 1e3..1e6 (tier b covers those).
    a = _log_uniform(rng, 1e-2, 1e2, N)
    b = a * _log_uniform(rng, 1e-2, 1e2, N)
    terms = np.abs(sc.gammaln(a)) + np.abs(sc.gammaln(b)) + np.abs(sc.gammaln(a + b))
    assert_allclose_scaled(K.betaln(a, b), sc.betaln(a, b), rtol=1e-12, scale=terms)


def test_betaln_array_equals_scalar_across_blocks(rng):
    # The array kernel works in blocks of 2048 with its logs batched; every element,
    # in every branch (both >= 8, one >= 8, both < 8, a tiny one), and on both sides
    # of a block boundary, must equal the scalar path.
    n = 3 * 4096 + 17
    a = _log_uniform(rng, 1e-305, 1e8, n)
    b = _log_uniform(rng, 1e-3, 1e8, n)
    scalar = np.array([K.betaln(float(x), float(y)) for x, y in zip(a, b)])
    np.testing.assert_allclose(K.betaln(a, b), scalar, rtol=4 * np.finfo(float).eps)
    assert K.betaln(a[:1], b[:1])[0] == pytest.approx(scalar[0], rel=4 * np.finfo(float).eps)


def test_beta_logpdf_subnormal_a_with_large_b():
    # As for betaln: a/b underflows to 0, its log is not used and warns of nothing.
    x, a, b = np.array([0.5, 0.25]), np.array([1e-320, 5e-324]), np.array([1e10, 1e300])
    np.testing.assert_allclose(K.beta_logpdf(x, a, b), [K.beta_logpdf(0.5, 1e-320, 1e10),
                                                        K.beta_logpdf(0.25, 5e-324, 1e300)],
                               rtol=4 * np.finfo(float).eps)


def test_betaln_subnormal_a_with_large_b():
    # a/b underflows to 0 here: no log of it may be taken (no warning, as before blocks).
    a, b = np.array([1e-320, 5e-324]), np.array([1e10, 1e300])
    np.testing.assert_allclose(K.betaln(a, b), [K.betaln(1e-320, 1e10), K.betaln(5e-324, 1e300)],
                               rtol=4 * np.finfo(float).eps)


def test_beta_logpdf_matches_scipy(rng):
    a = rng.uniform(0.1, 50.0, N)
    b = rng.uniform(0.1, 50.0, N)
    x = np.where(rng.random(N) < 0.5, rng.beta(a, b), rng.random(N))
    with np.errstate(divide="ignore"):
        terms = (np.abs((a - 1) * np.log(x)) + np.abs((b - 1) * np.log1p(-x))
                 + np.abs(sc.betaln(a, b)))
    assert_allclose_scaled(K.beta_logpdf(x, a, b), st.beta.logpdf(x, a, b), rtol=1e-12,
                           scale=terms)


def test_beta_logpdf_array_equals_scalar_across_blocks(rng):
    # The array kernel works in blocks of 2048, sorts each block's points by kind
    # (Stirling pairs, the rest, ends and outside) and reuses parameter terms while
    # they repeat; every element must still equal the scalar path: random pairs over
    # every branch, runs of repeated pairs (also across a block boundary) and points
    # at and beyond the ends among them.
    n = 3 * 4096 + 17
    a = _log_uniform(rng, 1e-3, 1e8, n)
    b = _log_uniform(rng, 1e-3, 1e8, n)
    a[4000:4200], b[4000:4200] = 20.0, 30.0          # a Stirling run across the first boundary
    a[8100:8300], b[8100:8300] = 3.0, 7.0            # a run of the other kind across the second
    x = rng.beta(np.minimum(a, 1e4), np.minimum(b, 1e4))
    x[::97] = rng.choice([0.0, 1.0, -0.5, 1.5], x[::97].size)
    scalar = np.array([K.beta_logpdf(float(t), float(p), float(q)) for t, p, q in zip(x, a, b)])
    # NumPy's SIMD log and libm's may differ by an ulp: a few ulps of the largest term.
    # The ends and outside take the scalar way: equal.
    array = K.beta_logpdf(x, a, b)
    inside = (x > 0) & (x < 1)
    np.testing.assert_array_equal(array[~inside], scalar[~inside])
    x, a, b = x[inside], a[inside], b[inside]
    terms = np.abs((a - 1) * np.log(x)) + np.abs((b - 1) * np.log1p(-x)) + np.abs(sc.betaln(a, b))
    assert_allclose_scaled(array[inside], scalar[inside], rtol=4 * np.finfo(float).eps, scale=terms)


def _avx2_or_skip():
    from pt._kernels import _cpu
    if not _cpu.has_avx2():
        pytest.skip("this CPU does not run AVX2: pt uses the baseline builds only")


def _same_bits(actual, expected):
    np.testing.assert_array_equal(np.asarray(actual).view(np.int64), np.asarray(expected).view(np.int64))


def test_pt_kernels_use_the_avx2_builds_where_the_cpu_runs_them():
    from pt._kernels import _cpu, _densities, _special
    if _cpu.has_avx2():
        from pt._kernels import _densities_avx2, _special_avx2
        assert K._densities is _densities_avx2 and K._special is _special_avx2
    else:
        assert K._densities is _densities and K._special is _special


# The branch-free loops compute both sides of a select; with subnormal and huge
# parameters the side thrown away divides by zero. The kernel-debug build
# (cdivision off) raises there, inside functions that cannot raise, which Python
# reports as unraisable; both builds then take the same path, and the bits are
# still compared.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_densities_avx2_build_is_bit_identical(rng):
    # pt.kernels runs the AVX2 build where the CPU can, and every other test of
    # the densities then tests that build: the baseline build must give the same
    # bits, over every kind of beta_logpdf point (Stirling, mixed, both small,
    # repeated pairs, ends and outside, subnormal and huge parameters, block
    # boundaries) and for the module's other kernels.
    _avx2_or_skip()
    from pt._kernels import _densities as base, _densities_avx2 as avx2
    n = 3 * 4096 + 17
    a = _log_uniform(rng, 1e-3, 1e8, n)
    b = _log_uniform(rng, 1e-3, 1e8, n)
    a[100:300], b[100:300] = 20.0, 30.0
    a[2000:2100], b[2000:2100] = 3.0, 7.0
    a[:8], b[:8] = [1e-320, 5e-324, 1e-300, 8.0, 9.0, 1e150, 1.0, 2.0], [1e10, 1e300, 9.0, 9.0, 1e100, 1e150, 9.0, 1.0]
    x = rng.beta(np.minimum(a, 1e4), np.minimum(b, 1e4))
    x[::97] = rng.choice([0.0, 1.0, -0.5, 1.5, 5e-324, 1.0 - 2.0 ** -53], x[::97].size)
    with np.errstate(divide="ignore"):
        _same_bits(avx2.beta_logpdf(x, a, b), base.beta_logpdf(x, a, b))
    _same_bits(avx2.beta_logpdf_shared(x, 20.0, 30.0), base.beta_logpdf_shared(x, 20.0, 30.0))
    _same_bits(avx2.beta_logpdf_scalar(0.3, 2.5, 3.5), base.beta_logpdf_scalar(0.3, 2.5, 3.5))
    y = np.abs(rng.standard_cauchy(n)) * 10.0
    _same_bits(avx2.gamma_logpdf(y, a, b), base.gamma_logpdf(y, a, b))
    k = rng.integers(0, 2, n)
    _same_bits(avx2.beta_bernoulli_logpmf(k, a, b), base.beta_bernoulli_logpmf(k, a, b))
    alpha = rng.uniform(0.1, 20.0, (n, 5))
    k = rng.integers(0, 5, n)
    _same_bits(avx2.dirichlet_categorical_logpmf(k, alpha), base.dirichlet_categorical_logpmf(k, alpha))


def test_special_avx2_build_is_bit_identical(rng):
    # As for _densities: betaln over every branch (both >= 8, one >= 8, both
    # below, subnormal and huge arguments) and across block boundaries.
    _avx2_or_skip()
    from pt._kernels import _special as base, _special_avx2 as avx2
    n = 3 * 4096 + 17
    a = _log_uniform(rng, 1e-305, 1e8, n)
    b = _log_uniform(rng, 1e-3, 1e101, n)
    a[:6], b[:6] = [1e-320, 5e-324, 8.0, 7.999, 1e-300, 2.0], [1e10, 1e300, 8.0, 1e100, 1e99, 3.0]
    with np.errstate(divide="ignore"):
        _same_bits(avx2.betaln(a, b), base.betaln(a, b))
    _same_bits(avx2.betaln_scalar(0.5, 1e6), base.betaln_scalar(0.5, 1e6))


@pytest.mark.parametrize("a", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("b", [0.5, 1.0, 2.0])
def test_beta_logpdf_support_edges_match_scipy(a, b):
    x = np.array([0.0, 1.0, -0.1, 1.1, -np.inf, np.inf])
    np.testing.assert_allclose(K.beta_logpdf(x, a, b), st.beta.logpdf(x, a, b), rtol=1e-15)


def test_gamma_logpdf_matches_scipy(rng):
    k = rng.uniform(0.1, 50.0, N)
    theta = rng.uniform(0.1, 10.0, N)
    x = np.where(rng.random(N) < 0.5, rng.gamma(k, theta), rng.uniform(0.0, 100.0, N))
    y = x / theta
    with np.errstate(divide="ignore"):
        terms = (np.abs((k - 1) * np.log(y)) + y + np.abs(sc.gammaln(k))
                 + np.abs(np.log(theta)))
    assert_allclose_scaled(K.gamma_logpdf(x, k, theta), st.gamma.logpdf(x, k, scale=theta),
                           rtol=1e-12, scale=terms)


@pytest.mark.parametrize("k", [0.5, 1.0, 2.0])
def test_gamma_logpdf_edges(k):
    x = np.array([0.0, -1.0, -np.inf])
    np.testing.assert_allclose(K.gamma_logpdf(x, k, 2.0), st.gamma.logpdf(x, k, scale=2.0),
                               rtol=1e-15)
    # +inf: the limit -inf for every shape (SciPy gives NaN when k > 1).
    assert K.gamma_logpdf(np.inf, k, 2.0) == -np.inf


def test_beta_bernoulli_matches_betabinom(rng):
    a = rng.uniform(0.1, 50.0, N)
    b = rng.uniform(0.1, 50.0, N)
    k = rng.integers(0, 2, N)
    terms = np.abs(sc.betaln(a, b)) + np.abs(sc.betaln(a + k, b + 1 - k))
    assert_allclose_scaled(K.beta_bernoulli_logpmf(k, a, b), st.betabinom.logpmf(k, 1, a, b),
                           rtol=1e-12, scale=terms)


def test_dirichlet_categorical_matches_dirichlet_multinomial(rng):
    n, n_cat = 200, 5
    alpha = rng.uniform(0.1, 20.0, (n, n_cat))
    k = rng.integers(0, n_cat, n)
    onehot = np.eye(n_cat)[k]
    expected = st.dirichlet_multinomial.logpmf(onehot, alpha, 1)
    total = alpha.sum(axis=1)
    chosen = alpha[np.arange(n), k]
    terms = (np.abs(sc.gammaln(total)) + np.abs(sc.gammaln(total + 1))
             + np.abs(sc.gammaln(chosen)) + np.abs(sc.gammaln(chosen + 1)))
    assert_allclose_scaled(K.dirichlet_categorical_logpmf(k, alpha), expected, rtol=1e-12,
                           scale=terms)


def test_dirichlet_categorical_shares_rows():
    alpha = np.array([[1.0, 2.0, 5.0], [3.0, 3.0, 2.0]])
    k = np.array([[0], [2], [1]])                      # (3, 1) against batch (2,)
    got = K.dirichlet_categorical_logpmf(k, alpha)
    expected = np.log(alpha[np.arange(2)[None, :], k] / alpha.sum(axis=1)[None, :])
    assert got.shape == (3, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize("shape, axis", [((1000, 4), -1), ((3, 5, 7), 0), ((3, 5, 7), 1),
                                         ((3, 5, 7), 2), ((3, 5, 7), None), ((6,), 0),
                                         ((4, 1000), 1)])
def test_logsumexp_matches_scipy(rng, shape, axis):
    a = rng.normal(scale=30.0, size=shape)
    # atol 1e-13: results near 0 have no relative scale; |a| ~ 30 sets the absolute one.
    np.testing.assert_allclose(K.logsumexp(a, axis=axis), sc.logsumexp(a, axis=axis),
                               rtol=1e-12, atol=1e-13)


def test_logsumexp_infinities_and_empty():
    a = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.inf, -np.inf], [-np.inf, 2.0]])
    np.testing.assert_array_equal(K.logsumexp(a), sc.logsumexp(a, axis=-1))
    np.testing.assert_array_equal(K.logsumexp(np.zeros((3, 0))), np.full(3, -np.inf))
    assert K.logsumexp([]) == -np.inf
    assert K.logsumexp(np.zeros((0, 4))).shape == (0,)
    assert K.logsumexp(3.0) == 3.0                     # 0-d: one element, as SciPy


def test_beta_cdf_matches_betainc(rng):
    a = np.concatenate([rng.uniform(0.1, 50.0, N), _log_uniform(rng, 1e-2, 1e3, N)])
    b = np.concatenate([rng.uniform(0.1, 50.0, N), _log_uniform(rng, 1e-2, 1e3, N)])
    x = rng.random(2 * N)
    # atol 1e-300: subnormal results carry fewer than 15 digits.
    np.testing.assert_allclose(K.beta_cdf(x, a, b), sc.betainc(a, b, x), rtol=1e-12, atol=1e-300)


def test_beta_cdf_clips_outside_support():
    np.testing.assert_array_equal(K.beta_cdf([-1.0, -np.inf, 0.0, 1.0, 2.0, np.inf], 2.0, 3.0),
                                  [0.0, 0.0, 0.0, 1.0, 1.0, 1.0])


def test_beta_ppf_matches_betaincinv(rng):
    a = rng.uniform(0.1, 50.0, N)
    b = rng.uniform(0.1, 50.0, N)
    q = rng.random(N)
    np.testing.assert_allclose(K.beta_ppf(q, a, b), sc.betaincinv(a, b, q), rtol=1e-12)


def test_beta_ppf_endpoints():
    np.testing.assert_array_equal(K.beta_ppf([0.0, 1.0], 0.3, 7.0), [0.0, 1.0])


# ----------------------------------------------------------------- API contract

ELEMENTWISE = [
    (K.betaln, (2.0, 3.0)),
    (K.beta_logpdf, (0.3, 2.0, 3.0)),
    (K.gamma_logpdf, (1.5, 2.0, 3.0)),
    (K.beta_bernoulli_logpmf, (1, 2.0, 3.0)),
    (K.beta_cdf, (0.3, 2.0, 3.0)),
    (K.beta_ppf, (0.3, 2.0, 3.0)),
    (K.gammaincc, (2.0, 3.0)),
]
IDS = [f.__name__ for f, _ in ELEMENTWISE]


@pytest.mark.parametrize("func, args", ELEMENTWISE, ids=IDS)
def test_scalars_in_give_float64_scalar_out(func, args):
    python = func(*args)
    zero_d = func(*(np.asarray(v) for v in args))
    numpy_scalars = func(*(np.float64(v) if isinstance(v, float) else np.int64(v) for v in args))
    for out in (python, zero_d, numpy_scalars):
        assert type(out) is np.float64
    assert python == zero_d == numpy_scalars


@pytest.mark.parametrize("func, args", ELEMENTWISE, ids=IDS)
def test_broadcasting_matches_elementwise_calls(func, args):
    first = np.full((3, 1), args[0])
    second = np.asarray(args[1]) * np.array([[1.0, 1.5, 2.0, 2.5]])     # (1, 4)
    rest = args[2:]
    got = func(first, second, *rest)
    assert got.shape == (3, 4)
    expected = [[func(f, s, *rest) for f, s in zip(row_f, row_s)]
                for row_f, row_s in zip(*np.broadcast_arrays(first, second))]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("func, args", ELEMENTWISE, ids=IDS)
def test_read_only_and_non_contiguous_inputs(func, args):
    arrays = []
    for value in args:
        arr = np.repeat(np.asarray(value), 12).reshape(3, 4).T     # (4, 3) F-ordered view
        arr.flags.writeable = False
        arrays.append(arr)
    got = func(*arrays)
    assert got.shape == (4, 3)
    np.testing.assert_array_equal(got, np.full((4, 3), func(*args)))


@pytest.mark.parametrize("func, args", ELEMENTWISE, ids=IDS)
@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 3)])
def test_empty_inputs_give_empty_outputs(func, args, shape):
    arrays = [np.full(shape, v) for v in args]
    out = func(*arrays)
    assert out.shape == shape and out.dtype == np.float64


def test_dirichlet_and_logsumexp_read_only_and_empty():
    alpha = np.array([[1.0, 2.0], [3.0, 4.0]])
    alpha.flags.writeable = False
    k = np.array([1, 0])
    k.flags.writeable = False
    np.testing.assert_allclose(K.dirichlet_categorical_logpmf(k, alpha),
                               np.log([2.0 / 3.0, 3.0 / 7.0]), rtol=1e-15)
    assert K.dirichlet_categorical_logpmf(np.zeros(0, dtype=int), alpha[:0]).shape == (0,)
    assert K.logsumexp(alpha, axis=0).shape == (2,)
    assert type(K.dirichlet_categorical_logpmf(1, [1.0, 3.0])) is np.float64


def test_inputs_are_not_modified():
    a = np.array([1.0, 2.0, 3.0])
    before = a.copy()
    K.betaln(a, a)
    K.logsumexp(a)
    np.testing.assert_array_equal(a, before)


BAD_CALLS = [
    (K.betaln, (-1.0, 2.0), r"^a must be finite and > 0, got -1\.0$"),
    (K.betaln, (1.0, np.nan), r"^b must be finite and > 0, got nan$"),
    (K.betaln, ([1.0, 2.0, np.inf], 1.0), r"^a must be finite and > 0, got a\[2\] = inf$"),
    (K.betaln, ([[1.0, 2.0], [3.0, 0.0]], 1.0), r"^a must be finite and > 0, got a\[1, 1\] = 0\.0$"),
    (K.betaln, ([1 + 2j], 1.0), r"^a must be real numbers, got dtype complex128$"),
    (K.betaln, ("x", 1.0), r"^a must be real numbers, got dtype <U1$"),
    (K.beta_logpdf, (np.nan, 1.0, 1.0), r"^x must not be NaN, got nan$"),
    (K.beta_logpdf, (0.5, 0.0, 1.0), r"^a must be finite and > 0, got 0\.0$"),
    (K.gamma_logpdf, ([1.0, np.nan], 1.0, 1.0), r"^x must not be NaN, got x\[1\] = nan$"),
    (K.gamma_logpdf, (1.0, 1.0, -2.0), r"^scale must be finite and > 0, got -2\.0$"),
    (K.gamma_logpdf, (1.0, np.inf, 1.0), r"^shape must be finite and > 0, got inf$"),
    (K.beta_bernoulli_logpmf, (2, 1.0, 1.0), r"^k must be 0 or 1, got 2$"),
    (K.beta_bernoulli_logpmf, ([0, 1, -1], 1.0, 1.0), r"^k must be 0 or 1, got k\[2\] = -1$"),
    (K.beta_bernoulli_logpmf, (1.0, 1.0, 1.0), r"^k must be integers, got dtype float64$"),
    (K.beta_bernoulli_logpmf, (1, 1.0, -1.0), r"^b must be finite and > 0, got -1\.0$"),
    (K.dirichlet_categorical_logpmf, (3, [1.0, 2.0]), r"^k must be in \[0, 2\), got 3$"),
    (K.dirichlet_categorical_logpmf, ([0, -1], [1.0, 2.0]), r"^k must be in \[0, 2\), got k\[1\] = -1$"),
    (K.dirichlet_categorical_logpmf, (0.0, [1.0, 2.0]), r"^k must be integers, got dtype float64$"),
    (K.dirichlet_categorical_logpmf, (0, [[1.0, 2.0], [0.0, 1.0]]),
     r"^alpha must be finite and > 0, got alpha\[1, 0\] = 0\.0$"),
    (K.dirichlet_categorical_logpmf, (0, 1.0), r"^alpha must have categories on its last axis"),
    (K.dirichlet_categorical_logpmf, (0, np.ones((2, 0))), r"^alpha must have categories"),
    (K.dirichlet_categorical_logpmf, ([0, 0, 0], np.ones((2, 2))), r"^k with shape \(3,\) does not"),
    (K.logsumexp, ([0.0, np.nan],), r"^a must not be NaN, got a\[1\] = nan$"),
    (K.logsumexp, (np.ones((2, 2)), 2), r"^axis must be in \[-2, 2\)"),
    (K.beta_cdf, (np.nan, 1.0, 1.0), r"^x must not be NaN, got nan$"),
    (K.beta_cdf, (0.5, 1.0, 0.0), r"^b must be finite and > 0, got 0\.0$"),
    (K.beta_ppf, (1.5, 1.0, 1.0), r"^q must be in \[0, 1\], got 1\.5$"),
    (K.beta_ppf, ([0.5, -0.1], 1.0, 1.0), r"^q must be in \[0, 1\], got q\[1\] = -0\.1$"),
    (K.beta_ppf, (np.nan, 1.0, 1.0), r"^q must be in \[0, 1\], got nan$"),
    (K.beta_ppf, (0.5, -np.inf, 1.0), r"^a must be finite and > 0, got -inf$"),
    (K.gammaincc, (0.0, 1.0), r"^a must be finite and > 0, got 0\.0$"),
    (K.gammaincc, ([1.0, -2.0], 1.0), r"^a must be finite and > 0, got a\[1\] = -2\.0$"),
    (K.gammaincc, (np.inf, 1.0), r"^a must be finite and > 0, got inf$"),
    (K.gammaincc, (1.0, -1e-300), r"^x must be >= 0, got -1e-300$"),
    (K.gammaincc, (1.0, [0.0, np.nan]), r"^x must be >= 0, got x\[1\] = nan$"),
    (K.log_ndtr, (np.nan,), r"^x must not be NaN, got nan$"),
    (K.log_ndtr, ([[0.0, np.nan]],), r"^x must not be NaN, got x\[0, 1\] = nan$"),
    (K.log_ndtr, ([1j],), r"^x must be real numbers, got dtype complex128$"),
]


@pytest.mark.parametrize("func, args, message", BAD_CALLS,
                         ids=[f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(BAD_CALLS)])
def test_invalid_input_raises_value_error_naming_argument(func, args, message):
    with pytest.raises(ValueError, match=message):
        func(*args)


def test_incompatible_shapes_raise_value_error():
    with pytest.raises(ValueError):
        K.betaln(np.ones(3), np.ones(4))


def test_docstring_examples():
    assert doctest.testmod(K).failed == 0


def test_beta_logpdf_shared_stirling_prior_equals_per_element(rng):
    # One (a, b >= 9) pair broadcast over x takes its own path (terms once); it must
    # agree with the per-element kernel (a few ulps of the largest term) and the ends.
    x = rng.beta(20.0, 30.0, 5000)
    x[::101] = rng.choice([0.0, 1.0, -0.5, 1.5], x[::101].size)
    shared = K.beta_logpdf(x, 20.0, 30.0)
    full = K.beta_logpdf(x, np.full(x.size, 20.0), np.full(x.size, 30.0))
    inside = (x > 0) & (x < 1)
    np.testing.assert_array_equal(shared[~inside], full[~inside])
    xi = x[inside]
    terms = 19.0 * np.abs(np.log(xi)) + 29.0 * np.abs(np.log1p(-xi)) + abs(sc.betaln(20.0, 30.0))
    assert_allclose_scaled(shared[inside], full[inside], rtol=4 * np.finfo(float).eps, scale=terms)
    assert_allclose_scaled(shared[inside], st.beta.logpdf(xi, 20.0, 30.0), rtol=1e-12, scale=terms)
