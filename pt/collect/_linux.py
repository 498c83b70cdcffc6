"""Linux collector: the whole process table from procfs in one call."""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import time

import numpy as np

from pt.collect._procfs import TableRead
from pt.collect.early import keep_window_files
from pt.collect.host import PROCFS_ENV, procfs_root, read_clock, read_host  # noqa: F401 (PROCFS_ENV re-exported)
from pt.collect.snapshot import ScanErrors, Snapshot, Totals, Window


def collect(root: str | os.PathLike | None = None) -> Snapshot:
    """Read every process under the procfs ``root`` into a :class:`Snapshot`.

    Adds the derived columns in their named units: ``cpu_time_s`` (utime +
    stime), ``elapsed_s`` (uptime - starttime), ``start_time`` (unix seconds,
    btime + starttime, stable across scans like ``ps``), ``rss_bytes``,
    ``swap_bytes`` (status ``VmSwap``; -1 unknown).
    """
    path = procfs_root(root)
    clock = read_clock(path)
    table = TableRead(os.fsencode(path))
    table.read()
    return snapshot_of(path, table, clock)


def snapshot_of(path, table: TableRead, clock: tuple[float, float, float]) -> Snapshot:
    """The :class:`Snapshot` of a ``table`` read from the procfs at ``path``
    right after ``clock`` (:func:`~pt.collect.host.read_clock`)."""
    host = read_host(path, clock)
    columns, counts = table.columns()
    hz = float(host.clock_ticks)
    start_s = columns["start_ticks"] / hz
    columns["cpu_time_s"] = (columns["utime"] + columns["stime"]) / hz
    columns["elapsed_s"] = np.maximum(host.uptime_s - start_s, 0.0)
    columns["start_time"] = host.boot_time + start_s
    columns["rss_bytes"] = columns["rss_pages"] * host.page_size
    columns["swap_bytes"] = np.where(columns["swap_kb"] >= 0, columns["swap_kb"] * 1024, -1)
    errors = ScanErrors(
        vanished=counts["vanished"], denied=counts["denied"], malformed=counts["malformed"],
        denied_pids=tuple(counts["denied_pids"]), malformed_pids=tuple(counts["malformed_pids"]),
    )
    return Snapshot(host, columns, errors)


#: Shortest window in which quiet processes are not re-read: a task on a CPU
#: shows a new run time at its next tick (at most 10 ms away at HZ=100) or
#: switch, so a shorter window could call a task that ran all along quiet.
QUIET_MIN_S = 0.05


@functools.lru_cache(maxsize=1)
def tickless() -> bool:
    """Whether some CPU runs without a periodic tick while busy (``nohz_full``):
    a task alone on one can run for a second with its run time unchanged,
    so no process is taken as quiet (:meth:`WindowFiles.since_first`)."""
    try:
        with open("/sys/devices/system/cpu/nohz_full", "rb") as f:
            return f.read().strip() not in (b"", b"(null)")
    except OSError:
        return False


def _join_through_interrupts(thread: threading.Thread) -> None:
    """Join ``thread`` even when ^C arrives meanwhile (raised once it has
    ended): it reads, without the GIL, files and arrays that the caller
    frees as soon as this returns."""
    interrupted = None
    while True:
        try:
            thread.join()
            break
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


