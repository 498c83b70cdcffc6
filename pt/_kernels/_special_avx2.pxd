# The declarations of _special.pxd, for the AVX2 build of the same source (_special_avx2.pyx).
include "_special.pxd"
