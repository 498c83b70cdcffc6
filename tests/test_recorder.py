"""The telemetry recorder's hand-over to its forked writer: real forks, a
real fake procfs scan, the lake read back with DuckDB."""
from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys

import numpy as np
import pytest

from pt.config import ACTIONS, CLASSES
from pt.telemetry import duck, recorder
from pt.telemetry.recorder import Recorder, _pack, _unpack
from pt.testing import add_proc, make_tree
from pt.triage import triage


def arrays() -> dict:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(300, 4))
    return {"f": rng.normal(size=1000), "i": np.arange(500, dtype=np.int32), "b": rng.random(700) < 0.5,
            "fortran": np.asfortranarray(matrix), "strided": matrix[::3, 1], "empty": np.zeros(0),
            "objects": np.array(["a", None, ("x", "y")], dtype=object), "scalar": 2.5, "text": "ü"}


def same(got: dict, expected: dict) -> bool:
    for k, v in expected.items():
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                if got[k].tolist() != v.tolist():
                    return False
            elif got[k].dtype != v.dtype or got[k].shape != v.shape or not np.array_equal(got[k], v):
                return False
        elif got[k] != v:
            return False
    return True


@pytest.mark.parametrize("room", [None, 0, 5000, 1 << 20])
def test_packed_arrays_arrive_whole_whatever_room_the_shared_memory_has(room):
    """Arrays go through the shared memory while it has room, the rest (and
    everything without it) inside the pickled message; all arrive equal."""
    shared = None if room is None else mmap.mmap(-1, max(room, 1))
    data = arrays()
    message, _ = _pack(data, shared)
    got = _unpack(message, shared)
    assert same(got, data)
    in_message = len(message) > data["f"].nbytes
    assert in_message == (room is None or room < data["f"].nbytes + data["i"].nbytes)


def fake_scan_root(tmp_path):
    root = make_tree(tmp_path / "proc")
    for i in range(40):
        add_proc(root, 100 + i, b"python3", cmdline=f"python3\x00-m\x00worker\x00--id={i}\x00".encode(),
                 start=50_000 + i, utime=10 * i, state="Z" if i % 13 == 0 else "S")
    return root


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
@pytest.mark.parametrize("named, early", [(True, True), (True, False), (False, True), (False, False)])
def test_the_forked_writer_records_the_verdicts_the_scan_made(tmp_path, monkeypatch, named, early):
    """begin() forks the writer once the table is read, early() hands it the
    posteriors and start() the verdicts, through shared memory, as soon as
    each exists: the lake holds this scan's processes, posteriors and
    decisions, the same rows an unprepared write in this process gives, and
    the writer is reaped. What the writer holds is not sent again: the
    snapshot it was forked with (``named``: start() is given it, as ``pt
    scan`` does) and the posteriors early() sent."""
    from pt.telemetry.writer import write_scan
    if not recorder._can_fork():
        pytest.skip("other threads run here: the recorder would write on a thread, not fork")
    packed, sizes = [], []

    def pack(obj, shared, at=0):
        packed.append(obj)
        message, at = _pack(obj, shared, at)
        sizes.append(len(message))
        return message, at

    monkeypatch.setattr(recorder, "_pack", pack)
    root = fake_scan_root(tmp_path)
    rec = Recorder(tmp_path / "lake", procfs=root)
    t = triage(root=root, window_s=0.01, on_snapshot=rec.begin, on_posteriors=rec.early if early else None,
               on_verdicts=lambda t: rec.start(t, snapshot=t.snapshot if named else None))
    child = rec._child[0]
    rec.start(t, snapshot=t.snapshot)                       # a second hand-over: nothing, and nothing raised
    assert rec.error is None
    result = rec.result()
    *posteriors, (sent_triage, sent_snapshot, _, held, held_posteriors) = packed
    assert held is named and sent_snapshot is None and held_posteriors is early
    assert (sent_triage.snapshot is None) is named and (sent_triage.inference is None) is early
    assert len(posteriors) == early and all(a is b for p in posteriors for a, b in
                                            zip(p, (t.window, t.evidence, t.context, t.inference)))
    assert max(sizes) <= recorder.EARLY_FRAME_MAX          # all in the shared memory: frames alone in the pipe
    assert result.written, result.reason
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
    lake = duck.open_lake(tmp_path / "lake")
    _, rows = lake.query("SELECT pid, post__abandoned, post__zombie FROM proc_inference ORDER BY pid")
    order = np.argsort(t.snapshot["pid"])
    assert [r[0] for r in rows] == t.snapshot["pid"][order].tolist()
    k_abandoned, k_zombie = (CLASSES.index(c) for c in ("abandoned", "zombie"))
    assert np.array_equal([r[1] for r in rows], t.inference.posterior[order, k_abandoned])
    assert np.array_equal([r[2] for r in rows], t.inference.posterior[order, k_zombie])
    _, actions = lake.query("SELECT pid, action FROM decisions ORDER BY pid")
    assert [a for _, a in actions] == [ACTIONS[k] for k in t.decision.action[order]]
    _, samples = lake.query("SELECT pid, start_ticks, state FROM proc_samples ORDER BY pid")
    assert [(p, s) for p, s, _ in samples] == list(zip(t.snapshot["pid"][order].tolist(),
                                                       t.snapshot["start_ticks"][order].tolist()))
    assert [s for *_, s in samples] == [chr(c) for c in t.snapshot["state"][order]]
    plain = write_scan(t, lake=tmp_path / "plain", procfs=root, red=rec.red)
    assert plain.written, plain.reason
    for table in ("proc_samples", "proc_features", "proc_inference", "decisions"):
        query = f"SELECT * EXCLUDE (run_id, ts) FROM {table} ORDER BY pid"
        assert repr(lake.query(query)) == repr(duck.open_lake(tmp_path / "plain").query(query)), table  # NaN too


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
def test_a_writer_whose_scan_fails_exits_without_writing_and_is_reaped(tmp_path):
    """A scan that fails after forking its writer (a broken policy file, ^C)
    never sends the verdicts: result() closes the writer's inbox, and the
    writer writes nothing, exits and is reaped."""
    if not recorder._can_fork():
        pytest.skip("other threads run here: the recorder would write on a thread, not fork")
    root = fake_scan_root(tmp_path)
    rec = Recorder(tmp_path / "lake", procfs=root)

    def fail(snapshot):
        rec.begin(snapshot)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        triage(root=root, window_s=0.01, on_snapshot=fail)
    child = rec._child[0]
    result = rec.result()
    assert not result.written and not (tmp_path / "lake").exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
