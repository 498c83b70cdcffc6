"""Exponential-kernel Hawkes process log-likelihood in O(n) (Ozaki 1979 recursion).

lambda(t) = mu + alpha beta sum_{t_i < t} exp(-beta (t - t_i)), observed on [0, T]:

    log L = sum_i log lambda(t_i) - mu T - alpha sum_i (1 - exp(-beta (T - t_i)))

With A_1 = 0 and A_i = exp(-beta (t_i - t_{i-1})) (1 + A_{i-1}), lambda(t_i) = mu + alpha beta A_i,
and sum_i exp(-beta (T - t_i)) = exp(-beta (T - t_n)) (1 + A_n): one exp and one log per event.
"""
from libc.math cimport exp, log

from ._types cimport float64_t, intp_t


cdef double _loglik(const float64_t[::1] t, double mu, double alpha, double beta, double T,
                    double* immigrant) noexcept nogil:
    """log L; if ``immigrant`` is not NULL, also sum_i mu / lambda(t_i) into it."""
    cdef intp_t i, n = t.shape[0]
    cdef double a = 0.0, s = 0.0, lam, ab = alpha * beta, imm = 0.0
    if n == 0:
        if immigrant != NULL:
            immigrant[0] = 0.0
        return -mu * T
    lam = mu
    s = log(lam)
    imm = 1.0
    for i in range(1, n):
        a = exp(-beta * (t[i] - t[i - 1])) * (1.0 + a)
        lam = mu + ab * a
        s += log(lam)
        imm += mu / lam if immigrant != NULL else 0.0
    if immigrant != NULL:
        immigrant[0] = imm
    return s - mu * T - alpha * (<double>n - exp(-beta * (T - t[n - 1])) * (1.0 + a))


def hawkes_loglik(const float64_t[::1] t, double mu, double alpha, double beta, double T):
    """log-likelihood of sorted event times t in [0, T] (valid parameters assumed)."""
    cdef double r
    with nogil:
        r = _loglik(t, mu, alpha, beta, T, NULL)
    return r


def hawkes_immigrants(const float64_t[::1] t, double mu, double alpha, double beta, double T):
    """(sum_i mu / lambda(t_i), log L): expected number of immigrant events and the log-likelihood."""
    cdef double imm = 0.0, r
    with nogil:
        r = _loglik(t, mu, alpha, beta, T, &imm)
    return imm, r
