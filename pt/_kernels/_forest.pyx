"""Sum-product on a forest given by parent pointers: exact class marginals, log domain.

Two passes over a breadth-first order of the forest: leaves up (each node's
message to its parent), then roots down (each parent's message to its
children), as Pearl's belief propagation on a tree. The per-message
log-sum-exp runs on exp(coupling - row max) precomputed once, so a message
costs K exps and K logs; an entry whose linear sum underflows is redone in
the plain log domain, so -inf entries and extreme ranges stay exact.
"""
from libc.math cimport INFINITY, exp, log

import numpy as np

from ._types cimport float64_t, index_t, intp_t

#: A linear sum below this is recomputed by a direct log-sum-exp (underflow guard).
cdef double TINY = 1e-250


cdef inline intp_t _bfs(const intp_t* start, const intp_t* child, const index_t* eff,
                        unsigned char* seen, intp_t* order, intp_t head, intp_t tail) noexcept nogil:
    """Extend the breadth-first ``order[head:tail]`` with every unseen child; new tail."""
    cdef intp_t v, k, c
    while head < tail:
        v = order[head]
        head += 1
        for k in range(start[v], start[v + 1]):
            c = child[k]
            if not seen[c] and eff[c] == v:
                seen[c] = 1
                order[tail] = c
                tail += 1
    return tail


cdef inline void _message(const float64_t* src, const float64_t* lin, const float64_t* shift,
                          const float64_t* logc, intp_t row_stride, intp_t col_stride,
                          float64_t* e, float64_t* dst, intp_t K) noexcept nogil:
    """dst[a] = log sum_b exp(logc[a, b] + src[b]) for one K-vector ``src``.

    ``lin[a, b] = exp(logc[a, b] - shift[a])`` (shift the row max); strides
    pick rows or columns of the K x K coupling, so one helper serves both
    directions.
    """
    cdef intp_t a, b
    cdef double m = -INFINITY, s, t, mm
    for b in range(K):
        if src[b] > m:
            m = src[b]
    if m == -INFINITY:
        for a in range(K):
            dst[a] = -INFINITY
        return
    for b in range(K):
        e[b] = exp(src[b] - m)
    for a in range(K):
        s = 0.0
        for b in range(K):
            s += lin[a * row_stride + b * col_stride] * e[b]
        if s > TINY:
            dst[a] = m + shift[a] + log(s)
            continue
        mm = -INFINITY                                   # underflow: the exact log-domain sum
        for b in range(K):
            t = logc[a * row_stride + b * col_stride] + src[b]
            if t > mm:
                mm = t
        if mm == -INFINITY:
            dst[a] = -INFINITY
            continue
        s = 0.0
        for b in range(K):
            s += exp(logc[a * row_stride + b * col_stride] + src[b] - mm)
        dst[a] = mm + log(s)


