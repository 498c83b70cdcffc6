# Stub for _changepoint.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def beta_changepoint_loglik(
    k: npt.NDArray[np.float64],  # const float64_t[::1], integer-valued, <= n
    n: npt.NDArray[np.float64],  # const float64_t[::1]
    a1: float, b1: float, a2: float, b2: float,  # double x4, > 0
) -> npt.NDArray[np.float64]: ...  # (T + 1,): log p(x | tau = j + 1)
def log_i1(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...  # const float64_t[::1], > 0
def compound_poisson_exp_logpdf(
    c: npt.NDArray[np.float64],  # const float64_t[::1], >= 0
    d: npt.NDArray[np.float64],  # const float64_t[::1], > 0
    kappa: float, beta: float,   # double x2, > 0
) -> npt.NDArray[np.float64]: ...
