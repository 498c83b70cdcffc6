"""Tier (b): pt.kernels against hard-coded mpmath values, including hard cases.

The values were produced at mp.dps = 50 by this script (pt.testing holds the
mpmath references; repr(float(v)) rounds each to the nearest double):

    import mpmath as mp
    from pt.testing import mp_beta_ppf, mp_betainc, mp_log_beta
    mp.mp.dps = 50

    def log_beta(a, b):
        return mp_log_beta(a, b, dps=50)

    def beta_logpdf(x, a, b):
        x, a, b = mp.mpf(x), mp.mpf(a), mp.mpf(b)
        return (a - 1) * mp.log(x) + (b - 1) * mp.log1p(-x) - log_beta(a, b)

    def gamma_logpdf(x, k, s):
        x, k, s = mp.mpf(x), mp.mpf(k), mp.mpf(s)
        return (k - 1) * mp.log(x / s) - x / s - mp.loggamma(k) - mp.log(s)

    def beta_bernoulli(k, a, b):
        a, b = mp.mpf(a), mp.mpf(b)
        return mp.log((a if k == 1 else b) / (a + b))

    def dirichlet_categorical(k, alpha):
        alpha = [mp.mpf(t) for t in alpha]
        return mp.log(alpha[k] / mp.fsum(alpha))

    def logsumexp(v):
        return mp.log(mp.fsum(mp.exp(mp.mpf(t)) for t in v))

    def beta_cdf(x, a, b):
        return mp_betainc(a, b, x, dps=50)[0]

    def beta_ppf(q, a, b):
        return mp_beta_ppf(q, a, b, dps=50)

    # each table row is (*args, repr(float(f(*args)))) for the inputs listed below

rtol is 1e-14 unless a row says why not.
"""
import numpy as np
import pytest
from scipy.special import gammaln as sc_gammaln

import pt.kernels as K
from pt.testing import relative_error

RTOL = 1e-14

