# Stub for _normal.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def log_ndtr(
    x: npt.NDArray[np.float64],  # const float64_t[::1], not NaN
) -> npt.NDArray[np.float64]: ...
def log_ndtr_scalar(x: float) -> float: ...  # double
