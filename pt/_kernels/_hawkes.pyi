# Stub for _hawkes.pyx (Cython signatures in comments).  Private: use pt.kernels.hawkes_loglik.
import numpy as np
import numpy.typing as npt

def hawkes_loglik(
    t: npt.NDArray[np.float64],  # const float64_t[::1], sorted, in [0, T]
    mu: float, alpha: float, beta: float, T: float,  # double x4
) -> float: ...
def hawkes_immigrants(
    t: npt.NDArray[np.float64], mu: float, alpha: float, beta: float, T: float,
) -> tuple[float, float]: ...  # (sum_i mu / lambda(t_i), log L)