BETALN = [  # (a, b, log B(a, b))
    (10000000000.0, 0.5, -10.940560522033028),
    (0.5, 10000000000.0, -10.940560522033028),
    (1e-300, 1.0, 690.7755278982137),
    (1e-10, 10000000000.0, 23.02585092758015),
    (5.0, 5000000.0, -73.94669052164333),
    (1000.0, 1000000.0, -7910.78946842146),
    (3.0, 1000000000000000.0, -102.92318200417212),
    (1000000.0, 1000000.0, -1386300.003362921),
    (8.0, 8.0, -10.848948661710063),
    (2.5, 7.5, -4.982780372849818),
    (1e-05, 1e-05, 12.206072645365683),
    (1e+300, 1e+300, -1.3862943611198907e+300),
    (0.5, 0.5, 1.1447298858494002),
    (7.25, 12.5, -12.81232932793278),
    (30.0, 2.0, -6.835184586147301),
]
BETA_LOGPDF = [  # (x, a, b, log pdf)
    (0.5, 10000.0, 10000.0, 4.725939923623342),
    (0.3, 200.0, 500.0, 2.7788466697971423),
    (1e-300, 0.5, 2.0, 345.10008187665505),
    (0.9999999999, 3.0, 0.2, 17.088874501724252),
    (0.999, 1000000.0, 1000.0, 9.442611635104967),
    (0.25, 0.1, 0.1, -1.474782690823123),
    (0.0001, 100000.0, 300000000.0, -50368.06792037367),
    (0.5, 100000000.0, 100000000.0, 9.331122608361428),
]
GAMMA_LOGPDF = [  # (x, shape, scale, log pdf)
    (1000000.0, 1000000.0, 1.0, -7.826693895520143),
    (1e-300, 0.5, 1.0, 344.81539900618213),
    (1000.0, 2.5, 100.0, -11.435975416969942),
    (1.0, 10000000000.0, 1e-10, 10.593986931757222),
    (3.0, 8.0, 0.5, -1.289697895909084),
    (100000.0, 1000.0, 0.01, -9989798.637697715),
    (2.0, 1e-05, 1.0, -14.206059941983966),
    (7.5, 20.0, 0.5, -2.1937831856975576),
]
BETA_BERNOULLI = [  # (k, a, b, log pmf)
    (1, 1e-300, 1e+300, -1381.5510557964274),
    (0, 1e-300, 1e+300, 0.0),
    (0, 1e-10, 1.0, -9.999999999500001e-11),
    (1, 3.0, 7.0, -1.203972804325936),
    (1, 10000000000.0, 1e-10, -1.0000000000000001e-20),
    (0, 2.5, 2.5, -0.6931471805599453),
]
BETA_CDF = [  # (x, a, b, I_x(a, b))
    (0.5, 10000.0, 10000.0, 0.5),
    (0.49, 10000.0, 10000.0, 0.0023370593301101496),
    (1e-150, 2.0, 10.0, 5.5e-299),
    (0.9, 0.001, 2.0, 0.9999946344990698),
    (0.001, 0.001, 1000000.0, 1.0),
    (0.3, 0.5, 0.5, 0.36901011956554536),
    (0.9999, 1000000.0, 100.0, 0.4863045847517324),
    (0.2, 50.0, 60.0, 1.0328973362230186e-09),
    (1e-05, 0.001, 0.001, 0.49427736412796214),
    (0.7, 5.0, 0.05, 0.004471078970676884),
]
BETA_PPF = [  # (q, a, b, x)
    (1e-300, 1.0, 1.0, 1e-300),
    (1e-300, 2.0, 10.0, 1.3483997249264841e-151),
    (1e-300, 10000.0, 10.0, 0.9289424697115743),
    (1e-300, 0.5, 1000000.0, 0.0),
    (0.5, 1000000.0, 1000000.0, 0.5),
    (0.3, 1000000.0, 100.0, 0.9998950180001096),
    (0.99, 100.0, 1000000.0, 0.00012470861138018998),
    (1e-20, 10.0, 0.5, 0.0118895149014768),
    (0.5, 0.001, 2.0, 3.4350009119880035e-302),
    (0.7, 0.001, 0.1, 2.2532665404692443e-151),
    (0.9999999999, 0.5, 2.0, 0.9999836701121504),
    (0.01, 3.0, 4.0, 0.08472995251690867),
    (0.5, 50.0, 0.1, 0.9999880246704884),
]
DIRICHLET_CATEGORICAL = [  # (k, alpha, log pmf)
    (0, [1e-300, 1.0, 2.0], -691.8741401868818),
    (2, [1e-300, 1.0, 2.0], -0.4054651081081644),
    (1, [1e200, 3e200], -0.2876820724517809),
    (3, [0.5] * 7, -1.9459101490553132),
]
LOGSUMEXP = [  # (values, log sum exp)
    ([1000.0, 1000.0], 1000.6931471805599),
    ([0.0, -50.0], 1.9287498479639178e-22),
    ([-745.0, -745.0, -745.0], -743.9013877113318),
    ([1e-20, -1e-20], 0.6931471805599453),
    ([700.0, 0.0, -700.0], 700.0),
    ([-1e300, -1e300], -1e300),
]

# The quantile of Beta(a, b) with a << 1 is x ~ (q a B(a, b))**(1/a): a relative error
# eps in the tail probability becomes eps / a in x, for any double-precision method
# (SciPy's Boost gets 1.9e-14 and 4.3e-14 on the two rows below).
PPF_RTOL = {(0.5, 0.001, 2.0): 3e-13, (0.7, 0.001, 0.1): 3e-13}


def _check(actual, desired, rtol=RTOL):
    err = relative_error(actual, desired)
    assert err <= rtol, f"relative error {err:.2e} > {rtol:.0e}: got {actual!r}, want {desired!r}"


@pytest.mark.parametrize("a, b, expected", BETALN)
def test_betaln(a, b, expected):
    _check(K.betaln(a, b), expected)


@pytest.mark.parametrize("x, a, b, expected", BETA_LOGPDF)
def test_beta_logpdf(x, a, b, expected):
    _check(K.beta_logpdf(x, a, b), expected)


@pytest.mark.parametrize("x, shape, scale, expected", GAMMA_LOGPDF)
def test_gamma_logpdf(x, shape, scale, expected):
    _check(K.gamma_logpdf(x, shape, scale), expected)


