"""Bayesian online change-point detection (Adams & MacKay 2007), exact run-length recursion.

Run length convention: r_t is the number of observations *before* x_t in the segment
that contains x_t (r_t = 0: x_t opens a new segment).  With constant hazard H,

    J_t(0)     = H * M_{t-1} * p(x_t | prior)
    J_t(r + 1) = (1 - H) * P(r_{t-1} = r | x_{1:t-1}) * p(x_t | x_{t-r-1..t-1})

where M_{t-1} is the retained posterior mass (1 without pruning) and p(x | ...) the
conjugate posterior predictive of the run's data.  Z_t = sum_r J_t(r) is the
one-step predictive p(x_t | x_{1:t-1}); P(r_t = r | x_{1:t}) = J_t(r) / Z_t.  All
quantities are kept as logs.

Runs are stored unordered in parallel arrays (run length, log probability,
sufficient statistics and cached log-gamma values), so pruning is a swap-remove
and a step costs O(active runs).  The state object serves both the batch kernel
and the streaming API.

Models (``model`` code):

0. Gamma-Poisson: x | lam ~ Poisson(lam * e), lam ~ Gamma(a, rate b).  Predictive
   (negative binomial) log p(x) = lgamma(a + x) - lgamma(a) - lgamma(x + 1)
   - a log1p(e/b) + x log(e / (b + e)); update a += x, b += e.
1. Beta-Binomial: k | p ~ Binomial(n, p), p ~ Beta(a, b).  log p(k) = log C(n, k)
   + [lgamma(a + k) - lgamma(a)] + [lgamma(b + n - k) - lgamma(b)]
   - [lgamma(a + b + n) - lgamma(a + b)]; update a += k, b += n - k.

lgamma(a) (and lgamma(b), lgamma(a + b)) of every run is cached, so a step needs only
the new values, and none when the count adds nothing (x = 0: an idle sample).
"""
cimport cython
from libc.math cimport INFINITY, exp, lgamma, log

import numpy as np

from ._elementary cimport fast_log1p
from ._special cimport stirling_del
from ._types cimport float64_t, intp_t

cdef double HALF_LOG_2PI = 0.918938533204672741780329736406   # log(2 pi) / 2


cdef inline double _lgamma(double z) noexcept nogil:
    """log Gamma(z), z > 0: Stirling's series (one log) for z >= 8, libm below.

    For z >= 72.1 the remainder 1/(12 z) - 1/(360 z**3) + 1/(1260 z**5) - 1/(1680 z**7)
    is inlined (its first omitted term is below 2**-56 of it, as in ``_special._del``).
    """
    cdef double r, f
    if z >= 72.1:
        r = 1.0 / z
        f = r * r
        return ((z - 0.5) * log(z) - z + HALF_LOG_2PI
                + r * ((1.0 / 12 - f * (1.0 / 360)) + f * f * (1.0 / 1260 - f * (1.0 / 1680))))
    if z >= 8.0:
        return (z - 0.5) * log(z) - z + HALF_LOG_2PI + stirling_del(z)
    return lgamma(z)


