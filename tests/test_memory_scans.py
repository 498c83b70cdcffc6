"""Memory growth across quick scans: the verdict memory keeps each process's
RSS at a few earlier scans, and the quick scan weighs its sustained slope
with the deep scan's bounded growth term (docs/model.md, Memory).

The fit and the memory file on made-up points (hostile and forged ones
included), then real children of this test under the shipped default
policy and priors, scanned by real quick scans: a leaker growing 10 MB/s,
a process that allocates 200 MB once between two scans, and a steady
200 MB one. Assertions are about classes, actions and the ledger, never
about timings.
"""
from __future__ import annotations

import signal
import sys
import time

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.config import ACTIONS, CLASSES, load_policy, load_priors
from pt.deep import deep_scan
from pt.decide import stability
from pt.infer import memory
from pt.infer.ledger import observed_value
from pt.infer.posterior import FEATURES, LN2, USEFUL, USEFUL_BAD
from pt.testing import python_child
from pt.ui.deep_view import memory_row

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs")

MB = 1 << 20


def _points(*rows):
    """``(times, bytes)`` arrays of rows of ``(t, MB)`` points, left-aligned."""
    width = max(len(r) for r in rows)
    t = np.full((len(rows), width), np.nan)
    b = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        for j, (ti, mb) in enumerate(r):
            t[i, j], b[i, j] = ti, int(mb * MB)
    return t, b


def test_the_slope_across_scans_is_sustained_growth_and_one_step_is_not():
    leak = [(0, 100), (10, 200), (20, 300), (30, 400)]
    step = [(0, 100), (10, 100), (20, 300), (30, 300)]           # 200 MB at once, between two scans
    step3 = [(0, 100), (10, 300), (20, 300)]
    steady = [(0, 200), (10, 200.5), (20, 199.8)]
    two = [(0, 100), (10, 200)]                                 # one segment: a step or a leak, cannot tell
    slope, sd, seen, span = memory.scan_slope(*_points(leak, step, step3, steady, two))
    assert seen.tolist() == [True, True, True, True, False]
    assert slope[0] == pytest.approx(10.0) and span[0] == 30.0
    assert slope[1] == pytest.approx(0.0, abs=1e-9) and slope[2] == pytest.approx(0.0, abs=1e-9)
    assert abs(slope[3]) < 0.1
    terms = memory.growth_terms(np.nan_to_num(slope), np.nan_to_num(sd, nan=1.0), seen, load_priors(),
                                watch_s=span)
    bits = (terms[:, USEFUL_BAD] - terms[:, USEFUL]) / LN2
    assert bits[0] > 10 and (bits[1:] < 1.0).all(), bits          # flat is steady: toward useful


@pytest.mark.parametrize("width", [0, 1, 2, 3, 6, 7])
def test_row_median_is_numpys_median(width):
    rng = np.random.default_rng(width)
    a = rng.normal(size=(50, width)) * 10.0 ** rng.integers(-3, 4, size=(50, 1))
    if width:
        a[rng.random((50, width)) < 0.05] = np.nan                   # a row with a nan has a nan median
        a[3] = a[3, :1]                                               # ties
        a[4] = np.inf
    with np.errstate(invalid="ignore"):
        expected = np.median(a, axis=1) if width else np.full(50, np.nan)
    np.testing.assert_array_equal(memory.row_median(a), expected)


def test_rss_points_round_trip_and_forged_ones_are_ignored(tmp_path):
    path = tmp_path / "verdicts"
    pids, starts = np.array([3, 5, 7]), np.array([50_000] * 3, dtype=np.uint64)       # born 500 s after boot
    hz, now = 100, 1000.0
    points = stability.next_points(*stability.NOTHING.rss_points(pids, starts, now, hz, 3600.0), now,
                                   np.array([MB, 2 * MB, -1]))
    stability.save(path, "b", pids, starts, np.zeros(3, dtype=np.int64), rss=points)
    for t in (now + 10, now + 12, now + 30):                    # the 12 s point is provisional: replaced at 30
        got = stability.load(path, "b").rss_points(pids, starts, t, hz, 3600.0)
        points = stability.next_points(*got, t, np.array([MB, 2 * MB, -1]))
        stability.save(path, "b", pids, starts, np.zeros(3, dtype=np.int64), rss=points)
    times, rss = stability.load(path, "b").rss_points(pids, starts, now + 40, hz, 3600.0)
    assert times[0].tolist()[:3] == [now, now + 10, now + 30] and np.isnan(times[0, 3])
    assert rss[1].tolist() == [2 * MB] * 3 + [-1] and (rss[2] == -1).all()
    # another process on the pid, too old for memory_s: nothing
    assert (stability.load(path, "b").rss_points(pids, starts + 1, now + 40, hz, 3600.0)[1] == -1).all()
    assert (stability.load(path, "b").rss_points(pids, starts, now + 40, hz, 5.0)[1] == -1).all()
    # forged: times going back, before the process began, after now, RSS negative or absurd
    records = stability.load(path, "b").records
    data = path.read_bytes()
    header = data[:data.index(b"\n") + 1]
    for field, at, value in [("rss_s", 1, now - 5), ("rss_s", 0, 400.0), ("rss_s", 2, now + 99),
                             ("rss_bytes", 1, -7), ("rss_bytes", 1, 1 << 62), ("rss_s", 1, np.inf)]:
        forged = records.copy()
        forged[field][0, at] = value
        path.write_bytes(header + forged.tobytes())
        times, rss = stability.load(path, "b").rss_points(pids, starts, now + 40, hz, 3600.0)
        assert (rss[0] == -1).all() and np.isnan(times[0]).all(), (field, value)
        assert (rss[1] >= 0).sum() == 3                              # the other records still count