@pytest.mark.parametrize("k, a, b, expected", BETA_BERNOULLI)
def test_beta_bernoulli_logpmf(k, a, b, expected):
    _check(K.beta_bernoulli_logpmf(k, a, b), expected)


@pytest.mark.parametrize("k, alpha, expected", DIRICHLET_CATEGORICAL)
def test_dirichlet_categorical_logpmf(k, alpha, expected):
    _check(K.dirichlet_categorical_logpmf(k, alpha), expected)


@pytest.mark.parametrize("values, expected", LOGSUMEXP)
def test_logsumexp(values, expected):
    _check(K.logsumexp(values), expected)


@pytest.mark.parametrize("x, a, b, expected", BETA_CDF)
def test_beta_cdf(x, a, b, expected):
    _check(K.beta_cdf(x, a, b), expected)


@pytest.mark.parametrize("q, a, b, expected", BETA_PPF)
def test_beta_ppf(q, a, b, expected):
    _check(K.beta_ppf(q, a, b), expected, PPF_RTOL.get((q, a, b), RTOL))


def test_tables_are_exercised_as_arrays():
    """The vectorised path gives the same values as the scalar path on the tables."""
    q, a, b, x = map(np.array, zip(*BETA_PPF))
    np.testing.assert_array_equal(K.beta_ppf(q, a, b), [K.beta_ppf(*row[:3]) for row in BETA_PPF])
    x, a, b, _ = map(np.array, zip(*BETA_CDF))
    np.testing.assert_array_equal(K.beta_cdf(x, a, b), [K.beta_cdf(*row[:3]) for row in BETA_CDF])


# betaln for a < 8 <= b takes log Gamma(a) as log Gamma(a + 8) - log(a (a + 1) ... (a + 7))
# (Stirling for a + 8, no libm lgamma) while a >= 1e-300 and b < 1e100, lgamma beyond.
# Its edges against mpmath, computed here: a at and near 0, 1, 2 (the zeros of lgamma),
# 8 and the 1e-300 switch; b at and near 8, large, and at the 1e100 switch.
MIXED_A = [9.9e-301, 1e-300, 1e-10, 0.5, 1 - 2.0 ** -52, 1.0, 1 + 2.0 ** -52, 2.0 - 2.0 ** -51, 2.0, 7.5,
           8 - 2.0 ** -50]
MIXED_B = [8.0, 8 + 2.0 ** -49, 9.0, 1e4, 1e15, 9.99e99, 1e100]


def _mp_betaln(a, b):
    from pt.testing import mp_log_beta
    # loggamma(b) - loggamma(a + b) cancels ~log10(b) digits: keep 35 beyond them.
    return float(mp_log_beta(a, b, dps=35 + int(np.log10(b))))


@pytest.mark.parametrize("b", MIXED_B)
@pytest.mark.parametrize("a", MIXED_A)
def test_betaln_small_with_large_edges(a, b):
    want = _mp_betaln(a, b)
    _check(K.betaln(a, b), want)
    for got in K.betaln(np.array([a, b]), np.array([b, a])):    # the array kernel, both orders
        _check(got, want)


def test_betaln_small_with_large_random():
    # Error relative to the size of the lgamma terms (log B crosses 0 in this region).
    rng = np.random.default_rng(16)
    a = np.concatenate([rng.uniform(0.0, 8.0, 300), 10.0 ** rng.uniform(-300, 0, 100)])
    b = np.concatenate([rng.uniform(8.0, 60.0, 300), 10.0 ** rng.uniform(0.91, 99, 100)])
    want = np.array([_mp_betaln(x, y) for x, y in zip(a, b)])
    terms = np.abs(sc_gammaln(a)) + np.abs(sc_gammaln(b)) + np.abs(sc_gammaln(a + b))
    got = K.betaln(a, b)
    assert np.all(np.abs(got - want) <= 1e-15 * np.maximum(np.abs(want), terms))
    assert np.all(relative_error(got, want)[np.abs(want) >= 1.0] <= 1e-14)
