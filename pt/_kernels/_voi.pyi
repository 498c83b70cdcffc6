# Stub for _voi.pyx (Cython signatures in comments).  Private: use pt.decide.voi.value_of_information.
import numpy as np
import numpy.typing as npt

def voi_cpu(
    log_post: npt.NDArray[np.float64],  # const float64_t[:, ::1] (N, C)
    a: npt.NDArray[np.float64],  # const float64_t[:, ::1] (N, C): Beta a + k
    b: npt.NDArray[np.float64],  # const float64_t[:, ::1] (N, C): Beta b + n - k
    loss: npt.NDArray[np.float64],  # const float64_t[:, :, ::1] (N, A, C), +inf = unavailable
    m: int,  # intp_t: ticks ahead
    resolution: int,  # intp_t: 0 exact; R > 0: bins of 1 + y // R values
) -> npt.NDArray[np.float64]: ...  # (N,)
