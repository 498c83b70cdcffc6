"""Numeric references for the kernels: error measures and mpmath values.

mpmath is a test-only dependency, imported inside the reference functions;
the same code produces the hard-coded values in the tests and the accuracy
tables in docs/kernels.md (tools/kernel_accuracy.py)."""
from __future__ import annotations

import numpy as np


def relative_error(actual, desired):
    """Elementwise |actual - desired| / |desired| as float64.

    Equal values (infinities of the same sign included) give 0; a zero ``desired``
    gives the absolute error.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(actual - desired) / np.where(desired == 0.0, 1.0, np.abs(desired))
    return np.where(actual == desired, 0.0, err)



def assert_allclose_scaled(actual, desired, rtol, scale):
    """Assert |actual - desired| <= rtol * max(|desired|, scale) elementwise.

    ``scale`` is the size of the terms that were added to form ``desired``: where a
    result is a small difference of large terms (a log density near 0, log B(a, b)
    near its zeros) a relative tolerance on the result itself asks for more than its
    condition number allows.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    bound = rtol * np.maximum(np.abs(desired), scale)
    same = actual == desired
    ok = same | (np.abs(actual - desired) <= bound)
    if not ok.all():
        i = int(np.argmax(~ok.ravel()))
        raise AssertionError(
            f"{(~ok).sum()} of {ok.size} elements differ by more than rtol={rtol} scaled; "
            f"first at flat index {i}: actual {actual.ravel()[i]!r}, desired {desired.ravel()[i]!r}")



def mp_log_beta(a, b, dps=50):
    """log B(a, b) with mpmath."""
    import mpmath as mp
    with mp.workdps(dps):
        a, b = mp.mpf(a), mp.mpf(b)
        return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)



def _mp_beta_cf(a, b, x, tol):
    """Continued fraction of I_x(a, b) without its prefactor (modified Lentz, NR 6.4)."""
    import mpmath as mp
    tiny = mp.mpf(10) ** -(10 * mp.mp.dps)
    c = mp.mpf(1)
    d = 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10**7):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < tol:
            return h
    raise RuntimeError(f"continued fraction did not converge for a={a}, b={b}, x={x}")



def mp_betainc(a, b, x, dps=40):
    """(I_x(a, b), 1 - I_x(a, b)) with mpmath, each computed directly where it is small.

    Uses the continued fraction on whichever of (a, b, x) and (b, a, 1 - x) has
    x < (a + 1)/(a + b + 2), with the prefactor x**a (1-x)**b / (a B(a, b)) in
    extended precision.  ``x`` is taken exactly (a double converts exactly).
    """
    import mpmath as mp
    with mp.workdps(dps):
        a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
        if x <= 0:
            return mp.mpf(0), mp.mpf(1)
        if x >= 1:
            return mp.mpf(1), mp.mpf(0)
        tol = mp.mpf(10) ** -(dps - 8)
        y = 1 - x
        log_pre = a * mp.log(x) + b * mp.log(y) - (mp.loggamma(a) + mp.loggamma(b)
                                                    - mp.loggamma(a + b))
        if x < (a + 1) / (a + b + 2):
            w = mp.exp(log_pre) / a * _mp_beta_cf(a, b, x, tol)
            return w, 1 - w
        w1 = mp.exp(log_pre) / b * _mp_beta_cf(b, a, y, tol)
        return 1 - w1, w1



def mp_beta_ppf(q, a, b, x0=None, dps=40):
    """x with I_x(a, b) = q, with mpmath: bracketed Newton on log x for the small tail.

    ``q`` is taken exactly; ``x0`` is only a starting point.  Returns an ``mpf``
    (possibly below the double range, e.g. for tiny q and a).
    """
    import mpmath as mp
    with mp.workdps(dps):
        q, a, b = mp.mpf(q), mp.mpf(a), mp.mpf(b)
        if q <= 0:
            return mp.mpf(0)
        if q >= 1:
            return mp.mpf(1)
        upper = q > mp.mpf(1) / 2
        target = 1 - q if upper else q
        log_beta = mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)
        lo, hi = -mp.mpf(10) ** 6, mp.mpf(0)          # bracket on t = log x
        t = mp.log(mp.mpf(x0)) if x0 is not None and 0 < x0 < 1 else mp.log(mp.mpf(1) / 2)
        for _ in range(2000):
            x = mp.exp(t)
            w, w1 = mp_betainc(a, b, x, dps)
            small = w1 if upper else w
            if small == 0:
                g, slope = (mp.inf if upper else -mp.inf), None
            else:
                g = mp.log(small / target)
                phi = mp.exp(a * t + (b - 1) * mp.log(1 - x) - log_beta)
                slope = (-phi if upper else phi) / small
            if (g > 0) != upper:
                hi = t
            else:
                lo = t
            step = g / slope if slope else None
            t_new = t - step if step is not None else None
            if t_new is None or not lo < t_new < hi:
                t_new = (lo + hi) / 2
            if abs(t_new - t) < mp.mpf(10) ** -(dps - 10):
                return mp.exp(t_new)
            t = t_new
        raise RuntimeError(f"mp_beta_ppf did not converge for q={q}, a={a}, b={b}")
