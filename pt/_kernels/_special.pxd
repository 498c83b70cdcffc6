# Scalar special functions shared by the kernel modules (cimport them from here).
# All assume valid arguments (documented per function, here or in _special.pyx).
# The Stirling pieces are defined inline here, so a module that cimports them
# compiles its own copy: no cross-module call in its hot loop.
from libc.math cimport fabs, lgamma, log

from ._elementary cimport rlog1
from ._types cimport float64_t, intp_t

cdef double gam1(double a) noexcept nogil
cdef double digamma(double x) noexcept nogil
cdef double algdiv(double a, double b) noexcept nogil
cdef double log_beta(double a, double b) noexcept nogil
cdef double log_beta_power(double a, double b, double x, double y) noexcept nogil
cdef double beta_power(double a, double b, double x, double y) noexcept nogil


cdef inline double stirling_del_r(double r) noexcept nogil:
    """Stirling remainder del(z) = lgamma(z) - ((z - 1/2) log z - z + log(2 pi)/2) at
    z = 1/r, z >= 8 (callers that also need 1/z pass it, saving a division).

    del(z) = sum_k S_k z**(1 - 2k) with S_k = B_2k / (2k (2k - 1)).  Ten terms for
    z < 5118 (the first omitted term, 12 |S_11| z**-20, is below 2**-56 relative from
    z = 8.98 on); two beyond.  One branch, which large-argument data rarely crosses:
    a branch per accuracy band costs more in mispredictions than the extra terms.
    Summed by Estrin's scheme (shorter dependency chains than Horner).
    """
    cdef double f = r * r, f2, f4, s
    if r <= 1.0 / 5118:
        return (1.0 / 12 - f * (1.0 / 360)) * r
    f2 = f * f
    f4 = f2 * f2
    s = (((1.0 / 12 - f * (1.0 / 360)) + f2 * (1.0 / 1260 - f * (1.0 / 1680)))
         + f4 * ((1.0 / 1188 - f * (691.0 / 360360))
                 + f2 * ((1.0 / 156 - f * (3617.0 / 122400))
                         + f2 * (43867.0 / 244188 - f * (174611.0 / 125400)))))
    return s * r


cdef inline double stirling_del_poly(double r) noexcept nogil:
    """``stirling_del_r`` without its branch (all ten terms), so that a loop of
    it vectorises; for 8 <= 1/r < 1e100 (r**8 may underflow to 0 harmlessly)."""
    cdef double f = r * r, f2 = f * f, f4 = f2 * f2
    return r * (((1.0 / 12 - f * (1.0 / 360)) + f2 * (1.0 / 1260 - f * (1.0 / 1680)))
                + f4 * ((1.0 / 1188 - f * (691.0 / 360360))
                        + f2 * ((1.0 / 156 - f * (3617.0 / 122400))
                                + f2 * (43867.0 / 244188 - f * (174611.0 / 125400)))))


cdef inline double stirling_del(double z) noexcept nogil:
    """Stirling remainder del(z) for z >= 8 (see ``stirling_del_r``)."""
    return stirling_del_r(1.0 / z)


cdef inline double bcorr(double a, double b) noexcept nogil:
    """del(a) + del(b) - del(a + b) for a, b >= 8 (TOMS 708 ``bcorr``).

    Computed directly: its absolute error, below eps * del(8) ~ 1e-18, is far under the
    size of every quantity it corrects (log B(a, b) < -8.9 for a, b >= 8).
    """
    return stirling_del(a) + (stirling_del(b) - stirling_del(a + b))


cdef inline double mode_exponent(double a, double b, double x, double y) noexcept nogil:
    """-log((x/x0)**a (y/y0)**b) with x0 = a/(a + b), y0 = 1 - x0, for a, b >= 8, y = 1 - x.

    Equals a rlog1(x/x0 - 1) + b rlog1(y/y0 - 1) because a (x/x0 - 1) + b (y/y0 - 1) = 0,
    so nothing cancels near the mode (TOMS 708 ``brcomp``).
    """
    cdef double h, xm, ym, lam, e, u, v
    if a <= b:
        h = a / b
        xm = h / (1.0 + h)
        ym = 1.0 / (1.0 + h)
        lam = a - (a + b) * x
    else:
        h = b / a
        xm = 1.0 / (1.0 + h)
        ym = h / (1.0 + h)
        lam = (a + b) * y - b
    e = -lam / a
    u = rlog1(e) if fabs(e) <= 0.6 else e - log(x / xm)
    e = lam / b
    v = rlog1(e) if fabs(e) <= 0.6 else e - log(y / ym)
    return a * u + b * v


