"""Special functions: log Beta and the pieces it is built from.

The model is DiDonato & Morris, ACM TOMS 708 (1992): ``betaln`` with ``algdiv``,
``bcorr`` and the Stirling remainder, so that ``log B(a, b)`` keeps full relative
accuracy when one argument is huge (where ``lgamma(a) + lgamma(b) - lgamma(a + b)``
cancels).  The scalar functions are declared in ``_special.pxd`` for the other
kernel modules; they assume valid arguments (stated per function).
"""
from libc.math cimport exp, fabs, lgamma, log, sqrt

import numpy as np

from ._elementary cimport fast_log1p, pow_exp, rlog1
from ._types cimport float64_t, intp_t

cdef double HALF_LOG_2PI = 0.918938533204672741780329736406   # log(2 pi) / 2
cdef double INV_SQRT_2PI = 0.398942280401432677939946059934   # 1 / sqrt(2 pi)

cdef inline double _gam1_taylor(double z) noexcept nogil:
    """1/Gamma(1 + z) - 1 for |z| <= 1/2 (Taylor series, error < 1e-18).

    Coefficients c_1..c_20: mpmath.taylor(lambda z: 1/mpmath.gamma(1 + z), 0, 20)[1:]
    at mp.dps = 40; summed by Estrin's scheme (depth 5 instead of 20 for Horner).
    """
    cdef double z2 = z * z, z4 = z2 * z2, z8 = z4 * z4, z16 = z8 * z8
    cdef double p0 = ((0.57721566490153286061 - 0.65587807152025388108 * z)
                      + z2 * (-0.042002635034095235529 + 0.1665386113822914895 * z))
    cdef double p1 = ((-0.042197734555544336748 - 0.0096219715278769735621 * z)
                      + z2 * (0.0072189432466630995424 - 0.0011651675918590651121 * z))
    cdef double p2 = ((-0.00021524167411495097282 + 0.00012805028238811618615 * z)
                      + z2 * (-0.000020134854780788238656 - 1.2504934821426706573e-6 * z))
    cdef double p3 = ((1.1330272319816958824e-6 - 2.0563384169776071035e-7 * z)
                      + z2 * (6.1160951044814158179e-9 + 5.0020076444692229301e-9 * z))
    cdef double p4 = ((-1.1812745704870201446e-9 + 1.0434267116911005105e-10 * z)
                      + z2 * (7.782263439905071254e-12 - 3.6968056186422057082e-12 * z))
    return z * ((p0 + z4 * p1) + z8 * (p2 + z4 * p3) + z16 * p4)


cdef inline double _gam1_shifted(double d) noexcept nogil:
    """1/Gamma(2 + d) - 1 for |d| <= 1/2 (Taylor series at d = 0, error < 1e-18).

    Coefficients b_1..b_20: mpmath.taylor(lambda d: 1/mpmath.gamma(2 + d), 0, 20)[1:]
    at mp.dps = 40.  Relative accuracy holds through the zero at d = 0 (a = 1).
    """
    cdef double d2 = d * d, d4 = d2 * d2, d8 = d4 * d4, d16 = d8 * d8
    cdef double p0 = ((-0.42278433509846713939 - 0.23309373642178674168 * d)
                      + d2 * (0.19109110138769150615 - 0.024552490005400016653 * d))
    cdef double p1 = ((-0.017645244550144320095 + 0.0080232730222673465333 * d)
                      + d2 * (-0.00080432977560424699087 - 0.00036083781625481812124 * d))
    cdef double p2 = ((0.00014559614213986714843 - 0.000017545859751750962274 * d)
                      + d2 * (-2.5889950290372763821e-6 + 1.3385015468946057248e-6 * d))
    cdef double p3 = ((-2.0547431491290984242e-7 - 1.5952678485086792358e-10 * d)
                      + d2 * (6.2756218893322837414e-9 - 1.2736142448630608114e-9 * d))
    cdef double p4 = ((9.23396743760406668e-11 + 1.2002996793069384249e-11 * d)
                      + d2 * (-4.2207333531643129948e-12 + 5.2392773452210728662e-13 * d))
    return d * ((p0 + d4 * p1) + d8 * (p2 + d4 * p3) + d16 * p4)


