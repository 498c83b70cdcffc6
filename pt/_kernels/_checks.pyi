# Stub for _checks.pyx (Cython signatures in comments).  Private: used by pt.kernels.
import numpy as np
import numpy.typing as npt

def first_not_positive(x: npt.NDArray[np.float64]) -> int: ...  # const float64_t[::1] -> intp_t
def first_nan(x: npt.NDArray[np.float64]) -> int: ...  # const float64_t[::1] -> intp_t
def first_outside_unit(x: npt.NDArray[np.float64]) -> int: ...  # const float64_t[::1] -> intp_t