HOUR_CAP = 450
#: 1 MB every 0.1 s from birth (10 MB/s, caught up if not scheduled), up to HOUR_CAP MB.
LEAKER = ("import time\nchunks = []\nt0 = time.monotonic()\nprint('ready', flush=True)\n"
          f"while len(chunks) < {HOUR_CAP}:\n    due = min(int((time.monotonic() - t0) * 10) + 1, {HOUR_CAP})\n"
          "    while len(chunks) < due: chunks.append(b'x' * (1 << 20))\n    time.sleep(0.02)\n"
          "time.sleep(600)\n")
#: 200 MB at once when signalled, then idle.
ONCE = ("import signal, time\ngo = []\nsignal.signal(signal.SIGUSR1, lambda *a: go.append(1))\n"
        "print('ready', flush=True)\nwhile not go: signal.pause()\nblock = b'x' * (200 << 20)\ntime.sleep(600)\n")
STEADY = "import time\nblock = b'x' * (200 << 20)\nprint('ready', flush=True)\ntime.sleep(600)\n"
#: Seconds between scans: three scans cover 30 s, the default deep watch.
GAP_S = 15.0


def test_quick_scans_see_a_leak_across_scans_and_not_a_step_or_a_big_steady_process(tmp_path):
    """Three quick scans 15 s apart with the verdict memory: the leaker is
    useful_bad, with its growth in the ledger; a process that allocated
    200 MB between two of them, and a steady 200 MB one, stay keep. An
    ``--at`` scan neither reads nor writes the memory. A deep scan of 5 s
    joins the scans' growth with its watch."""
    from pt.triage import triage
    path = tmp_path / "state" / "verdicts"
    path.parent.mkdir(mode=0o700)
    policy, priors = load_policy(), load_priors()
    with python_child(LEAKER) as leaker, python_child(ONCE) as once, python_child(STEADY) as steady:
        pids = [leaker.pid, once.pid, steady.pid]
        for scan in range(3):
            if scan:
                time.sleep(GAP_S)
            if scan == 2:
                once.send_signal(signal.SIGUSR1)     # between the second and the third scan
                time.sleep(1.0)
            t = triage(memory=path, policy=policy, priors=priors)
        before = path.read_bytes()
        hypothetical = triage(memory=path, policy=policy, priors=priors, at_s=3600.0)
        assert path.read_bytes() == before
        # A 5 s deep watch alone leaves a leaker this young useful; joined with the scans' growth it is not.
        d = deep_scan(Selection(pids=(leaker.pid,)), max_time_s=5.0, policy=policy, priors=priors, memory=path)
    rows = {pid: int(np.flatnonzero(t.snapshot["pid"] == pid)[0]) for pid in pids}
    j = FEATURES.index("memory")
    assert not hypothetical.inference.observed[:, j].any()

    def verdict(pid):
        i = rows[pid]
        bits = (t.inference.terms[i, j, USEFUL_BAD] - t.inference.terms[i, j, USEFUL]) / LN2
        return (CLASSES[int(t.inference.posterior[i].argmax())], ACTIONS[int(t.decision.action[i])],
                bool(t.inference.observed[i, j]), bits, observed_value(t.evidence, "memory", i))

    assert len(d) == 1, d.skipped
    row = memory_row(d, 0)
    assert "of earlier scans" in row["observed"], row
    assert CLASSES[int(d.inference.posterior[0].argmax())] == "useful_bad", (row, d.inference.posterior[0])
    assert not d.inference.observed[0, j]                       # one memory term: the deep scan's, joined

    cls, action, seen, bits, text = verdict(leaker.pid)
    assert seen and text.startswith("memory +") and "MB/min" in text and "of this and earlier scans" in text, text
    assert cls == "useful_bad" and action not in ("keep", "kill"), verdict(leaker.pid)
    for pid in (once.pid, steady.pid):
        cls, action, seen, bits, text = verdict(pid)
        assert not seen and bits == 0.0, verdict(pid)                # no sustained growth: no term
        assert cls == "useful" and action == "keep", verdict(pid)


def test_evidence_rejects_a_growth_without_its_error_or_span():
    from dataclasses import replace

    from pt.infer.posterior import Evidence
    n = 2
    zeros = np.zeros(n, dtype=np.int8)
    ev = Evidence(cpu_ticks=np.zeros(n, np.int64), window_ticks=np.full(n, 30), age_s=np.full(n, 60.0),
                  orphaned=zeros, io_active=zeros, cpu_lifetime=zeros, tty=zeros, state=zeros, command=zeros,
                  cwd=zeros, children=zeros, network=zeros)
    for sd, span in [(0.0, 30.0), (np.nan, 30.0), (1.0, 0.0), (1.0, np.inf)]:
        with pytest.raises(ValueError, match="growth_mb_s"):
            replace(ev, growth_mb_s=np.array([10.0, np.nan]), growth_sd_mb_s=np.array([sd, np.nan]),
                    growth_span_s=np.array([span, np.nan]))
