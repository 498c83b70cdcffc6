"""Value of information of more CPU observation (see pt/decide/voi.py for the math).

For each process: enumerate y = 0..m ticks used in the next m, with the
Beta-Binomial predictive of each class by its ratio recurrence (one multiply
per class and step, weights kept as mantissa and binary exponent so nothing
underflows), take the least expected loss after y, and average over
P(y | x). One pass, no temporaries.
"""
from libc.math cimport INFINITY, exp, floor, frexp, ldexp

import numpy as np

from ._special cimport log_beta
from ._types cimport float64_t, intp_t

DEF MAX_CLASSES = 16
cdef double LN2 = 0.693147180559945309417232121458


cdef inline double _least_loss(const double* w, const float64_t[:, :, ::1] loss, intp_t i, intp_t A,
                              intp_t C) noexcept nogil:
    """min over actions of sum_c w[c] L(a, c) (classes of weight 0 skipped, so
    an unavailable action's +inf loss never meets a zero weight)."""
    cdef intp_t act, c
    cdef double e, best = INFINITY
    for act in range(A):
        e = 0.0
        for c in range(C):
            if w[c] > 0.0:
                e = e + w[c] * loss[i, act, c]
        if e < best:
            best = e
    return best


def voi_cpu(const float64_t[:, ::1] log_post, const float64_t[:, ::1] a, const float64_t[:, ::1] b,
            const float64_t[:, :, ::1] loss, intp_t m, intp_t resolution):
    """``(N,)`` value of observing ``m`` more ticks; ``a``, ``b`` are the
    classes' Beta parameters already updated by what was seen (a + k, b + n - k);
    ``loss`` ``(N, A, C)`` with +inf for unavailable actions. With
    ``resolution`` R > 0, consecutive y are pooled into bins (a bin starting
    at y spans 1 + y // R values: exact below R, then a constant relative
    width) and the decision is taken per bin: the value of a coarser
    observation, a lower bound on the exact VOI (a garbling never helps).
    R = 0 is exact. Inputs are validated by
    :func:`pt.decide.voi.value_of_information`."""
    cdef intp_t N = log_post.shape[0], C = log_post.shape[1], A = loss.shape[1]
    cdef intp_t i, y, c
    cdef double mant[MAX_CLASSES]
    cdef int expo[MAX_CLASSES]
    cdef int top_e, shift
    cdef double post_now[MAX_CLASSES]
    cdef double bin_w[MAX_CLASSES]
    cdef intp_t width = 1
    cdef intp_t nbin
    cdef int ref_e
    cdef double total, now, after, lp
    cdef float64_t[::1] out = np.zeros(N, dtype=np.float64)
    if C > MAX_CLASSES:
        raise ValueError(f"at most {MAX_CLASSES} classes, got {C}")
    with nogil:
        for i in range(N):
            # Deciding now.
            for c in range(C):
                post_now[c] = exp(log_post[i, c])
            now = _least_loss(post_now, loss, i, A, C)
            if m == 0:
                continue
            # Class weights P(c | x) pmf_c(y) as mantissa * 2**exponent, so the
            # recurrence multiplies (no log/exp per step) and never underflows.
            for c in range(C):
                lp = log_post[i, c] + log_beta(a[i, c], m + b[i, c]) - log_beta(a[i, c], b[i, c])
                if lp == -INFINITY:
                    mant[c] = 0.0
                    expo[c] = 0
                else:
                    expo[c] = <int>floor(lp / LN2)
                    mant[c] = exp(lp - expo[c] * LN2)
            after = 0.0
            nbin = 0
            ref_e = 0
            for c in range(C):
                bin_w[c] = 0.0
            for y in range(m + 1):
                top_e = -2147483647
                for c in range(C):
                    if mant[c] > 0.0 and expo[c] > top_e:
                        top_e = expo[c]
                if top_e > -2147483647:
                    if nbin == 0:
                        ref_e = top_e
                    elif top_e - ref_e > 900:          # re-base the bin's sums before they overflow
                        for c in range(C):
                            bin_w[c] = ldexp(bin_w[c], ref_e - top_e)
                        ref_e = top_e
                    for c in range(C):
                        if mant[c] > 0.0 and expo[c] - ref_e > -960:
                            bin_w[c] = bin_w[c] + ldexp(mant[c], expo[c] - ref_e)
                if nbin == 0:                           # a bin starting at y spans 1 + y // resolution values
                    width = 1 + y // resolution if resolution > 0 else 1
                nbin = nbin + 1
                if nbin == width or y == m:
                    # Decide once per bin of y values: P(bin) E[L | x, bin] = 2**ref_e sum_c W_c L(a*, c).
                    total = 0.0
                    for c in range(C):
                        total = total + bin_w[c]
                    if total > 0.0 and ref_e > -960:
                        after = after + ldexp(_least_loss(bin_w, loss, i, A, C), ref_e)
                    nbin = 0
                    for c in range(C):
                        bin_w[c] = 0.0
                if y < m:                 # pmf(y+1)/pmf(y) = (m-y)(y+a) / ((y+1)(m-y-1+b))
                    for c in range(C):
                        if mant[c] > 0.0:
                            mant[c] = mant[c] * ((m - y) * (y + a[i, c])) / ((y + 1.0) * (m - y - 1.0 + b[i, c]))
                            if mant[c] < 1e-150 or mant[c] > 1e150:
                                mant[c] = frexp(mant[c], &shift)
                                expo[c] = expo[c] + shift
            out[i] = now - after if now - after > 0.0 else 0.0
    return np.asarray(out)
