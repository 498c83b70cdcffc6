# Stub for _kalman.pyx (Cython signatures in comments).  Private: use pt.kernels.kalman_*.
import numpy as np
import numpy.typing as npt

def kalman_filter(
    y: npt.NDArray[np.float64],  # const float64_t[::1], NaN = missing
    r: float, ql: float, qb: float,  # double: obs, level, trend variances
    m0l: float, m0b: float, p00: float, p01: float, p11: float,  # double: initial mean, cov
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]: ...  # (n, 5) x2, loglik
def kalman_smoother(
    y: npt.NDArray[np.float64], r: float, ql: float, qb: float,
    m0l: float, m0b: float, p00: float, p01: float, p11: float,
) -> tuple[npt.NDArray[np.float64], float]: ...  # (n, 5): l, b, P00, P01, P11; loglik
