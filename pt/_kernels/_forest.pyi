# Stub for _forest.pyx (Cython signatures in comments).  Private: use pt.kernels.tree_marginals.
import numpy as np
import numpy.typing as npt

def tree_marginals(
    parent: npt.NDArray[np.int64],        # const index_t[::1], out of range or self = root
    log_lik: npt.NDArray[np.float64],     # const float64_t[:, ::1], (n, K), no NaN or +inf
    log_coupling: npt.NDArray[np.float64],  # const float64_t[:, ::1], (K, K) parent x child
    log_prior: npt.NDArray[np.float64],   # const float64_t[::1], (K,)
) -> tuple[npt.NDArray[np.float64], int, int]: ...  # (log marginals (n, K), first node of a zero-probability tree or -1, cycle edges cut)
