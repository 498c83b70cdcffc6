# Stubs for pt/collect/_sampler.pyx (Cython types in comments).
import os

import numpy as np

Root = str | bytes | os.PathLike[str] | os.PathLike[bytes]
FIELDS: tuple[str, ...]          # rows of ProcSampler.sample's out (int64, -1 unknown)
FILES: tuple[str, ...]           # ("stat", "io", "status", "schedstat")
REASONS: tuple[str, ...]         # values of ProcSampler.reason
MODES: dict[str, int]            # mode -> kept fds per candidate
SYSTEM_FIELDS: tuple[str, ...]   # SystemSampler.sample's out (float64, NaN absent)
SYSTEM_FILES: tuple[str, ...]

def choose_mode(n: int, budget: int) -> tuple[str, str]: ...

class ProcSampler:
    n: int
    mode: str
    mode_reason: str
    fds_per_candidate: int
    ctx_switches: bool
    def __init__(
        self,
        pids: np.ndarray,           # int32 (n,)
        start_ticks: np.ndarray,    # uint64 (n,)
        root: Root = b"/proc",
        mode: str | None = None,
        max_fds: int | None = None,
        ctx_switches: bool = True,
    ) -> None: ...
    def sample(
        self,
        out: np.ndarray,            # long long[:, :] (len(FIELDS), n); any strides
        state: np.ndarray,          # unsigned char[::1] (n,)
        alive: np.ndarray,          # unsigned char[::1] (n,)
    ) -> int: ...
    def new_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def drop(self, indices: np.ndarray | list[int] | int) -> None: ...
    @property
    def reason(self) -> np.ndarray: ...      # uint8 (n,)
    @property
    def io_denied(self) -> np.ndarray: ...   # bool (n,)
    @property
    def n_alive(self) -> int: ...
    @property
    def kept_fds(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> ProcSampler: ...
    def __exit__(self, *exc: object) -> None: ...

class SystemSampler:
    def __init__(self, root: Root = b"/proc") -> None: ...
    @property
    def present(self) -> dict[str, bool]: ...
    def sample(self, out: np.ndarray) -> None: ...   # double[::1] (len(SYSTEM_FIELDS),)
    def close(self) -> None: ...
    def __enter__(self) -> SystemSampler: ...
    def __exit__(self, *exc: object) -> None: ...

def children_activity(
    root: Root,
    pids: np.ndarray,               # const int[::1]
) -> tuple[np.ndarray, np.ndarray]: ...   # int32 n_children, int64 children_ticks
