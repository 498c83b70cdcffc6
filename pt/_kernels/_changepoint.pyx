"""Two-regime Beta-Binomial change point (seed idea D) and compound-Poisson CPU likelihood (idea G).

Change point.  k_t successes of n_t trials, t = 1..T; p = p1 ~ Beta(a1, b1) for t < tau and
p = p2 ~ Beta(a2, b2) for t >= tau (tau = T + 1: no change).  Integrating p out per segment,

    log p(x | tau) = sum_t log C(n_t, k_t) + log B(a1 + K_<, b1 + N_< - K_<) - log B(a1, b1)
                     + log B(a2 + K_>=, b2 + N_>= - K_>=) - log B(a2, b2)

(an empty segment contributes 0), with prefix sums K, N: O(T) for all tau.

CPU increments.  C(t) = sum_{i <= N(t)} X_i, N ~ Poisson(kappa t), X_i ~ Exp(rate beta).
An increment c over an interval of length d has an atom P(c = 0) = exp(-kappa d) and for
c > 0 the density

    f(c) = exp(-kappa d - beta c) sqrt(kappa d beta / c) I_1(2 sqrt(kappa d beta c)).
"""
from libc.math cimport lgamma, log, sqrt

import numpy as np

from ._special cimport log_beta
from ._types cimport float64_t, intp_t


def beta_changepoint_loglik(const float64_t[::1] k, const float64_t[::1] n, double a1, double b1,
                            double a2, double b2):
    """log p(x | tau) for tau = 1..T+1 (index tau - 1), shape (T + 1,); binomial coefficients included."""
    cdef intp_t t, T = k.shape[0]
    cdef float64_t[::1] out = np.empty(T + 1, dtype=np.float64)
    cdef double K = 0.0, N = 0.0, KT = 0.0, NT = 0.0, lc = 0.0, lb1 = log_beta(a1, b1)
    cdef double lb2 = log_beta(a2, b2), left, right
    with nogil:
        for t in range(T):
            KT += k[t]
            NT += n[t]
            lc += lgamma(n[t] + 1.0) - lgamma(k[t] + 1.0) - lgamma(n[t] - k[t] + 1.0)
        for t in range(T + 1):
            # tau = t + 1: the first t observations are regime 1.
            left = log_beta(a1 + K, b1 + N - K) - lb1 if t > 0 else 0.0
            right = log_beta(a2 + KT - K, b2 + (NT - KT) - (N - K)) - lb2 if t < T else 0.0
            out[t] = lc + left + right
            if t < T:
                K += k[t]
                N += n[t]
    return np.asarray(out)


cdef double _log_i1(double z) noexcept nogil:
    """log I_1(z) for z > 0: power series for z <= 30, Hankel's asymptotic series above.

    I_1(z) = (z/2) sum_j (z^2/4)^j / (j! (j+1)!);  for large z
    I_1(z) ~ e^z / sqrt(2 pi z) sum_j (-1)^j prod_{i<=j} (4 - (2i - 1)^2) / (j! (8z)^j).
    """
    cdef double q, term, s, u
    cdef int j
    if z <= 30.0:
        q = 0.25 * z * z
        term = 1.0
        s = 1.0
        j = 0
        while True:
            j += 1
            term *= q / (<double>j * <double>(j + 1))
            s += term
            if term < 1e-17 * s:
                break
        return log(0.5 * z) + log(s)
    u = 1.0 / (8.0 * z)
    term = 1.0
    s = 1.0
    for j in range(1, 40):
        term *= -(4.0 - (2.0 * j - 1.0) * (2.0 * j - 1.0)) * u / j
        s += term
        if -1e-17 < term < 1e-17:
            break
    return z - 0.5 * log(2.0 * 3.141592653589793 * z) + log(s)


def log_i1(const float64_t[::1] z):
    """log I_1(z) elementwise (z > 0)."""
    cdef intp_t i, n = z.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    with nogil:
        for i in range(n):
            out[i] = _log_i1(z[i])
    return np.asarray(out)


def compound_poisson_exp_logpdf(const float64_t[::1] c, const float64_t[::1] d, double kappa,
                                double beta):
    """log f(c_i) per increment (atom at 0 included as log P(c = 0)); c >= 0, d > 0."""
    cdef intp_t i, n = c.shape[0]
    cdef float64_t[::1] out = np.empty(n, dtype=np.float64)
    cdef double m, x
    with nogil:
        for i in range(n):
            m = kappa * d[i]
            if c[i] == 0.0:
                out[i] = -m
            else:
                x = m * beta * c[i]
                out[i] = -m - beta * c[i] + 0.5 * log(m * beta / c[i]) + _log_i1(2.0 * sqrt(x))
    return np.asarray(out)
