# Stub for _densities.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def beta_logpdf(
    x: npt.NDArray[np.float64],  # const float64_t[::1], not NaN
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    b: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
) -> npt.NDArray[np.float64]: ...
def beta_logpdf_shared(
    x: npt.NDArray[np.float64],  # const float64_t[::1], not NaN
    a: float,  # double, >= 9, finite
    b: float,  # double, >= 9, finite
) -> npt.NDArray[np.float64]: ...
def beta_logpdf_scalar(x: float, a: float, b: float) -> float: ...  # double x3
def gamma_logpdf(
    x: npt.NDArray[np.float64],  # const float64_t[::1], not NaN
    shape: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    scale: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
) -> npt.NDArray[np.float64]: ...
def gamma_logpdf_scalar(x: float, shape: float, scale: float) -> float: ...  # double x3
def beta_bernoulli_logpmf(
    k: npt.NDArray[np.int64],  # const index_t[::1] (int64), 0 or 1
    a: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
    b: npt.NDArray[np.float64],  # const float64_t[::1], > 0, finite
) -> npt.NDArray[np.float64]: ...
def beta_bernoulli_logpmf_scalar(k: int, a: float, b: float) -> float: ...  # index_t, double, double
def dirichlet_categorical_logpmf(
    k: npt.NDArray[np.int64],  # const index_t[::1], 0 <= k < alpha.shape[1]
    alpha: npt.NDArray[np.float64],  # const float64_t[:, ::1], > 0, finite
    row: npt.NDArray[np.int64] | None = ...,  # const index_t[::1] or None (row i for draw i)
) -> npt.NDArray[np.float64]: ...
