"""Regularised incomplete beta I_x(a, b) and its inverse (the Beta CDF and quantile).

``_ibeta`` follows the case analysis of DiDonato & Morris, "Significant digit
computation of the incomplete beta function ratios", ACM TOMS 18 (1992) 360-373
(Algorithm 708, ``bratio``): it returns both I_x(a, b) and 1 - I_x(a, b), each
computed directly wherever it is the smaller, by the power series (``_bpser``),
the continued fraction (``_bfrac``), the shift I_x(a, b) - I_x(a + n, b)
(``_bup``), the asymptotic expansion for a large and b <= 1 (``_bgrat``) or the
series for a tiny parameter (``_apser``, ``_fpser``).  Where TOMS 708 switches to
its large-(a, b) expansion ``basym`` this module keeps the continued fraction,
whose cost grows only slowly (about 120 terms at a = b = 1e4, 600 at 1e6, near
the mode).

``_ppf`` inverts it with Halley's method on log x, bracketed, from the
Cran-Martin-Thomas (AS 109 / R19) starting value.
"""
from libc.float cimport DBL_EPSILON, DBL_MIN
from libc.math cimport INFINITY, erf, erfc, exp, expm1, fabs, log, pow, sqrt

import numpy as np

from ._elementary cimport fast_log1p, pow_exp
from ._special cimport (algdiv, beta_power, digamma, gam1, log_beta, log_beta_power)
from ._types cimport float64_t, intp_t

cdef double EULER_GAMMA = 0.577215664901532860606512090082
cdef double EPS = DBL_EPSILON
cdef double TINIEST = 4.9406564584124654e-324   # 2**-1074, the smallest subnormal
cdef int MAX_CF_TERMS = 100000

cdef struct ratio_pair:
    double w        # I_x(a, b)
    double w1       # 1 - I_x(a, b)


# ---------------------------------------------------------------- prefactors

cdef inline double _inv_gamma1p(double z) noexcept nogil:
    """1/Gamma(1 + z) for -1/2 <= z <= 5/2."""
    if z <= 1.5:
        return 1.0 + gam1(z)
    return (1.0 + gam1(z - 1.0)) / z


cdef double _log_inv_sbeta(double s, double t) noexcept nogil:
    """log(1 / (s B(s, t))) = log(Gamma(s + t) / (Gamma(1 + s) Gamma(t))), s = min(s, t).

    For s < 1 the value is O(1) and is built from gam1 products (TOMS 708 ``bpser`` /
    ``brcomp``), so it keeps absolute accuracy ~eps instead of eps * |log B|.
    """
    cdef double c, tr
    cdef int j, m
    if s >= 1.0:
        return -log_beta(s, t) - log(s)
    if t >= 8.0:
        return fast_log1p(gam1(s)) - algdiv(s, t)
    c = 1.0                               # Gamma(s + t)/Gamma(t) = c * Gamma(s + tr)/Gamma(tr)
    tr = t
    if t > 1.0:
        m = <int>(t - 1.0)
        for j in range(m):
            tr -= 1.0
            c *= (s + tr) / tr
        tr -= 1.0                         # now Gamma(tr + 1) with 0 < tr <= 1
        return log(c * (1.0 + gam1(s)) * (1.0 + gam1(tr)) / _inv_gamma1p(s + tr))
    # t <= 1: Gamma(s + t)/(Gamma(1 + s) Gamma(t)) = t/(s + t) Gamma(1+s+t)/(Gamma(1+s) Gamma(1+t))
    return log(t / (s + t) * (1.0 + gam1(s)) * (1.0 + gam1(t)) / _inv_gamma1p(s + t))


