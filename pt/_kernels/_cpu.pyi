# Stub for _cpu.pyx.  Private: used by pt.kernels.

def has_avx2() -> bool: ...  # __builtin_cpu_supports("avx2")
