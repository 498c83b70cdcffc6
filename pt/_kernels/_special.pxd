# Scalar special functions shared by the kernel modules (cimport them from here).
# All assume valid arguments (documented per function, here or in _special.pyx).
# The Stirling pieces are defined inline here, so a module that cimports them
# compiles its own copy: no cross-module call in its hot loop.
from libc.math cimport fabs, log

from ._elementary cimport rlog1

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