cdef double gam1(double a) noexcept nogil:
    """1/Gamma(1 + a) - 1 for -1/2 <= a <= 3/2, with full relative accuracy near a = 0 and 1."""
    if a <= 0.5:
        return _gam1_taylor(a)
    return _gam1_shifted(a - 1.0)        # a - 1 is exact for 1/2 < a <= 3/2


cdef double digamma(double x) noexcept nogil:
    """psi(x) for x > 0: recurrence up to x >= 10, then the asymptotic series (A&S 6.3.18)."""
    cdef double shift = 0.0, f
    while x < 10.0:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return shift + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252
        - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760 - f / 12))))))


cdef double algdiv(double a, double b) noexcept nogil:
    """log(Gamma(b) / Gamma(a + b)) for b >= 8 and 0 < a <= b (TOMS 708 ``algdiv``).

    Stirling for both gammas with h = a/b: -a (log b - 1) - (a + b - 1/2) log1p(h)
    plus del(b) - del(a + b); no term is a difference of two large numbers.  Needs a <= b.
    """
    cdef double w = stirling_del(b) - stirling_del(a + b)
    cdef double u = (b + (a - 0.5)) * fast_log1p(a / b)
    cdef double v = a * (log(b) - 1.0)
    return w - (u + v)                   # u, v > 0


cdef double log_beta(double a, double b) noexcept nogil:
    """log B(a, b) for a, b > 0, accurate when a << b (TOMS 708 ``betaln`` structure)."""
    cdef double lo = a if a < b else b, hi = b if a < b else a, h, lg1p, u, v
    a = lo
    b = hi
    if a >= 8.0:
        # Stirling for all three gammas; h = a/b keeps every term free of cancellation.
        h = a / b
        lg1p = fast_log1p(h)
        u = (a - 0.5) * (lg1p - log(h))    # -(a - 1/2) log(a / (a + b))
        v = b * lg1p
        return ((HALF_LOG_2PI - 0.5 * log(b)) + bcorr(a, b)) - (u + v)   # u, v > 0
    if b >= 8.0:
        if mixed_ok(a, b):
            h = a / b
            u = 1.0 + h
            return log_beta_mixed(a, b, u, log(b), log(u), log(shift_product(a)), log(a + 8.0))
        return lgamma(a) + algdiv(a, b)
    if a < 1e-300:                       # Gamma(a) ~ 1/a would overflow
        return lgamma(a) + (lgamma(b) - lgamma(a + b))
    # B(a, b) itself, multiplicatively: a few ulps, where the three lgamma terms
    # (up to 8.5 each) would leave an absolute error of ~10 ulps near log B = 0.
    return log(gamma_below_16(a) * (gamma_below_16(b) / gamma_below_16(a + b)))


cdef inline void _log_xy(double x, double y, double* lnx, double* lny) noexcept nogil:
    """log x and log y for y = 1 - x, taking each from the argument that is exact."""
    if x <= 0.375:
        lnx[0] = log(x)
        lny[0] = fast_log1p(-x)
    elif y <= 0.375:
        lnx[0] = fast_log1p(-y)
        lny[0] = log(y)
    else:
        lnx[0] = log(x)
        lny[0] = log(y)


cdef double log_beta_power(double a, double b, double x, double y) noexcept nogil:
    """log(x**a y**b / B(a, b)) for a, b > 0, 0 < x < 1, y = 1 - x."""
    cdef double lnx, lny
    if a >= 8.0 and b >= 8.0:
        return log_mode_power(a, b) - mode_exponent(a, b, x, y)
    _log_xy(x, y, &lnx, &lny)
    return a * lnx + b * lny - log_beta(a, b)


