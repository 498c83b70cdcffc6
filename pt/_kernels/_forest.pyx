"""Sum-product on a forest given by parent pointers: exact class marginals.

The nodes are first relabelled in breadth-first order (parents before
children, each node's children contiguous), so both passes — leaves up, then
roots down, as Pearl's belief propagation on a tree — walk memory in order.

Fast path, for a coupling with no zero (every log_coupling entry finite):
linear scale. Leaves up, a node's upward belief is its evidence times its
children's messages, rescaled by a power of two after each (exact); its
message is the coupling times that belief. Roots down, a child's exclusion
from its parent's marginal is a division by its own message, which is never
zero there. A node costs 2K^2 multiply-adds, K + 1 divisions, one exp of its
evidence and one log of its marginal (both numpy's SIMD loops). It is exact
while every nonzero scaled value is at least TINY = 1e-150: then no product
of them is subnormal, and a zero can only be an impossible class, never an
underflow. Otherwise (a zero in the coupling, or a value below TINY) the
whole forest is done in the log domain, with prefix and suffix sums for the
exclusion (K^2 exps and K logs per message), which keeps any range exactly.
"""
from libc.math cimport INFINITY, exp, log
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

import numpy as np

from ._types cimport float64_t, index_t, intp_t

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define PT_PREFETCH(p, w) __builtin_prefetch((p), (w))
    #else
    #define PT_PREFETCH(p, w) ((void)0)
    #endif
    """
    void prefetch "PT_PREFETCH"(const void* p, int write) noexcept nogil

#: How many rows ahead a gather or scatter through ``order`` asks for its row.
cdef enum:
    AHEAD = 16

#: Smallest nonzero scaled value of the linear path (its square is still a normal double).
cdef double TINY = 1e-150
#: log(TINY): evidence further below its row's maximum goes to the log path.
cdef double LOG_TINY = -345.38776394910684


# ----------------------------------------------------------------- order

cdef intp_t _bfs(const intp_t* start, const intp_t* child, intp_t* order, intp_t* up, intp_t* first,
                 intp_t head, intp_t tail, intp_t skip) noexcept nogil:
    """Extend the breadth-first ``order[head:tail]`` with the children of each
    dequeued position (but ``skip``), recording their parent position and the
    first child position of each; returns the new tail."""
    cdef intp_t v, k, c
    while head < tail:
        v = order[head]
        first[head] = tail
        for k in range(start[v], start[v + 1]):
            c = child[k]
            if c != skip:
                order[tail] = c
                up[tail] = head
                tail += 1
        head += 1
    return tail


cdef intp_t _order(const index_t* parent, intp_t n, intp_t* order, intp_t* up, intp_t* first,
                   intp_t* start, intp_t* child) noexcept nogil:
    """Roots (in index order) then breadth-first from them; returns how many
    nodes are ordered (n unless some hang from a cycle). ``start`` (n + 2) and
    ``child`` (n) are work space: the children lists, by node."""
    cdef intp_t i, p, tail = 0
    for i in range(n + 2):
        start[i] = 0
    for i in range(n):                                  # children counts (shifted by two); roots
        p = parent[i]
        if 0 <= p < n and p != i:
            start[p + 2] += 1
        else:
            order[tail] = i
            up[tail] = -1
            tail += 1
    for i in range(2, n + 2):
        start[i] += start[i - 1]
    for i in range(n):                                  # then p's children are start[p]:start[p + 1]
        p = parent[i]
        if 0 <= p < n and p != i:
            child[start[p + 1]] = i
            start[p + 1] += 1
    return _bfs(start, child, order, up, first, 0, tail, -1)


cdef intp_t _sort(const index_t[::1] parent, intp_t[::1] order, intp_t[::1] up, intp_t[::1] first,
                  intp_t[::1] work) except -1:
    """Fill ``order``, ``up`` and ``first`` as :func:`forest_order` returns
    them, with ``work`` (2n + 2) as space for the children lists; returns the
    number of cycle edges cut."""
    cdef intp_t n = parent.shape[0], i, j, k, head, tail, cuts = 0
    cdef intp_t* start = &work[0]
    cdef intp_t* child = &work[n + 2]
    cdef intp_t[::1] mark
    cdef index_t[::1] sane
    first[n] = n
    if n == 0:
        return 0
    with nogil:
        tail = _order(&parent[0], n, &order[0], &up[0], &first[0], start, child)
    if tail == n:
        return 0
    mark = np.zeros(n, dtype=np.intp)                   # some hang from cycles: cut, then order again
    sane = np.array(parent)
    with nogil:
        for i in range(tail):
            mark[order[i]] = -1
        i = 0
        while tail < n:
            while mark[i]:
                i += 1
            j = i                                       # walk up until a node repeats: on the cycle
            while mark[j] != i + 1:
                mark[j] = i + 1
                j = parent[j]
            sane[j] = -1
            cuts += 1
            head = tail                                 # mark what hangs from it
            order[tail] = j
            tail = _bfs(start, child, &order[0], &up[0], &first[0], tail, tail + 1, j)
            for k in range(head, tail):
                mark[order[k]] = -1
        _order(&sane[0], n, &order[0], &up[0], &first[0], start, child)
    return cuts


def forest_order(const index_t[::1] parent):
    """Breadth-first relabelling of the forest ``parent`` describes.

    Returns ``(order, up, first, last, cuts)``: ``order[k]`` is the node at
    position k; ``up[k]`` its parent's position (-1 for a root); the children
    of position k are positions ``first[k]:last[k]`` (``last[k] == first[k +
    1]``); ``cuts`` the cycle edges cut. ``parent[i]`` outside [0, n) or
    equal to i makes i a root; a cycle is cut at the node where a walk up from
    its lowest unreached node first repeats, which then comes among the roots.
    """
    cdef intp_t n = parent.shape[0]
    block = np.empty(5 * n + 3, dtype=np.intp)
    order, up, first = block[:n], block[n:2 * n], block[2 * n:3 * n + 1]
    cuts = _sort(parent, order, up, first, block[3 * n + 1:])
    return order, up, first[:n], first[1:], cuts


# ----------------------------------------------------------------- linear path

cdef struct Four:
    char unused


ctypedef fused classes_t:
    # The class count as a type: ``Four`` specialises a pass for K = 4 (pt's
    # classes), where the compiler unrolls its loops; ``intp_t`` carries any K.
    Four
    intp_t


cdef inline intp_t _count(classes_t classes) noexcept nogil:
    """K: 4 for ``Four`` (a constant the compiler sees), else the value carried."""
    if classes_t is intp_t:
        return classes
    else:
        return 4


cdef inline double _pow2_scale(double m) noexcept nogil:
    """2**-floor(log2 m) for a positive normal m, so m times it is in [1, 2)
    exactly; 2**1023 for 0 (0 times it stays 0)."""
    cdef uint64_t bits
    memcpy(&bits, &m, 8)
    bits = (<uint64_t> 2046 - (bits >> 52)) << 52
    memcpy(&m, &bits, 8)
    return m


cdef bint _up(const intp_t* first, intp_t n, classes_t classes, float64_t* U, float64_t* M,
                     const float64_t* psi) noexcept nogil:
    """Leaves up, by position: U[k] (the evidence on entry) times each child's
    message, rescaled to a largest entry in [1, 2) after each; then M[k] =
    psi U[k]. True (stop) if a nonzero value of U fell below TINY."""
    cdef intp_t k, j, a, b, K = _count(classes)
    cdef double m, r, s
    cdef float64_t* u
    cdef bint lost = False
    for k in range(n - 1, -1, -1):
        u = &U[k * K]
        for j in range(first[k], first[k + 1]):
            m = 0.0
            for a in range(K):
                u[a] *= M[j * K + a]
                if u[a] > m:
                    m = u[a]
            r = _pow2_scale(m)
            for a in range(K):
                u[a] *= r
                lost |= (u[a] > 0.0) & (u[a] < TINY)
        if lost:
            return True
        for a in range(K):
            s = 0.0
            for b in range(K):
                s += psi[a * K + b] * u[b]
            M[k * K + a] = s
    return False


cdef intp_t _down(const intp_t* order, const intp_t* up, intp_t n, classes_t classes, float64_t* U,
                         const float64_t* M, const float64_t* psi_t, const float64_t* prior,
                         float64_t* excl, float64_t* out) noexcept nogil:
    """Roots down, by position: the marginal U[k] <- (psi^T (U[parent] / M[k]))
    * U[k] (the prior for a root), to sum 1, also written to out[order[k]].
    Returns -1, or the position of a root whose tree has probability zero."""
    cdef intp_t k, p, a, b, K = _count(classes)
    cdef double s, d
    cdef float64_t* u
    cdef float64_t* o
    for k in range(n):
        u = &U[k * K]
        p = up[k]
        s = 0.0
        if p < 0:
            for b in range(K):
                u[b] *= prior[b]
                s += u[b]
        else:
            for a in range(K):
                excl[a] = U[p * K + a] / M[k * K + a]
            for b in range(K):
                d = 0.0
                for a in range(K):
                    d += psi_t[b * K + a] * excl[a]
                u[b] *= d
                s += u[b]
        if s == 0.0:
            return k
        s = 1.0 / s
        if k + AHEAD < n:
            prefetch(&out[order[k + AHEAD] * K], 1)
        o = &out[order[k] * K]
        for b in range(K):
            u[b] *= s
            o[b] = u[b]
    return -1


cdef intp_t _linear(classes_t classes, const intp_t* order, const intp_t* up, const intp_t* first,
                    intp_t n, float64_t* U, float64_t* M, const float64_t* psi, const float64_t* psi_t,
                    const float64_t* prior, float64_t* excl, float64_t* out) noexcept nogil:
    """Both passes in linear scale (U holds the scaled evidence on entry);
    returns -1 when done, -2 if a value fell below TINY (use the log path),
    or the position of a root whose tree has probability zero."""
    if _up(first, n, classes, U, M, psi):
        return -2
    return _down(order, up, n, classes, U, M, psi_t, prior, excl, out)


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


cdef intp_t _logdomain(const intp_t* up, const intp_t* first, intp_t n, intp_t K,
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
        deg = first[k + 1] - first[k]
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

cdef bint _gather(const float64_t[:, ::1] x, const intp_t[::1] order, float64_t[:, ::1] E,
                  bint shift) noexcept nogil:
    """E[k] = x[order[k]], less its row's max if ``shift`` (a row of -inf stays -inf); True
    if a finite shifted entry is below LOG_TINY (its exp would be lost by the linear path)."""
    cdef intp_t k, a, n = E.shape[0], K = E.shape[1]
    cdef double m, t
    cdef bint lost = False
    for k in range(n):
        if k + AHEAD < n:
            prefetch(&x[order[k + AHEAD], 0], 0)
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


def _linear_tables(log_coupling, log_prior):
    """exp of the coupling and prior less their maxima, or None if the linear
    path cannot take them (a zero in the coupling, a value below TINY)."""
    if not np.isfinite(log_coupling).all():
        return None
    psi = np.exp(log_coupling - log_coupling.max())
    top = log_prior.max()
    prior = np.exp(log_prior - (top if top > -np.inf else 0.0))
    if psi.min() < TINY or ((prior > 0.0) & (prior < TINY)).any():
        return None
    return psi, np.ascontiguousarray(psi.T), prior


def tree_marginals(const index_t[::1] parent, const float64_t[:, ::1] log_lik,
                   const float64_t[:, ::1] log_coupling, const float64_t[::1] log_prior):
    """Normalised log marginals (n, K), the first node found whose tree has
    probability zero (-1 if none), and the number of cycle edges cut.

    Input is assumed valid: matching shapes, no NaN and no +inf. See
    :func:`forest_order` for roots and cycles.
    """
    cdef intp_t n = log_lik.shape[0], K = log_lik.shape[1], bad = -1
    cdef bint lost = True
    if n == 0 or K == 0:
        return np.zeros((n, K)), -1, 0
    # One block for all the work arrays (the children lists share the float
    # part, used later): fewer fresh pages, and numpy backs an allocation of
    # 4 MB or more with huge pages.
    block = np.empty(3 * n + 1 + max(2 * n * K, 2 * n + 2))
    index, floats = block[:3 * n + 1].view(np.intp), block[3 * n + 1:]
    order_a, up_a, first_a = index[:n], index[n:2 * n], index[2 * n:]
    cuts = _sort(parent, order_a, up_a, first_a, floats.view(np.intp)[:2 * n + 2])
    cdef intp_t[::1] order = order_a, up = up_a, first = first_a
    out_a = np.empty((n, K))
    cdef float64_t[:, ::1] out = out_a, U, M
    cdef float64_t[:, ::1] psi, psi_t
    cdef float64_t[::1] prior, excl = np.empty(K)
    cdef Four four
    tables = _linear_tables(np.asarray(log_coupling), np.asarray(log_prior))
    if tables is not None:
        psi, psi_t, prior = tables
        U_a, M_a = floats[:2 * n * K].reshape(2, n, K)
        U, M = U_a, M_a
        with nogil:
            lost = _gather(log_lik, order, U, True)
        if not lost:
            np.exp(U_a, out=U_a)
            with nogil:
                if K == 4:
                    bad = _linear(four, &order[0], &up[0], &first[0], n, &U[0, 0], &M[0, 0], &psi[0, 0],
                                  &psi_t[0, 0], &prior[0], &excl[0], &out[0, 0])
                else:
                    bad = _linear(K, &order[0], &up[0], &first[0], n, &U[0, 0], &M[0, 0], &psi[0, 0],
                                  &psi_t[0, 0], &prior[0], &excl[0], &out[0, 0])
            lost = bad == -2
        if not lost:
            if bad >= 0:
                return None, int(order_a[bad]), cuts
            with np.errstate(divide="ignore"):
                np.log(out_a, out=out_a)
            return out_a, -1, cuts
    return _log_path(log_lik, log_coupling, log_prior, order_a, up_a, first_a,
                     out_a, cuts)


def _log_path(const float64_t[:, ::1] log_lik, const float64_t[:, ::1] log_coupling,
              const float64_t[::1] log_prior, const intp_t[::1] order, const intp_t[::1] up,
              const intp_t[::1] first, out_a, cuts):
    """:func:`tree_marginals` in the log domain (any range, zeros in the coupling)."""
    cdef intp_t n = log_lik.shape[0], K = log_lik.shape[1], k, a, bad
    cdef intp_t deg = int(np.max(np.diff(first)))
    L_a, U_a, M_a, D_a = np.empty((4, n, K))
    cdef float64_t[:, ::1] L = L_a, U = U_a, M = M_a, D = D_a, out = out_a
    cdef float64_t[:, ::1] prefix = np.empty((deg + 1, K))
    cdef float64_t[::1] suffix = np.empty(K), excl = np.empty(K)
    with nogil:
        _gather(log_lik, order, L, False)
        bad = _logdomain(&up[0], &first[0], n, K, &L[0, 0], &U[0, 0], &M[0, 0], &D[0, 0],
                         &log_coupling[0, 0], &log_prior[0], &prefix[0, 0], &suffix[0], &excl[0])
        if bad < 0:
            for k in range(n):
                for a in range(K):
                    out[order[k], a] = U[k, a]
    if bad >= 0:
        return None, int(order[bad]), cuts
    return out_a, -1, cuts


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
