# Stub for _special_avx2.pyx: the same functions as _special (its source, included
# whole and compiled for AVX2).  Private: use pt.kernels.
from ._special import *  # noqa: F403
