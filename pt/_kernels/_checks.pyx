"""Single-pass domain checks for the public wrappers in :mod:`pt.kernels`.

Each returns the index of the first element that breaks the rule, or -1: one pass,
no temporary arrays, so validation stays cheap next to the kernels it guards.
"""
from libc.math cimport INFINITY

from ._types cimport float64_t, intp_t


def first_not_positive(const float64_t[::1] x):
    """First i with not (0 < x[i] < inf) (NaN included), or -1."""
    cdef intp_t i, n = x.shape[0]
    with nogil:
        for i in range(n):
            if not (0.0 < x[i] < INFINITY):
                break
        else:
            i = -1
    return i


def first_nan(const float64_t[::1] x):
    """First i with x[i] NaN, or -1."""
    cdef intp_t i, n = x.shape[0]
    with nogil:
        for i in range(n):
            if x[i] != x[i]:
                break
        else:
            i = -1
    return i


def first_outside_unit(const float64_t[::1] x):
    """First i with not (0 <= x[i] <= 1) (NaN included), or -1."""
    cdef intp_t i, n = x.shape[0]
    with nogil:
        for i in range(n):
            if not (0.0 <= x[i] <= 1.0):
                break
        else:
            i = -1
    return i
