# Stub for _special.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def betaln(
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    b: npt.NDArray[np.float64],  # const float64_t[::1], same length
) -> npt.NDArray[np.float64]: ...
def betaln_scalar(
    a: float,  # double
    b: float,  # double
) -> float: ...