cdef double beta_power(double a, double b, double x, double y) noexcept nogil:
    """x**a y**b / B(a, b) for a, b > 0, 0 < x < 1, y = 1 - x (TOMS 708 ``brcomp``).

    For a, b >= 8 the Stirling form exp(-z) with z = mode_exponent + bcorr, whose
    relative error is about eps * z.  Far in a tail (z > 40) the direct product
    s**p exp(q log1p(-s) - log B), s the smaller (exact) of x and y, is used
    when its error bound |q log1p(-s) - log B| is smaller.
    """
    cdef double lnx, lny, z, s, ps, rest
    if a >= 8.0 and b >= 8.0:
        z = mode_exponent(a, b, x, y) + bcorr(a, b)
        if z > 40.0:
            s, ps, rest = (x, a, b * fast_log1p(-x)) if x <= y else (y, b, a * fast_log1p(-y))
            rest -= log_beta(a, b)
            if fabs(rest) < z:
                return pow_exp(s, ps, rest)
        return INV_SQRT_2PI * sqrt(a / (a + b) * b) * exp(-z)
    _log_xy(x, y, &lnx, &lny)
    return exp(a * lnx + b * lny - log_beta(a, b))


cdef void _log_beta_large_run(intp_t n, const float64_t *lo, const float64_t *hi,
                              const float64_t *s1, const float64_t *s2, const float64_t *l0,
                              const float64_t *l1, const float64_t *l2,
                              float64_t *out) noexcept nogil:
    """``log_beta_large`` over compacted pairs 8 <= lo <= hi < 1e100: no branch
    and no gather, so the compiler can vectorise the loop."""
    cdef intp_t k
    cdef double a, b, c, ab, d, t, part, e, lg1p
    for k in range(n):
        a = lo[k]
        b = hi[k]
        c = a + b
        ab = a * b
        d = 1.0 / (ab * c)
        t = s2[k]                        # h = a/b; s1 = 1 + h rounded
        part = s1[k] - 1.0
        e = (1.0 - (s1[k] - part)) + (t - part)
        lg1p = l1[k] + e / s1[k]
        out[k] = (((HALF_LOG_2PI - 0.5 * l0[k])
                   + (stirling_del_poly(b * c * d) + (stirling_del_poly(a * c * d) - stirling_del_poly(ab * d))))
                  - ((a - 0.5) * (lg1p - l2[k]) + b * lg1p))


cdef void _log_beta_mixed_run(intp_t n, const float64_t *lo, const float64_t *hi, const float64_t *s1,
                              const float64_t *l0, const float64_t *l1, const float64_t *l2,
                              const float64_t *l3, float64_t *out) noexcept nogil:
    """``log_beta_mixed`` over compacted pairs 1e-300 <= lo < 8 <= hi < 1e100:
    no branch and no gather, so the compiler can vectorise the loop."""
    cdef intp_t k
    for k in range(n):
        out[k] = log_beta_mixed(lo[k], hi[k], s1[k], l0[k], l1[k], l2[k], l3[k])