@cython.final
cdef class BocpdCore:
    """Run-length posterior of one series; advanced by ``step`` (private, no validation)."""

    cdef public int model
    cdef public double log_h, log_1mh, a0, b0, threshold
    cdef public intp_t max_runs, window, keep_recent, n, t, max_active, active_sum
    cdef public double log_evidence, pruned_mass, kept_mass
    cdef double lga0, lgb0, lgab0
    cdef object _arrays
    cdef long long* rl
    cdef double* lp
    cdef double* sa
    cdef double* sb
    cdef double* c1
    cdef double* c2
    cdef double* c3
    cdef double* w
    cdef intp_t capacity

    def __init__(self, int model, double hazard, double a0, double b0, double threshold,
                 intp_t max_runs, intp_t window, intp_t keep_recent, intp_t capacity=64):
        self.model = model
        self.log_h = log(hazard)
        self.log_1mh = fast_log1p(-hazard)
        self.a0 = a0
        self.b0 = b0
        self.threshold = threshold
        self.max_runs = max_runs            # 0: no cap
        self.window = window
        self.keep_recent = keep_recent     # runs shorter than this are never pruned
        self.n = 0
        self.t = 0
        self.max_active = 0
        self.active_sum = 0
        self.log_evidence = 0.0
        self.pruned_mass = 0.0
        self.kept_mass = 1.0
        self.lga0 = lgamma(a0)
        self.lgb0 = lgamma(b0)
        self.lgab0 = lgamma(a0 + b0)
        self.capacity = 0
        self._arrays = None
        self.reserve(capacity)

    def reserve(self, intp_t capacity):
        """Make room for ``capacity`` active runs (keeps the current ones)."""
        cdef intp_t i
        if capacity <= self.capacity:
            return
        rl = np.zeros(capacity, dtype=np.int64)
        fl = np.zeros((7, capacity), dtype=np.float64)
        if self._arrays is not None:
            rl[:self.n] = self._arrays[0][:self.n]
            fl[:, :self.n] = self._arrays[1][:, :self.n]
        self._arrays = (rl, fl)
        cdef long long[::1] rv = rl
        cdef double[:, ::1] fv = fl
        self.rl = &rv[0]
        self.lp = &fv[0, 0]
        self.sa = &fv[1, 0]
        self.sb = &fv[2, 0]
        self.c1 = &fv[3, 0]
        self.c2 = &fv[4, 0]
        self.c3 = &fv[5, 0]
        self.w = &fv[6, 0]
        self.capacity = capacity

    def run_lengths(self):
        """(run lengths, posterior probabilities) of the active runs, unordered."""
        rl, fl = self._arrays
        return rl[:self.n].copy(), np.exp(fl[0, :self.n])

    cdef inline double _pred(self, intp_t i, double x, double e, double lgx1, double loge,
                             double lchoose) noexcept nogil:
        """Log predictive of x under run i, then fold x into run i's statistics."""
        cdef double a = self.sa[i], b = self.sb[i], an, bn, g1, g2, g3, lp
        if self.model == 0:
            # c1 = lgamma(a), c2 = a log b: log p = lgamma(a') - a' log b' - (c1 - c2)
            # + x log e - lgamma(x + 1) with a' = a + x, b' = b + e.
            an = a + x
            bn = b + e
            g1 = _lgamma(an) if x > 0.0 else self.c1[i]
            g2 = an * log(bn)
            lp = (g1 - self.c1[i]) - (g2 - self.c2[i]) + x * loge - lgx1
            self.sa[i] = an
            self.sb[i] = bn
            self.c1[i] = g1
            self.c2[i] = g2
            return lp
        # Beta-Binomial: x successes of e trials.
        an = a + x
        bn = b + (e - x)
        g1 = _lgamma(an) if x > 0.0 else self.c1[i]
        g2 = _lgamma(bn) if e > x else self.c2[i]
        g3 = _lgamma(an + bn) if e > 0.0 else self.c3[i]
        lp = lchoose + (g1 - self.c1[i]) + (g2 - self.c2[i]) - (g3 - self.c3[i])
        self.sa[i] = an
        self.sb[i] = bn
        self.c1[i] = g1
        self.c2[i] = g2
        self.c3[i] = g3
        return lp

    cdef void step(self, double x, double e, double* out, double* row) noexcept nogil:
        """Advance by one observation (needs capacity > n).

        out[0..5] = MAP run length, its probability, P(r_t = 0), P(r_t < window),
        E[r_t], log p(x_t | x_{1:t-1}).  ``row`` (or NULL) receives P(r_t = r) at row[r].
        """
        cdef intp_t i, j, n = self.n, imax = 0, jmin = -1
        cdef double lgx1, loge = 0.0, lchoose = 0.0, g, m = -INFINITY, s = 0.0, lz, p
        cdef double thr, pmax, recent = 0.0, mean = 0.0, kept = 0.0, pmin = INFINITY, lcp
        if self.model == 0:
            lgx1 = lgamma(x + 1.0)
            loge = log(e)
        else:
            lgx1 = 0.0
            lchoose = lgamma(e + 1.0) - lgamma(x + 1.0) - lgamma(e - x + 1.0)
        # Growth of every active run.
        for i in range(n):
            g = self.lp[i] + self.log_1mh + self._pred(i, x, e, lgx1, loge, lchoose)
            self.lp[i] = g
            self.rl[i] += 1
            if g > m:
                m = g
                imax = i
        # New segment opened by x_t (certain at t = 0).
        self.rl[n] = 0
        self.sa[n] = self.a0
        self.sb[n] = self.b0
        self.c1[n] = self.lga0
        self.c2[n] = self.a0 * log(self.b0) if self.model == 0 else self.lgb0
        self.c3[n] = self.lgab0
        lcp = 0.0 if self.t == 0 else self.log_h + log(self.kept_mass)
        g = lcp + self._pred(n, x, e, lgx1, loge, lchoose)
        self.lp[n] = g
        if g > m:
            m = g
            imax = n
        n += 1
        for i in range(n):
            self.w[i] = exp(self.lp[i] - m)
            s += self.w[i]
        lz = m + log(s)
        self.log_evidence += lz
        pmax = 1.0 / s
        thr = self.threshold if self.threshold < pmax else pmax
        out[0] = <double>self.rl[imax]
        # Posterior summaries (before pruning), then prune by threshold (in-place compaction).
        j = 0
        for i in range(n):
            p = self.w[i] / s
            if self.rl[i] < self.window:
                recent += p
            mean += p * <double>self.rl[i]
            if row != NULL:
                row[self.rl[i]] = p
            if p < thr and self.rl[i] >= self.keep_recent:
                self.pruned_mass += p
                continue
            kept += p
            if p < pmin and self.rl[i] >= self.keep_recent:
                pmin = p
                jmin = j
            if j != i:
                self.rl[j] = self.rl[i]
                self.sa[j] = self.sa[i]
                self.sb[j] = self.sb[i]
                self.c1[j] = self.c1[i]
                self.c2[j] = self.c2[i]
                self.c3[j] = self.c3[i]
            self.lp[j] = self.lp[i] - lz
            j += 1
        # Cap: at most one run above max_runs (one run is added per step); recent runs exempt.
        if self.max_runs > 0 and j > self.max_runs and jmin >= 0:
            self.pruned_mass += pmin
            kept -= pmin
            j -= 1
            if jmin != j:
                self.rl[jmin] = self.rl[j]
                self.sa[jmin] = self.sa[j]
                self.sb[jmin] = self.sb[j]
                self.c1[jmin] = self.c1[j]
                self.c2[jmin] = self.c2[j]
                self.c3[jmin] = self.c3[j]
                self.lp[jmin] = self.lp[j]
        self.n = j
        self.active_sum += n
        if n > self.max_active:
            self.max_active = n
        self.kept_mass = kept
        self.t += 1
        out[1] = pmax
        out[2] = exp(g - lz)
        out[3] = recent
        out[4] = mean
        out[5] = lz

    def update(self, double x, double e):
        """One step from Python; returns (map r, map p, P(r=0), P(r<window), E[r], log pred)."""
        cdef double out[6]
        if self.n + 1 > self.capacity:
            self.reserve(2 * self.capacity + 1)
        self.step(x, e, out, NULL)
        return (int(out[0]), out[1], out[2], out[3], out[4], out[5])


