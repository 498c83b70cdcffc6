# Elementary-function helpers, defined inline here so every kernel module that
# cimports them compiles its own copy (no cross-module call in hot loops).
from libc.float cimport DBL_MIN
from libc.math cimport exp, fabs, log, pow


cdef inline double fast_log1p(double t) noexcept nogil:
    """log(1 + t) for t > -1 with one libm ``log`` (glibc's ``log1p`` costs several).

    u = 1 + t rounds; e = (1 + t) - u exactly (Knuth's TwoSum), and
    log(1 + t) = log(u) + e/u up to (e/u)**2 / 2 < eps**2: within an ulp or two.
    """
    cdef double u = 1.0 + t
    cdef double t_part = u - 1.0
    cdef double e = (1.0 - (u - t_part)) + (t - t_part)
    return log(u) + e / u


cdef inline double rlog1_series(double x) noexcept nogil:
    """``rlog1(x)`` for |x| <= 0.3 (finite, harmless, for any x > -1)."""
    cdef double r = x / (2.0 + x), t, t2, t4
    t = r * r
    t2 = t * t
    t4 = t2 * t2
    return r * x - 2.0 * r * t * (
        ((1.0 / 3 + t * (1.0 / 5)) + t2 * (1.0 / 7 + t * (1.0 / 9)))
        + t4 * (((1.0 / 11 + t * (1.0 / 13)) + t2 * (1.0 / 15 + t * (1.0 / 17)))
                + t4 * ((1.0 / 19 + t * (1.0 / 21)) + t2 * (1.0 / 23))))


cdef inline double rlog1(double x) noexcept nogil:
    """x - log(1 + x) for x > -1, accurate where the two terms cancel (small |x|).

    With r = x / (2 + x), log1p(x) = 2 atanh(r), so for |x| <= 0.3
    x - log1p(x) = r x - 2 r t (1/3 + t/5 + ... + t**10/23), t = r**2 <= 0.031
    (the series summed by Estrin's scheme, ``rlog1_series``); beyond, the
    direct difference loses at most 3 bits.
    """
    if fabs(x) > 0.3:
        return x - fast_log1p(x)
    return rlog1_series(x)


cdef inline double pow_exp(double base, double p, double z) noexcept nogil:
    """base**p * exp(z) for 0 < base <= 1, p > 0, with base**p from ``pow`` (within an ulp).

    exp(p log base + z) would lose |p log base| ulps.  If base**p leaves the normal
    range while the product need not, it is taken as the square of base**(p/2); the
    log form is the last resort.
    """
    cdef double t, e
    if -700.0 < z < 700.0:
        e = exp(z)
        t = pow(base, p)
        if t >= DBL_MIN:
            return t * e
        t = pow(base, 0.5 * p)
        if t >= DBL_MIN:
            return t * (t * e)
    return exp(p * log(base) + z)
