"""log_ndtr and gammaincc against mpmath (50 digits) and SciPy, edges and tails included.

They replace scipy.special on the scan path (memory growth and storm incidents),
so they are checked where SciPy is: the lower tail of log Phi down to -inf, Q(a, x)
for tiny, moderate and huge a on both sides of x = a and far into its tails.
"""
import functools

import mpmath as mp
import numpy as np
import pytest
import scipy.special as sc

import pt.kernels as K
from pt.testing import relative_error


def _mp_log_ndtr(x):
    with mp.workdps(50):
        return float(mp.log(mp.ncdf(mp.mpf(x))))


def _mp_gammaincc(a, x):
    with mp.workdps(50):
        return float(mp.gammainc(mp.mpf(a), mp.mpf(x), mp.inf, regularized=True))


# ----------------------------------------------------------------- log_ndtr

LOG_NDTR_POINTS = [-1e5, -1e3, -100.0, -40.0, -37.5, -20.000001, -20.0, -19.99999, -10.0, -5.0, -1.5,
                   -1.0, -0.1, -1e-10, 0.0, 1e-10, 0.1, 1.0, 1.5, 3.0, 5.0, 8.0, 10.0, 20.0, 30.0, 37.0]


@pytest.mark.parametrize("x", LOG_NDTR_POINTS)
def test_log_ndtr_matches_mpmath(x):
    assert relative_error(K.log_ndtr(x), _mp_log_ndtr(x)) <= 4e-16


def test_log_ndtr_matches_scipy_across_its_range():
    x = np.concatenate([-(10.0 ** np.linspace(-8, 150, 4000)), np.linspace(-25.0, 3.0, 4000)])
    np.testing.assert_allclose(K.log_ndtr(x), sc.log_ndtr(x), rtol=1e-14, atol=0.0)
    # Above, log Phi = -Phi(-x) and SciPy's erfc(x/sqrt 2) keeps the rounding of x/sqrt 2: x^2 ulps
    # (2e-13 at x = 30, checked against mpmath above); beyond 37.5 SciPy returns -0.
    x = np.linspace(3.0, 38.5, 4000)
    ours, theirs = K.log_ndtr(x), sc.log_ndtr(x)
    assert np.all(np.abs(ours - theirs) <= (1e-15 + 3e-16 * x ** 2) * np.abs(ours) + 1e-300)


def test_log_ndtr_edges():
    assert K.log_ndtr(np.inf) == 0.0
    assert K.log_ndtr(-np.inf) == -np.inf
    assert K.log_ndtr(-1e200) == -np.inf               # -x^2/2 is beyond the doubles
    assert K.log_ndtr(40.0) == pytest.approx(_mp_log_ndtr(40.0), abs=1e-320)   # -Phi(-40), subnormal
    assert K.log_ndtr(-0.0) == K.log_ndtr(0.0) == np.log(0.5)


def test_log_ndtr_keeps_float32_and_shape():
    x = np.linspace(-50.0, 5.0, 12, dtype=np.float32).reshape(3, 4)
    got = K.log_ndtr(x)
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, sc.log_ndtr(x.astype(np.float64)), rtol=1e-6)
    assert K.log_ndtr([-1.0, 2.0]).dtype == np.float64


# ----------------------------------------------------------------- gammaincc

def _gamma_grid():
    """(a, x) pairs: each region of the kernel and its borders, tails on both sides."""
    pairs = []
    for a in (1e-300, 1e-20, 1e-3, 0.1, 0.5, 0.577, 1.0, 1.21, 2.5, 10.0, 19.99, 20.0, 20.01, 100.0,
              1e3, 1e5, 1e7, 1e10, 1e12, 1e15):
        for x in (1e-300, 1e-10, 0.01, 0.5, 0.55, 1.0, 1.1, 1.1000001, 1.5, 5.0, 30.0, 100.0, 700.0, 750.0):
            pairs.append((a, x))
        if 1.0 <= a <= 1e10:                # mpmath takes seconds per point near the mean beyond
            for k in (-30.0, -8.0, -3.0, -1.0, -0.1, 0.0, 0.1, 1.0, 3.0, 8.0, 30.0):
                x = a + k * np.sqrt(a)
                if x > 0:
                    pairs.append((a, x))
    return pairs


