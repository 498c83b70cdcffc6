# Stub for _bocpd.pyx (Cython signatures in comments).  Private: use pt.kernels.bocpd / BOCPD.
import numpy as np
import numpy.typing as npt

class BocpdCore:
    model: int          # 0 Gamma-Poisson, 1 Beta-Binomial
    log_h: float
    log_1mh: float
    a0: float
    b0: float
    threshold: float    # prune runs with posterior probability below this (0: exact)
    max_runs: int       # keep at most this many runs (0: no cap)
    window: int
    keep_recent: int    # runs shorter than this are never pruned
    n: int              # active runs
    t: int              # observations seen
    max_active: int
    active_sum: int     # sum over steps of runs evaluated (before pruning)
    log_evidence: float
    pruned_mass: float
    kept_mass: float
    def __init__(self, model: int, hazard: float, a0: float, b0: float, threshold: float,
                 max_runs: int, window: int, keep_recent: int, capacity: int = ...) -> None: ...
    def reserve(self, capacity: int) -> None: ...
    def run_lengths(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...
    def update(self, x: float, e: float) -> tuple[int, float, float, float, float, float]: ...

def bocpd_batch(
    core: BocpdCore,
    x: npt.NDArray[np.float64],  # const float64_t[::1], counts / successes
    e: npt.NDArray[np.float64],  # const float64_t[::1], exposures / trials, same length
    matrix: bool,                # bint
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64] | None]: ...
