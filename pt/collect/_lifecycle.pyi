# Stubs for pt/collect/_lifecycle.pyx (Cython types in comments).
import os

import numpy as np

Root = str | bytes | os.PathLike[str] | os.PathLike[bytes]

class LifeSampler:
    ticks: int                       # ticks taken, the seed's included
    missed: int                      # new pids gone or unreadable before their stat was read
    def __init__(self, root: Root = b"/proc") -> None: ...
    def seed(
        self,
        pid: np.ndarray,             # int64 (n,)
        ppid: np.ndarray,            # int64 (n,)
        start_ticks: np.ndarray,     # int64 (n,)
        kernel_thread: np.ndarray,   # bool (n,)
        comm: np.ndarray,            # object (n,) of str
        cmdline: np.ndarray,         # object (n,) of tuple[str, ...] | None
        at: float,                   # double: monotonic seconds of the read
    ) -> None: ...
    def tick(self, verify: bool = False) -> int: ...
    def lives(self) -> dict[str, np.ndarray]: ...
    def forks(self) -> int: ...