def tree_marginals(const index_t[::1] parent, const float64_t[:, ::1] log_lik,
                   const float64_t[:, ::1] log_coupling, const float64_t[::1] log_prior):
    """Normalised log marginals (n, K) and the first node whose tree has
    probability zero (-1 if none), plus the number of cycle edges cut.

    Input is assumed valid (no NaN, no +inf, matching shapes). ``parent[i]``
    outside [0, n) or equal to i makes i a root; a cycle is broken at the node
    where a walk up from its lowest unreached index first repeats.
    """
    cdef intp_t n = log_lik.shape[0], K = log_lik.shape[1]
    cdef intp_t i, j, k, a, p, c, head, tail, deg, maxdeg = 0, cuts = 0, bad = -1, walk
    cdef double m, s
    eff_np = np.empty(n, dtype=np.int64)
    start_np = np.zeros(n + 1, dtype=np.intp)
    cdef index_t[::1] eff = eff_np
    cdef intp_t[::1] start = start_np
    cdef intp_t[::1] fill = np.empty(n + 1, dtype=np.intp)
    cdef intp_t[::1] child = np.empty(max(n, 1), dtype=np.intp)
    cdef intp_t[::1] order = np.empty(max(n, 1), dtype=np.intp)
    cdef intp_t[::1] stamp = np.zeros(max(n, 1), dtype=np.intp)
    cdef unsigned char[::1] seen = np.zeros(max(n, 1), dtype=np.uint8)
    cdef float64_t[:, ::1] out = np.array(log_lik, dtype=np.float64, copy=True, order="C")
    cdef float64_t[:, ::1] up_msg = np.empty((n, K), dtype=np.float64)
    cdef float64_t[:, ::1] down = np.empty((n, K), dtype=np.float64)
    cdef float64_t[:, ::1] lin_row = np.empty((K, K), dtype=np.float64)
    cdef float64_t[:, ::1] lin_col = np.empty((K, K), dtype=np.float64)   # [b, a]: column a scaled
    cdef float64_t[::1] row_max = np.full(K, -INFINITY)
    cdef float64_t[::1] col_max = np.full(K, -INFINITY)
    cdef float64_t[::1] e = np.empty(K, dtype=np.float64)
    cdef float64_t[::1] suffix = np.empty(K, dtype=np.float64)
    cdef float64_t[::1] excl = np.empty(K, dtype=np.float64)
    cdef float64_t[:, ::1] prefix
    if n == 0 or K == 0:
        return np.asarray(out), -1, 0
    for a in range(K):                                  # exp(coupling - max) by rows and columns
        for k in range(K):
            row_max[a] = max(row_max[a], log_coupling[a, k])
            col_max[a] = max(col_max[a], log_coupling[k, a])
    for a in range(K):
        for k in range(K):
            lin_row[a, k] = exp(log_coupling[a, k] - row_max[a]) if row_max[a] > -INFINITY else 0.0
            lin_col[k, a] = exp(log_coupling[k, a] - col_max[a]) if col_max[a] > -INFINITY else 0.0
    with nogil:
        for i in range(n):                              # children lists (CSR) of the sane edges
            p = parent[i]
            eff[i] = p if 0 <= p < n and p != i else -1
            if eff[i] >= 0:
                start[eff[i] + 1] += 1
        for i in range(n):
            maxdeg = max(maxdeg, start[i + 1])
            start[i + 1] += start[i]
        for i in range(n + 1):
            fill[i] = start[i]
        for i in range(n):
            if eff[i] >= 0:
                child[fill[eff[i]]] = i
                fill[eff[i]] += 1
        tail = 0
        for i in range(n):
            if eff[i] < 0:
                seen[i] = 1
                order[tail] = i
                tail += 1
        tail = _bfs(&start[0], &child[0], &eff[0], &seen[0], &order[0], 0, tail)
        i = 0
        while tail < n:                                 # what is left hangs from cycles
            while seen[i]:
                i += 1
            j = i                                       # walk up until a node repeats: on the cycle
            walk = i + 1
            while stamp[j] != walk:
                stamp[j] = walk
                j = eff[j]
            eff[j] = -1
            cuts += 1
            seen[j] = 1
            order[tail] = j
            tail = _bfs(&start[0], &child[0], &eff[0], &seen[0], &order[0], tail, tail + 1)
        for k in range(n - 1, -1, -1):                  # leaves up
            j = order[k]
            p = eff[j]
            if p >= 0:
                _message(&out[j, 0], &lin_row[0, 0], &row_max[0], &log_coupling[0, 0], K, 1,
                         &e[0], &up_msg[j, 0], K)
                for a in range(K):
                    out[p, a] += up_msg[j, a]
    prefix = np.empty((maxdeg + 1, K), dtype=np.float64)
    with nogil:
        for k in range(n):                              # roots down
            i = order[k]
            if eff[i] < 0:
                for a in range(K):
                    down[i, a] = log_prior[a]
            for a in range(K):
                prefix[0, a] = log_lik[i, a] + down[i, a]
            deg = 0
            for j in range(start[i], start[i + 1]):
                c = child[j]
                if eff[c] == i:
                    for a in range(K):
                        prefix[deg + 1, a] = prefix[deg, a] + up_msg[c, a]
                    deg += 1
            for a in range(K):
                suffix[a] = 0.0
            for j in range(start[i + 1] - 1, start[i] - 1, -1):
                c = child[j]
                if eff[c] != i:
                    continue
                deg -= 1
                for a in range(K):
                    excl[a] = prefix[deg, a] + suffix[a]
                    suffix[a] += up_msg[c, a]
                _message(&excl[0], &lin_col[0, 0], &col_max[0], &log_coupling[0, 0], 1, K,
                         &e[0], &down[c, 0], K)
            m = -INFINITY                               # marginal: up * down, normalised
            for a in range(K):
                out[i, a] += down[i, a]
                if out[i, a] > m:
                    m = out[i, a]
            if m == -INFINITY:
                if bad < 0 or i < bad:
                    bad = i
                continue
            s = 0.0
            for a in range(K):
                s += exp(out[i, a] - m)
            m += log(s)
            for a in range(K):
                out[i, a] -= m
    return np.asarray(out), bad, cuts
