"""``_special`` compiled for AVX2 (``-mavx2``, pt/_kernels/meson.build).

The same source, included whole (its declarations too: ``_special_avx2.pxd``
includes ``_special.pxd``): the branch-free loops of ``betaln`` vectorise four
doubles wide instead of SSE2's two.  ``pt.kernels`` loads it in place of
``_special`` when ``_cpu.has_avx2()``; the results are bit-identical, which the
tests check.  The other kernel modules cimport from ``_special`` itself.
"""
include "_special.pyx"
