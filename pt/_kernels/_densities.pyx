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
from libc.math cimport INFINITY, NAN, fabs, lgamma, log

import numpy as np

from ._elementary cimport fast_log1p, rlog1, rlog1_series
from ._special cimport (BLOCK, log1p_from, log_beta, log_beta_args, log_beta_from, lower, stirling_del,
                        stirling_del_poly, stirling_del_r, upper)
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

cdef struct beta_terms:
    bint stirling       # a, b >= 9: the Stirling form below
    double norm         # -log B(a, b); Stirling: log density at the mode x0
    double p, q, s      # a - 1, b - 1 (exact), p + q
    double ip, iq       # 1/p, 1/q
    double xm, ym       # the mode x0 = p/s and 1 - x0 = q/s


cdef inline beta_terms _beta_terms(double a, double b) noexcept nogil:
    """The terms of log Beta(x; a, b) that do not depend on x.

    For a, b >= 9, with p = a - 1, q = b - 1, s = p + q: the log density at the mode
    is log(x0**p y0**q / B(p, q)) + log(B(p, q) / B(a, b)) =
    (1/2) log(p q / s) - log(2 pi)/2 - bcorr(p, q) + log((s + 1) s / (p q))
    (Stirling for B(p, q), TOMS 708 ``brcomp``), one log: (1/2) log((s + 1)**2 s / (p q)).
    Beyond s = 1e150 that product could overflow and is taken as three logs.
    """
    cdef beta_terms t
    cdef double s, r
    t.stirling = a >= 9.0 and b >= 9.0
    if not t.stirling:
        t.norm = -log_beta(a, b)
        return t
    t.p = a - 1.0
    t.q = b - 1.0
    s = t.p + t.q
    t.s = s
    t.ip = 1.0 / t.p
    t.iq = 1.0 / t.q
    r = 1.0 / s
    t.xm = t.p * r
    t.ym = t.q * r
    if s < 1e150:
        t.norm = 0.5 * log((s + 1.0) * t.ip * ((s + 1.0) * t.iq) * s)
    else:
        t.norm = 0.5 * (log(s * t.ip) + log(s * t.iq) + log(s))
    t.norm -= HALF_LOG_2PI + (stirling_del_r(t.ip) + (stirling_del_r(t.iq) - stirling_del_r(r)))
    return t


cdef inline double _stirling_logpdf(double x, beta_terms *t) noexcept nogil:
    """The x part of ``_beta_logpdf`` for a Stirling pair, 0 < x < 1."""
    cdef double y = 1.0 - x, lam, e, u, v
    lam = t.p - t.s * x if t.p <= t.q else t.s * y - t.q
    e = -lam * t.ip
    u = rlog1(e) if fabs(e) <= 0.6 else e - log(x / t.xm)
    e = lam * t.iq
    v = rlog1(e) if fabs(e) <= 0.6 else e - log(y / t.ym)
    return t.norm - (t.p * u + t.q * v)


cdef inline double _beta_logpdf(double x, double a, double b, beta_terms *t) noexcept nogil:
    """log Beta(x; a, b) on the closed support [0, 1], -inf outside; t = _beta_terms(a, b).

    (a - 1) log x + (b - 1) log1p(-x) - log B(a, b).  For a, b >= 9, the log density
    at the mode minus p rlog1(x/x0 - 1) + q rlog1(y/y0 - 1) (y = 1 - x): the two
    rlog1 arguments are -lam/p and lam/q with lam = p - s x = s y - q (from x when
    p <= q, else from y, as TOMS 708 ``brcomp``), so nothing cancels near the mode
    and no log of x or y is needed.  At the ends a, b >= 9 give -inf, so
    ``_endpoint`` only ever uses the -log B form of norm.
    """
    if x < 0.0 or x > 1.0:
        return -INFINITY
    if x == 0.0:
        return _endpoint(a, t.norm)
    if x == 1.0:
        return _endpoint(b, t.norm)
    if not t.stirling:
        return (a - 1.0) * log(x) + (b - 1.0) * fast_log1p(-x) + t.norm
    return _stirling_logpdf(x, t)


