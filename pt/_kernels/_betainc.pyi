# Stub for _betainc.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def beta_cdf(
    x: npt.NDArray[np.float64],  # const float64_t[::1], not NaN
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    b: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
) -> npt.NDArray[np.float64]: ...
def beta_cdf_scalar(x: float, a: float, b: float) -> float: ...  # double x3
def beta_ppf(
    q: npt.NDArray[np.float64],  # const float64_t[::1], 0 <= q <= 1
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    b: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
) -> npt.NDArray[np.float64]: ...
def beta_ppf_scalar(q: float, a: float, b: float) -> float: ...  # double x3
