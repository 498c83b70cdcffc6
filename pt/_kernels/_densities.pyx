"""Log densities and log probability mass functions used by the inference layer.

Element-wise over equal-length arrays of valid parameters (the public wrappers in
:mod:`pt.kernels` validate and broadcast).  Edge values follow SciPy's ``xlogy``
conventions (``0 * log(0) = 0``) on closed supports.

Each density splits into terms that depend only on the parameters and a part that
depends on x.  The loops recompute the parameter terms only when the parameters
differ from the previous element's, so broadcast (shared) parameters cost one
evaluation of log B or lgamma in total instead of one per element.
"""
from libc.float cimport DBL_MIN
from libc.math cimport INFINITY, NAN, lgamma, log

import numpy as np

from ._elementary cimport fast_log1p, rlog1
from ._special cimport log_beta, log_mode_power, mode_exponent, stirling_del
from ._types cimport float64_t, index_t, intp_t

cdef double HALF_LOG_2PI = 0.918938533204672741780329736406   # log(2 pi) / 2


cdef inline double _endpoint(double p, double log_norm) noexcept nogil:
    """Log density at an end of the support where the density is t**(p - 1) * exp(log_norm)."""
    if p < 1.0:
        return INFINITY
    if p == 1.0:
        return log_norm
    return -INFINITY


# ---------------------------------------------------------------- Beta

cdef inline bint _beta_stirling(double a, double b) noexcept nogil:
    return a >= 8.0 and b >= 8.0


cdef inline double _beta_norm(double a, double b) noexcept nogil:
    """-log B(a, b), or log(x0**a y0**b / B(a, b)) at the mode when both a, b >= 8."""
    return log_mode_power(a, b) if _beta_stirling(a, b) else -log_beta(a, b)


cdef inline double _beta_logpdf(double x, double a, double b, double norm) noexcept nogil:
    """log Beta(x; a, b) on the closed support [0, 1], -inf outside; norm = _beta_norm(a, b).

    (a - 1) log x + (b - 1) log1p(-x) - log B(a, b); for a, b >= 8 the Stirling form
    log(x**a y**b / B(a, b)) - log x - log y = norm - mode_exponent - log x - log y,
    which does not cancel near the mode.  (At the ends a, b >= 8 give -inf, so
    ``_endpoint`` only ever uses the -log B form of norm.)
    """
    if x < 0.0 or x > 1.0:
        return -INFINITY
    if x == 0.0:
        return _endpoint(a, norm)
    if x == 1.0:
        return _endpoint(b, norm)
    if _beta_stirling(a, b):
        return norm - mode_exponent(a, b, x, 1.0 - x) - log(x) - fast_log1p(-x)
    return (a - 1.0) * log(x) + (b - 1.0) * fast_log1p(-x) + norm


