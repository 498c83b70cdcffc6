"""Fused per-process kernels of the triage model (posterior terms, robust decision).

Private: inputs are validated by pt.infer.posterior and pt.decide.loss.
Each loops once over the processes with no temporaries, where the numpy
formulation made a dozen (n, 4) passes.
"""
from libc.math cimport INFINITY, exp, log, log1p

import numpy as np

from pt._kernels._special cimport log_beta
from pt._kernels._types cimport float64_t, index_t, intp_t


def evidence_terms(const index_t[::1] cpu_ticks, const index_t[::1] window_ticks,
                   const float64_t[::1] age_s, const index_t[::1] category,
                   const index_t[:, ::1] codes, const intp_t[::1] code_feature,
                   const float64_t[:, ::1] lookup, const intp_t[::1] lookup_offset,
                   const float64_t[:, ::1] cpu_alpha, const float64_t[:, ::1] cpu_beta,
                   const float64_t[:, ::1] cpu_log_beta, const float64_t[:, :, ::1] cpu_table,
                   const float64_t[::1] runtime_shape, const float64_t[::1] runtime_scale,
                   const float64_t[::1] runtime_log_norm,
                   const float64_t[:, ::1] surv_a, const float64_t[:, ::1] surv_b,
                   intp_t f_cpu, intp_t f_runtime, intp_t f_survival, intp_t n_features):
    """The ``(F, n, 4)`` term store and ``(F, n)`` observed mask.

    ``codes`` ``(m, n)`` holds the one-draw features (Bernoulli and
    categorical; -1 = missing), feature ``code_feature[j]``, whose
    log-probability table is ``lookup[lookup_offset[j] + code]`` (4 classes).
    ``category`` is the command category row of the per-category tables.
    ``cpu_table[cat, k]`` holds the CPU term for the scan's common window
    length ``cpu_table.shape[1] - 1`` ticks, so the log-Beta functions are
    evaluated per (category, k), not per process; other lengths are computed.
    """
    cdef intp_t n = age_s.shape[0], m = codes.shape[0], i, j, c, cat, code, ki
    cdef index_t table_n = cpu_table.shape[1] - 1
    cdef double k, nt, t, log_t, log_choose
    terms_a = np.zeros((n_features, n, 4))
    seen_a = np.zeros((n_features, n), dtype=np.uint8)
    cdef float64_t[:, :, ::1] terms = terms_a
    cdef unsigned char[:, ::1] seen = seen_a
    with nogil:
        for i in range(n):
            cat = category[i]
            if window_ticks[i] == table_n and table_n > 0:
                ki = cpu_ticks[i] if cpu_ticks[i] < table_n else table_n
                for c in range(4):
                    terms[f_cpu, i, c] = cpu_table[cat, ki, c]
                seen[f_cpu, i] = 1
            elif window_ticks[i] > 0:                # Beta-Binomial of k ticks out of n
                nt = <double>window_ticks[i]
                k = <double>cpu_ticks[i] if cpu_ticks[i] < window_ticks[i] else nt
                log_choose = -log1p(nt) - log_beta(k + 1.0, nt - k + 1.0)
                for c in range(4):
                    terms[f_cpu, i, c] = (log_choose + log_beta(k + cpu_alpha[cat, c], nt - k + cpu_beta[cat, c])
                                          - cpu_log_beta[cat, c])
                seen[f_cpu, i] = 1
            if age_s[i] >= 0:                        # Gamma density of age; integrated survival
                t = age_s[i] if age_s[i] > 1e-3 else 1e-3
                log_t = log(t)
                for c in range(4):
                    terms[f_runtime, i, c] = ((runtime_shape[c] - 1.0) * log_t - t / runtime_scale[c]
                                              - runtime_log_norm[c])
                    terms[f_survival, i, c] = -surv_a[cat, c] * log1p(t / surv_b[cat, c])
                seen[f_runtime, i] = 1
                seen[f_survival, i] = 1
            for j in range(m):                       # one draw: a table lookup
                code = codes[j, i]
                if code >= 0:
                    for c in range(4):
                        terms[code_feature[j], i, c] = lookup[lookup_offset[j] + code, c]
                    seen[code_feature[j], i] = 1
    return terms_a, seen_a.view(np.bool_)


def credal_decide(const float64_t[:, ::1] loglik, const float64_t[:, ::1] vertices,
                  const float64_t[:, ::1] loss, const float64_t[:, ::1] scale,
                  const unsigned char[:, ::1] available, const unsigned char[::1] check,
                  intp_t kill):
    """Posterior bounds over the credal set's vertices, and kill robustness.

    For each process: the lower and upper posterior of each class over the
    vertex priors ``(V, 4)``; and, where ``check`` is set, whether action
    ``kill`` has the least scaled expected loss (among ``available``
    actions) at every vertex.
    """
    cdef intp_t n = loglik.shape[0], nv = vertices.shape[0], na = loss.shape[0], i, v, c, a, best
    cdef double top, d, p, e, best_loss
    cdef double lik[4]
    cdef double post[4]
    lower_a = np.empty((n, 4))
    upper_a = np.empty((n, 4))
    robust_a = np.ones(n, dtype=np.uint8)
    cdef float64_t[:, ::1] lower = lower_a, upper = upper_a
    cdef unsigned char[::1] robust = robust_a
    with nogil:
        for i in range(n):
            top = loglik[i, 0]
            for c in range(1, 4):
                if loglik[i, c] > top:
                    top = loglik[i, c]
            for c in range(4):
                lik[c] = exp(loglik[i, c] - top)
                lower[i, c] = INFINITY
                upper[i, c] = -INFINITY
            for v in range(nv):
                d = 0.0
                for c in range(4):
                    d += vertices[v, c] * lik[c]
                for c in range(4):
                    p = vertices[v, c] * lik[c] / d
                    post[c] = p
                    if p < lower[i, c]:
                        lower[i, c] = p
                    if p > upper[i, c]:
                        upper[i, c] = p
                if check[i] and robust[i]:
                    best, best_loss = -1, INFINITY
                    for a in range(na):
                        if not available[i, a]:
                            continue
                        e = 0.0
                        for c in range(4):
                            e += loss[a, c] * post[c]
                        e *= scale[i, a]
                        if e < best_loss:
                            best, best_loss = a, e
                    if best != kill:
                        robust[i] = 0
    return lower_a, upper_a, robust_a.view(np.bool_)