cdef double _power_term(double a, double b, double x, double y) noexcept nogil:
    """x**a y**b / B(a, b) (TOMS 708 ``brcomp``), y = 1 - x.

    Both parameters >= 8: the Stirling form in ``beta_power``.  Otherwise
    1/B(a, b) = s exp(L) with s = min(a, b) and L from ``_log_inv_sbeta``, and the
    power of the smaller of x, y is taken with ``pow``.
    """
    cdef double s = a if a < b else b
    cdef double z
    if s >= 8.0:
        return beta_power(a, b, x, y)
    z = _log_inv_sbeta(s, b if a < b else a) + log(s)
    if x <= y:
        return pow_exp(x, a, b * fast_log1p(-x) + z)
    return pow_exp(y, b, a * fast_log1p(-y) + z)


# ---------------------------------------------------------------- expansions

cdef double _bpser(double a, double b, double x) noexcept nogil:
    """I_x(a, b) by its power series, for b <= 1 or b x <= 0.7 (TOMS 708 ``bpser``).

    I_x(a, b) = x**a / (a B(a, b)) [1 + a sum_{n>=1} (1 - b)_n / n! x**n / (a + n)].
    """
    cdef double s = a if a < b else b
    cdef double pre, c, w, total = 0.0, n = 0.0, tol
    if x == 0.0:
        return 0.0
    pre = pow_exp(x, a, _log_inv_sbeta(s, b if a < b else a) + log(s / a))
    if pre == 0.0 or a <= 0.1 * EPS:
        return pre
    c = 1.0
    tol = EPS / a
    while True:
        n += 1.0
        c *= (0.5 + (0.5 - b / n)) * x
        w = c / (a + n)
        total += w
        if fabs(w) <= tol:
            break
    return pre * (1.0 + a * total)


cdef double _bup(double a, double b, double x, double y, int n) noexcept nogil:
    """I_x(a, b) - I_x(a + n, b) = sum_{i<n} x**(a+i) y**b / ((a+i) B(a+i, b)) (TOMS 708 ``bup``).

    Terms d_i = d_{i-1} x (a + b + i - 1)/(a + i) relative to the first; the sum is
    rescaled if it grows past 1e280, and the first term is taken in log form when
    it underflows.
    """
    cdef double d = 1.0, total = 1.0, log_scale = 0.0, first
    cdef int i
    for i in range(1, n):
        d *= x * (a + b + (i - 1)) / (a + i)
        total += d
        if total > 1e280:
            total *= 1e-280
            d *= 1e-280
            log_scale += 644.7238260383328   # 280 log(10)
    first = _power_term(a, b, x, y) / a
    if first > 1e-290 and log_scale == 0.0:
        return first * total
    return exp(log_beta_power(a, b, x, y) - log(a) + log(total) + log_scale)


cdef double _bfrac(double a, double b, double x, double y, double lam) noexcept nogil:
    """I_x(a, b) by the continued fraction of DiDonato & Morris (1992) (TOMS 708 ``bfrac``).

    For a, b > 1 and lam = (a + b) y - b >= 0 (x at or left of the mean).  With the
    prefactor P = x**a y**b / B(a, b), I_x(a, b) = P / (beta_0 + alpha_1/(beta_1 + ...)),
    beta_0 = a (1 + lam) / (a + 1), and for n >= 1
    alpha_n = n (b - n)(a + n - 1)(a + b + n - 1) x**2 / (a + 2n - 1)**2,
    beta_n = n + n (b - n) x / (a + 2n - 1) + (a + n)(1 + lam + n (1 + y)) / (a + 2n + 1).
    Unlike the textbook fraction it stays well conditioned up to lam = 0 (the
    textbook form loses 5 digits at a = 1e6, b = 100 there).  Evaluated by the
    forward recurrence, renormalised every step.
    """
    cdef double pre = _power_term(a, b, x, y)
    cdef double a_prev = 0.0, b_prev = 1.0, a_cur = 1.0, b_cur = a * (1.0 + lam) / (a + 1.0)
    cdef double r = a_cur / b_cur, r_old, alpha, beta, a_next, b_next, n
    cdef int i
    if pre == 0.0:
        return 0.0
    for i in range(1, MAX_CF_TERMS):
        n = i
        alpha = n * (b - n) * (a + n - 1.0) * (a + b + n - 1.0) * (x / (a + 2.0 * n - 1.0)) ** 2
        beta = (n + n * (b - n) * x / (a + 2.0 * n - 1.0)
                + (a + n) * (1.0 + lam + n * (1.0 + y)) / (a + 2.0 * n + 1.0))
        a_next = beta * a_cur + alpha * a_prev
        b_next = beta * b_cur + alpha * b_prev
        r_old = r
        r = a_next / b_next
        if fabs(r - r_old) <= EPS * r:
            break
        a_prev = a_cur / b_next
        b_prev = b_cur / b_next
        a_cur = r
        b_cur = 1.0
    return pre * r


