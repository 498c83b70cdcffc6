# Stubs for pt/collect/_procfs.pyx (Cython types in comments).
import array
import os

import numpy as np

Root = str | bytes | os.PathLike[str] | os.PathLike[bytes]
IO_FIELDS: tuple[str, ...]

def read_processes(root: Root) -> tuple[dict[str, np.ndarray], dict[str, object]]: ...

class TableRead:                  # read_processes in two steps: read() without the GIL or numpy
    def __init__(self, root: Root) -> None: ...
    def count(self) -> int: ...                  # lists the root's pids (once): the rows read() will read
    def read(self, max_fds: int = -1, files: ProcessFiles | None = None) -> None: ...
        # max_fds >= 0: also the window's first reads, keeping files for max_fds // 3 rows;
        # files (made without pids): read in the same call
    def window_files(self) -> WindowFiles: ...   # the kept files and first reads (once)
    def pids(self) -> array.array[int]: ...      # 'i', the rows read
    def columns(self) -> tuple[dict[str, np.ndarray], dict[str, object]]: ...
    def close(self) -> None: ...                 # its root and kept files not handed over
WINDOW_FILES: tuple[str, ...]

class ClosingFiles:               # kept files handed over by WindowFiles.hand_over()
    def run(self) -> None: ...    # closes them without the GIL (on a thread); once

class WindowFiles:
    n: int
    kept: int                  # rows whose files are kept open (pread)
    def __init__(self, root: Root, pids: np.ndarray | array.array[int], max_fds: int = 0) -> None: ...  # int32
    def stat_ticks(
        self, start_ticks: np.ndarray,   # const unsigned long long[::1]
        skip: np.ndarray | None = None,  # uint8, nonzero: row not read (0, 0, False)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # uint64 ticks, uint8 state, bool alive
    def io(self, skip: np.ndarray | None = None) -> dict[str, np.ndarray]: ...  # int64, -1 unreadable or skipped
    def schedstat(self) -> tuple[np.ndarray, np.ndarray]: ...  # int64 ns on a CPU, ns queued; -1 unreadable
    def since_first(self) -> tuple[np.ndarray, np.ndarray]: ...  # int64 ns queued, bool quiet since the first reads
    def read_first(self) -> None: ...        # io and schedstat now, kept inside (no GIL, no numpy)
    def first(self) -> tuple[dict[str, np.ndarray], float, np.ndarray]: ...  # io, monotonic s, ns queued
    def hand_over(self) -> ClosingFiles: ...  # the kept files, to close on a thread; the rest closed now
    def close(self) -> None: ...
    def __enter__(self) -> WindowFiles: ...
    def __exit__(self, *exc: object) -> None: ...

def read_stat_ticks(
    root: Root,
    pids: np.ndarray,          # int32
    start_ticks: np.ndarray,   # const unsigned long long[::1]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...  # uint64 ticks, uint8 state, bool alive
def read_io(root: Root, pids: np.ndarray) -> dict[str, np.ndarray]: ...        # int64, -1 unreadable
def read_schedstat(root: Root, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    # int64 ns on a CPU, int64 ns waiting on a run queue; -1 unreadable
def read_process_files(root: Root, pids: np.ndarray | array.array[int]) -> dict[str, object]: ...

class ProcessFiles:               # read_process_files in two steps: read() without the GIL or numpy
    def __init__(self, root: Root, pids: np.ndarray | array.array[int] | None = None) -> None: ...
        # pids None: TableRead.read(files=...) gives them; pt's own fds are counted here
    def read(self) -> None: ...
    def result(self) -> dict[str, object]: ...
    def close(self) -> None: ...
    # cwd (object), fd_count (int32), socket_row (int32), socket_inode (uint64), stdio_null (int8),
    # cgroup (list[str]), cgroup_index (int32)
def read_links(root: Root, pids: np.ndarray, name: str | bytes) -> np.ndarray: ...  # object: str | None
def read_fd_sockets(root: Root, pids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    # int32 fd_count (-1 unreadable), int32 socket_row, uint64 socket_inode
def read_texts(root: Root, pids: np.ndarray, name: str | bytes) -> np.ndarray: ...  # object: str | None

# One file's bytes, parsed by the scan's C parsers (pt/collect/_parse.pxd).
STAT_FIELDS: tuple[str, ...]
def parse_stat_bytes(data: bytes) -> tuple | None: ...        # STAT_FIELDS values; None if malformed
def parse_status_uids_bytes(data: bytes) -> tuple[int, int] | None: ...   # (real, effective) uid
def parse_status_value_bytes(data: bytes, key: bytes) -> bytes | None: ...  # the rest of key's line
def parse_io_bytes(data: bytes) -> tuple[int, int, int, int, int, int] | None: ...  # IO_FIELDS values