cdef inline double _rlog1_from(double e, double log_arg) noexcept nogil:
    """``_stirling_logpdf``'s rlog1(e) or e - log(x/x0), from log_arg = log(1 + e)
    for |e| <= 0.6, else log(x/x0): every form is computed and one selected, so
    a loop of it has no branch to mispredict (the forms are finite for e > -1)."""
    cdef double series = rlog1_series(e)
    cdef double near = e - log1p_from(e, 1.0 + e, log_arg)
    cdef double far = e - log_arg
    near = near if fabs(e) <= 0.6 else far
    return series if fabs(e) <= 0.3 else near


cdef extern from *:
    # restrict-qualified rows, so that GCC vectorises the loops over them: with
    # plain pointers into one array it gives up on the run-time overlap checks.
    ctypedef float64_t *rows_out "double *__restrict__"
    ctypedef const float64_t *rows_in "const double *__restrict__"


cdef void _stirling_first(intp_t n, rows_in x, rows_in p_row, rows_in q_row, rows_out norm_arg,
                          rows_out arg1, rows_out arg2, rows_out ip_row, rows_out iq_row, rows_out r_row,
                          rows_out e1_row, rows_out e2_row) noexcept nogil:
    """First pass over n compacted Stirling points (x, p = a - 1, q = b - 1 in;
    1/p, 1/q, 1/s, and the rlog1 arguments e1 = x/x0 - 1, e2 = y/y0 - 1 out, as
    ``_beta_terms`` and ``_stirling_logpdf`` form them): the numbers whose logs
    the second pass needs, the norm's (s + 1)**2 s / (p q) and 1 + e or x/x0 per
    side, into ``norm_arg``, ``arg1``, ``arg2``.  No branch, no gather, rows that
    do not overlap: it vectorises."""
    cdef intp_t k
    cdef double xk, y, p, q, s, ip, iq, r, lam, e1, e2, near, far
    for k in range(n):
        xk = x[k]
        p = p_row[k]
        q = q_row[k]
        s = p + q
        ip = 1.0 / p
        iq = 1.0 / q
        r = 1.0 / s
        y = 1.0 - xk
        lam = p - s * xk
        far = s * y - q
        lam = lam if p <= q else far     # both computed: a select, not a branch
        e1 = -lam * ip
        e2 = lam * iq
        norm_arg[k] = (s + 1.0) * ip * ((s + 1.0) * iq) * s
        near = 1.0 + e1
        far = xk / (p * r)
        arg1[k] = near if fabs(e1) <= 0.6 else far
        near = 1.0 + e2
        far = y / (q * r)
        arg2[k] = near if fabs(e2) <= 0.6 else far
        ip_row[k] = ip
        iq_row[k] = iq
        r_row[k] = r
        e1_row[k] = e1
        e2_row[k] = e2


cdef void _stirling_second(intp_t n, float64_t *w, intp_t stride, const float64_t *logs) noexcept nogil:
    """Second pass: the log densities of the n Stirling points into row 8 of w,
    from the logs of ``_stirling_first``'s queue.  No branch, no gather: the
    compiler vectorises it."""
    cdef intp_t k
    cdef double norm, u, v
    for k in range(n):
        norm = 0.5 * logs[k] - (HALF_LOG_2PI + (stirling_del_poly(w[3 * stride + k])
                                                + (stirling_del_poly(w[4 * stride + k])
                                                   - stirling_del_poly(w[5 * stride + k]))))
        u = _rlog1_from(w[6 * stride + k], logs[n + k])
        v = _rlog1_from(w[7 * stride + k], logs[2 * n + k])
        w[8 * stride + k] = norm - (w[stride + k] * u + w[2 * stride + k] * v)


