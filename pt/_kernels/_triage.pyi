# Stubs for pt/_kernels/_triage.pyx (Cython types in comments). Private: use
# pt.infer.posterior.evidence_terms and pt.decide.loss.decide.
import numpy as np

def evidence_terms(
    cpu_ticks: np.ndarray,          # const int64[::1]
    window_ticks: np.ndarray,       # const int64[::1]
    age_s: np.ndarray,              # const double[::1]
    category: np.ndarray,           # const int64[::1]
    codes: np.ndarray,              # const int64[:, ::1]  (m, n), -1 = missing
    code_feature: np.ndarray,       # const intp[::1]      (m,)
    lookup: np.ndarray,             # const double[:, ::1] (sum of levels, 4)
    lookup_offset: np.ndarray,      # const intp[::1]      (m,)
    cpu_alpha: np.ndarray,          # const double[:, ::1] (13, 4)
    cpu_beta: np.ndarray,           # const double[:, ::1] (13, 4)
    cpu_log_beta: np.ndarray,       # const double[:, ::1] (13, 4)
    cpu_table: np.ndarray,          # const double[:, :, ::1] (13, n_window + 1, 4)
    runtime_shape: np.ndarray,      # const double[::1] (4,)
    runtime_scale: np.ndarray,      # const double[::1] (4,)
    runtime_log_norm: np.ndarray,   # const double[::1] (4,)
    surv_a: np.ndarray,             # const double[:, ::1] (13, 4)
    surv_b: np.ndarray,             # const double[:, ::1] (13, 4)
    f_cpu: int, f_runtime: int, f_survival: int, n_features: int,
) -> tuple[np.ndarray, np.ndarray]: ...   # (F, n, 4) float64 terms, (F, n) bool observed

def credal_decide(
    loglik: np.ndarray,             # const double[:, ::1] (n, 4)
    vertices: np.ndarray,           # const double[:, ::1] (V, 4)
    loss: np.ndarray,               # const double[:, ::1] (A, 4)
    scale: np.ndarray,              # const double[:, ::1] (n, A)
    available: np.ndarray,          # const uint8[:, ::1] (n, A)
    check: np.ndarray,              # const uint8[::1] (n,)
    kill: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...   # lower (n, 4), upper (n, 4), bool robust (n,)
