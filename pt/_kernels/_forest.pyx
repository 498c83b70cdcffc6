"""Sum-product on a forest given by parent pointers: exact class marginals.

The nodes are first relabelled in breadth-first order (parents before
children, each node's children contiguous), so both passes — leaves up, then
roots down, as Pearl's belief propagation on a tree — walk memory in order.

Fast path: messages in linear scale, each divided by its largest entry, so a
node costs a few K x K multiply-adds and no transcendental beyond one exp of
its evidence and one log of its marginal (both vectorised by numpy). It is
exact while every nonzero scaled value is at least TINY = 1e-150: then any
product of two is a normal double, and a zero can only be a structural zero
(an impossible class, -inf in the input), never an underflow. The moment a
value would fall below TINY, the whole forest is redone in the log domain
(K exps and K logs per message), which keeps any range exactly.
"""
from libc.math cimport INFINITY, exp, log

import numpy as np

from ._types cimport float64_t, index_t, intp_t

#: Smallest nonzero scaled value of the linear path (its square is still a normal double).
cdef double TINY = 1e-150
#: log(TINY): evidence further below its row's maximum goes to the log path.
cdef double LOG_TINY = -345.38776394910684


# ----------------------------------------------------------------- order

cdef intp_t _bfs(const intp_t* start, const intp_t* child, const index_t* eff, unsigned char* seen,
                 intp_t* order, intp_t* first, intp_t* last, intp_t head, intp_t tail) noexcept nogil:
    """Extend the breadth-first ``order[head:tail]`` with every unseen child,
    recording each dequeued position's children range; returns the new tail."""
    cdef intp_t v, k, c
    while head < tail:
        v = order[head]
        first[head] = tail
        for k in range(start[v], start[v + 1]):
            c = child[k]
            if not seen[c] and eff[c] == v:
                seen[c] = 1
                order[tail] = c
                tail += 1
        last[head] = tail
        head += 1
    return tail


def forest_order(const index_t[::1] parent):
    """Breadth-first relabelling of the forest ``parent`` describes.

    Returns ``(order, up, first, last, cuts)``: ``order[k]`` is the node at
    position k; ``up[k]`` its parent's position (-1 for a root); the children
    of position k are positions ``first[k]:last[k]``; ``cuts`` the cycle edges
    cut. ``parent[i]`` outside [0, n) or equal to i makes i a root; a cycle is
    cut at the node where a walk up from its lowest unreached node first
    repeats.
    """
    cdef intp_t n = parent.shape[0], m = max(n, 1)
    cdef intp_t i, j, p, tail, walk, cuts = 0
    if n == 0:
        return tuple(np.empty(0, dtype=np.intp) for _ in range(4)) + (0,)
    # One block for the work arrays: numpy backs an allocation of 4 MB or more
    # with huge pages, so a large forest costs a few page faults, not thousands.
    block = np.empty((9, n + 1), dtype=np.intp)
    block[0] = 0
    block[3] = 0
    order_a, up_a, first_a, last_a = block[5, :n], block[6, :n], block[7, :n], block[8, :n]
    cdef intp_t[::1] start = block[0], fill = block[1], child = block[2], stamp = block[3], pos = block[4]
    cdef intp_t[::1] order = order_a, up = up_a, first = first_a, last = last_a
    cdef index_t[::1] eff = np.empty(m, dtype=np.int64)
    cdef unsigned char[::1] seen = np.zeros(m, dtype=np.uint8)
    with nogil:
        for i in range(n):                              # children lists (CSR) of the sane edges
            p = parent[i]
            eff[i] = p if 0 <= p < n and p != i else -1
            if eff[i] >= 0:
                start[eff[i] + 1] += 1
        for i in range(n):
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
        tail = _bfs(&start[0], &child[0], &eff[0], &seen[0], &order[0], &first[0], &last[0], 0, tail)
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
            tail = _bfs(&start[0], &child[0], &eff[0], &seen[0], &order[0], &first[0], &last[0],
                        tail, tail + 1)
        for i in range(n):
            pos[order[i]] = i
        for i in range(n):
            j = eff[order[i]]
            up[i] = pos[j] if j >= 0 else -1
    return order_a, up_a, first_a, last_a, cuts


# ----------------------------------------------------------------- linear path

cdef inline bint _rescale(float64_t* v, intp_t K) noexcept nogil:
    """Divide ``v`` by its largest entry (all zero stays zero); True if a
    nonzero entry is then below TINY (the linear path would lose it)."""
    cdef intp_t a
    cdef double m = 0.0, r
    cdef bint lost = False
    for a in range(K):
        if v[a] > m:
            m = v[a]
    if m == 0.0:
        return False
    r = 1.0 / m
    for a in range(K):
        v[a] *= r
        lost |= 0.0 < v[a] < TINY
    return lost


cdef inline bint _matvec(const float64_t* lin, const float64_t* v, float64_t* dst, intp_t K) noexcept nogil:
    """dst[a] = sum_b lin[a, b] v[b], rescaled (see :func:`_rescale`)."""
    cdef intp_t a, b
    cdef double s
    for a in range(K):
        s = 0.0
        for b in range(K):
            s += lin[a * K + b] * v[b]
        dst[a] = s
    return _rescale(dst, K)