cdef void _grat_small(double a, double x, double r, double* p, double* q) noexcept nogil:
    """Incomplete gamma ratios P(a, x), Q(a, x) for 0 < a <= 1, x > 0 (TOMS 708 ``grat1``).

    r = exp(-x) x**a / Gamma(a).  x < 1.1: the series for gamma(a, x) written as
    P = x**a (1 - J)/Gamma(1 + a), with Q = (x**a J - expm1(a log x))/Gamma(1 + a) - gam1(a)
    when P is close to 1; x >= 1.1: Legendre's continued fraction for Q.
    """
    cdef double an, c, total, tol, t, j, z, h, g, w, el, b_, d, cc, delta, tiny = 1e-300
    cdef int i
    if a == 0.5:
        if x < 0.25:
            p[0] = erf(sqrt(x))
            q[0] = 0.5 + (0.5 - p[0])
        else:
            q[0] = erfc(sqrt(x))
            p[0] = 0.5 + (0.5 - q[0])
        return
    if x < 1.1:
        an = 3.0
        c = x
        total = x / (a + 3.0)
        tol = 0.1 * EPS / (a + 1.0)
        while True:
            an += 1.0
            c = -c * (x / an)
            t = c / (a + an)
            total += t
            if fabs(t) <= tol:
                break
        j = a * x * ((total / 6.0 - 0.5 / (a + 2.0)) * x + 1.0 / (a + 1.0))
        z = a * log(x)
        h = gam1(a)
        g = 1.0 + h
        if (x < 0.25 and z <= -0.13394) or (x >= 0.25 and a >= x / 2.59):
            w = exp(z)
            p[0] = w * g * (0.5 + (0.5 - j))
            q[0] = 0.5 + (0.5 - p[0])
            return
        el = expm1(z)
        w = 0.5 + (0.5 + el)
        q[0] = (w * j - el) * g - h
        if q[0] < 0.0:
            q[0] = 0.0
        p[0] = 0.5 + (0.5 - q[0])
        return
    # Q(a, x) = r / (x + 1 - a - 1 (1 - a) / (x + 3 - a - 2 (2 - a) / (x + 5 - a - ...)))
    b_ = x + 1.0 - a
    cc = 1.0 / tiny
    d = 1.0 / b_
    h = d
    for i in range(1, MAX_CF_TERMS):
        an = -i * (i - a)
        b_ += 2.0
        d = an * d + b_
        d = 1.0 / (d if fabs(d) > tiny else tiny)
        cc = b_ + an / cc
        cc = cc if fabs(cc) > tiny else tiny
        delta = d * cc
        h *= delta
        if fabs(delta - 1.0) <= EPS:
            break
    q[0] = r * h
    p[0] = 0.5 + (0.5 - q[0])


