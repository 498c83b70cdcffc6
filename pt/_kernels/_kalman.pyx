"""Kalman filter and Rauch-Tung-Striebel smoother for the local linear trend model.

State s_t = (level l_t, trend b_t); s_{t+1} = F s_t + w_t with F = [[1, 1], [0, 1]],
w_t ~ N(0, diag(q_l, q_b)); y_t = l_t + e_t, e_t ~ N(0, r).  s_1 ~ N(m0, P0).
A NaN y_t is a missing observation: the update is skipped (the prediction stands).
Every 2x2 product is written out; covariances are stored as (P00, P01, P11).
"""
from libc.math cimport log

import numpy as np

from ._types cimport float64_t, intp_t

cdef double LOG_2PI = 1.837877066409345483560659472811


cdef double _filter(const float64_t[::1] y, double r, double ql, double qb,
                    double m0l, double m0b, double p00, double p01, double p11,
                    double[:, ::1] filt, double[:, ::1] pred) noexcept nogil:
    """Filter; filt[t] = (l, b, P00, P01, P11) given y_1..t, pred[t] the same given y_1..t-1.

    Returns the log-likelihood sum_t log N(y_t; l_{t|t-1}, P00_{t|t-1} + r) over observed y_t.
    """
    cdef intp_t t, n = y.shape[0]
    cdef double l = m0l, b = m0b, s, k0, k1, v, ll = 0.0
    for t in range(n):
        pred[t, 0] = l
        pred[t, 1] = b
        pred[t, 2] = p00
        pred[t, 3] = p01
        pred[t, 4] = p11
        if y[t] == y[t]:
            s = p00 + r
            k0 = p00 / s
            k1 = p01 / s
            v = y[t] - l
            ll -= 0.5 * (LOG_2PI + log(s) + v * v / s)
            l += k0 * v
            b += k1 * v
            # Joseph-free form P - K K' S, with P00 and P01 in the r-weighted form (no cancellation).
            p11 = p11 - k1 * p01
            p00 = k0 * r
            p01 = k1 * r
        filt[t, 0] = l
        filt[t, 1] = b
        filt[t, 2] = p00
        filt[t, 3] = p01
        filt[t, 4] = p11
        # Predict: F P F' + Q.
        l = l + b
        p00 = p00 + 2.0 * p01 + p11 + ql
        p01 = p01 + p11
        p11 = p11 + qb
    return ll


def kalman_filter(const float64_t[::1] y, double r, double ql, double qb,
                  double m0l, double m0b, double p00, double p01, double p11):
    """(filtered (n, 5), predicted (n, 5), loglik); columns l, b, P00, P01, P11."""
    cdef intp_t n = y.shape[0]
    filt = np.empty((n, 5), dtype=np.float64)
    pred = np.empty((n, 5), dtype=np.float64)
    cdef double[:, ::1] fv = filt
    cdef double[:, ::1] pv = pred
    cdef double ll
    with nogil:
        ll = _filter(y, r, ql, qb, m0l, m0b, p00, p01, p11, fv, pv)
    return filt, pred, ll


def kalman_smoother(const float64_t[::1] y, double r, double ql, double qb,
                    double m0l, double m0b, double p00, double p01, double p11):
    """(smoothed (n, 5), loglik) by the RTS recursion over the filter's output.

    G = P_{t|t} F' P_{t+1|t}^{-1}; s_{t|n} = s_{t|t} + G (s_{t+1|n} - s_{t+1|t});
    P_{t|n} = P_{t|t} + G (P_{t+1|n} - P_{t+1|t}) G'.
    """
    cdef intp_t t, n = y.shape[0]
    filt = np.empty((n, 5), dtype=np.float64)
    pred = np.empty((n, 5), dtype=np.float64)
    smooth = np.empty((n, 5), dtype=np.float64)
    cdef double[:, ::1] fv = filt
    cdef double[:, ::1] pv = pred
    cdef double[:, ::1] sv = smooth
    cdef double ll, a00, a01, a11, det, c00, c01, c10, c11, g00, g01, g10, g11
    cdef double d0, d1, e00, e01, e11, h00, h01, h10, h11
    with nogil:
        ll = _filter(y, r, ql, qb, m0l, m0b, p00, p01, p11, fv, pv)
        if n > 0:
            sv[n - 1, :] = fv[n - 1, :]
        for t in range(n - 2, -1, -1):
            # C = P_{t|t} F' = [[P00 + P01, P01], [P01 + P11, P11]]
            c00 = fv[t, 2] + fv[t, 3]
            c01 = fv[t, 3]
            c10 = fv[t, 3] + fv[t, 4]
            c11 = fv[t, 4]
            a00 = pv[t + 1, 2]
            a01 = pv[t + 1, 3]
            a11 = pv[t + 1, 4]
            det = a00 * a11 - a01 * a01
            # G = C A^{-1}, A^{-1} = [[a11, -a01], [-a01, a00]] / det
            g00 = (c00 * a11 - c01 * a01) / det
            g01 = (c01 * a00 - c00 * a01) / det
            g10 = (c10 * a11 - c11 * a01) / det
            g11 = (c11 * a00 - c10 * a01) / det
            d0 = sv[t + 1, 0] - pv[t + 1, 0]
            d1 = sv[t + 1, 1] - pv[t + 1, 1]
            sv[t, 0] = fv[t, 0] + g00 * d0 + g01 * d1
            sv[t, 1] = fv[t, 1] + g10 * d0 + g11 * d1
            e00 = sv[t + 1, 2] - a00
            e01 = sv[t + 1, 3] - a01
            e11 = sv[t + 1, 4] - a11
            # H = G E, then G E G'
            h00 = g00 * e00 + g01 * e01
            h01 = g00 * e01 + g01 * e11
            h10 = g10 * e00 + g11 * e01
            h11 = g10 * e01 + g11 * e11
            sv[t, 2] = fv[t, 2] + h00 * g00 + h01 * g01
            sv[t, 3] = fv[t, 3] + h00 * g10 + h01 * g11
            sv[t, 4] = fv[t, 4] + h10 * g10 + h11 * g11
    return smooth, ll
