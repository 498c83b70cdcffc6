"""The regularised upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a).

Q(a, x) is the probability that a Gamma(a, rate 1) variable exceeds x.  The
regions are those of SciPy's cephes ``igamc`` (DiDonato & Morris 1986, sec. 3)
without its table of asymptotic coefficients:

* x <= 1.1 and a small: Q = 1 - x^a/Gamma(1 + a) - x^a/Gamma(a) sum_n (-x)^n/(n! (a + n)),
  which keeps relative accuracy where Q ~ a E1(x) is tiny (a -> 0);
* x > 1.1, x >= a: the Legendre continued fraction for Q (modified Lentz);
* otherwise 1 - P with P from its power series (Q >= 1/2 there, nothing cancels);
* a >= 1e10: Temme's uniform expansion, Q = erfc(eta sqrt(a/2))/2 + R, with
  R = exp(-a eta^2/2)/sqrt(2 pi a) C0(eta) (the next term is below 1e-13 of Q),
  where the series and the fraction would need ~10 sqrt(a) terms.

The prefactor x^a e^-x / Gamma(a) is taken from ``pow`` and ``exp`` of the exact
inputs for a < 20 and from Stirling, sqrt(a/2pi) exp(-a rlog1((x - a)/a) - del(a)),
from a = 20 on: no large exponents cancel (TOMS 654 ``rcomp``).
"""
from libc.float cimport DBL_EPSILON, DBL_MIN
from libc.math cimport INFINITY, erfc, exp, expm1, fabs, log, log1p, pow, sqrt, tgamma

import numpy as np

from ._elementary cimport rlog1
from ._special cimport gam1, stirling_del
from ._types cimport float64_t, intp_t

cdef double INV_SQRT_2PI = 0.398942280401432677939946059934   # 1 / sqrt(2 pi)
cdef double TEMME_A = 1e10       # from here Temme's expansion (one coefficient) is within 1e-13
cdef long MAX_TERMS = 10000000   # a guard only: below TEMME_A every sum ends within ~9e5 terms


cdef inline double _rlog_ratio(double x, double a) noexcept nogil:
    """x/a - 1 - log(x/a) for x, a > 0, by ``rlog1`` near x = a; +inf, not NaN,
    where x/a underflows."""
    cdef double e = (x - a) / a
    if e > -0.3:
        return rlog1(e)
    return e - log(x / a)


cdef double _power_over_gamma(double a, double x) noexcept nogil:
    """x^a e^-x / Gamma(a) for a > 0, 0 < x < inf (TOMS 654 ``rcomp``)."""
    cdef double t, e
    if a >= 20.0:
        return sqrt(a) * INV_SQRT_2PI * exp(-(a * _rlog_ratio(x, a) + stirling_del(a)))
    t = pow(x, a)
    if x < 700.0 and DBL_MIN <= t < INFINITY:
        t *= exp(-x)                     # each within an ulp: the inputs are exact
    else:
        t = exp(a * log(x) - x)
    if a < 1.0:
        return t * (a * (1.0 + gam1(a)))   # 1/Gamma(a) = a / Gamma(1 + a)
    return t / tgamma(a)


cdef double _p_series(double a, double x) noexcept nogil:
    """P(a, x) = x^a e^-x / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n))."""
    cdef double total = 1.0, term = 1.0, ap = a
    cdef long n
    for n in range(MAX_TERMS):
        ap += 1.0
        term *= x / ap
        total += term
        if term <= total * DBL_EPSILON:
            break
    return _power_over_gamma(a, x) / a * total


cdef double _q_small_x(double a, double x) noexcept nogil:
    """Q for x <= 1.1 and a <= 1.21 (cephes ``igamc_series``): 1 - x^a/Gamma(1 + a)
    by ``expm1`` and the alternating sum, so Q ~ a E1(x) keeps its digits as a -> 0."""
    cdef double fac = 1.0, total = 0.0, term, log_power
    cdef long n
    for n in range(1, MAX_TERMS):
        fac *= -x / n
        term = fac / (a + n)
        total += term
        if fabs(term) <= DBL_EPSILON * fabs(total):
            break
    log_power = a * log(x) + log1p(gam1(a))          # log(x^a / Gamma(1 + a))
    return -expm1(log_power) - a * exp(log_power) * total


cdef double _q_fraction(double a, double x) noexcept nogil:
    """Q for x > 1.1, x >= a: x^a e^-x / Gamma(a) times the continued fraction
    1/(x + 1 - a - 1 (1 - a)/(x + 3 - a - 2 (2 - a)/(x + 5 - a - ...))) (modified Lentz)."""
    cdef double b = x + 1.0 - a, c = 1.0 / DBL_MIN, d = 1.0 / b, h = d, an, step
    cdef long i
    for i in range(1, MAX_TERMS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if fabs(d) < DBL_MIN:
            d = DBL_MIN
        c = b + an / c
        if fabs(c) < DBL_MIN:
            c = DBL_MIN
        d = 1.0 / d
        step = d * c
        h *= step
        if fabs(step - 1.0) <= 2.0 * DBL_EPSILON:
            break
    return _power_over_gamma(a, x) * h


cdef double _temme_c0(double e, double eta) noexcept nogil:
    """Temme's C0(eta) = 1/(lambda - 1) - 1/eta with e = lambda - 1; near lambda = 1,
    where the two terms cancel, its Taylor series (DLMF 8.12.8 / Temme 1979)."""
    if fabs(e) < 1e-3:
        return -1.0 / 3 + eta * (1.0 / 12 + eta * (-2.0 / 135 + eta * (1.0 / 864 + eta * (1.0 / 2835))))
    return 1.0 / e - 1.0 / eta


cdef double _q_temme(double a, double x) noexcept nogil:
    """Q for a >= 1e10: erfc(eta sqrt(a/2))/2 + exp(-a eta^2/2) C0(eta) / sqrt(2 pi a),
    eta = sign(x - a) sqrt(2 rlog1(x/a - 1))."""
    cdef double e = (x - a) / a, half_eta2 = _rlog_ratio(x, a), eta
    eta = sqrt(2.0 * half_eta2)
    if e < 0.0:
        eta = -eta
    if e == 0.0:
        return 0.5 + INV_SQRT_2PI / sqrt(a) * (-1.0 / 3)
    return 0.5 * erfc(eta * sqrt(0.5 * a)) + exp(-a * half_eta2) * INV_SQRT_2PI / sqrt(a) * _temme_c0(e, eta)


cdef double gammaincc_one(double a, double x) noexcept nogil:
    """Q(a, x) for finite a > 0 and x >= 0 (x may be +inf)."""
    if x == 0.0:
        return 1.0
    if x == INFINITY:
        return 0.0
    if a >= TEMME_A:
        return _q_temme(a, x)
    if x > 1.1:
        if x < a:
            return 1.0 - _p_series(a, x)
        return _q_fraction(a, x)
    if x <= 0.5:
        if a > -0.4 / log(x):
            return 1.0 - _p_series(a, x)
        return _q_small_x(a, x)
    if x * 1.1 < a:
        return 1.0 - _p_series(a, x)
    return _q_small_x(a, x)


def gammaincc(const float64_t[::1] a, const float64_t[::1] x):
    """Q(a[i], x[i]) for equal-length arrays (a finite and > 0, x >= 0, not NaN)."""
    cdef intp_t i, n = a.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = gammaincc_one(a[i], x[i])
    return np.asarray(out)


def gammaincc_scalar(double a, double x):
    """``gammaincc`` for one valid pair (the public wrapper's scalar path)."""
    return gammaincc_one(a, x)