cdef double _bgrat(double a, double b, double x, double y, double w) noexcept nogil:
    """w + I_x(a, b) by the asymptotic expansion for a >= 15, b <= 1 (TOMS 708 ``bgrat``).

    With T = a + (b - 1)/2 and z = -T log x, I_x(a, b) = U sum_n d_n J_n where
    U = Gamma(a + b)/(Gamma(a) T**b) * exp(-z) z**b / Gamma(b), J_0 = Q(b, z)/(exp(-z) z**b/Gamma(b)),
    and J_n, d_n follow DiDonato & Morris (1992), section 5.  Returns w unchanged if
    the leading factor underflows.
    """
    cdef double bm1 = (b - 0.5) - 0.5, nu = a + 0.5 * bm1, lnx, z, r, u, p, q
    cdef double v, t2, lw, jn, total, t, cn, n2, bp2n, s, coef, dj
    cdef double c[30]
    cdef double dd[30]
    cdef int n, i
    lnx = fast_log1p(-y) if y <= 0.375 else log(x)
    z = -nu * lnx
    if b * z == 0.0:
        return w
    r = b * (1.0 + gam1(b)) * exp(b * log(z)) * exp(a * lnx) * exp(0.5 * bm1 * lnx)
    u = r * exp(-(algdiv(b, a) + b * log(nu)))
    if u == 0.0:
        return w
    _grat_small(b, z, r, &p, &q)
    v = 0.25 / (nu * nu)
    t2 = 0.25 * lnx * lnx
    lw = w / u
    jn = q / r
    total = jn
    t = 1.0
    cn = 1.0
    n2 = 0.0
    for n in range(1, 31):
        bp2n = b + n2
        jn = (bp2n * (bp2n + 1.0) * jn + (z + bp2n + 1.0) * t) * v
        n2 += 2.0
        t *= t2
        cn /= n2 * (n2 + 1.0)
        c[n - 1] = cn
        s = 0.0
        coef = b - n
        for i in range(1, n):
            s += coef * c[i - 1] * dd[n - i - 1]
            coef += b
        dd[n - 1] = bm1 * cn + s / n
        dj = dd[n - 1] * jn
        total += dj
        if total <= 0.0:
            return w
        if fabs(dj) <= EPS * (total + lw):
            break
    return w + u * total


cdef double _apser(double a, double b, double x) noexcept nogil:
    """I_{1-x}(b, a) for a <= min(eps, eps b), b x <= 1, x <= 1/2 (TOMS 708 ``apser``).

    To first order in a: I_{1-x}(b, a) = -a (log x + psi(b) + gamma + sum_j (1 - b)_j x**j / (j! j)).
    """
    cdef double bx = b * x, t = x - bx, c, tol, j = 1.0, s = 0.0, aj
    if b * EPS > 0.02:
        c = log(bx) + EULER_GAMMA + t
    else:
        c = log(x) + digamma(b) + EULER_GAMMA + t
    tol = 5.0 * EPS * fabs(c)
    while True:
        j += 1.0
        t *= x - bx / j
        aj = t / j
        s += aj
        if fabs(aj) <= tol:
            break
    return -a * (c + s)


cdef double _fpser(double a, double b, double x) noexcept nogil:
    """I_x(a, b) for b < min(eps, eps a), x <= 1/2 (TOMS 708 ``fpser``): 1/B(a, b) ~ b."""
    cdef double pre = 1.0, an = a + 1.0, t = x, s, c, tol = EPS / a
    if a > 1e-3 * EPS:
        pre = pow(x, a)
        if pre == 0.0:
            return 0.0
    pre *= b / a
    s = t / an
    while True:
        an += 1.0
        t *= x
        c = t / an
        s += c
        if fabs(c) <= tol:
            break
    return pre * (1.0 + a * s)


# ---------------------------------------------------------------- I_x(a, b)

cdef inline ratio_pair _pair(double w, double w1, bint swapped) noexcept nogil:
    cdef ratio_pair out
    if swapped:
        out.w = w1
        out.w1 = w
    else:
        out.w = w
        out.w1 = w1
    return out


