"""Earlier scans from the lake as evidence (pt.telemetry.history): RSS growth
across runs for a process identity, respawn loops across runs, and a hostile
lake. Real lakes written by the real writer from real scans, read with DuckDB."""
from __future__ import annotations

import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from pt.act.plan import Selection
from pt.collect import collect
from pt.config import load_policy, load_priors
from pt.deep import deep_scan
from pt.schemas import incident_schema
from pt.telemetry import history
from pt.telemetry.redact import redactor as default_redactor
from pt.telemetry.parquet import Numbers
from pt.telemetry.writer import Table, new_run_id, scan_tables, write_scan, write_tables
from pt.testing import python_child, wait_for
from pt.triage import triage
from pt.ui.deep_view import memory_row

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

MB = 1 << 20
HOLDS = "import time\nblock = b'x' * (150 << 20)\nprint('ready', flush=True)\ntime.sleep(600)\n"


def _write_runs(lake, t, pid, rss_of_run, every_s=60.0):
    """len(rss_of_run) earlier runs of scan ``t``, ``every_s`` apart before it,
    with process ``pid``'s stored RSS set to each run's value."""
    red = default_redactor()
    n = len(rss_of_run)
    row = int(np.flatnonzero(t.snapshot["pid"] == pid)[0])
    for k, rss in enumerate(rss_of_run):
        ts = t.snapshot.host.taken_at - every_s * (n - k)
        run_id = new_run_id(ts)
        tables = scan_tables(triage=t, red=red, run_id=run_id, ts=ts)
        samples = tables["proc_samples"]
        rss_bytes = samples.columns["rss_bytes"]
        values = rss_bytes.values.copy()
        values[row] = rss
        tables["proc_samples"] = Table("proc_samples", {**samples.columns,
                                                        "rss_bytes": Numbers(values, rss_bytes.null)})
        write_tables(lake, tables, run_id, ts)


def test_growth_across_runs_is_the_same_bounded_evidence_and_joins_the_deep_scan(tmp_path):
    lake = tmp_path / "lake"
    with python_child(HOLDS) as child, python_child(HOLDS) as steady:
        t = triage(policy=load_policy(), priors=load_priors())
        now = int(t.snapshot["rss_bytes"][t.snapshot["pid"] == child.pid][0])
        # 10 MB a minute for 12 minutes before now (a leak of 600 MB/h); the other holds its size.
        _write_runs(lake, t, child.pid, [now - (12 - k) * 10 * MB for k in range(12)])
        h = history.read(lake, t.snapshot.host.boot_id)
        assert h.note is None and h.runs == 12 and len(h) == 12 * len(t)
        g = history.growth_across_runs(h, t.snapshot, t.priors)
        i, j = (int(np.flatnonzero(t.snapshot["pid"] == p)[0]) for p in (child.pid, steady.pid))
        assert g.observed[i] and g.growing[i] and g.slope_mb_min[i] == pytest.approx(10.0, rel=0.05)
        assert g.terms[i, 1] - g.terms[i, 0] > 2.0                    # toward useful_bad
        assert g.observed[j] and not g.growing[j] and g.terms[j, 1] - g.terms[j, 0] < 0.5
        assert history.read(lake, "another-boot").runs == 0 or not len(history.read(lake, "another-boot"))

        d = deep_scan(Selection(pids=(child.pid,)), max_time_s=2.0, policy=load_policy(), priors=load_priors(),
                      lake=lake)
    assert d.lake_note is None and len(d) == 1
    row = memory_row(d, 0)
    assert "across earlier scans" in row["observed"] and not row["missing"], row
    assert row["bits_useful_bad_vs_useful"] > 2.0, row


def test_a_respawn_loop_across_runs_lands_on_the_supervisor(tmp_path):
    """A real supervisor restarting its child every second; one raw scan
    recorded per life; the incident comes from the lake alone."""
    lake = tmp_path / "lake"
    sup = subprocess.Popen(["sh", "-c", "while :; do sleep 1; done"], stdin=subprocess.DEVNULL)
    try:
        def kids():
            with open(f"/proc/{sup.pid}/task/{sup.pid}/children") as f:
                return f.read().split()
        for _ in range(6):
            wait_for(kids, timeout=30, interval=0.02)
            before = kids()
            assert write_scan(snapshot=collect(), lake=lake).written
            wait_for(lambda: kids() and kids() != before, timeout=30, interval=0.02)     # reborn
        t = triage(policy=load_policy(), priors=load_priors())
        h = history.read(lake, t.snapshot.host.boot_id)
        found = history.respawn_incidents(h, t.snapshot, t.protected_by)
    finally:
        sup.kill()
        sup.wait()
    # Other loops on this machine (every process is recorded) may be found too; ours must be.
    ours = [i for i in found if i.pid == sup.pid]
    assert [i.kind for i in ours] == ["respawn_loop"], found
    inc = ours[0]
    assert inc.evidence["respawns"] >= 3 and inc.action == "pause" and "reborn" in inc.words
    jsonschema.validate(inc.as_dict(), incident_schema(), cls=jsonschema.Draft202012Validator)


