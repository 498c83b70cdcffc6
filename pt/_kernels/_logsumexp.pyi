# Stub for _logsumexp.pyx (Cython signatures in comments).  Private: use pt.kernels.
import numpy as np
import numpy.typing as npt

def logsumexp_rows(
    a: npt.NDArray[np.float64],  # const float64_t[:, ::1], no NaN
) -> npt.NDArray[np.float64]: ...  # shape (a.shape[0],)