cdef intp_t _linear(const intp_t* up, const intp_t* first, const intp_t* last, intp_t n, intp_t K,
                    const float64_t* E, float64_t* U, float64_t* M, float64_t* D,
                    const float64_t* row_lin, const float64_t* col_lin, const float64_t* prior_lin,
                    float64_t* prefix, float64_t* suffix, float64_t* excl) noexcept nogil:
    """Both passes in linear scale, by position; marginals (normalised to sum 1)
    left in U. Returns -1 when done, -2 if a value fell below TINY (use the log
    path), or the position of a node whose tree has probability zero."""
    cdef intp_t k, p, a, j, deg
    cdef double s
    cdef bint lost = False
    for k in range(n * K):
        U[k] = E[k]
    for k in range(n - 1, -1, -1):                      # leaves up: U[k] is complete here
        p = up[k]
        if p >= 0:
            lost |= _matvec(row_lin, &U[k * K], &M[k * K], K)
            for a in range(K):
                U[p * K + a] *= M[k * K + a]
            lost |= _rescale(&U[p * K], K)
        if lost:
            return -2
    for k in range(n):                                  # roots down
        if up[k] < 0:
            for a in range(K):
                D[k * K + a] = prior_lin[a]
        deg = last[k] - first[k]
        if deg:
            for a in range(K):
                prefix[a] = E[k * K + a] * D[k * K + a]
                suffix[a] = 1.0
            lost |= _rescale(prefix, K)
        for j in range(deg):
            for a in range(K):
                prefix[(j + 1) * K + a] = prefix[j * K + a] * M[(first[k] + j) * K + a]
            lost |= _rescale(&prefix[(j + 1) * K], K)
        for j in range(deg - 1, -1, -1):
            for a in range(K):
                excl[a] = prefix[j * K + a] * suffix[a]
                suffix[a] *= M[(first[k] + j) * K + a]
            lost |= _rescale(excl, K) | _rescale(suffix, K)
            lost |= _matvec(col_lin, excl, &D[(first[k] + j) * K], K)
        if lost:
            return -2
        s = 0.0                                         # marginal: U * D, to sum 1
        for a in range(K):
            U[k * K + a] *= D[k * K + a]
            s += U[k * K + a]
        if s == 0.0:
            return k
        s = 1.0 / s
        for a in range(K):
            U[k * K + a] *= s
    return -1


# ----------------------------------------------------------------- log path

cdef inline void _log_message(const float64_t* src, const float64_t* logc, intp_t row_stride,
                              intp_t col_stride, float64_t* dst, intp_t K) noexcept nogil:
    """dst[a] = log sum_b exp(logc[a * row_stride + b * col_stride] + src[b])."""
    cdef intp_t a, b
    cdef double m, s, t
    for a in range(K):
        m = -INFINITY
        for b in range(K):
            t = logc[a * row_stride + b * col_stride] + src[b]
            if t > m:
                m = t
        if m == -INFINITY:
            dst[a] = -INFINITY
            continue
        s = 0.0
        for b in range(K):
            s += exp(logc[a * row_stride + b * col_stride] + src[b] - m)
        dst[a] = m + log(s)


cdef intp_t _logdomain(const intp_t* up, const intp_t* first, const intp_t* last, intp_t n, intp_t K,
                       const float64_t* L, float64_t* U, float64_t* M, float64_t* D,
                       const float64_t* logc, const float64_t* log_prior,
                       float64_t* prefix, float64_t* suffix, float64_t* excl) noexcept nogil:
    """Both passes in logs, by position (prefix and suffix sums exclude a child,
    never a subtraction of -inf); normalised log marginals left in U. Returns
    -1, or the position of a node whose tree has probability zero."""
    cdef intp_t k, p, a, j, deg
    cdef double m, s
    for k in range(n * K):
        U[k] = L[k]
    for k in range(n - 1, -1, -1):
        p = up[k]
        if p >= 0:
            _log_message(&U[k * K], logc, K, 1, &M[k * K], K)
            for a in range(K):
                U[p * K + a] += M[k * K + a]
    for k in range(n):
        if up[k] < 0:
            for a in range(K):
                D[k * K + a] = log_prior[a]
        deg = last[k] - first[k]
        for a in range(K):
            prefix[a] = L[k * K + a] + D[k * K + a]
            suffix[a] = 0.0
        for j in range(deg):
            for a in range(K):
                prefix[(j + 1) * K + a] = prefix[j * K + a] + M[(first[k] + j) * K + a]
        for j in range(deg - 1, -1, -1):
            for a in range(K):
                excl[a] = prefix[j * K + a] + suffix[a]
                suffix[a] += M[(first[k] + j) * K + a]
            _log_message(excl, logc, 1, K, &D[(first[k] + j) * K], K)
        m = -INFINITY
        for a in range(K):
            U[k * K + a] += D[k * K + a]
            if U[k * K + a] > m:
                m = U[k * K + a]
        if m == -INFINITY:
            return k
        s = 0.0
        for a in range(K):
            s += exp(U[k * K + a] - m)
        m += log(s)
        for a in range(K):
            U[k * K + a] -= m
    return -1


