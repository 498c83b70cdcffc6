"""What this CPU can run: ``pt.kernels`` chooses between builds of a kernel module by it.

``__builtin_cpu_supports`` (GCC, Clang) reads CPUID once and also requires the
operating system to save the AVX registers; other compilers and CPUs report no AVX2,
and meson builds the AVX2 modules only for x86-64 compilers that accept ``-mavx2``.
"""

cdef extern from *:
    """
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int pt_has_avx2(void) { __builtin_cpu_init(); return __builtin_cpu_supports("avx2") != 0; }
    #else
    static int pt_has_avx2(void) { return 0; }
    #endif
    """
    int pt_has_avx2() noexcept nogil


def has_avx2():
    """True if this CPU and operating system run AVX2 code."""
    return bool(pt_has_avx2())
