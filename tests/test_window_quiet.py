"""The window's close skips the processes that have not run since its first
reads (``WindowFiles.since_first``): their ``stat`` and ``io`` are what they
were, so only ``schedstat`` is read again. These tests hold the claim against
the kernel, for every process on the machine, and check the processes it must
never cover: a busy worker behind a sleeping leader thread, a process that
wakes briefly, one that dies during the window."""
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pt.collect import collect
from pt.collect import _linux
from pt.collect._linux import QUIET_MIN_S, WindowStart, snapshot_of
from pt.collect._procfs import IO_FIELDS, WindowFiles
from pt.collect.early import FirstReads
from pt.testing import python_child, sleepers, spinner
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

#: A process whose leader thread sleeps on a lock while a second thread spins:
#: ``schedstat`` (the leader's) stays still while the process burns a CPU.
BUSY_WORKER = """
import threading
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

#: A single-threaded process asleep nearly all the time, waking every 20 ms to write a byte.
TICKING = """
import os, time
out = os.open(os.devnull, os.O_WRONLY)
print("ready", flush=True)
while True:
    os.write(out, b"x")
    time.sleep(0.02)
"""


def rows_of(snapshot, *procs) -> list[int]:
    row = {pid: i for i, pid in enumerate(snapshot["pid"].tolist())}
    return [row[p.pid] for p in procs]


def test_a_process_quiet_since_the_first_reads_has_the_stat_and_io_it_had_then():
    """Every process on the machine ``since_first`` calls quiet read the same
    ``stat`` ticks and ``io`` counters at the close as at the first reads.
    The close is read in full first and ``since_first`` after it, so "quiet"
    covers the full reads too: no race with processes that wake up."""
    with sleepers(8) as idle, spinner() as busy, python_child(BUSY_WORKER) as worker, \
            python_child(TICKING) as ticking:
        first = FirstReads(Path("/proc")).wait()
        try:
            snapshot = snapshot_of(first.root, first.table, first.clock)
            files = first.window_files
            io_first = files.first()[0]
            time.sleep(0.3)
            ticks, _, alive = files.stat_ticks(snapshot["start_ticks"])
            io = files.io()
            queued, quiet = files.since_first()
        finally:
            first.close()
    assert quiet[rows_of(snapshot, *idle)].all()
    assert not quiet[rows_of(snapshot, busy, worker, ticking)].any()
    assert snapshot["threads"][rows_of(snapshot, worker)[0]] > 1
    before = snapshot["utime"] + snapshot["stime"]
    assert alive[quiet].all()
    np.testing.assert_array_equal(ticks[quiet], before[quiet])
    for name in IO_FIELDS:
        np.testing.assert_array_equal(io[name][quiet], io_first[name][quiet], err_msg=name)
    assert (queued[quiet] >= 0).all()
    if os.geteuid() != 0:         # other users' io cannot be opened: those rows are quiet all the same
        assert quiet[io_first["rchar"] < 0].any()


def test_the_scan_window_counts_what_the_quiet_rule_must_not_skip():
    """Through ``triage``: the busy worker behind a sleeping leader and the
    spinner have ticks, the process that wakes to write has syscalls, and
    the sleepers have zero of each (read, not unknown)."""
    with sleepers(4) as idle, spinner() as busy, python_child(BUSY_WORKER) as worker, \
            python_child(TICKING) as ticking:
        t = triage(first=FirstReads(Path("/proc")), window_s=0.5)
        idle_rows = rows_of(t.snapshot, *idle)
        busy_row, worker_row, ticking_row = rows_of(t.snapshot, busy, worker, ticking)
    w = t.window
    assert w.ticks[busy_row] > 0 and w.ticks[worker_row] > 0
    assert w.io_syscalls[ticking_row] > 0 and w.io_write_bytes[ticking_row] > 0
    assert (w.ticks[idle_rows] == 0).all() and (w.io_syscalls[idle_rows] == 0).all()
    assert w.alive[[*idle_rows, busy_row, worker_row, ticking_row]].all()


def test_a_process_that_dies_in_the_window_is_not_quiet_and_not_alive():
    with sleepers(3) as idle:
        first = FirstReads(Path("/proc")).wait()
        try:
            snapshot = snapshot_of(first.root, first.table, first.clock)
            idle[1].kill()
            idle[1].wait()
            _, quiet = first.window_files.since_first()
            _, _, alive = first.window_files.stat_ticks(snapshot["start_ticks"], quiet.view(np.uint8))
        finally:
            first.close()
    gone, *staying = rows_of(snapshot, idle[1], idle[0], idle[2])
    assert not quiet[gone] and not alive[gone]
    assert quiet[staying].all()


def test_nothing_is_quiet_where_the_first_reads_did_not_read_schedstat_first():
    """A window opened on a snapshot already read (``read_first``) read
    ``stat`` before ``schedstat``: a process may have run between them."""
    with sleepers(3) as idle:
        snapshot = collect()
        rows = rows_of(snapshot, *idle)
        with WindowFiles(b"/proc", snapshot["pid"][rows], 9) as files:
            files.read_first()
            queued, quiet = files.since_first()
    assert not quiet.any()
    assert (queued >= 0).all()


def test_a_skip_mask_of_the_wrong_length_is_refused():
    with sleepers(2) as idle:
        snapshot = collect()
        rows = rows_of(snapshot, *idle)
        with WindowFiles(b"/proc", snapshot["pid"][rows], 6) as files:
            with pytest.raises(ValueError, match="skip has 3 rows, the window 2"):
                files.io(np.zeros(3, np.uint8))
            with pytest.raises(ValueError, match="skip has 1 rows, the window 2"):
                files.stat_ticks(snapshot["start_ticks"][rows], np.zeros(1, np.uint8))
            ticks, _, alive = files.stat_ticks(snapshot["start_ticks"][rows], np.array([1, 0], np.uint8))
            io = files.io(np.array([1, 0], np.uint8))
    assert not alive[0] and alive[1] and ticks[0] == 0
    assert io["rchar"][0] == -1 and io["rchar"][1] >= 0


class Recording:
    """A window's files, noting which of their methods the close calls."""

    def __init__(self, files):
        self.files, self.called = files, []

    def __getattr__(self, name):
        self.called.append(name)
        return getattr(self.files, name)


