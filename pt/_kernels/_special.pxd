# Scalar special functions shared by the kernel modules (cimport them from here).
# All assume valid arguments (documented per function in _special.pyx).

cdef double gam1(double a) noexcept nogil
cdef double digamma(double x) noexcept nogil
cdef double stirling_del(double z) noexcept nogil
cdef double algdiv(double a, double b) noexcept nogil
cdef double log_beta(double a, double b) noexcept nogil
cdef double mode_exponent(double a, double b, double x, double y) noexcept nogil
cdef double log_mode_power(double a, double b) noexcept nogil
cdef double log_beta_power(double a, double b, double x, double y) noexcept nogil
cdef double beta_power(double a, double b, double x, double y) noexcept nogil
