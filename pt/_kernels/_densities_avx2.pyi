# Stub for _densities_avx2.pyx: the same functions as _densities (its source, included
# whole and compiled for AVX2).  Private: use pt.kernels.
from ._densities import *  # noqa: F403
