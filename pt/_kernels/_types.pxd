# C types shared by the kernel modules (one place, scikit-learn `_typedefs` style).
from libc.stdint cimport int64_t

ctypedef double float64_t
ctypedef Py_ssize_t intp_t
ctypedef int64_t index_t   # category indices (numpy int64)