def bocpd_batch(BocpdCore core, const float64_t[::1] x, const float64_t[::1] e, bint matrix):
    """Run ``core`` over x (with exposures / trials e, same length).

    Returns (map_r int64, summaries (5, T) float64: map p, P(r=0), P(r<window), E[r],
    log pred; the (T, T) run-length posterior or None).
    """
    cdef intp_t t, T = x.shape[0]
    cdef double out[6]
    cdef double* row = NULL
    core.reserve(core.n + (T if core.max_runs == 0 else core.max_runs + core.keep_recent) + 2)
    map_r = np.empty(T, dtype=np.int64)
    summ = np.empty((5, T), dtype=np.float64)
    cdef long long[::1] mr = map_r
    cdef double[:, ::1] sm = summ
    cdef double[:, ::1] mat
    post = None
    if matrix:
        post = np.zeros((T, core.t + T), dtype=np.float64)
        mat = post
    with nogil:
        for t in range(T):
            if matrix:
                row = &mat[t, 0]
            core.step(x[t], e[t], out, row)
            mr[t] = <long long>out[0]
            sm[0, t] = out[1]
            sm[1, t] = out[2]
            sm[2, t] = out[3]
            sm[3, t] = out[4]
            sm[4, t] = out[5]
    return map_r, summ, post