def beta_logpdf(const float64_t[::1] x, const float64_t[::1] a, const float64_t[::1] b):
    """log Beta(x[i]; a[i], b[i]) for equal-length arrays (x not NaN, a, b > 0 finite).

    Runs in blocks with its logs batched, as ``betaln`` does.  A first pass
    sorts the block's points, without a branch, into Stirling pairs
    (a, b >= 9, a + b < 1e150), the other points inside (0, 1), and the rest
    (ends, outside, huge pairs: the scalar way); each kind is then handled in
    loops of its own (random kinds in one loop cost a mispredicted branch per
    element).  The Stirling points are gathered into rows and computed per
    point by two loops with neither branch nor gather (``_stirling_first``,
    ``_stirling_second``), which vectorise.  The other points queue the four
    logs of ``log_beta_args`` per new parameter pair (reused while the
    parameters repeat: a shared prior costs one log B) and x, 1 - x.  NumPy's
    ``log`` takes each block's queue at once; the formulas are those of
    ``_beta_logpdf``.
    """
    cdef intp_t i, k, c, c0, start, stop, ns, nr, n = x.shape[0], m = max(1, min(n, <intp_t>BLOCK))
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef float64_t[::1] queue = np.ones(6 * m, dtype=np.float64)
    cdef float64_t[::1] logs = np.empty(6 * m, dtype=np.float64)
    cdef float64_t[:, ::1] w = np.empty((9, m), dtype=np.float64)   # Stirling rows (``_stirling_first``)
    cdef intp_t[::1] stirling = np.empty(m, dtype=np.intp)
    cdef intp_t[::1] rest = np.empty(m, dtype=np.intp)
    cdef double xi, ai, bi, pa, pb, norm = 0.0
    cdef double ra = NAN, rb = NAN    # parameters of the cached terms
    cdef bint inside, big, large, plain
    cdef beta_terms edge
    q_arr, l_arr, np_log = np.asarray(queue), np.asarray(logs), np.log
    for start in range(0, n, m):
        stop = min(n, start + m)
        with nogil:
            ns = 0
            nr = 0
            for i in range(start, stop):
                xi = x[i]
                inside = 0.0 < xi < 1.0
                big = (a[i] >= 9.0) & (b[i] >= 9.0)
                large = inside & big & (a[i] + b[i] < 1e150)
                plain = inside & (1 - big)
                stirling[ns] = i
                rest[nr] = i
                ns += large
                nr += plain
                if not (large | plain):         # an end, outside, or a + b beyond 1e150
                    edge = _beta_terms(a[i], b[i])
                    out[i] = _beta_logpdf(xi, a[i], b[i], &edge)
            for k in range(ns):
                i = stirling[k]
                w[0, k] = x[i]
                w[1, k] = a[i] - 1.0
                w[2, k] = b[i] - 1.0
            _stirling_first(ns, &w[0, 0], &w[1, 0], &w[2, 0], &queue[0], &queue[ns], &queue[2 * ns],
                            &w[3, 0], &w[4, 0], &w[5, 0], &w[6, 0], &w[7, 0])
            c = 3 * ns
            c0 = c
            pa = ra
            pb = rb
            for k in range(nr):
                i = rest[k]
                if a[i] != pa or b[i] != pb:
                    pa = a[i]
                    pb = b[i]
                    log_beta_args(lower(pa, pb), upper(pa, pb), &queue[c], 1)
                    c += 4
                queue[c] = x[i]
                queue[c + 1] = 1.0 - x[i]
                c += 2
        with np.errstate(divide="ignore"):   # log(h = 0) of a subnormal a: taken, never used
            np_log(q_arr[:c], out=l_arr[:c])
        with nogil:
            _stirling_second(ns, &w[0, 0], m, &logs[0])
            for k in range(ns):
                out[stirling[k]] = w[8, k]
            c = c0
            for k in range(nr):
                i = rest[k]
                ai = a[i]
                bi = b[i]
                if ai != ra or bi != rb:
                    ra = ai
                    rb = bi
                    norm = -log_beta_from(lower(ai, bi), upper(ai, bi), &queue[c], &logs[c], 1)
                    c += 4
                xi = x[i]
                out[i] = (ai - 1.0) * logs[c] + (bi - 1.0) * log1p_from(-xi, queue[c + 1], logs[c + 1]) + norm
                c += 2
    return np.asarray(out)


def beta_logpdf_shared(const float64_t[::1] x, double a, double b):
    """``beta_logpdf`` of every x under one pair with a, b >= 9 (a prior over a
    scan): the Stirling terms once, then the x part per point (the array
    kernel computes them per point, vectorised, which costs more when they
    repeat)."""
    cdef intp_t i, n = x.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef beta_terms terms = _beta_terms(a, b)
    with nogil:
        for i in range(n):
            out[i] = _beta_logpdf(x[i], a, b, &terms)
    return np.asarray(out)


def beta_logpdf_scalar(double x, double a, double b):
    """``beta_logpdf`` for one valid triple (the public wrapper's scalar path)."""
    cdef beta_terms terms = _beta_terms(a, b)
    return _beta_logpdf(x, a, b, &terms)


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
