"""Log densities and log probability mass functions used by the inference layer.

Element-wise over equal-length arrays of valid parameters (the public wrappers in
:mod:`pt.kernels` validate and broadcast).  Edge values follow SciPy's ``xlogy``
conventions (``0 * log(0) = 0``) on closed supports.
"""
from libc.float cimport DBL_MIN
from libc.math cimport INFINITY, lgamma, log, log1p

import numpy as np

from ._special cimport log_beta, log_beta_power, rlog1, stirling_del
from ._types cimport float64_t, index_t, intp_t

cdef double HALF_LOG_2PI = 0.918938533204672741780329736406   # log(2 pi) / 2


cdef inline double _endpoint(double p, double log_norm) noexcept nogil:
    """Log density at an end of the support where the density is t**(p - 1) * exp(log_norm)."""
    if p < 1.0:
        return INFINITY
    if p == 1.0:
        return log_norm
    return -INFINITY


cdef inline double _beta_logpdf(double x, double a, double b) noexcept nogil:
    """log Beta(x; a, b) on the closed support [0, 1], -inf outside.

    (a - 1) log x + (b - 1) log1p(-x) - log B(a, b); for a, b >= 8 the Stirling form
    log(x**a y**b / B(a, b)) - log x - log y, which does not cancel near the mode.
    """
    if x < 0.0 or x > 1.0:
        return -INFINITY
    if x == 0.0:
        return _endpoint(a, -log_beta(a, b))
    if x == 1.0:
        return _endpoint(b, -log_beta(a, b))
    if a >= 8.0 and b >= 8.0:
        return log_beta_power(a, b, x, 1.0 - x) - log(x) - log1p(-x)
    return (a - 1.0) * log(x) + (b - 1.0) * log1p(-x) - log_beta(a, b)


cdef inline double _gamma_logpdf(double x, double k, double scale) noexcept nogil:
    """log Gamma(x; shape k, scale) on [0, inf), -inf outside (and at x = +inf).

    With y = x / scale: (k - 1) log y - y - lgamma(k) - log(scale).  For k >= 8 Stirling
    gives -k rlog1(y/k - 1) - log y + log(k)/2 - log(2 pi)/2 - del(k) - log(scale),
    free of the cancellation between k log y, y and lgamma(k).
    """
    cdef double y, t
    if x < 0.0:
        return -INFINITY
    y = x / scale
    if y == 0.0:
        return _endpoint(k, -lgamma(k) - log(scale))
    if y == INFINITY:
        return -INFINITY
    if k < 8.0:
        return (k - 1.0) * log(y) - y - lgamma(k) - log(scale)
    t = (y - k) / k
    # rlog1 for |t| <= 0.6; beyond, t - log(y/k) avoids log1p of a rounded 1 + t near -1.
    t = rlog1(t) if -0.6 <= t <= 0.6 else t - log(y / k)
    return ((0.5 * log(k) - HALF_LOG_2PI - stirling_del(k)) - k * t) - log(y) - log(scale)


cdef inline double _log_ratio(double a, double b) noexcept nogil:
    """log(a / (a + b)) for a, b > 0, as -log1p(b/a) (exact for tiny b/a)."""
    cdef double r = b / a
    if r == INFINITY:                    # b/a beyond the double range: log1p(a/b) ~ 0
        return log(a) - log(b)
    return -log1p(r)


def beta_logpdf(const float64_t[::1] x, const float64_t[::1] a, const float64_t[::1] b):
    """log Beta(x[i]; a[i], b[i]) for equal-length arrays (x not NaN, a, b > 0 finite)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _beta_logpdf(x[i], a[i], b[i])
    return np.asarray(out)


def gamma_logpdf(const float64_t[::1] x, const float64_t[::1] shape,
                 const float64_t[::1] scale):
    """log Gamma(x[i]; shape[i], scale[i]) for equal-length arrays (x not NaN, parameters > 0 finite)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _gamma_logpdf(x[i], shape[i], scale[i])
    return np.asarray(out)


def beta_bernoulli_logpmf(const index_t[::1] k, const float64_t[::1] a,
                          const float64_t[::1] b):
    """log P(k[i]) under Beta(a[i], b[i])-Bernoulli: log(a/(a+b)) for k = 1, log(b/(a+b)) for k = 0."""
    cdef intp_t i, n = k.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _log_ratio(a[i], b[i]) if k[i] == 1 else _log_ratio(b[i], a[i])
    return np.asarray(out)


def beta_logpdf_scalar(double x, double a, double b):
    """``beta_logpdf`` for one valid triple (the public wrapper's scalar path)."""
    return _beta_logpdf(x, a, b)


def gamma_logpdf_scalar(double x, double shape, double scale):
    """``gamma_logpdf`` for one valid triple (the public wrapper's scalar path)."""
    return _gamma_logpdf(x, shape, scale)


def beta_bernoulli_logpmf_scalar(index_t k, double a, double b):
    """``beta_bernoulli_logpmf`` for one valid triple (the public wrapper's scalar path)."""
    return _log_ratio(a, b) if k == 1 else _log_ratio(b, a)


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
