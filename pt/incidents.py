"""Lifecycle incidents now: fork storms, runaway trees, short-job floods, respawn loops.

:func:`watch` is what ``pt incidents`` does (a quick scan with the process
table followed during its window: the lifecycle sampler on procfs, full
reads on psutil); :func:`judge` the incidents of any quick scan (``pt scan``
and ``pt report`` list what its own window shows). The detectors themselves
are :mod:`pt.infer.incidents`.
"""
from __future__ import annotations

import contextlib
import threading

DEFAULT_WINDOW_S = 3.0
#: Pause between full reads of the table where there is no lifecycle sampler (psutil; seconds).
SAMPLE_INTERVAL_S = 0.1


class TableReads:
    """Reads the whole process table every ``interval`` seconds on a thread
    (the psutil collector, which has no lifecycle sampler), from when the
    scan's first read is taken until :meth:`stop`, which raises what stopped
    the thread, if anything."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_S):
        self.interval = interval
        self.samples: list = []
        self.failure: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, _snapshot=None) -> None:
        self._thread.start()

    def _run(self) -> None:
        from pt.collect import collect
        try:
            while not self._stop.wait(self.interval):
                self.samples.append(collect())
        except Exception as exc:           # noqa: BLE001 -- handed to the caller by stop()
            self.failure = exc

    def stop(self) -> list:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.failure is not None:
            raise self.failure
        from pt.collect import collect
        return [*self.samples, collect()]


def watch(window_s: float = DEFAULT_WINDOW_S, lake=None, notes: list | None = None, followed: list | None = None):
    """A quick scan over ``window_s`` with the table followed during it and
    once after (procfs: the lifecycle sampler, ~40 ticks a second; psutil:
    a full read every 0.1 s), and the earlier runs of ``lake`` (None: not
    read); returns ``(triage, incidents)``. What the lifecycle sampler saw
    (:class:`pt.collect.lifecycle.Followed`) is appended to ``followed``."""
    from pt.collect import backend
    from pt.triage import triage

    light = backend() == "procfs"
    if light:
        from pt.collect.lifecycle import LifeWatch
        watcher = LifeWatch()
    else:
        watcher = TableReads()
    try:
        t = triage(window_s=window_s, on_snapshot=watcher.start)
    except BaseException:
        with contextlib.suppress(Exception):    # the scan's own error is the one to report
            watcher.stop()
        raise
    seen = watcher.stop()
    if not light:
        return t, judge(t, seen, lake, notes)
    from pt.infer.incidents import lives_of_ticks
    if followed is not None:
        followed.append(seen)
    up = t.snapshot.host.uptime_s
    lv = lives_of_ticks(t.snapshot, seen.lives, t.window, seen.forks,
                        (seen.forks_span[0] - up, seen.forks_span[1] - up))
    return t, judge(t, lake=lake, notes=notes, lv=lv)


def judge(t, samples=(), lake=None, notes: list | None = None, lv=None) -> list:
    """The incidents of a quick scan ``t`` and any later reads of the table
    (none: what the scan's own window shows, as ``pt scan`` says) or the
    lives ``lv`` followed from its first read, and the respawn loops across
    the earlier runs of ``lake`` (None: not read; why they could not be read
    is appended to ``notes``)."""
    import numpy as np

    from pt.config import CATEGORICAL_LEVELS
    from pt.infer.incidents import Thresholds, detect
    g = t.context.genealogy
    reaper = np.asarray(t.snapshot["pid"] == 1)
    reaper[g.parent_row[g.parent_is_reaper & (g.parent_row >= 0)]] = True
    # A build tool, whoever waits for it (a build detached on purpose, nohup make &, compiles too):
    # whether it is at work is told by its busy workers' IO (pt.infer.incidents._runaways).
    build = np.asarray(t.context.command_category) == CATEGORICAL_LEVELS["command"].index("build")
    th = Thresholds.of(t.priors)
    found = detect([t.snapshot, *samples], t.window, reaper=reaper, protected=t.protected_by, thresholds=th,
                   build=build, lv=lv)
    if lake is not None:
        from pt.telemetry import history
        h = history.read(lake, t.snapshot.host.boot_id)
        if h.note and notes is not None:
            notes.append(h.note)
        seen = {(i.kind, i.pid) for i in found}
        found += [i for i in history.respawn_incidents(h, t.snapshot, t.protected_by, th)
                  if (i.kind, i.pid) not in seen]
    return found