cdef inline double log_mode_power(double a, double b) noexcept nogil:
    """log(x0**a y0**b / B(a, b)) at x0 = a/(a + b), for a, b >= 8.

    Stirling: (1/2) log(a b / (a + b)) - log(2 pi)/2 - bcorr(a, b), so
    log(x**a y**b / B(a, b)) = log_mode_power(a, b) - mode_exponent(a, b, x, y).
    """
    return 0.5 * log(a / (a + b) * b) - 0.918938533204672741780329736406 - bcorr(a, b)

# ---------------------------------------------------------------- batched log B
#
# Array kernels that need log B spend most of their time in libm's ``log``.
# They run in blocks instead: a first pass stores, per element, the three
# numbers whose logs ``log_beta`` needs (``log_beta_args``); NumPy's ``log``
# (SIMD where the CPU has it, within an ulp like libm's) takes them all at
# once; a second pass combines them (``log_beta_from``).  Same formulas and
# branches as ``log_beta``.

cdef inline double gamma_below_16(double z) noexcept nogil:
    """Gamma(z) for 1e-300 <= z < 16: 1/Gamma(1 + w) = 1 + gam1(w) with |w| <= 1/2, and the recurrence."""
    cdef double p = 1.0
    if z < 0.5:
        return 1.0 / (z * (1.0 + gam1(z)))
    while z >= 1.5:
        z -= 1.0                         # exact for z < 16
        p *= z
    return p / (1.0 + gam1(z - 1.0))




cdef enum:
    # Elements per block.  beta_logpdf's scratch for a block of 2048 (queue, logs,
    # nine Stirling rows, two index lists, ~430 KiB with the block's inputs and
    # output) stays well inside the 1 MiB L2 of the machine measured; at 4096
    # (~860 KiB) beta_logpdf took 45 ns/element instead of 39.5
    # (docs/performance-kernels.md, sixth pass).
    BLOCK = 2048


cdef inline double lower(double a, double b) noexcept nogil:
    return a if a < b else b             # minsd: no branch to mispredict on random pairs


cdef inline double upper(double a, double b) noexcept nogil:
    return b if a < b else a             # maxsd


cdef inline bint mixed_ok(double a, double b) noexcept nogil:
    """True where ``log_beta_mixed`` applies to a < 8 <= b."""
    return (a >= 1e-300) & (b < 1e100)


cdef inline double shift_product(double a) noexcept nogil:
    """a (a + 1) ... (a + 7) for a < 8 (below 2.6e9: no overflow), so that
    log Gamma(a) = log Gamma(a + 8) - log of it; multiplied in pairs."""
    return (((a * (a + 7.0)) * ((a + 1.0) * (a + 6.0)))
            * (((a + 2.0) * (a + 5.0)) * ((a + 3.0) * (a + 4.0))))


cdef inline void log_beta_args(double a, double b, float64_t *s, intp_t stride) noexcept nogil:
    """The numbers whose logs ``log_beta_from`` needs, at s[0], s[stride],
    s[2 stride], s[3 stride]: b, 1 + h (h = a/b, a <= b) when b >= 8, then
    h when a >= 8 too, or ``shift_product(a)`` and a + 8 when a < 8 <= b
    (``log_beta_mixed``; a below 1e-300 or b from 1e100 take lgamma instead);
    the product Gamma(a) Gamma(b) / Gamma(a + b) at s[2 stride] when both are
    below 8; 1 where a log is not needed."""
    cdef double h
    s[0] = 1.0
    s[stride] = 1.0
    s[2 * stride] = 1.0
    s[3 * stride] = 1.0
    if b >= 8.0:
        h = a / b
        s[0] = b
        s[stride] = 1.0 + h
        if a >= 8.0:
            s[2 * stride] = h
        elif mixed_ok(a, b):
            s[2 * stride] = shift_product(a)
            s[3 * stride] = a + 8.0
    elif a >= 1e-300:
        s[2 * stride] = gamma_below_16(a) * (gamma_below_16(b) / gamma_below_16(a + b))


