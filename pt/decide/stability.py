"""What pt last saw and recommended for each process, for stable verdicts.

Two uses, one small per-user file (``verdicts`` in pt's state directory),
rewritten atomically by every scan that is not hypothetical:

* **hysteresis**: a scan's decision (:func:`pt.decide.loss.decide`) holds a
  process's previous action unless the least-loss one saves more than the
  policy's stability margin;
* **earlier scans as evidence**: the record keeps each process's
  cumulative counters (CPU ticks, run delay, read/write syscalls) as that
  scan's window closed and the discounted counts it used, so the next scan
  sees what the process did in between (:meth:`Remembered.activity`): a
  worker that wakes every few seconds is active in every scan, not only in
  those whose 0.25 s window hits a burst;
* **memory growth across scans**: the record keeps the process's RSS at
  up to :data:`POINTS` earlier scans (:meth:`Remembered.rss_points`), so
  the next scan fits its growth over them (:func:`pt.infer.memory.scan_growth`).

Format: a header line ``pt-verdicts 4 <boot_id>`` and then one packed
:data:`RECORD` per process. A file of another version (an older pt) is ignored.

The file is a hint, never a requirement: missing, from another boot,
corrupt, oversized, not a regular file, not ours, or writable by others —
then no action is held and the scan goes on (:attr:`Remembered.note` says
why). Reading it is one ``read`` and a ``frombuffer``: well under a
millisecond for thousands of processes.
"""
from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt import safefs
from pt.collect.snapshot import IO_EVENT_S, Activity, Window, io_events
from pt.config import ACTIONS

HEADER = re.compile(rb"pt-verdicts ([0-9]{1,3}) ([0-9a-f-]{1,64})\n")
VERSION = b"4"
#: pid, start time, action recommended, unix time of that scan; the window's
#: close (CLOCK_BOOTTIME s) and the cumulative counters then (-1 unknown); the
#: discounted CPU demand and ticks and IO events the scan counted (:class:`Activity`); the RSS
#: (bytes, -1 none) at up to :data:`POINTS` scans, oldest first, and their times (CLOCK_BOOTTIME s).
POINTS = 4
RECORD = np.dtype([("pid", "<i4"), ("start_ticks", "<u8"), ("action", "i1"), ("at", "<f8"),
                   ("closed_s", "<f8"), ("cpu_ticks", "<i8"), ("run_delay_ns", "<i8"), ("syscalls", "<i8"),
                   ("k_sum", "<f8"), ("n_sum", "<f8"), ("s_sum", "<f8"),
                   ("rss_s", "<f8", (POINTS,)), ("rss_bytes", "<i8", (POINTS,))])
#: A remembered RSS point less than this after the one before it is provisional: the next
#: scan replaces it, so frequent scans keep points spread over time, not the last seconds.
MIN_POINT_GAP_S = 5.0
#: Largest RSS believed (1 PiB): a forged file must not make a slope out of nothing.
MAX_RSS = 1 << 50
#: Largest discounted count believed (a forged file must not overflow the evidence's integers).
MAX_COUNT = 1e12
#: Longest quick-scan window the policy allows (``window_s``), in seconds.
MAX_WINDOW_S = 60.0
#: Largest file read: ~60,000 processes.
MAX_BYTES = 8 << 20
FILE_NAME = "verdicts"