def test_a_writer_forked_at_the_write_has_the_scan_without_being_sent_it(tmp_path):
    """``pt scan --raw`` forks its writer only once the table is read: the child
    holds the snapshot already, writes it, and is reaped."""
    from pt.collect import collect
    if not recorder._can_fork():
        pytest.skip("other threads run here: the recorder would write on a thread, not fork")
    root = fake_scan_root(tmp_path)
    snapshot = collect(root)
    rec = Recorder(tmp_path / "lake", procfs=root)
    rec.start(snapshot=snapshot, scan_s=0.1)
    child = rec._child[0]
    result = rec.result()
    assert result.written, result.reason
    assert result.rows["proc_samples"] == len(snapshot) and "decisions" not in result.rows
    _, rows = duck.open_lake(tmp_path / "lake").query("SELECT pid FROM proc_samples ORDER BY pid")
    assert [r[0] for r in rows] == sorted(snapshot["pid"].tolist())
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)


# pt scan whose model fails after the telemetry writer was forked; on stderr, pt's children left.
FAILING_SCAN = """
import glob, json, os, sys
import pt.triage
def fail(*args, **kwargs):
    raise RuntimeError("the model failed")
pt.triage.infer = fail
from pt.cli import main
try:
    main(["scan"])
except RuntimeError:
    pass
left = [c for f in glob.glob(f"/proc/{os.getpid()}/task/*/children") for c in open(f).read().split()]
print(json.dumps(left), file=sys.stderr)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/task/*/children")
def test_pt_scan_that_fails_after_forking_its_writer_leaves_no_child(tmp_path):
    """The writer of a failed ``pt scan`` was left blocked on its inbox until
    pt exited, then orphaned to PID 1 (a zombie for good where PID 1 reaps
    nothing, as ``sleep infinity`` in a container). The scan now closes the
    inbox and reaps it before the error goes on."""
    from pt.testing import isolated_env
    out = subprocess.run([sys.executable, "-c", FAILING_SCAN], capture_output=True, text=True, cwd=tmp_path,
                         env=isolated_env(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stderr.strip().splitlines()[-1]) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the writer is forked")
def test_a_scan_that_cannot_be_handed_over_is_reported_and_its_writer_reaped(tmp_path, monkeypatch):
    """Packing the verdicts failed outside the guarded block: the inbox stayed
    open, the writer waited on it, and result() waited ``WAIT_S`` (60 s) to
    kill it. Now the inbox closes, the writer exits at once, and the result
    names the hand-over."""
    from pt.collect import collect
    if not recorder._can_fork():
        pytest.skip("other threads run here: the recorder would write on a thread, not fork")
    monkeypatch.setattr(recorder, "WAIT_S", 30.0)
    root = fake_scan_root(tmp_path)
    snapshot = collect(root)
    rec = Recorder(tmp_path / "lake", procfs=root)
    rec.begin(snapshot)
    child = rec._child[0]
    rec.start(snapshot=lambda: None)                     # a lambda does not pickle
    result = rec.result()
    assert not result.written
    assert "could not hand the scan to the telemetry writer" in result.reason
    assert "did not finish" not in result.reason
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
