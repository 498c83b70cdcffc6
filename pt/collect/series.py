"""Deep-scan time series: sample a set of candidates every ``interval_s``.

:class:`Sampler` runs :class:`~pt.collect._sampler.ProcSampler` (one C pass
over all candidates per tick) and :class:`~pt.collect._sampler.SystemSampler`
on a fixed monotonic schedule, and stores what they read as columns of shape
(ticks, candidates): no per-process Python objects. Every ``extras_every``
ticks it also reads, in Python, what is too dear for every tick: open fd
count, established TCP connections, wait channel, and live children.

A callback after each tick sees the series so far and may :meth:`Sampler.drop`
candidates (their fds are closed, their columns read -1 from then on) or stop
the run. See docs/collector.md, "Deep-scan sampler".
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pt.collect._linux import procfs_root
from pt.collect._procfs import read_fd_sockets, read_texts
from pt.collect._sampler import FIELDS, REASONS, SYSTEM_FIELDS, ProcSampler, SystemSampler, children_activity
from pt.collect.net import count_per_process, read_sockets

#: Counters whose per-interval differences :meth:`Series.delta` gives.
COUNTERS = ("cpu_ticks", "child_ticks", "rchar", "wchar", "syscalls", "read_bytes", "write_bytes",
            "vol_ctx", "invol_ctx", "run_ns", "wait_ns", "timeslices")
#: Columns of the lower-rate extras (int64, -1 unknown), each of shape (extras, candidates).
EXTRA_FIELDS = ("fd_count", "established", "n_children", "children_ticks")


@dataclass
class Series:
    """Samples of ``n`` candidates over ``T`` ticks, as columns.

    ``values[f, t, i]`` is field ``FIELDS[f]`` of candidate ``i`` at tick
    ``t`` (int64, -1 unknown); ``series["cpu_ticks"]`` is that (T, n) slice.
    ``state`` (T, n) uint8 is the state letter (0 when dead), ``alive`` (T, n)
    bool. ``times`` (T,) are ``time.monotonic()`` at the start of each pass,
    ``pass_s``/``pass_cpu_s`` (T,) its wall and CPU (thread) time.
    ``system[k, t]`` is ``SYSTEM_FIELDS[k]`` (NaN absent). Extras were read at
    the ticks ``extra_ticks`` (E,): ``extras[name]`` (E, n) int64 for
    :data:`EXTRA_FIELDS`, ``wchan`` (E, n) object (str or None). ``reason``
    (n,) indexes :data:`~pt.collect._sampler.REASONS` (0 = still sampled).
    """

    pids: np.ndarray
    start_ticks: np.ndarray
    interval_s: float
    clock_ticks: int
    mode: str
    mode_reason: str
    times: np.ndarray
    pass_s: np.ndarray
    pass_cpu_s: np.ndarray
    values: np.ndarray
    state: np.ndarray
    alive: np.ndarray
    system: np.ndarray
    extra_ticks: np.ndarray
    extras: dict[str, np.ndarray]
    wchan: np.ndarray
    reason: np.ndarray
    late_ticks: int = 0
    skipped_slots: int = 0
    system_present: dict[str, bool] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, name: str) -> np.ndarray:
        """A (T, n) candidate column of :data:`FIELDS` or a (T,) system column."""
        if name in FIELDS:
            return self.values[FIELDS.index(name)]
        if name in SYSTEM_FIELDS:
            return self.system[SYSTEM_FIELDS.index(name)]
        raise KeyError(f"no series named {name!r}")

    def delta(self, name: str) -> np.ndarray:
        """Per-interval increase of counter ``name``: (T-1, n) int64, row ``t``
        is tick ``t+1`` minus tick ``t``; -1 where either end is unknown.
        (A counter never decreases for one process: the start time is
        checked on every read.)"""
        if name not in COUNTERS:
            raise KeyError(f"{name!r} is not a counter; counters are {COUNTERS}")
        v = self[name]
        known = (v[1:] >= 0) & (v[:-1] >= 0)
        return np.where(known, v[1:] - v[:-1], -1)

    def deltas(self) -> dict[str, np.ndarray]:
        """:meth:`delta` of every counter."""
        return {name: self.delta(name) for name in COUNTERS}

    def cpu_share(self) -> np.ndarray:
        """(T-1, n) float64: CPU ticks per interval over the interval's length
        in ticks (1.0 = one full CPU); NaN where unknown."""
        d = self.delta("cpu_ticks").astype(np.float64)
        span = np.diff(self.times)[:, None] * self.clock_ticks
        return np.where(d >= 0, d / np.maximum(span, 1e-9), np.nan)

    def reasons(self) -> list[str]:
        """:attr:`reason` as names."""
        return [REASONS[r] for r in self.reason]

    def cost(self) -> dict[str, float]:
        """The sampler's own cost: median wall and CPU seconds per pass, and
        the CPU share of one core it would take at this interval."""
        if not len(self):
            return {"pass_s": math.nan, "pass_cpu_s": math.nan, "core_share": math.nan}
        cpu = float(np.median(self.pass_cpu_s))
        return {"pass_s": float(np.median(self.pass_s)), "pass_cpu_s": cpu,
                "core_share": cpu / self.interval_s}


class Sampler:
    """Sample candidates ``(pids, start_ticks)`` every ``interval_s`` seconds.

    Parameters
    ----------
    pids, start_ticks : arrays (n,)
        The candidates, as identified by the scan that chose them.
    interval_s : float
        Tick interval; ticks are scheduled at ``t0 + k * interval_s`` on the
        monotonic clock, so lateness never accumulates into drift. A pass
        that overruns a whole interval skips the missed slots (counted in
        ``skipped_slots``) instead of bursting to catch up.
    extras_every : int
        Read the extras (fd count, established sockets, wchan, children)
        every this many ticks, starting at tick 0; 0 turns them off.
    root : procfs root; default ``$PT_PROCFS_PATH`` or ``/proc``.
    mode, max_fds, ctx_switches : passed to :class:`~pt.collect._sampler.ProcSampler`
        (``mode`` None picks by the fd budget; the choice is reported in
        ``mode``/``mode_reason`` here and on the :class:`Series`).
    """

    def __init__(self, pids, start_ticks, *, interval_s: float = 0.1, extras_every: int = 10,
                 root: str | os.PathLike | None = None, mode: str | None = None,
                 max_fds: int | None = None, ctx_switches: bool = True, system: bool = True):
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if extras_every < 0:
            raise ValueError(f"extras_every must be >= 0, got {extras_every!r}")
        self.pids = np.ascontiguousarray(pids, dtype=np.int32)
        self.start_ticks = np.ascontiguousarray(start_ticks, dtype=np.uint64)
        self.interval_s = float(interval_s)
        self.extras_every = int(extras_every)
        self.root = os.fsencode(procfs_root(root))
        self.procs = ProcSampler(self.pids, self.start_ticks, self.root, mode=mode, max_fds=max_fds,
                                 ctx_switches=ctx_switches)
        self.system = SystemSampler(self.root) if system else None
        self.mode, self.mode_reason = self.procs.mode, self.procs.mode_reason
        self._stop = False

    def drop(self, indices) -> None:
        """Stop sampling candidates ``indices`` now and close their fds."""
        self.procs.drop(indices)

    def stop(self) -> None:
        """End :meth:`run` after the current tick."""
        self._stop = True

    def run(self, n_ticks: int, on_tick: Callable[[Series, int], object] | None = None) -> Series:
        """Take up to ``n_ticks`` samples; returns the :class:`Series`.

        ``on_tick(series, t)`` is called after tick ``t`` with the series so
        far (views, valid until the next tick); it may call :meth:`drop` or
        :meth:`stop`, or return a true value to stop. The run also ends when
        no candidate is left alive.
        """
        if n_ticks < 0:
            raise ValueError(f"n_ticks must be >= 0, got {n_ticks!r}")
        n = len(self.pids)
        values = np.full((len(FIELDS), n_ticks, n), -1, np.int64)
        state = np.zeros((n_ticks, n), np.uint8)
        alive = np.zeros((n_ticks, n), np.uint8)
        system = np.full((len(SYSTEM_FIELDS), n_ticks), np.nan)
        sys_row = np.empty(len(SYSTEM_FIELDS))
        times, pass_s, pass_cpu = (np.zeros(n_ticks) for _ in range(3))
        n_extra = -(-n_ticks // self.extras_every) if self.extras_every else 0
        extras = {name: np.full((n_extra, n), -1, np.int64) for name in EXTRA_FIELDS}
        wchan = np.full((n_extra, n), None, object)
        extra_ticks = np.zeros(n_extra, np.int64)
        e = 0
        late = skipped = 0
        self._stop = False
        t0 = time.monotonic()
        done = 0
        for t in range(n_ticks):
            deadline = t0 + t * self.interval_s
            now = time.monotonic()
            if now < deadline:
                time.sleep(deadline - now)
            elif now - deadline >= self.interval_s:
                missed = int((now - deadline) // self.interval_s)
                t0 += missed * self.interval_s
                skipped += missed
                late += 1
            start, cpu_start = time.monotonic(), time.thread_time()
            self.procs.sample(values[:, t, :], state[t], alive[t])
            if self.system is not None:
                self.system.sample(sys_row)
                system[:, t] = sys_row
            pass_cpu[t] = time.thread_time() - cpu_start
            times[t], pass_s[t] = start, time.monotonic() - start
            if self.extras_every and t % self.extras_every == 0:
                self._extras(alive[t].astype(bool), extras, wchan, e)
                extra_ticks[e] = t
                e += 1
            done = t + 1
            if on_tick is not None:
                series = self._series(done, e, values, state, alive, system, times, pass_s, pass_cpu,
                                      extra_ticks, extras, wchan, late, skipped)
                if on_tick(series, t):
                    self._stop = True
            if self._stop or not self.procs.n_alive:
                break
        return self._series(done, e, values, state, alive, system, times, pass_s, pass_cpu,
                            extra_ticks, extras, wchan, late, skipped)

    def _series(self, done, e, values, state, alive, system, times, pass_s, pass_cpu,
                extra_ticks, extras, wchan, late, skipped) -> Series:
        return Series(
            pids=self.pids, start_ticks=self.start_ticks, interval_s=self.interval_s,
            clock_ticks=os.sysconf("SC_CLK_TCK"), mode=self.mode, mode_reason=self.mode_reason,
            times=times[:done], pass_s=pass_s[:done], pass_cpu_s=pass_cpu[:done],
            values=values[:, :done], state=state[:done], alive=alive[:done].view(bool),
            system=system[:, :done], extra_ticks=extra_ticks[:e],
            extras={k: v[:e] for k, v in extras.items()}, wchan=wchan[:e],
            reason=self.procs.reason, late_ticks=late, skipped_slots=skipped,
            system_present=self.system.present if self.system is not None else {},
        )

    def _extras(self, alive: np.ndarray, extras: dict, wchan: np.ndarray, e: int) -> None:
        """fd count, established TCP connections, wchan and live children of
        the candidates alive at this tick (by pid: the start time was checked
        by the pass just before, microseconds ago)."""
        rows = np.flatnonzero(alive)
        if not len(rows):
            return
        pids = np.ascontiguousarray(self.pids[rows])
        fd_count, sock_row, sock_inode = read_fd_sockets(self.root, pids)
        extras["fd_count"][e, rows] = fd_count
        if len(sock_row):          # parse /proc/net only when some candidate holds a socket
            established = count_per_process(len(rows), sock_row, sock_inode,
                                            read_sockets(os.fsdecode(self.root)).established())
        else:
            established = np.zeros(len(rows), np.int32)
        extras["established"][e, rows] = np.where(fd_count >= 0, established, -1)
        n_children, children_ticks = children_activity(self.root, pids)
        extras["n_children"][e, rows] = n_children
        extras["children_ticks"][e, rows] = children_ticks
        wchan[e, rows] = read_texts(self.root, pids, "wchan")

    def close(self) -> None:
        """Close every kept fd."""
        self.procs.close()
        if self.system is not None:
            self.system.close()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def sample_series(pids, start_ticks, n_ticks: int, interval_s: float = 0.1, **kwargs) -> Series:
    """Open a :class:`Sampler`, run ``n_ticks`` ticks, close it."""
    with Sampler(pids, start_ticks, interval_s=interval_s, **kwargs) as sampler:
        return sampler.run(n_ticks)
