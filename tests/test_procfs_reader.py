"""pt.collect.procfs: the one Python reader of per-process procfs files.

Hostile bytes are tested here once, on recorded and built trees; behaviour on
the real /proc with processes these tests start.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pt.act import identity
from pt.collect import collect
from pt.collect.procfs import LIVE, ProcFS, cgroup_path, parse_cgroup, parse_stat, scan_root
from pt.testing import add_proc, make_tree, named_process, row_of, zombie

FIXTURE = Path(__file__).parent / "fixtures" / "procfs" / "linux-6.18-x86_64"
TAIL = (b" S 1 1 1 0 -1 4194304 76 0 0 0 150 50 7 3 20 5 2 0 117777 2990080 385 18446744073709551615"
        + b" 0" * 26 + b" 139\n")    # fields 3 .. 52 (exit_code 139)


def stat_of(comm: bytes, tail: bytes = TAIL) -> bytes:
    return b"42 (" + comm + b")" + tail


# --- hostile bytes, once ------------------------------------------------------

@pytest.mark.parametrize("comm", [b"sleep", b"x) y (z", b") S 1 (", b"a\nb", b"a\x00b", b"()()", b"", b"\xff\xfe"])
def test_comm_is_up_to_the_last_paren_whatever_it_holds(comm):
    stat = parse_stat(stat_of(comm))
    assert stat is not None
    assert stat.comm == comm.decode("utf-8", "backslashreplace")
    assert (stat.state, stat.ppid, stat.utime, stat.stime, stat.cutime, stat.cstime) == ("S", 1, 150, 50, 7, 3)
    assert (stat.nice, stat.num_threads, stat.start_ticks, stat.rss, stat.exit_code) == (5, 2, 117777, 385, 139)


@pytest.mark.parametrize("data", [
    b"", b"42", b"42 (sleep", b"42 (sleep)", b"42 (sleep) S", b"42 sleep) S 1 1 1 0 -1",
    stat_of(b"sleep", TAIL[:40]),                              # truncated before rss
    stat_of(b"sleep", TAIL.replace(b" S ", b" Q ")),           # not a kernel state
    stat_of(b"sleep", TAIL.replace(b" 150 ", b" -150 ")),      # negative counter
    stat_of(b"sleep", TAIL.replace(b" 117777 ", b" 1" + b"9" * 30 + b" ")),   # past 63 bits
    stat_of(b"sleep", TAIL.replace(b" S 1 ", b" S 99999999 ")),              # ppid past PID_MAX_LIMIT
])
def test_a_malformed_stat_is_none(data):
    assert parse_stat(data) is None


def test_exit_code_is_none_where_the_kernel_does_not_write_it():
    rsslim = TAIL.index(b" 18446744073709551615")        # a stat that ends before field 52 (kernels before 3.5)
    stat = parse_stat(stat_of(b"sleep", TAIL[:rsslim] + b" 0 0\n"))
    assert stat is not None and stat.exit_code is None


def test_recorded_tree_parses_as_the_scan_does():
    proc = ProcFS(FIXTURE)
    snap = collect(FIXTURE)
    for pid in snap["pid"].tolist():
        stat, row = proc.stat(pid), row_of(snap, pid)
        assert stat.comm == row["comm"] and stat.start_ticks == row["start_ticks"]
        assert stat.ppid == row["ppid"] and ord(stat.state) == row["state"]
        assert proc.uid(pid) == (None if row["uid"] < 0 else row["uid"])
    assert proc.stat(4409).comm == "x) y (z" and proc.stat(4409).exit_code == 0


def test_hostile_tree(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42, status=b"Name:\tx\nUid:\t99999999999\t0\t0\t0\nSigIgn:\t0000000000001000\n")
    add_proc(root, 43, stat=b"43 (x\xff) Z 1 1 1", status=b"Uid:")
    (root / "42" / "io").write_bytes(b"rchar: 1\nwchar: 2\nsyscr: 3\n")              # truncated
    (root / "42" / "cgroup").write_bytes(b"0::/user.slice\ngarbage\n1:cpu\n\xff:x:/y\n2:memory:/a:b\n")
    (root / "42" / "oom_score").write_bytes(b"12abc\n")
    (root / "42" / "comm").write_bytes(b"a\x1b[2J\xff\n")
    proc = ProcFS(root)
    assert proc.uid(42) is None                              # past 32 bits
    assert proc.status_value(42, "SigIgn") == "0000000000001000"
    assert proc.status_value(42, "NoSuchKey") is None
    assert proc.io(42) is None
    assert proc.cgroup(42) == [(0, "", "/user.slice"), (2, "memory", "/a:b")]
    assert proc.int_value(42, "oom_score") is None
    for hostile in (b"--5\n", b"-\n", b"\xd9\xa3\n", b"1e3\n", b"9" * 30 + b"\n", b"5 5\n"):
        (root / "42" / "oom_score_adj").write_bytes(hostile)      # "--5" raised ValueError (review)
        assert proc.int_value(42, "oom_score_adj") is None, hostile
    (root / "42" / "oom_score_adj").write_bytes(b"-1000\n")
    assert proc.int_value(42, "oom_score_adj") == -1000
    assert proc.comm(42) == "a\x1b[2J\\xff"
    assert proc.stat(43) is None and proc.uid(43) is None
    for pid in (44, 0, -1, 2**40, True, "42"):               # gone, or not a pid
        assert proc.stat(pid) is None and proc.text(pid, "stat") is None and proc.tasks(pid) is None
        assert proc.link(pid, "exe") is None and proc.cgroup(pid) is None
    assert proc.tasks(42) is None                            # no task directory
    with pytest.raises(OSError):
        proc.fds(42)


def test_parse_cgroup_keeps_colons_in_paths():
    assert parse_cgroup("0::/a:b\n3:cpu,cpuacct:/x\n") == [(0, "", "/a:b"), (3, "cpu,cpuacct", "/x")]


def test_cgroup_path_prefers_the_unified_hierarchy():
    hybrid = "12:cpu:/x\n1:name=systemd:/user.slice/a.service\n0::/user.slice/b.service\n"
    assert cgroup_path(hybrid) == "/user.slice/b.service"
    assert cgroup_path("1:name=systemd:/system.slice/c.service\n") == "/system.slice/c.service"
    for unknown in (None, "", "garbage", "3:cpu:/x", "0:", "\x00::/y"):
        assert cgroup_path(unknown) is None


def test_machine_wide_files_have_one_parser_each(tmp_path):
    from pt.collect.host import mem_total
    from pt.collect.system import parse_loadavg, parse_meminfo, parse_psi, read_system
    from pt.watch.pressure import read_pressure
    assert parse_loadavg("1.00 0.50 0.25 2/345 6789\n") == (1.0, 0.5, 0.25, 2.0, 345.0)
    for bad in ("", "1 2 3", "nan 1 1 1/2 3", "1 1 1 1/2/3 4", "1 1 inf 1/2 3"):
        assert parse_loadavg(bad) is None
    assert parse_meminfo("MemTotal:  1000 kB\nMemFree: \u00b2 kB\nX: -5 kB\nSwap: " + "9" * 30 + "\n") == \
        {"MemTotal": 1024000}
    assert parse_psi("some avg10=1.5 avg60=inf total=3\nfull avg10=x\nbogus avg10=1\n") == \
        {"some": {"avg10": 1.5, "total": 3.0}, "full": {}}
    root = make_tree(tmp_path / "proc")
    (root / "meminfo").write_text("MemTotal: 1000 kB\nMemAvailable: 250 kB\n")
    (root / "loadavg").write_text("3.0 2.0 1.0 1/9 7\n")
    (root / "pressure").mkdir()
    (root / "pressure" / "cpu").write_text("some avg10=12.50 avg60=1.00 avg300=0.00 total=1\n")
    system, pressure = read_system(root), read_pressure(str(root), now=1.0)
    assert system["mem_total_bytes"] == pressure.mem_total == mem_total(root) == 1024000
    assert system["mem_available_bytes"] == pressure.mem_available == 256000
    assert system["psi_cpu_some_avg10"] == pressure.psi["cpu"]["some"] == 12.5
    assert system["load1"] == 3.0


# --- the two roots --------------------------------------------------------------

def test_actions_read_the_live_proc_whatever_PT_PROCFS_PATH_says(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "proc")
    add_proc(root, os.getpid(), comm=b"impostor", start=1)
    monkeypatch.setenv("PT_PROCFS_PATH", str(root))
    assert scan_root().root == str(root)                     # reading stages follow the variable
    assert scan_root().stat(os.getpid()).comm == "impostor"
    assert LIVE.root == "/proc"
    mine = identity.read_stat(os.getpid())
    assert mine.start_ticks == LIVE.stat(os.getpid()).start_ticks != 1
    assert identity.read_comm(os.getpid()) != "impostor"
    from pt.telemetry.writer import capabilities
    (root / "pressure").mkdir()
    assert capabilities(None)["psi"] is False                 # the run records the tree's PSI, not /proc's
    (root / "pressure" / "cpu").write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert capabilities(None)["psi"] is True


# --- behaviour on the real /proc --------------------------------------------------

def test_live_process_with_a_hostile_name():
    with named_process(b") S 1 (x") as (proc, _):
        stat = LIVE.stat(proc.pid)
        assert stat.comm == ") S 1 (x" and stat.ppid == os.getpid() and stat.state in "SR"
        assert LIVE.comm(proc.pid) == ") S 1 (x"
        assert LIVE.uid(proc.pid) == os.getuid()
        assert LIVE.link(proc.pid, "exe") == os.path.realpath(sys.executable)
        assert LIVE.tasks(proc.pid) == [proc.pid] and LIVE.has_task(proc.pid, proc.pid)
        assert LIVE.io(proc.pid)["rchar"] >= 0
        assert LIVE.cmdline(proc.pid).split("\0")[0] == sys.executable
        assert 0 in LIVE.fds(proc.pid)
        snap = collect("/proc")
        assert row_of(snap, proc.pid)["start_ticks"] == stat.start_ticks
        assert row_of(snap, proc.pid)["comm"] == stat.comm


def test_a_zombie_has_an_exit_code_and_a_gone_process_reads_as_none():
    with zombie() as proc:
        stat = LIVE.stat(proc.pid)
        assert stat.state == "Z" and stat.exit_code == 0          # python -c pass: wait status 0
        assert identity.read_stat(proc.pid).exit_code == 0
    gone = subprocess.Popen(["true"])
    gone.wait()
    now = LIVE.stat(gone.pid)
    assert now is None or now.comm != "true"                  # reaped: nothing, or another process
    assert LIVE.uid(gone.pid) is None or now is not None


# --- identity strings -------------------------------------------------------------

def test_identity_string_round_trips():
    assert identity.identity_string("b0", 12, 34) == "b0:12:34"
    assert identity.parse_identity("b0:12:34") == ("b0", 12, 34)
    assert identity.identity_string(None, 12, 34) == f"{identity.UNKNOWN_BOOT}:12:34"
    assert identity.parse_identity(identity.identity_string(None, 12, 34)) == (None, 12, 34)
    for bad in ("", "12:34", "b:x:1", ":1:2", "b:1:2:3", "b:-1:2"):
        with pytest.raises(ValueError, match="BOOT_ID:START_TICKS:PID"):
            identity.parse_identity(bad)
