# Stub for _forest.pyx (Cython signatures in comments).  Private: use pt.kernels.tree_marginals.
import numpy as np
import numpy.typing as npt

def forest_order(
    parent: npt.NDArray[np.int64],  # const index_t[::1], out of range or self = root
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp], int]: ...
    # (order, up, first, last, cycle edges cut): breadth-first positions
def tree_marginals(
    parent: npt.NDArray[np.int64],          # const index_t[::1]
    log_lik: npt.NDArray[np.float64],       # float64 (n, K), C-contiguous, no NaN or +inf
    log_coupling: npt.NDArray[np.float64],  # float64 (K, K) parent x child, C-contiguous
    log_prior: npt.NDArray[np.float64],     # float64 (K,)
) -> tuple[npt.NDArray[np.float64] | None, int, int]: ...
    # (log marginals (n, K) or None, a node of a zero-probability tree or -1, cycle edges cut)
def subtree_sums(
    parent: npt.NDArray[np.int64],       # const index_t[::1]
    values: npt.NDArray[np.float64],     # const float64_t[:, ::1], (n, m)
) -> npt.NDArray[np.float64]: ...        # (n, m): self plus every descendant