@dataclass(frozen=True)
class Remembered:
    """Previous recommendations, sorted by pid (``records`` of :data:`RECORD`);
    ``note`` says why there are none when the file could not be used."""

    records: np.ndarray
    note: str | None = None

    def _match(self, pids: np.ndarray, start_ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index into ``records`` of each process and whether it is the same process."""
        r = self.records
        at = np.minimum(np.searchsorted(r["pid"], pids), len(r) - 1)
        return at, (r["pid"][at] == pids) & (r["start_ticks"][at] == start_ticks)

    def previous(self, pids: np.ndarray, start_ticks: np.ndarray, *, now: float | None = None,
                 memory_s: float = float("inf")) -> np.ndarray:
        """``(n,)`` int64: the action last recommended for each process
        (same pid and start time), -1 where none or older than ``memory_s``."""
        out = np.full(len(pids), -1, dtype=np.int64)
        r = self.records
        if not len(r) or not len(pids):
            return out
        now = time.time() if now is None else now
        at, same = self._match(pids, start_ticks)
        same &= now - r["at"][at] <= memory_s
        return np.where(same, r["action"][at].astype(np.int64), -1)

    def activity(self, window: Window, pids: np.ndarray, start_ticks: np.ndarray, clock_ticks: int,
                 history_s: float, gap_s: float) -> Activity:
        """Each process's CPU and IO evidence: this scan's window, extended by
        the discounted history of earlier scans where this process was seen
        by a scan that ended at most ``gap_s`` before this window closed.

        The history is exponentially discounted with time constant
        ``history_s`` (a forgetting factor on the sufficient statistics, so
        it never holds much more than ``history_s`` of the past): with g the
        time since the last scan's window closed and d = exp(-g / history_s),

            K = K_last d + w (CPU demand since),  N = N_last d + w (ticks since),
            E = E_last d + w min(read/write syscalls since, g / IO_EVENT_S),

        where w = history_s (1 - d) / g discounts the new span's counts as if
        spread evenly over it. K of N is the CPU term's Beta-Binomial; E IO
        events in N / clock_ticks seconds is the IO term's Gamma-Poisson (a
        rate, so the same whether scans are 1 s or 30 s apart). The span
        includes this window, so nothing is counted twice. Counters that are
        unknown or went backwards, a remembered history no process could
        have had (a forged file), a gap no longer than this window (scans
        that overlapped), or a process not seen before: this window alone.
        """
        here = window.activity()
        r, totals = self.records, window.totals
        if totals is None or not len(r) or not len(pids):
            return here
        at, same = self._match(pids, start_ticks)
        r = r[at]
        gap = totals.closed_s - r["closed_s"]
        ticks = totals.cpu_ticks - r["cpu_ticks"]
        has = same & (gap > window.duration_s) & (gap <= gap_s) & (r["cpu_ticks"] >= 0) \
            & (totals.cpu_ticks >= 0) & (ticks >= 0) & plausible(r, clock_ticks, history_s)
        if not has.any():
            return here
        delay = totals.run_delay_ns - r["run_delay_ns"]
        delay_known = (r["run_delay_ns"] >= 0) & (totals.run_delay_ns >= 0) & (delay >= 0)
        demand = ticks + np.where(delay_known, delay * clock_ticks / 1e9, 0.0)
        calls = totals.syscalls - r["syscalls"]
        calls_known = (r["syscalls"] >= 0) & (totals.syscalls >= 0) & (calls >= 0) & (r["s_sum"] >= 0)
        g = np.where(has, gap, 1.0)
        decay = np.exp(-g / history_s)
        weight = history_s * -np.expm1(-g / history_s) / g
        k = r["k_sum"] * decay + weight * demand
        n = r["n_sum"] * decay + weight * g * clock_ticks
        events = r["s_sum"] * decay + weight * io_events(np.where(calls_known, calls, 0), g)
        return Activity(np.where(has, k, here.demand), np.where(has, n, here.ticks),
                        np.where(has, np.where(calls_known, events, -1.0), here.io_events),
                        np.where(has, n / clock_ticks, np.nan))

    def rss_points(self, pids: np.ndarray, start_ticks: np.ndarray, now_s: float, clock_ticks: int,
                   memory_s: float) -> tuple[np.ndarray, np.ndarray]:
        """``(times, rss_bytes)``, each ``(n, POINTS)``: the RSS of each
        process at the earlier scans remembered for it, oldest first and
        left-aligned (NaN and -1 after the last). Only points of the same
        process (pid and start time) at most ``memory_s`` before ``now_s``
        (CLOCK_BOOTTIME s of this scan's snapshot); a record whose points no
        process could have had (times not increasing, before the process
        started or after now, RSS negative or beyond :data:`MAX_RSS`: a
        forged or foreign file) gives none."""
        n = len(pids)
        times, rss = np.full((n, POINTS), np.nan), np.full((n, POINTS), -1, dtype=np.int64)
        r = self.records
        if not len(r) or not n:
            return times, rss
        at, same = self._match(pids, start_ticks)
        t, b = r["rss_s"][at], r["rss_bytes"][at]
        used = b >= 0
        # Used points come first (left-aligned), in increasing time, within the process's life and now.
        born = np.asarray(start_ticks, dtype=np.float64)[:, None] / clock_ticks - 1.0
        with np.errstate(invalid="ignore"):
            sane = ~np.any(used[:, 1:] & ~used[:, :-1], axis=1) \
                & np.all(~used | (np.isfinite(t) & (t >= born) & (t < now_s) & (b <= MAX_RSS)), axis=1) \
                & np.all(~(used[:, 1:]) | (np.diff(t, axis=1) > 0), axis=1) \
                & np.all(b >= -1, axis=1)
        fresh = used & (now_s - t <= memory_s)
        ok = (same & sane)[:, None] & fresh
        # Points too old are dropped from the front: keep the fresh ones left-aligned.
        shift = (~fresh & used).sum(axis=1)
        cols = np.arange(POINTS)[None, :] + shift[:, None]
        inside = cols < POINTS
        pick = np.minimum(cols, POINTS - 1)
        rows = np.arange(n)[:, None]
        keep = inside & ok[rows, pick]
        times = np.where(keep, t[rows, pick], np.nan)
        rss = np.where(keep, b[rows, pick], -1)
        return times, rss


def plausible(r: np.ndarray, clock_ticks: int, history_s: float) -> np.ndarray:
    """Records whose remembered counts a process could have produced: none
    negative, no more ticks than a discounted history of ``history_s`` plus
    the longest window holds, no more IO events than its slices. Anything
    else (a forged or foreign file) is not believed: that process gets its
    window alone."""
    ticks_max = (history_s + MAX_WINDOW_S) * clock_ticks
    events_max = r["n_sum"] / clock_ticks / IO_EVENT_S + 1.0
    return (r["k_sum"] >= 0) & (r["n_sum"] > 0) & (r["n_sum"] <= ticks_max) \
        & ((r["s_sum"] == -1) | ((r["s_sum"] >= 0) & (r["s_sum"] <= events_max)))


def next_points(times: np.ndarray, rss_bytes: np.ndarray, now_s: float, now_rss: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """The points to remember: the earlier ones (:meth:`Remembered.rss_points`)
    and this scan's (``now_rss`` at ``now_s``; -1 unknown), the last
    :data:`POINTS`. A last earlier point less than :data:`MIN_POINT_GAP_S`
    after the one before it was provisional and is replaced by this one."""
    n = len(now_rss)
    count = (rss_bytes >= 0).sum(axis=1)
    last = np.maximum(count - 1, 0)
    rows = np.arange(n)
    before = np.where(count >= 2, times[rows, np.maximum(count - 2, 0)], -np.inf)
    count = np.where((count >= 2) & (times[rows, last] - before < MIN_POINT_GAP_S), count - 1, count)
    t = np.concatenate([times, np.full((n, 1), np.nan)], axis=1)
    b = np.concatenate([rss_bytes, np.full((n, 1), -1, dtype=np.int64)], axis=1)
    known = np.asarray(now_rss) >= 0
    t[rows, count] = np.where(known, now_s, np.nan)
    b[rows, count] = np.where(known, now_rss, -1)
    t[np.arange(POINTS + 1)[None, :] > count[:, None]] = np.nan
    b[np.arange(POINTS + 1)[None, :] > count[:, None]] = -1
    full = (count >= POINTS) & known                          # five points: drop the oldest
    t[full, :-1], b[full, :-1] = t[full, 1:], b[full, 1:]
    return t[:, :POINTS], b[:, :POINTS]


NOTHING = Remembered(np.zeros(0, dtype=RECORD))


def path_in(directory: str | os.PathLike) -> Path:
    return Path(directory) / FILE_NAME


def verdict_memory() -> Path | None:
    """Where scans remember their recommendations (pt's state directory), or
    None when that directory cannot be made (then nothing is held)."""
    from pt.act.journal import state_dir
    try:
        return path_in(state_dir())
    except OSError:
        return None


def load(path: str | os.PathLike, boot_id: str | None) -> Remembered:
    """The recommendations remembered at ``path`` for this boot, or none (with the reason)."""
    if not boot_id:
        return Remembered(NOTHING.records, "boot id unknown: processes cannot be recognised across scans")
    path = Path(path)
    try:
        with safefs.private_dir(path.parent, create=False) as d:
            fd = d.open(path.name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return Remembered(NOTHING.records, "no previous scan remembered")
    except OSError as exc:
        return Remembered(NOTHING.records, f"verdict memory {path} unreadable: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        problem = ("not a regular file" if not stat.S_ISREG(st.st_mode) else
                   "not owned by this user" if st.st_uid != os.geteuid() else
                   "writable by others" if st.st_mode & 0o022 else
                   "too large" if st.st_size > MAX_BYTES else None)
        data = b"" if problem else os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        problem = f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if problem:
        return Remembered(NOTHING.records, f"verdict memory {path} ignored: {problem}")
    head = HEADER.match(data)
    body = data[head.end():] if head else b""
    if head is not None and head.group(1) != VERSION:
        return Remembered(NOTHING.records, "verdict memory from another pt version: starting afresh")
    if head is None or len(body) % RECORD.itemsize:
        return Remembered(NOTHING.records, f"verdict memory {path} ignored: not a pt verdicts file")
    if head.group(2).decode() != boot_id:
        return Remembered(NOTHING.records, "previous scan was on another boot")
    records = np.frombuffer(body, dtype=RECORD)
    valid = (records["pid"] > 0) & (records["action"] >= 0) & (records["action"] < len(ACTIONS)) \
        & np.isfinite(records["at"]) & np.isfinite(records["closed_s"]) \
        & np.isfinite(records["k_sum"]) & np.isfinite(records["n_sum"]) & np.isfinite(records["s_sum"]) \
        & (np.abs(records["k_sum"]) <= MAX_COUNT) & (np.abs(records["n_sum"]) <= MAX_COUNT) \
        & (np.abs(records["s_sum"]) <= MAX_COUNT)
    records = records[valid]
    return Remembered(records[np.argsort(records["pid"], kind="stable")])


def save(path: str | os.PathLike, boot_id: str | None, pids: np.ndarray, start_ticks: np.ndarray,
         actions: np.ndarray, window: Window | None = None, activity: Activity | None = None, *,
         now: float | None = None, rss: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Replace the file at ``path`` with these recommendations, the
    ``window``'s closing totals and the ``activity`` counted (without
    them the next scan has no history), and the ``rss`` points
    (``(times, bytes)``, :func:`next_points`; none without) (0600, written
    to a temporary file and renamed into place, so a reader never sees half
    of it), in pt's verified state directory (:mod:`pt.safefs`). Raises
    ``OSError`` when it cannot be written; callers ignore it."""
    header = b"pt-verdicts " + VERSION + b" " + boot_id.encode() + b"\n" if boot_id else b""
    if not HEADER.fullmatch(header):
        return
    records = np.zeros(len(pids), dtype=RECORD)
    records["pid"], records["start_ticks"], records["action"] = pids, start_ticks, actions
    records["at"] = time.time() if now is None else now
    totals = window.totals if window is not None else None
    if totals is None or activity is None:
        records["closed_s"] = 0.0
        for name in ("cpu_ticks", "run_delay_ns", "syscalls", "k_sum", "n_sum", "s_sum"):
            records[name] = -1
    else:
        records["closed_s"], records["cpu_ticks"] = totals.closed_s, totals.cpu_ticks
        records["run_delay_ns"], records["syscalls"] = totals.run_delay_ns, totals.syscalls
        records["k_sum"], records["n_sum"], records["s_sum"] = activity.demand, activity.ticks, activity.io_events
    records["rss_s"], records["rss_bytes"] = (0.0, -1) if rss is None else (np.nan_to_num(rss[0]), rss[1])
    path = Path(path)
    data = header + records.tobytes()
    with safefs.private_dir(path.parent) as d:
        d.replace(path.name, data, sync=False)        # a hint: a crash may lose it, never tear it
