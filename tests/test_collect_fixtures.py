"""The /proc parser on captured and hostile procfs trees (PT_PROCFS_PATH)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pt.collect import collect
from pt.collect._linux import PROCFS_ENV
from pt.testing import add_proc, make_tree, read_processes_python, row_of

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")

CAPTURED = Path(__file__).parent / "fixtures" / "procfs" / "linux-6.18-x86_64"

def test_captured_tree_matches_plain_python_reader():
    snap = collect(CAPTURED)
    ref = read_processes_python(CAPTURED)
    assert sorted(snap["pid"].tolist()) == sorted(ref)
    for pid, expected in ref.items():
        row = row_of(snap, pid)
        for key, value in expected.items():
            assert row[key] == value, (pid, key)
    assert snap.errors.vanished == snap.errors.denied == snap.errors.malformed == 0


def test_captured_tree_has_the_states_it_was_captured_with():
    snap = collect(CAPTURED)
    states = {chr(s) for s in snap["state"]}
    assert {"S", "R", "Z", "I"} <= states
    odd = snap["comm"] == "x) y (z"
    assert odd.sum() == 1 and snap["cmdline"][odd][0][1:] == ("600",)
    assert snap["kernel_thread"][snap["pid"] == 2][0]
    assert snap.host.boot_id == (CAPTURED / "sys/kernel/random/boot_id").read_text().strip()


def test_derived_columns_use_host_clock(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10, start=50_000, utime=150, stime=50)
    snap = collect(root)
    hz = os.sysconf("SC_CLK_TCK")
    row = row_of(snap, 10)
    assert row["cpu_time_s"] == pytest.approx(200 / hz)
    assert row["start_time"] == pytest.approx(1_700_000_000 + 50_000 / hz)
    assert row["elapsed_s"] == pytest.approx(max(1000.0 - 50_000 / hz, 0.0))
    assert row["rss_bytes"] == 385 * os.sysconf("SC_PAGE_SIZE")
    assert snap.host.boot_time == 1_700_000_000 and snap.host.uptime_s == 1000.0


@pytest.mark.parametrize("comm", [b"a b", b"x) y (z", b"((", b"))", b") S 1 1 1", b"new\nline",
                                  b"", b"\xff\xfe bad utf8"])
def test_hostile_comm(tmp_path, comm):
    root = make_tree(tmp_path)
    add_proc(root, 42, comm, ppid=7, nice=-5)
    row = row_of(collect(root), 42)
    assert row["comm"] == comm.decode("utf-8", "backslashreplace")
    assert (row["ppid"], row["nice"], chr(row["state"])) == (7, -5, "S")


def test_cmdline_variants(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10, cmdline=b"")                                # zombie / kernel thread
    add_proc(root, 11, cmdline=b"python\x00-c\x00print(1)")          # no trailing NUL
    add_proc(root, 12, cmdline=b"a\x00\x00b\x00")                    # empty argument kept
    add_proc(root, 13, cmdline=b"x" * 300_000 + b"\x00")              # longer than any buffer
    add_proc(root, 14, cmdline=b"caf\xc3\xa9\x00\xff\x00")            # utf-8 and invalid bytes
    add_proc(root, 15, cmdline=b"setproctitle: worker idle")          # one string with spaces
    snap = collect(root)
    assert row_of(snap, 10)["cmdline"] == ()
    assert row_of(snap, 11)["cmdline"] == ("python", "-c", "print(1)")
    assert row_of(snap, 12)["cmdline"] == ("a", "", "b")
    assert row_of(snap, 13)["cmdline"] == ("x" * 300_000,)
    assert row_of(snap, 14)["cmdline"] == ("café", "\\xff")
    assert row_of(snap, 15)["cmdline"] == ("setproctitle: worker idle",)


@pytest.mark.parametrize("stat", [
    b"", b"42 (trunc", b"42 (x) S 1 2", b"42 (x) S one 2 3", b"42 x S 1 1 1",
    b"42 (x)S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 1 1",
])
def test_malformed_stat_drops_the_row_and_counts_it(tmp_path, stat):
    root = make_tree(tmp_path)
    add_proc(root, 10)
    add_proc(root, 42, stat=stat)
    snap = collect(root)
    assert snap["pid"].tolist() == [10]
    assert snap.errors.malformed == 1 and snap.errors.malformed_pids == (42,)
    assert snap.errors.partial


def test_status_without_uid_nulls_uid_only(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 42, status=b"Name:\tx\nState:\tS\n")
    snap = collect(root)
    row = row_of(snap, 42)
    assert row["uid"] == -1 and row["euid"] == -1 and row["ppid"] == 1
    assert snap.errors.malformed_pids == (42,)


def test_real_and_effective_uid(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 42, uid=1000, euid=0)
    row = row_of(collect(root), 42)
    assert (row["uid"], row["euid"]) == (1000, 0)


def test_vanished_mid_scan_is_skipped_and_counted(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10)
    add_proc(root, 11, status=False)            # gone before status was read
    add_proc(root, 12, cmdline=None)            # gone before cmdline was read
    (root / "13").mkdir()                       # gone before stat was read
    snap = collect(root)
    assert snap["pid"].tolist() == [10]
    assert snap.errors.vanished == 3
    assert not snap.errors.partial               # exits are churn, not missing data


def test_non_process_entries_are_ignored(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10)
    for name in ("123abc", "sys2", "-1"):
        (root / name).mkdir()
    assert collect(root)["pid"].tolist() == [10]


def test_missing_root_raises_naming_the_path(tmp_path):
    with pytest.raises(OSError, match="nope"):
        collect(tmp_path / "nope")


def test_env_var_selects_the_tree(tmp_path, monkeypatch):
    root = make_tree(tmp_path)
    add_proc(root, 4242)
    monkeypatch.setenv(PROCFS_ENV, str(root))
    assert collect()["pid"].tolist() == [4242]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="permission test drops root's file-permission override with setpriv")
def test_unreadable_files_keep_the_row_with_nulls():
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp) / "proc")
        add_proc(root, 10)
        add_proc(root, 11)
        add_proc(root, 12)
        for unreadable in ("11/status", "11/cmdline", "12/stat"):
            os.chmod(root / unreadable, 0)
        code = ("import json; from pt.collect import collect; s = collect(%r); "
                "print(json.dumps([s['pid'].tolist(), s['uid'].tolist(), list(s['cmdline']), "
                "s.errors.denied, list(s.errors.denied_pids)]))" % str(root))
        # Without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH root obeys mode 0 like anyone.
        out = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=tmp, check=True)
    pids, uids, cmdlines, denied, denied_pids = json.loads(out.stdout)
    rows = sorted(zip(pids, uids, cmdlines))
    assert rows == [(10, 1000, ["sleep", "600"]), (11, -1, None)]  # 12: no stat, nothing known
    assert denied == 3 and sorted(denied_pids) == [11, 11, 12]