cdef ratio_pair _ibeta(double a, double b, double x, double y) noexcept nogil:
    """I_x(a, b) and 1 - I_x(a, b) for a, b > 0, 0 <= x <= 1, y = 1 - x (TOMS 708 ``bratio``).

    Works on (a0, b0, x0, y0) = (a, b, x, y) or the mirrored (b, a, y, x), chosen so the
    quantity computed directly (w for I, w1 for 1 - I) is the small one; the other is its
    complement 0.5 + (0.5 - .).
    """
    cdef double a0 = a, b0 = b, x0 = x, y0 = y, w = 0.0, w1, lam
    cdef bint swapped = False
    cdef int n
    if x == 0.0:
        return _pair(0.0, 1.0, False)
    if y == 0.0:
        return _pair(1.0, 0.0, False)
    if (a if a > b else b) < 1e-3 * EPS:
        return _pair(b / (a + b), a / (a + b), False)
    if (a if a < b else b) <= 1.0:
        if x > 0.5:
            swapped = True
            a0, b0, x0, y0 = b, a, y, x
        if b0 < EPS * (a0 if a0 < 1.0 else 1.0):
            w = _fpser(a0, b0, x0)
            return _pair(w, 0.5 + (0.5 - w), swapped)
        if a0 < EPS * (b0 if b0 < 1.0 else 1.0) and b0 * x0 <= 1.0:
            w1 = _apser(a0, b0, x0)
            return _pair(0.5 + (0.5 - w1), w1, swapped)
        if (a0 if a0 > b0 else b0) <= 1.0:
            if a0 >= (0.2 if b0 > 0.2 else b0) or pow(x0, a0) <= 0.9:
                w = _bpser(a0, b0, x0)
                return _pair(w, 0.5 + (0.5 - w), swapped)
            if x0 >= 0.3:
                w1 = _bpser(b0, a0, y0)
                return _pair(0.5 + (0.5 - w1), w1, swapped)
            w1 = _bgrat(b0 + 20.0, a0, y0, x0, _bup(b0, a0, y0, x0, 20))
            return _pair(0.5 + (0.5 - w1), w1, swapped)
        if b0 <= 1.0 or (x0 < 0.1 and pow(x0 * b0, a0) <= 0.7):
            w = _bpser(a0, b0, x0)
            return _pair(w, 0.5 + (0.5 - w), swapped)
        if x0 >= 0.3:
            w1 = _bpser(b0, a0, y0)
            return _pair(0.5 + (0.5 - w1), w1, swapped)
        if b0 > 15.0:
            w1 = _bgrat(b0, a0, y0, x0, 0.0)
        else:
            w1 = _bgrat(b0 + 20.0, a0, y0, x0, _bup(b0, a0, y0, x0, 20))
        return _pair(0.5 + (0.5 - w1), w1, swapped)

    # a, b > 1: mirror so that x0 <= a0 / (a0 + b0) (lambda >= 0).
    lam = a - (a + b) * x if a <= b else (a + b) * y - b
    if lam < 0.0:
        swapped = True
        a0, b0, x0, y0 = b, a, y, x
    if b0 < 40.0:
        if b0 * x0 <= 0.7:
            w = _bpser(a0, b0, x0)
            return _pair(w, 0.5 + (0.5 - w), swapped)
        # I_x0(a0, b0) = [I_x0(a0, b0) - I_x0(a0, b0r)] + I_x0(a0, b0r), 0 < b0r <= 1
        n = <int>b0
        b0 -= n
        if b0 == 0.0:
            n -= 1
            b0 = 1.0
        w = _bup(b0, a0, y0, x0, n)
        if x0 <= 0.7:
            w += _bpser(a0, b0, x0)
        elif a0 <= 15.0:
            w = _bgrat(a0 + 20.0, b0, x0, y0, w + _bup(a0, b0, x0, y0, 20))
        else:
            w = _bgrat(a0, b0, x0, y0, w)
        return _pair(w, 0.5 + (0.5 - w), swapped)
    w = _bfrac(a0, b0, x0, y0, lam if lam >= 0.0 else -lam)
    return _pair(w, 0.5 + (0.5 - w), swapped)


