"""The columnar snapshot every later stage reads: one numpy array per field."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


#: ``tpgid`` of a process whose terminal's foreground process group was not
#: observed (the psutil collector); procfs never reports it (-1 there: no terminal).
TPGID_UNKNOWN = -2


@dataclass(frozen=True)
class HostInfo:
    """Facts about the machine a snapshot was taken on.

    ``boot_id`` with a process's ``(pid, start_ticks)`` identifies it across
    the machine's lifetime; ``boot_time`` is the kernel's ``btime`` (whole
    seconds) and ``uptime_s`` was read at ``taken_at`` (unix seconds), which
    is ``monotonic`` on ``time.monotonic()``'s clock, for measuring windows.
    ``collector`` names the backend that read it (``procfs`` or ``psutil``);
    ``mem_total_bytes`` is ``MemTotal`` of ``meminfo`` (0: unknown).
    """

    hostname: str
    system: str
    kernel: str
    boot_id: str | None
    boot_time: float
    uptime_s: float
    taken_at: float
    monotonic: float
    clock_ticks: int
    page_size: int
    cpu_count: int
    collector: str = "procfs"
    mem_total_bytes: int = 0

    def as_dict(self) -> dict:
        """The facts for output; the monotonic stamp means nothing outside this process."""
        return {k: v for k, v in self.__dict__.items() if k != "monotonic"}


@dataclass(frozen=True)
class ScanErrors:
    """What went wrong for individual processes; never fatal to a scan.

    ``vanished``: rows dropped because the process exited mid-scan (normal
    churn). ``denied``: files pt was not allowed to read (row kept, fields
    null). ``malformed``: unparseable files (stat: row dropped; status: uid null).
    """

    vanished: int = 0
    denied: int = 0
    malformed: int = 0
    denied_pids: tuple[int, ...] = ()
    malformed_pids: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        """True when some process data is missing for a reason other than exit."""
        return bool(self.denied or self.malformed)

    def as_list(self) -> list[dict]:
        """The ``errors`` array of the JSON result: one entry per kind that occurred."""
        out = []
        if self.denied:
            out.append({"code": "permission_denied", "count": self.denied,
                        "pids": list(self.denied_pids),
                        "message": "some /proc files were not readable; those fields are null"})
        if self.malformed:
            out.append({"code": "malformed_proc_file", "count": self.malformed,
                        "pids": list(self.malformed_pids),
                        "message": "unparseable /proc files; rows dropped or fields null"})
        return out


@dataclass(frozen=True)
class Snapshot:
    """All processes at one moment, as a structure of arrays.

    ``columns`` maps a field name to an array with one row per process; all
    arrays have the same length. Raw columns come from the collector (see
    :func:`pt.collect._procfs.read_processes`); derived ones (``cpu_time_s``,
    ``elapsed_s``, ``start_time``, ``rss_bytes``) are added by the platform
    module so every consumer sees the same units.
    """

    host: HostInfo
    columns: dict[str, np.ndarray]
    errors: ScanErrors = field(default_factory=ScanErrors)

    def __len__(self) -> int:
        return len(self.columns["pid"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def take(self, rows: np.ndarray) -> Snapshot:
        """A snapshot of the selected rows (boolean mask or integer indices)."""
        return Snapshot(self.host, {k: v[rows] for k, v in self.columns.items()}, self.errors)


@dataclass(frozen=True)
class Activity:
    """CPU and IO evidence of every process: CPU ``demand`` (ticks used or
    waited for a CPU) of ``ticks`` observed; ``io_events``, IO events counted
    (:data:`IO_EVENT_S`; -1 unknown); and ``span_s``: NaN where these are one
    scan's window alone, else the effective length in seconds of the
    discounted history of earlier scans they cover
    (:meth:`pt.decide.stability.Remembered.activity`). Counts may be
    fractional: the CPU evidence rounds them."""

    demand: np.ndarray
    ticks: np.ndarray
    io_events: np.ndarray
    span_s: np.ndarray


#: An IO event is a slice of this many seconds (the quick-scan window when
#: remembered histories began; they count in it, so it stays when the default
#: window is shorter) with read or write syscalls: ``min(syscalls, seconds / IO_EVENT_S)``
#: events in a span, so a start-up's thousand reads count as one event, and
#: a process doing IO all the time has 1 / IO_EVENT_S events a second however
#: far apart the scans are.
IO_EVENT_S = 0.3


def io_events(syscalls: np.ndarray, seconds: np.ndarray | float) -> np.ndarray:
    """IO events in spans of ``seconds`` with ``syscalls`` read/write syscalls (-1 where unknown)."""
    calls = np.asarray(syscalls, dtype=np.float64)
    return np.where(calls < 0, -1.0, np.minimum(calls, np.asarray(seconds) / IO_EVENT_S))


@dataclass(frozen=True)
class Window:
    """What each process of a snapshot did over a short observation window.

    ``ticks`` is CPU clock ticks used during the window (utime + stime
    deltas), ``window_ticks`` the window's length in ticks, so ``ticks /
    window_ticks`` is the share of one CPU. ``alive`` is False for rows whose
    process exited (or whose pid was reused) before the window closed.
    ``io_*`` are byte and syscall deltas from /proc/PID/io, -1 where unreadable.
    ``wait_ticks`` is the time the process was runnable but waiting for a
    CPU during the window (schedstat run delay, in ticks; -1 unreadable), so
    ``ticks + wait_ticks`` is its CPU *demand*: what it would have used on
    an idle machine.

    ``totals`` are the cumulative counters read when the window closed,
    kept so the next scan can measure what happened in between
    (:mod:`pt.decide.stability`), or None when the collector has none.
    """

    duration_s: float
    window_ticks: int
    ticks: np.ndarray
    alive: np.ndarray
    io_read_bytes: np.ndarray
    io_write_bytes: np.ndarray
    io_syscalls: np.ndarray
    wait_ticks: np.ndarray
    totals: Totals | None = None

    def activity(self) -> Activity:
        """The window's own counts, as :class:`Activity` (no history)."""
        n = len(self.ticks)
        return Activity((self.ticks + np.maximum(self.wait_ticks, 0)).astype(np.float64),
                        np.full(n, float(self.window_ticks)), io_events(self.io_syscalls, self.duration_s),
                        np.full(n, np.nan))


@dataclass(frozen=True)
class Totals:
    """Cumulative counters of every process when a window closed:
    ``closed_s`` (CLOCK_BOOTTIME seconds, comparable across scans of one
    boot), ``cpu_ticks`` (utime + stime), ``run_delay_ns`` (schedstat time
    spent waiting for a CPU) and ``syscalls`` (read + write syscalls); -1
    where unknown (the process exited, or its counters are unreadable)."""

    closed_s: float
    cpu_ticks: np.ndarray
    run_delay_ns: np.ndarray
    syscalls: np.ndarray
