# Stub for _gammainc.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def gammaincc(
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    x: npt.NDArray[np.float64],  # const float64_t[::1], >= 0 (inf allowed)
) -> npt.NDArray[np.float64]: ...
def gammaincc_scalar(a: float, x: float) -> float: ...  # double x2