class WindowStart:
    """The first half of an observation window (see :func:`start_window`)."""

    def __init__(self, snapshot: Snapshot, root: str | os.PathLike | None = None, kept=None):
        """``kept``: ``(files, stack)``, window files of ``snapshot``'s rows
        whose first reads are done (:class:`~pt.collect.early.FirstReads`),
        and the stack that closes them; else they are opened and read now."""
        self.snapshot = snapshot
        self.path = os.fsencode(procfs_root(root))
        self._open = kept[1] if kept else contextlib.ExitStack()
        self._closing: threading.Thread | None = None
        try:
            if kept:
                self.files = kept[0]
            else:
                self.files = self._open.enter_context(keep_window_files(self.path, snapshot["pid"], self._open))
                self.files.read_first()
            self.io_before, self.queued_at, self.queued_before = self.files.first()
        except BaseException:
            self._open.close()
            raise

    def close(self) -> None:
        """Close the kept files and put the fd limit back (``finish`` does it;
        idempotent); wait for the files ``finish(close_behind=True)`` closes."""
        self._open.close()
        if self._closing is not None:
            self._closing.join()
            self._closing = None

    def finish(self, window_s: float, *, close_behind: bool = False) -> Window:
        """Wait out the rest of the window, then re-read schedstat, and stat and
        io of the processes that have been on a CPU since the first reads.

        The window opened when the snapshot was taken (its stat reads are the
        CPU baseline), so time spent since then, on other reads, counts toward
        it. The second stat read re-checks the start time, so a reused pid
        never contributes another process's ticks. ``duration_s`` is measured.
        The kept files are closed on return; with ``close_behind`` on a
        thread, which :meth:`close` waits for (the release of 6,000 procfs
        files is ~8 ms of kernel time, beside the caller's work instead of
        before it).
        """
        try:
            return self._finish(window_s)
        finally:
            if close_behind:
                self._close_behind()
            else:
                self.close()

    def _close_behind(self) -> None:
        """Close the kept files on a thread (here if none can start), the rest now."""
        closing = self.files.hand_over()
        try:
            self._closing = threading.Thread(target=closing.run, name="pt-window-close", daemon=True)
            self._closing.start()
        except RuntimeError:                              # can't start new thread
            self._closing = None
            closing.run()
        finally:
            self._open.close()

    def _finish(self, window_s: float) -> Window:
        snapshot = self.snapshot
        opened = snapshot.host.monotonic
        time.sleep(max(window_s - (time.monotonic() - opened), 0.0))
        # schedstat first: a process that has not been on a CPU since its first reads (most of
        # them, on most machines) has the stat and io it had then, and is not read again.
        rest: dict = {}
        quiet = np.zeros(len(snapshot), dtype=bool)
        if self.files.gated and time.monotonic() - opened >= QUIET_MIN_S and not tickless():
            rest["queued_closed"] = time.monotonic()
            rest["queued"], quiet = self.files.since_first()
        closed = time.monotonic()
        closed_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        skip = quiet.view(np.uint8)

        # The readers release the GIL: io (and schedstat, if not read yet) are
        # re-read on a thread while stat is re-read here, on two CPUs where there are two.
        def read_rest():
            try:
                rest["io"] = self.files.io(skip)
                if "queued" not in rest:
                    rest["queued_closed"] = time.monotonic()
                    rest["queued"] = self.files.schedstat()[1]
            except BaseException as exc:   # noqa: BLE001 - raised again below, in the caller's thread
                rest["error"] = exc

        thread = threading.Thread(target=read_rest)
        thread.start()
        try:
            ticks_after, _, alive = self.files.stat_ticks(snapshot["start_ticks"], skip)
        finally:
            _join_through_interrupts(thread)
        if "error" in rest:
            raise rest["error"]
        queued_closed, queued_after = rest["queued_closed"], rest["queued"]
        io_after = {name: np.where(quiet, self.io_before[name], read) for name, read in rest["io"].items()}
        duration = closed - opened
        ticks_before = snapshot["utime"] + snapshot["stime"]
        ticks_after = np.where(quiet, ticks_before, ticks_after)
        alive = alive | quiet
        ticks = np.where(alive, ticks_after - np.minimum(ticks_before, ticks_after), 0).astype(np.int64)

        # The run delay is read later than the stat baseline (after the whole
        # snapshot): scale it to the window's length.
        hz = snapshot.host.clock_ticks
        scale = duration / max(queued_closed - self.queued_at, 1e-3)
        queued = (queued_after >= 0) & (self.queued_before >= 0) & alive
        waited_s = np.maximum(queued_after - self.queued_before, 0) / 1e9 * min(scale, 4.0)
        wait_ticks = np.where(queued, np.floor(waited_s * hz), -1)

        def delta(*names):
            readable = alive & np.logical_and.reduce([self.io_before[n] >= 0 for n in names]) \
                & np.logical_and.reduce([io_after[n] >= 0 for n in names])
            total = sum(io_after[n] - self.io_before[n] for n in names)
            return np.where(readable, np.maximum(total, 0), -1)

        return Window(
            duration_s=duration,
            window_ticks=max(int(round(duration * snapshot.host.clock_ticks)), 1),
            ticks=ticks, alive=alive, wait_ticks=wait_ticks.astype(np.int64),
            io_read_bytes=delta("rchar"), io_write_bytes=delta("wchar"),
            io_syscalls=delta("syscr", "syscw"),
            totals=Totals(
                closed_s=closed_boot,
                cpu_ticks=np.where(alive, ticks_after, -1).astype(np.int64),
                run_delay_ns=np.where(alive & (queued_after >= 0), queued_after, -1).astype(np.int64),
                syscalls=np.where(alive & (io_after["syscr"] >= 0) & (io_after["syscw"] >= 0),
                                  io_after["syscr"] + io_after["syscw"], -1).astype(np.int64)),
        )


def start_window(snapshot: Snapshot, root: str | os.PathLike | None = None) -> WindowStart:
    """Open an observation window on the processes of ``snapshot``: read their
    IO counters now; :meth:`WindowStart.finish` measures what each did since.
    Other per-process reads can run in between at no extra wall time."""
    return WindowStart(snapshot, root)


def observe_window(snapshot: Snapshot, window_s: float,
                   root: str | os.PathLike | None = None) -> Window:
    """CPU ticks and IO of every process of ``snapshot`` over ``window_s`` seconds."""
    return start_window(snapshot, root).finish(window_s)
