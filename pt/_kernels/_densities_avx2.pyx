"""``_densities`` compiled for AVX2 (``-mavx2``, pt/_kernels/meson.build).

The same source, included whole: the branch-free loops of ``beta_logpdf``
vectorise four doubles wide instead of SSE2's two.  ``pt.kernels`` loads it in
place of ``_densities`` when ``_cpu.has_avx2()``; the results are bit-identical
(C11 mode contracts no multiply-add into an FMA, and the libm calls are the same
ones), which the tests check.
"""
include "_densities.pyx"