cdef inline double _cdf(double x, double a, double b) noexcept nogil:
    """Beta(a, b) CDF: I_x(a, b) inside [0, 1], 0 below and 1 above."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return _ibeta(a, b, x, 1.0 - x).w


def beta_cdf(const float64_t[::1] x, const float64_t[::1] a, const float64_t[::1] b):
    """I_x(a, b) for equal-length arrays (x not NaN, a, b > 0 finite)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _cdf(x[i], a[i], b[i])
    return np.asarray(out)


def beta_cdf_scalar(double x, double a, double b):
    """``beta_cdf`` for one valid triple (the public wrapper's scalar path)."""
    return _cdf(x, a, b)


# ---------------------------------------------------------------- inverse

cdef double _ppf_guess(double p, double pc, double a, double b, double lbeta) noexcept nogil:
    """Starting value for I_x(a, b) = p (pc = 1 - p): Cran, Martin & Thomas, AS R19 / AS 109.

    On the tail alpha = min(p, pc), with y the normal upper alpha-quantile (A&S 26.2.22):
    for a, b > 1 a Paulson-type normal approximation; otherwise the chi-square
    (Wilson-Hilferty) approximation or the power-law tail x = (alpha a B(a, b))**(1/a),
    which also bounds the root and replaces the other two where they cross it.
    """
    cdef double alpha, pp, qq, r, yq, s, t, h, w, x
    cdef bint mirror = p > 0.5
    alpha, pp, qq = (pc, b, a) if mirror else (p, a, b)
    r = sqrt(-2.0 * log(alpha))
    yq = r - (2.30753 + 0.27061 * r) / (1.0 + (0.99229 + 0.04481 * r) * r)
    if pp > 1.0 and qq > 1.0:
        r = (yq * yq - 3.0) / 6.0
        s = 1.0 / (pp + pp - 1.0)
        t = 1.0 / (qq + qq - 1.0)
        h = 2.0 / (s + t)
        w = yq * sqrt(h + r) / h - (t - s) * (r + 5.0 / 6.0 - 2.0 / (3.0 * h))
        x = pp / (pp + qq * exp(w + w))
    else:
        r = qq + qq
        t = 1.0 / (9.0 * qq)
        t = r * (1.0 - t + yq * sqrt(t)) ** 3
        if t <= 0.0:
            x = -expm1((fast_log1p(-alpha) + log(qq) + lbeta) / qq)
        else:
            t = (4.0 * pp + r - 2.0) / t
            if t <= 1.0:
                x = exp((log(alpha * pp) + lbeta) / pp)
            else:
                x = 1.0 - 2.0 / (t + 1.0)
    # I_x <= x**pp / (pp B) for qq >= 1 (>= for qq <= 1): the power-law tail bounds the
    # root from below (above), and beats the normal approximation far in the tail.
    t = exp((log(alpha * pp) + lbeta) / pp)
    if qq >= 1.0:
        x = t if not x > t else x
    else:
        x = t if not x < t else x
    if not 0.0 < x < 1.0:
        x = 0.5
    return 1.0 - x if mirror else x


