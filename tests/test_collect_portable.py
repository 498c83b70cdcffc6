"""The portable (psutil) collector against the procfs one, on this machine.

Both read the live system; the contract is the same columns with the same
dtypes, the same facts for processes this test started, and "unknown" (never
a guess) for what psutil cannot see.
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("psutil")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with procfs")

from pt.collect import COLLECTOR_ENV, CollectorUnavailable, _linux, _psutil, backend  # noqa: E402
from pt.collect.snapshot import TPGID_UNKNOWN  # noqa: E402
from pt.testing import kill_if_same, row_of, start_ticks, wait_for  # noqa: E402


def _exec_done(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "sleep"
    except OSError:
        return False


@pytest.fixture(scope="module")
def both():
    proc = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _exec_done(proc.pid))           # not the forked python any more
        yield proc.pid, _linux.collect(), _psutil.collect()
    finally:
        kill_if_same(proc.pid, start_ticks(proc.pid))
        proc.wait()


def test_same_columns_and_dtypes(both):
    _, procfs, portable = both
    assert procfs.columns.keys() == portable.columns.keys()
    for name, column in procfs.columns.items():
        assert portable[name].dtype == column.dtype, name
        assert len(portable[name]) == len(portable), name
    assert portable.host.collector == "psutil" and procfs.host.collector == "procfs"
    assert portable.host.boot_id == procfs.host.boot_id


def test_same_facts_for_a_process_started_here(both):
    pid, procfs, portable = both
    a, b = row_of(procfs, pid), row_of(portable, pid)
    for name in ("pid", "ppid", "pgid", "sid", "tty_nr", "uid", "euid", "nice", "threads", "comm",
                 "cmdline", "kernel_thread"):
        assert a[name] == b[name], name
    assert abs(int(a["start_ticks"]) - int(b["start_ticks"])) <= 1
    assert chr(b["state"]) == chr(a["state"]) == "S"


def test_own_process_and_kernel_threads(both):
    _, procfs, portable = both
    me = row_of(portable, os.getpid())
    assert me["cmdline"] and me["uid"] == os.getuid()
    kthreads = set(procfs["pid"][procfs["kernel_thread"]].tolist())
    flagged = set(portable["pid"][portable["kernel_thread"]].tolist())
    assert flagged <= kthreads | {2}            # never a user process taken for a kernel thread


def test_what_psutil_cannot_see_is_unknown(both):
    _, _, portable = both
    has_tty = portable["tty_nr"] != 0
    assert np.all(portable["tpgid"][has_tty] == TPGID_UNKNOWN)
    window = _psutil.observe_window(portable.take(portable["pid"] == os.getpid()), 0.0)
    assert np.all(window.wait_ticks == -1)                 # run-queue delay: not observed
    observed = _psutil.read_observed(portable.take(portable["pid"] == os.getpid()))
    assert np.all(observed.stdio_null == -1)
    assert np.all(np.equal(observed.units.cgroup, None))


def test_window_sees_exit_and_pid_reuse_as_not_alive():
    proc = subprocess.Popen(["sleep", "300"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: start_ticks(proc.pid) is not None)
        snap = _psutil.collect()
        snap = snap.take(snap["pid"] == proc.pid)
        opened = _psutil.start_window(snap)
    finally:
        kill_if_same(proc.pid, start_ticks(proc.pid))
        proc.wait()
    window = opened.finish(0.0)
    assert window.alive.tolist() == [False] and window.ticks.tolist() == [0]


def test_backend_selection(monkeypatch):
    monkeypatch.delenv(COLLECTOR_ENV, raising=False)
    assert backend() == "procfs"
    monkeypatch.setenv(COLLECTOR_ENV, "psutil")
    assert backend() == "psutil"
    monkeypatch.setenv(COLLECTOR_ENV, "bogus")
    with pytest.raises(CollectorUnavailable, match="PT_COLLECTOR='bogus' names no collector"):
        backend()


def test_unsupported_platform_is_one_clear_message(tmp_path):
    """No /proc (another OS) and no psutil: exit 1 and one line naming what
    is missing, no traceback."""
    code = ("import sys; sys.modules['psutil'] = None; sys.platform = 'sunos5'; "
            "from pt.cli import main; sys.exit(main(['scan']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PT_TELEMETRY": "off"}, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "needs Linux /proc or the psutil package" in done.stderr and "'sunos5'" in done.stderr


def test_scan_through_psutil_cli(tmp_path):
    import json
    env = {**os.environ, COLLECTOR_ENV: "psutil", "PT_TELEMETRY": "off"}
    done = subprocess.run([sys.executable, "-m", "pt", "scan", "--raw", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["host"]["collector"] == "psutil"
    assert any(p["pid"] == 1 for p in out["data"]["processes"])
