"""The log of the standard normal distribution function, log Phi(x).

Phi(x) = erfc(-x / sqrt 2) / 2, and libm's ``erfc`` keeps its relative accuracy
into the tail, so:

* x > 0: log1p(-erfc(x / sqrt 2) / 2) (Phi near 1: its log is minus the small tail);
* -20 < x <= 0: log(erfc(-x / sqrt 2) / 2) (erfc is at least 1e-89 there);
* x <= -20: the asymptotic series -x^2/2 - log(-x) - log(2 pi)/2
  + log(1 - 1/x^2 + 3/x^4 - ... + 19!!/x^20), whose first omitted term is
  below 4e-19 relative, down to x = -inf (log Phi(-1e200) = -inf: -x^2/2 overflows).

Above 0, erfc is taken at t = x/sqrt 2 rounded and corrected to first order for
the rounding, erfc(t + d) = erfc(t) - d 2/sqrt(pi) exp(-t^2), with d from ``fma``:
an ulp of t would move erfc by 2 t^2 ulps (1e-13 at x = 30), which the upper
branch would keep as its relative error.
"""
from libc.math cimport INFINITY, M_SQRT1_2, erfc, exp, fma, log, log1p

import numpy as np

from ._types cimport float64_t, intp_t

cdef double HALF_LOG_2PI = 0.918938533204672741780329736406   # log(2 pi) / 2
cdef double SQRT1_2_LO = -4.833646656726457e-17                # 1/sqrt 2 - M_SQRT1_2
cdef double TWO_OVER_SQRT_PI = 1.1283791670955126              # 2 / sqrt(pi)


cdef inline double _erfc_scaled_x(double x) noexcept nogil:
    """erfc(x / sqrt 2) for |x| < 40, with the rounding of x / sqrt 2 corrected (module docstring)."""
    cdef double t = x * M_SQRT1_2
    cdef double d = fma(x, M_SQRT1_2, -t) + x * SQRT1_2_LO
    return erfc(t) - d * TWO_OVER_SQRT_PI * exp(-t * t)


cdef double log_ndtr_one(double x) noexcept nogil:
    """log Phi(x) for x not NaN (+-inf allowed)."""
    cdef double r
    if x > 0.0:
        if x >= 40.0:                     # Phi(-x) < 4e-350: log Phi(x) is -0 or -(a subnormal)
            return -0.5 * erfc(x * M_SQRT1_2)
        return log1p(-0.5 * _erfc_scaled_x(x))
    if x > -20.0:
        return log(0.5 * erfc(-x * M_SQRT1_2))   # t's rounding: ~2 ulps of the log, no correction needed
    if x == -INFINITY:
        return -INFINITY
    r = 1.0 / (x * x)
    return (-0.5 * (x * x) - log(-x) - HALF_LOG_2PI
            + log1p(-r * (1.0 - 3.0 * r * (1.0 - 5.0 * r * (1.0 - 7.0 * r * (1.0 - 9.0 * r * (
                1.0 - 11.0 * r * (1.0 - 13.0 * r * (1.0 - 15.0 * r * (1.0 - 17.0 * r * (1.0 - 19.0 * r)))))))))))


def log_ndtr(const float64_t[::1] x):
    """log Phi(x[i]) (x not NaN)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = log_ndtr_one(x[i])
    return np.asarray(out)


def log_ndtr_scalar(double x):
    """``log_ndtr`` for one x (the public wrapper's scalar path)."""
    return log_ndtr_one(x)