cdef double _ppf(double q, double a, double b) noexcept nogil:
    """x with I_x(a, b) = q, for 0 <= q <= 1 and a, b > 0.

    Halley's method on t = log x for G(t) = log(W / P), where P is the smaller of q and
    1 - q and W the matching tail I_x or 1 - I_x (each computed directly by ``_ibeta``),
    so tiny tails and tiny x keep full relative accuracy.  With phi = x pdf(x),
    G' = +-phi / W and G'' = G' (a - (b - 1) x / (1 - x) - G').  Steps stay inside the
    bracket of the points evaluated so far (else bisection, geometric while the bracket
    spans more than a factor 2), and the loop ends after a step taken from |G| < 1e-7,
    whose error is O(G**3).

    The working x is kept below 1/2 by mirroring the problem (a <-> b, q <-> 1 - q,
    x <-> 1 - x), at the start if the guess is above 1/2 and later if the bracket
    shows the root is, so x near 1 is found through 1 - x to full relative accuracy.
    A root below the smallest subnormal returns 0 (1 when mirrored).  The closed forms
    for a = 1 or b = 1 and the symmetric median are used directly.
    """
    cdef double p, pc, lbeta, x, small, target, g, gp, phi, step, denom, xn
    cdef double lo = 0.0, hi = 1.0
    cdef bint mirrored = False, upper
    cdef ratio_pair r
    cdef int it
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    p = q
    pc = 0.5 + (0.5 - q)
    if b == 1.0:                         # I_x(a, 1) = x**a
        return pow(p, 1.0 / a) if p <= 0.5 else exp(fast_log1p(-pc) / a)
    if a == 1.0:                         # I_x(1, b) = 1 - (1 - x)**b
        return -expm1((fast_log1p(-p) if p <= 0.5 else log(pc)) / b)
    if a == b and p == 0.5:              # symmetric median
        return 0.5
    lbeta = log_beta(a, b)
    x = _ppf_guess(p, pc, a, b, lbeta)
    for it in range(200):
        if x > 0.5 and (lo >= 0.5 or it == 0):
            mirrored = not mirrored
            a, b, p, pc = b, a, pc, p
            x, lo, hi = 1.0 - x, 1.0 - hi, 1.0 - lo
        upper = p > 0.5
        target = pc if upper else p
        r = _ibeta(a, b, x, 1.0 - x)
        small = r.w1 if upper else r.w
        if small == target:
            break
        g = log(small / target)
        if (g > 0.0) != upper:           # I_x > p: x is above the root
            hi = x
        else:
            lo = x
        if hi <= 2.0 * TINIEST:          # the root rounds to 0 (or to the smallest subnormal)
            x = 0.0
            break
        phi = exp(a * log(x) + (b - 1.0) * fast_log1p(-x) - lbeta)
        xn = -1.0                        # no usable slope (underflow/overflow): bisect
        if small > 0.0 and 0.0 < phi < INFINITY:
            gp = (-phi if upper else phi) / small
            step = g / gp
            denom = 1.0 - 0.5 * step * ((a - (b - 1.0) * x / (1.0 - x)) - gp)
            if 0.5 < denom < 2.0:        # Halley where it refines Newton, else Newton
                step /= denom
            xn = x * exp(-step)
            if fabs(g) < 1e-7:           # converged: this last step leaves an O(g**3) error
                x = xn
                break
        if not (lo < xn < hi):
            xn = _bisect(lo, hi)
        if xn == x:
            break
        x = xn
    return 1.0 - x if mirrored else x


cdef inline double _bisect(double lo, double hi) noexcept nogil:
    """Midpoint of (lo, hi): geometric while hi > 2 lo (lo = 0 counts as the smallest subnormal)."""
    if lo < TINIEST:
        lo = TINIEST
    if hi > 2.0 * lo:
        return sqrt(lo) * sqrt(hi)
    return 0.5 * (lo + hi)


def beta_ppf(const float64_t[::1] q, const float64_t[::1] a, const float64_t[::1] b):
    """x with I_x(a[i], b[i]) = q[i] for equal-length arrays (0 <= q <= 1, a, b > 0 finite)."""
    cdef intp_t i, n = q.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _ppf(q[i], a[i], b[i])
    return np.asarray(out)


def beta_ppf_scalar(double q, double a, double b):
    """``beta_ppf`` for one valid triple (the public wrapper's scalar path)."""
    return _ppf(q, a, b)