cdef inline double log1p_from(double t, double u, double log_u) noexcept nogil:
    """log(1 + t) given u = 1 + t rounded and log(u) (``fast_log1p``'s correction)."""
    cdef double t_part = u - 1.0
    cdef double e = (1.0 - (u - t_part)) + (t - t_part)
    return log_u + e / u


cdef inline double bcorr_one_division(double a, double b) noexcept nogil:
    """``bcorr(a, b)`` for 8 <= a <= b < 1e100 with one division for the three
    reciprocals: each is off by a few ulps, which moves del (< 0.0105) by
    ~1e-18, far below an ulp of log B (< -8.9)."""
    cdef double c = a + b, ab = a * b
    cdef double d = 1.0 / (ab * c)
    return stirling_del_r(b * c * d) + (stirling_del_r(a * c * d) - stirling_del_r(ab * d))


cdef inline double log_beta_mixed(double a, double b, double u, double log_b, double log_u,
                                  double log_p, double log_z) noexcept nogil:
    """log B(a, b) for 1e-300 <= a < 8 <= b < 1e100, from u = 1 + a/b rounded
    and the logs of b, u, P = ``shift_product(a)`` and z = a + 8 rounded.

    TOMS 708's lgamma(a) + ``algdiv(a, b)`` with lgamma(a) = lgamma(a + 8) -
    log P and Stirling for lgamma(a + 8), z in [8, 16): only logs (batched by
    the array kernels) and three Stirling series, no libm ``lgamma``.  With
    e = (a + 8) - z (exact, Fast2Sum) and -z + a = e - 8:
    log B = (z - 1/2) log z - log P - a log b - (a + b - 1/2) log1p(a/b)
    + log(2 pi)/2 - 8 + del(z) + del(b) - del(a + b) + e (1 + psi(z)),
    psi(z) ~ log z - 1/(2z) (e is below an ulp of z, so its square is nothing).
    The three reciprocals come from one division (a few ulps each: ~1e-18 in del).
    """
    cdef double z = a + 8.0, c = a + b
    cdef double e = a - (z - 8.0)
    cdef double d = 1.0 / (b * c * z)
    cdef double iz = b * c * d
    cdef double h = a / b
    cdef double w = stirling_del_poly(iz) + (stirling_del_poly(c * z * d) - stirling_del_poly(b * z * d))
    cdef double lg1p = log1p_from(h, u, log_u)
    return (((z - 0.5) * log_z - log_p) - (a * log_b + (c - 0.5) * lg1p)
            + ((0.918938533204672741780329736406 - 8.0) + (w + e * ((1.0 + log_z) - 0.5 * iz))))


cdef inline double log_beta_large(double a, double b, const float64_t *s,
                                  const float64_t *l, intp_t stride) noexcept nogil:
    """``log_beta_from`` for 8 <= a <= b: Stirling for all three gammas."""
    cdef double lg1p = log1p_from(s[2 * stride], s[stride], l[stride])
    cdef double u = (a - 0.5) * (lg1p - l[2 * stride])
    cdef double v = b * lg1p
    cdef double w = bcorr_one_division(a, b) if b < 1e100 else bcorr(a, b)
    return ((0.918938533204672741780329736406 - 0.5 * l[0]) + w) - (u + v)


cdef inline double log_beta_from(double a, double b, const float64_t *s,
                                  const float64_t *l, intp_t stride) noexcept nogil:
    """``log_beta(a, b)`` for a <= b from ``log_beta_args``'s s[.] and their
    logs l[.] (same offsets)."""
    cdef double h, lg1p, u, v, w
    if b >= 8.0:
        if a >= 8.0:
            return log_beta_large(a, b, s, l, stride)
        if mixed_ok(a, b):
            return log_beta_mixed(a, b, s[stride], l[0], l[stride], l[2 * stride], l[3 * stride])
        h = a / b
        lg1p = log1p_from(h, s[stride], l[stride])
        w = stirling_del(b) - stirling_del(a + b)
        u = (b + (a - 0.5)) * lg1p
        v = a * (l[0] - 1.0)
        return lgamma(a) + (w - (u + v))
    if a < 1e-300:
        return lgamma(a) + (lgamma(b) - lgamma(a + b))
    return l[2 * stride]