def _history(rows):
    """A History from (run, pid, ppid, start, cmd) rows; run r at time 600 r."""
    run, pid, ppid, start, cmd = (np.array(c) for c in zip(*rows))
    codes = np.unique(cmd, return_inverse=True)[1].ravel().astype(np.int64)
    return history.History(run * 600.0, run.astype(np.int64), pid.astype(np.int64), ppid.astype(np.int64),
                           start.astype(np.uint64), np.zeros(len(run), np.int64), codes, int(run.max()) + 1)


SUPERVISOR = [(r, 50, 1, 10, "s") for r in range(6)]


def test_respawns_need_one_life_at_a_time_and_no_gap():
    reborn = SUPERVISOR + [(r, 100 + r, 50, 1000 + r, "job") for r in range(6)]
    loops = history.respawns(_history(reborn))
    assert [(x.ppid, x.lives, x.runs) for x in loops] == [(50, 6, 6)]
    # A person re-running a command under the same shell: runs without it.
    rerun = SUPERVISOR + [(r, 100 + r, 50, 1000 + r, "job") for r in (0, 2, 4, 5)]
    assert history.respawns(_history(rerun)) == []
    # Workers alive together are not respawns.
    workers = SUPERVISOR + [(r, 100 + w, 50, 1000 + w, "job") for r in range(6) for w in range(4)]
    assert history.respawns(_history(workers)) == []
    # A parent missing from its run (or a reaper) is no parent.
    orphans = [(r, 100 + r, 1, 1000 + r, "job") for r in range(6)]
    assert history.respawns(_history(orphans)) == []


def test_a_hostile_or_empty_lake_gives_no_history_and_a_clear_note(tmp_path):
    t = triage(policy=load_policy(), priors=load_priors())
    boot = t.snapshot.host.boot_id
    assert not len(history.read(tmp_path / "none", boot)) and history.read(tmp_path / "none", boot).note is None
    lake = tmp_path / "lake"
    assert write_scan(t, lake=lake).written
    part = next((lake / "proc_samples").rglob("*.parquet"))
    part.write_bytes(b"PAR1 not really parquet \x1b[31m PAR1")
    h = history.read(lake, boot)
    assert not len(h) and h.note.startswith("earlier runs skipped:") and "\x1b" not in h.note
    with python_child(HOLDS) as child:
        d = deep_scan(Selection(pids=(child.pid,)), max_time_s=1.0, policy=load_policy(), priors=load_priors(),
                      lake=lake)
    assert len(d) == 1 and d.lake_note == h.note and d.growth.earlier is None
    assert history.respawn_incidents(history.History.empty(), t.snapshot) == []



def test_the_commands_go_on_over_a_corrupt_lake_and_say_why(tmp_path):
    import json

    from pt.testing import run_pt
    lake = tmp_path / "lake"
    t = triage(policy=load_policy(), priors=load_priors())
    assert write_scan(t, lake=lake).written
    next((lake / "proc_samples").rglob("*.parquet")).write_bytes(b"PAR1\x1b]0;owned\x07PAR1")
    with python_child(HOLDS) as child:
        deep = run_pt("deep-scan", "--pid", str(child.pid), "--max-time", "1", "--lake", str(lake), "--json",
                      cwd=tmp_path)
    assert json.loads(deep.stdout)["data"]["candidates"] and "earlier runs skipped:" in deep.stderr
    inc = run_pt("incidents", "--window", "0.2", "--lake", str(lake), "--json", cwd=tmp_path)
    assert "incidents" in json.loads(inc.stdout)["data"] and "earlier runs skipped:" in inc.stderr
    assert "\x1b" not in deep.stderr + inc.stderr and "Traceback" not in deep.stderr + inc.stderr
