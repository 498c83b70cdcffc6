"""Row-wise log-sum-exp over a C-contiguous 2-D array (reduction along the last axis)."""
from libc.math cimport INFINITY, exp

import numpy as np

from ._elementary cimport fast_log1p
from ._types cimport float64_t, intp_t


cdef inline double _row_logsumexp(const float64_t* row, intp_t n) noexcept nogil:
    """log(sum(exp(row))) for one NaN-free row.

    With m the largest element (first occurrence j), the result is
    m + log1p(sum_{i != j} exp(row[i] - m)): the max term contributes exactly 1 and
    log1p keeps the small remainder (as SciPy).  An empty or all -inf row gives
    -inf; any +inf gives +inf.
    """
    cdef intp_t i, j = 0
    cdef double m = -INFINITY, s = 0.0
    for i in range(n):
        j = i if row[i] > m else j
        m = row[i] if row[i] > m else m
    if m == INFINITY or m == -INFINITY:
        return m
    for i in range(j):
        s += exp(row[i] - m)
    for i in range(j + 1, n):
        s += exp(row[i] - m)
    return m + fast_log1p(s)


def logsumexp_rows(const float64_t[:, ::1] a):
    """log(sum(exp(a[i, :]))) for every row i of a NaN-free array; shape (m,) out."""
    cdef intp_t i, m = a.shape[0], n = a.shape[1]
    cdef float64_t[::1] out = np.empty(m, dtype=np.float64)
    if n == 0:
        out[:] = -INFINITY
        return np.asarray(out)
    with nogil:
        for i in range(m):
            out[i] = _row_logsumexp(&a[i, 0], n)
    return np.asarray(out)