# ----------------------------------------------------------------- entry point

def _scaled_exp(x):
    """exp(x - max) over the last axis of a small array, and whether a nonzero result is < TINY."""
    top = x.max(axis=-1, keepdims=True)
    shifted = x - np.where(np.isneginf(top), 0.0, top)
    lost = bool(((shifted < LOG_TINY) & (shifted > -np.inf)).any())
    return np.exp(shifted), lost


cdef bint _gather(const float64_t[:, ::1] x, const intp_t[::1] order, float64_t[:, ::1] E,
                  bint shift) noexcept nogil:
    """E[k] = x[order[k]], less its row's max if ``shift`` (a row of -inf stays -inf); True
    if a finite shifted entry is below LOG_TINY (its exp would be lost by the linear path)."""
    cdef intp_t k, a, n = E.shape[0], K = E.shape[1]
    cdef double m, t
    cdef bint lost = False
    for k in range(n):
        m = -INFINITY
        for a in range(K):
            t = x[order[k], a]
            E[k, a] = t
            if t > m:
                m = t
        if m == -INFINITY or not shift:
            continue
        for a in range(K):
            t = E[k, a] - m
            E[k, a] = t
            lost |= LOG_TINY > t > -INFINITY
    return lost


def tree_marginals(const index_t[::1] parent, const float64_t[:, ::1] log_lik,
                   const float64_t[:, ::1] log_coupling, const float64_t[::1] log_prior):
    """Normalised log marginals (n, K), the first node found whose tree has
    probability zero (-1 if none), and the number of cycle edges cut.

    Input is assumed valid: matching shapes, no NaN and no +inf. See
    :func:`forest_order` for roots and cycles.
    """
    cdef intp_t n = log_lik.shape[0], K = log_lik.shape[1], bad = -2
    if n == 0 or K == 0:
        return np.zeros((n, K)), -1, 0
    order_a, up_a, first_a, last_a, cuts = forest_order(parent)
    deg = int((last_a - first_a).max())
    E_a, U_a, M_a, D_a = np.empty((4, n, K))                # one block: huge pages (see forest_order)
    cdef intp_t[::1] order = order_a, up = up_a, first = first_a, last = last_a
    cdef float64_t[:, ::1] E = E_a, U = U_a, M = M_a, D = D_a
    cdef bint exact_in_logs
    with nogil:
        exact_in_logs = _gather(log_lik, order, E, True)
    np.exp(E_a, out=E_a)
    coupling_a = np.asarray(log_coupling)
    row_a, lost_row = _scaled_exp(coupling_a.reshape(1, K * K))      # one scale for the matrix
    row_a = row_a.reshape(K, K)
    prior_a, lost_prior = _scaled_exp(np.asarray(log_prior))
    exact_in_logs = exact_in_logs or lost_row or lost_prior
    cdef float64_t[:, ::1] row_lin = row_a, col_lin = np.ascontiguousarray(row_a.T)
    cdef float64_t[:, ::1] prefix = np.empty((deg + 1, K))
    cdef float64_t[::1] prior_lin = prior_a, suffix = np.empty(K), excl = np.empty(K)
    with nogil:
        if not exact_in_logs:
            bad = _linear(&up[0], &first[0], &last[0], n, K, &E[0, 0], &U[0, 0], &M[0, 0], &D[0, 0],
                          &row_lin[0, 0], &col_lin[0, 0], &prior_lin[0], &prefix[0, 0], &suffix[0],
                          &excl[0])
        if bad == -2:
            _gather(log_lik, order, E, False)
            bad = _logdomain(&up[0], &first[0], &last[0], n, K, &E[0, 0], &U[0, 0], &M[0, 0],
                             &D[0, 0], &log_coupling[0, 0], &log_prior[0], &prefix[0, 0], &suffix[0],
                             &excl[0])
            exact_in_logs = True
    if bad >= 0:
        return None, int(order_a[bad]), cuts
    out = np.empty((n, K))
    out[order_a] = U_a
    if not exact_in_logs:
        with np.errstate(divide="ignore"):
            np.log(out, out=out)
    return out, -1, cuts


def subtree_sums(const index_t[::1] parent, const float64_t[:, ::1] values):
    """(n, m): each node's values plus those of all its descendants (roots and
    cycles as :func:`forest_order`)."""
    cdef intp_t n = values.shape[0], m = values.shape[1], k, j, p
    if n == 0:
        return np.zeros((0, m))
    order_a, up_a, _, _, _ = forest_order(parent)
    acc_a = np.ascontiguousarray(np.asarray(values)[order_a])
    cdef intp_t[::1] up = up_a
    cdef float64_t[:, ::1] acc = acc_a
    with nogil:
        for k in range(n - 1, -1, -1):
            p = up[k]
            if p >= 0:
                for j in range(m):
                    acc[p, j] += acc[k, j]
    out = np.empty((n, m))
    out[order_a] = acc_a
    return out