GAMMA_GRID = _gamma_grid()


def _gamma_bound(a, x):
    """pt's relative error bound for Q(a, x): the prefactor's exponent a log(x/a) - (x - a)
    is exact to |x - a| ulps (SciPy's is worse), and below a = 1e10 the series or fraction
    near x = a sums ~10 sqrt(a) terms (SciPy has an asymptotic series there)."""
    return 1e-14 + 2e-16 * np.abs(x - a) + 3e-17 * np.sqrt(np.minimum(a, 1e10))


@functools.cache
def _gamma_grid_reference():
    return np.array([_mp_gammaincc(a, x) for a, x in GAMMA_GRID])


def test_gammaincc_matches_mpmath_on_hard_grid():
    a, x = np.array(GAMMA_GRID).T
    got = K.gammaincc(a, x)
    ref = _gamma_grid_reference()
    normal = ref >= 1e-300                  # below, both are subnormal or 0: compared absolutely
    err = relative_error(got[normal], ref[normal])
    bound = _gamma_bound(a[normal], x[normal])
    worst = int(np.argmax(err / bound))
    assert err[worst] <= bound[worst], (a[normal][worst], x[normal][worst], got[normal][worst], ref[normal][worst])
    assert np.all(np.abs(got[~normal] - ref[~normal]) <= 1e-300)


def test_gammaincc_is_no_less_accurate_than_scipy_on_the_grid():
    a, x = np.array(GAMMA_GRID).T
    ref = _gamma_grid_reference()
    normal = ref >= 1e-300
    ours = relative_error(K.gammaincc(a, x)[normal], ref[normal])
    theirs = relative_error(sc.gammaincc(a, x)[normal], ref[normal])
    assert ours.max() <= theirs.max() and np.median(ours) <= 1e-15


def test_gammaincc_matches_mpmath_and_scipy_on_random_points():
    rng = np.random.default_rng(16)
    a = 10.0 ** rng.uniform(-3, 4, 400)
    x = a * 10.0 ** rng.uniform(-1, 1, 400)
    got = K.gammaincc(a, x)
    ref = np.array([_mp_gammaincc(ai, xi) for ai, xi in zip(a, x)])
    assert np.all(relative_error(got, ref) <= _gamma_bound(a, x))
    # SciPy loses up to |x - a| * 1e-15 in the far tails (1e-11 at Q ~ 1e-295, a ~ 1e4).
    np.testing.assert_allclose(got, sc.gammaincc(a, x), rtol=5e-11, atol=1e-300)


def test_gammaincc_edges():
    assert K.gammaincc(3.0, 0.0) == 1.0
    assert K.gammaincc(3.0, np.inf) == 0.0
    assert K.gammaincc(1e300, 1.0) == 1.0
    assert K.gammaincc(1.0, 1e300) == 0.0
    np.testing.assert_allclose(K.gammaincc(1.0, [0.5, 2.0, 50.0]), np.exp(-np.array([0.5, 2.0, 50.0])),
                               rtol=1e-15)
    # a -> 0: Q ~ a E1(x), kept to full relative accuracy (1 - P would give 0 or noise).
    assert relative_error(K.gammaincc(1e-300, 0.5), 1e-300 * float(mp.e1(0.5))) <= 1e-15
    assert K.gammaincc(2.0, 3.0).dtype == np.float64
    assert K.gammaincc(np.float32(2.0), np.float32(3.0)).dtype == np.float64   # a probability


def test_gammaincc_is_a_survival_function_in_x():
    # Q falls with x and rises with a (the Gamma distribution is stochastically increasing in a).
    x = np.linspace(0.0, 60.0, 2001)
    for a in (0.3, 1.0, 7.5, 30.0):
        q = K.gammaincc(a, x)
        assert q[0] == 1.0 and np.all(np.diff(q) <= 0.0)
    assert np.all(np.diff(K.gammaincc(np.linspace(0.5, 40.0, 500), 10.0)) >= 0.0)