def betaln(const float64_t[::1] a, const float64_t[::1] b):
    """log B(a[i], b[i]) for equal-length arrays of positive finite values.

    In blocks: a first pass sorts the elements, without a branch, into pairs
    with 8 <= min <= max < 1e100 (large), pairs with min < 8 <= max that
    ``log_beta_mixed`` takes (mixed), and the rest; then queues, per element,
    the numbers whose logs it needs (``log_beta_args``), large and mixed pairs
    compacted at the front; NumPy's ``log`` takes the queue at once; the large
    and the mixed pairs are each combined in a loop with neither branch nor
    gather (they vectorise), the rest with ``log_beta_from``.
    """
    cdef intp_t i, j, k, start, n_large, n_mixed, n_rest, n = a.shape[0], m = max(1, min(n, <intp_t>BLOCK))
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef float64_t[:, ::1] s = np.ones((4, m), dtype=np.float64)
    cdef float64_t[:, ::1] l = np.empty((4, m), dtype=np.float64)
    cdef float64_t[:, ::1] pair = np.empty((3, m), dtype=np.float64)   # lo, hi, result (large, mixed)
    cdef intp_t[::1] large = np.empty(m, dtype=np.intp)
    cdef intp_t[::1] mixed = np.empty(m, dtype=np.intp)
    cdef intp_t[::1] rest = np.empty(m, dtype=np.intp)
    cdef double lo, hi
    cdef bint is_large, is_mixed
    s_arr, l_arr, np_log = np.asarray(s), np.asarray(l), np.log
    with np.errstate(divide="ignore"):   # log(h = 0) of a subnormal a: taken, never used
        for start in range(0, n, m):
            with nogil:
                n_large = 0
                n_mixed = 0
                n_rest = 0
                for i in range(start, min(n, start + m)):
                    lo = lower(a[i], b[i])
                    hi = upper(a[i], b[i])
                    is_large = (lo >= 8.0) & (hi < 1e100)
                    is_mixed = (lo < 8.0) & (hi >= 8.0) & mixed_ok(lo, hi)
                    large[n_large] = i
                    mixed[n_mixed] = i
                    rest[n_rest] = i
                    n_large += is_large
                    n_mixed += is_mixed
                    n_rest += 1 - (is_large | is_mixed)
                for k in range(n_large):
                    i = large[k]
                    lo = lower(a[i], b[i])
                    hi = upper(a[i], b[i])
                    pair[0, k] = lo
                    pair[1, k] = hi
                    s[0, k] = hi
                    s[2, k] = lo / hi
                    s[1, k] = 1.0 + s[2, k]
                    s[3, k] = 1.0
                for k in range(n_mixed):
                    j = n_large + k
                    i = mixed[k]
                    lo = lower(a[i], b[i])
                    hi = upper(a[i], b[i])
                    pair[0, j] = lo
                    pair[1, j] = hi
                    s[0, j] = hi
                    s[1, j] = 1.0 + lo / hi
                    s[2, j] = shift_product(lo)
                    s[3, j] = lo + 8.0
                for k in range(n_rest):
                    j = n_large + n_mixed + k
                    i = rest[k]
                    log_beta_args(lower(a[i], b[i]), upper(a[i], b[i]), &s[0, j], m)
            np_log(s_arr, out=l_arr)
            with nogil:
                _log_beta_large_run(n_large, &pair[0, 0], &pair[1, 0], &s[1, 0], &s[2, 0],
                                    &l[0, 0], &l[1, 0], &l[2, 0], &pair[2, 0])
                # Row pointers plus n_large, not &pair[0, n_large]: with every pair large
                # n_large is the block's length, one past the end (never read: n_mixed is
                # 0), which the bounds-checked build refuses as an index.
                _log_beta_mixed_run(n_mixed, &pair[0, 0] + n_large, &pair[1, 0] + n_large, &s[1, 0] + n_large,
                                    &l[0, 0] + n_large, &l[1, 0] + n_large, &l[2, 0] + n_large,
                                    &l[3, 0] + n_large, &pair[2, 0] + n_large)
                for k in range(n_large):
                    out[large[k]] = pair[2, k]
                for k in range(n_mixed):
                    out[mixed[k]] = pair[2, n_large + k]
                for k in range(n_rest):
                    j = n_large + n_mixed + k
                    i = rest[k]
                    out[i] = log_beta_from(lower(a[i], b[i]), upper(a[i], b[i]), &s[0, j], &l[0, j], m)
    return np.asarray(out)


def betaln_scalar(double a, double b):
    """``betaln`` for one valid pair (the public wrapper's scalar path)."""
    return log_beta(a, b)