@pytest.mark.parametrize("quiet_min_s, tickless, asked", [(QUIET_MIN_S, False, True), (60.0, False, False),
                                                           (QUIET_MIN_S, True, False)])
def test_quiet_rows_are_sought_only_in_a_window_of_several_ticks_on_ticking_cpus(monkeypatch, quiet_min_s,
                                                                                tickless, asked):
    """A task can run without its run time moving until its next tick, and on
    a ``nohz_full`` CPU for a second: a shorter window, or such a machine,
    re-reads every row (and gets the same counts for these sleepers). The
    window is 0.1 s; "shorter" is a QUIET_MIN_S of a minute, since a loaded
    machine can stretch any window past 50 ms before it closes (the rule
    looks at the time since the opening, as it should)."""
    window_s = 0.1
    monkeypatch.setattr(_linux, "tickless", lambda: tickless)
    monkeypatch.setattr(_linux, "QUIET_MIN_S", quiet_min_s)
    with sleepers(3) as idle:
        first = FirstReads(Path("/proc")).wait()
        snapshot = snapshot_of(first.root, first.table, first.clock)
        opened = WindowStart(snapshot, first.root, kept=(first.window_files, first.stack))
        opened.files = Recording(opened.files)
        window = opened.finish(window_s)
    assert ("since_first" in opened.files.called) is asked
    assert ("schedstat" in opened.files.called) is not asked
    rows = rows_of(snapshot, *idle)
    assert window.alive[rows].all() and (window.ticks[rows] == 0).all() and (window.io_syscalls[rows] == 0).all()