def beta_logpdf(const float64_t[::1] x, const float64_t[::1] a, const float64_t[::1] b):
    """log Beta(x[i]; a[i], b[i]) for equal-length arrays (x not NaN, a, b > 0 finite)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef double a_i = NAN, b_i = NAN, norm = NAN
    with nogil:
        for i in range(n):
            if a[i] != a_i or b[i] != b_i:
                a_i = a[i]
                b_i = b[i]
                norm = _beta_norm(a_i, b_i)
            out[i] = _beta_logpdf(x[i], a_i, b_i, norm)
    return np.asarray(out)


def beta_logpdf_scalar(double x, double a, double b):
    """``beta_logpdf`` for one valid triple (the public wrapper's scalar path)."""
    return _beta_logpdf(x, a, b, _beta_norm(a, b))


# ---------------------------------------------------------------- Gamma

cdef struct gamma_terms:
    double norm         # k < 8: -lgamma(k) - log(scale); k >= 8: log(k)/2 - log(2 pi)/2 - del(k)
    double inv_mean     # 1 / (k scale), so y/k - 1 = x * inv_mean - 1


cdef inline gamma_terms _gamma_terms(double k, double scale) noexcept nogil:
    cdef gamma_terms t
    if k >= 8.0:
        t.norm = 0.5 * log(k) - HALF_LOG_2PI - stirling_del(k)
    else:
        t.norm = -lgamma(k) - log(scale)
    t.inv_mean = 1.0 / (k * scale)
    return t


cdef inline double _gamma_logpdf(double x, double k, double scale,
                                 gamma_terms terms) noexcept nogil:
    """log Gamma(x; shape k, scale) on [0, inf), -inf outside and at +inf.

    With y = x / scale: (k - 1) log y - y - lgamma(k) - log(scale).  For k >= 8 Stirling
    gives -k rlog1(y/k - 1) - log x + log(k)/2 - log(2 pi)/2 - del(k) (log y + log(scale)
    = log x), free of the cancellation between k log y, y and lgamma(k).
    """
    cdef double y, t
    if x < 0.0:
        return -INFINITY
    y = x / scale
    if y == 0.0:
        return _endpoint(k, terms.norm)  # k >= 8 gives -inf, so norm is the lgamma form here
    if y == INFINITY:
        return -INFINITY
    if k < 8.0:
        return (k - 1.0) * log(y) - y + terms.norm
    t = x * terms.inv_mean - 1.0
    # rlog1 for |t| <= 0.6; beyond, t - log(y/k) avoids log1p of a rounded 1 + t near -1.
    t = rlog1(t) if -0.6 <= t <= 0.6 else t - log(x * terms.inv_mean)
    return terms.norm - k * t - log(x)


def gamma_logpdf(const float64_t[::1] x, const float64_t[::1] shape,
                 const float64_t[::1] scale):
    """log Gamma(x[i]; shape[i], scale[i]) for equal-length arrays (x not NaN, parameters > 0 finite)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef double k_i = NAN, s_i = NAN
    cdef gamma_terms terms
    with nogil:
        for i in range(n):
            if shape[i] != k_i or scale[i] != s_i:
                k_i = shape[i]
                s_i = scale[i]
                terms = _gamma_terms(k_i, s_i)
            out[i] = _gamma_logpdf(x[i], k_i, s_i, terms)
    return np.asarray(out)


def gamma_logpdf_scalar(double x, double shape, double scale):
    """``gamma_logpdf`` for one valid triple (the public wrapper's scalar path)."""
    return _gamma_logpdf(x, shape, scale, _gamma_terms(shape, scale))


# ---------------------------------------------------------------- Beta-Bernoulli

cdef inline double _log_ratio(double a, double b) noexcept nogil:
    """log(a / (a + b)) for a, b > 0, as -log1p(b/a) (exact for tiny b/a)."""
    cdef double r = b / a
    if r == INFINITY:                    # b/a beyond the double range: log1p(a/b) ~ 0
        return log(a) - log(b)
    return -fast_log1p(r)


def beta_bernoulli_logpmf(const index_t[::1] k, const float64_t[::1] a,
                          const float64_t[::1] b):
    """log P(k[i]) under Beta(a[i], b[i])-Bernoulli: log(a/(a+b)) for k = 1, log(b/(a+b)) for k = 0."""
    cdef intp_t i, n = k.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _log_ratio(a[i], b[i]) if k[i] == 1 else _log_ratio(b[i], a[i])
    return np.asarray(out)


def beta_bernoulli_logpmf_scalar(index_t k, double a, double b):
    """``beta_bernoulli_logpmf`` for one valid triple (the public wrapper's scalar path)."""
    return _log_ratio(a, b) if k == 1 else _log_ratio(b, a)


# ---------------------------------------------------------------- Dirichlet-categorical

cdef inline double _log_share(double part, double total) noexcept nogil:
    """log(part / total) for 0 < part <= total: one rounding in the ratio, not two large logs."""
    cdef double r = part / total
    if r >= DBL_MIN:
        return log(r)
    return log(part) - log(total)        # the ratio would lose digits as a subnormal


def dirichlet_categorical_logpmf(const index_t[::1] k, const float64_t[:, ::1] alpha,
                                 const index_t[::1] row=None):
    """log(alpha[r, k[i]] / sum(alpha[r, :])) with r = row[i] (r = i when ``row`` is None).

    ``alpha`` holds one Dirichlet parameter vector per row; each row total is computed
    once, so many draws can share a row through ``row``.
    """
    cdef intp_t i, j, r, n = k.shape[0], m = alpha.shape[0], n_cat = alpha.shape[1]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef float64_t[::1] total = np.empty(m, dtype=np.float64)
    cdef double s
    cdef bint shared_rows = row is not None
    with nogil:
        for r in range(m):
            s = 0.0
            for j in range(n_cat):
                s += alpha[r, j]
            total[r] = s
        for i in range(n):
            r = row[i] if shared_rows else i
            out[i] = _log_share(alpha[r, k[i]], total[r])
    return np.asarray(out)
