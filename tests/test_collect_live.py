"""The Linux collector on the live /proc, against real processes and psutil/ps."""
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from pt.collect import collect
from pt.fields import tty_names
from pt.testing import orphan, renamed_sleeper, row_of, sleepers, spinner, start_ticks, wait_for, zombie

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


def test_snapshot_columns_have_one_row_per_process():
    snap = collect()
    n = len(snap)
    assert n > 0
    assert all(len(col) == n for col in snap.columns.values())
    assert len(np.unique(snap["pid"])) == n
    assert snap["pid"].dtype == np.int32 and snap["uid"].dtype == np.int64


def test_host_facts_match_the_machine():
    host = collect().host
    assert host.boot_id == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert host.clock_ticks == os.sysconf("SC_CLK_TCK")
    assert host.page_size == os.sysconf("SC_PAGE_SIZE")
    assert host.cpu_count == os.cpu_count()
    assert abs(host.boot_time - psutil.boot_time()) < 2
    assert abs(host.taken_at - time.time()) < 5


def test_own_children_are_seen_with_exact_fields():
    with sleepers(3) as procs:
        snap = collect()
        me = os.getpid()
        for p in procs:
            row = row_of(snap, p.pid)
            assert row["ppid"] == me
            assert row["uid"] == os.getuid() and row["euid"] == os.geteuid()
            assert chr(row["state"]) == "S"
            assert row["comm"] == "sleep"
            assert row["cmdline"][1:] == ("600",)
            assert row["start_ticks"] == start_ticks(p.pid)
            assert row["threads"] == 1
            assert not row["kernel_thread"]
            assert 0 <= row["elapsed_s"] < 60
            assert row["rss_bytes"] > 0


def test_zombie_has_state_z_and_empty_cmdline():
    with zombie() as z:
        row = row_of(collect(), z.pid)
        assert chr(row["state"]) == "Z"
        assert row["cmdline"] == ()
        assert row["ppid"] == os.getpid()


def test_orphan_is_reparented_away_from_its_dead_parent():
    with orphan() as (pid, _, dead_parent):
        snap = collect()
        row = row_of(snap, pid)
        assert row["ppid"] not in (dead_parent, os.getpid())
        assert dead_parent not in snap["pid"]
        row_of(snap, int(row["ppid"]))  # the new parent (init or a subreaper) is alive


def test_spinner_accumulates_cpu_time():
    with spinner() as p:
        wait_for(lambda: row_of(collect(), p.pid)["cpu_time_s"] >= 0.2, timeout=20)
        row = row_of(collect(), p.pid)
        assert row["cpu_time_s"] <= row["elapsed_s"] + 0.05


@pytest.mark.parametrize("name", ["a b (c)", "x) y (z", "two\nlines", ") S 1 2 3", "ümlaut"])
def test_hostile_comm_parses_on_live_proc(tmp_path, name):
    with renamed_sleeper(tmp_path, name) as p:
        row = row_of(collect(), p.pid)
        assert row["comm"] == name.encode()[:15].decode("utf-8", "backslashreplace")
        assert chr(row["state"]) == "S"
        assert row["ppid"] == os.getpid()


def test_kernel_threads_flagged():
    snap = collect()
    kthreadd = np.flatnonzero(snap["pid"] == 2)
    if len(kthreadd) == 0:
        pytest.skip("no kthreadd visible in this pid namespace")
    assert snap["kernel_thread"][kthreadd[0]]
    assert not snap["kernel_thread"][snap["pid"] == os.getpid()][0]


def as_pt_text(text: str) -> str:
    """psutil's text (undecodable bytes kept as surrogates) in pt's
    representation (undecodable bytes shown as ``\\xff``), to compare the two."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def undecodable_sleeper(tmp_path: Path):
    """A sleeper whose comm and argv[0] are not valid UTF-8."""
    exe = tmp_path / os.fsdecode(b"bad\xff\xfe")
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([exe, "600"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: b") S " in Path(f"/proc/{proc.pid}/stat").read_bytes())
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_agrees_with_psutil_on_every_stable_field(tmp_path):
    """Fields that do not change while a process lives, for every process;
    threads and memory (which any live process may change) for our sleepers,
    one of them named in bytes that are not UTF-8."""
    with sleepers(5) as procs, undecodable_sleeper(tmp_path) as odd:
        snap = collect()
        ours = {p.pid for p in procs} | {odd.pid}
        assert row_of(snap, odd.pid)["comm"] == "bad\\xff\\xfe"
        compared = set()
        for i, pid in enumerate(snap["pid"].tolist()):
            try:
                p = psutil.Process(pid)
                with p.oneshot():
                    info = dict(ppid=p.ppid(), uids=p.uids(), name=as_pt_text(p.name()),
                                cmdline=[as_pt_text(a) for a in p.cmdline()],
                                nice=p.nice(), threads=p.num_threads(), terminal=p.terminal(),
                                create_time=p.create_time(), vms=p.memory_info().vms)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            if snap["state"][i] == ord("Z") or abs(snap["start_time"][i] - info["create_time"]) > 0.02:
                continue  # exited, or the pid was reused since the snapshot
            if snap["ppid"][i] != info["ppid"]:  # only if reparented: its parent exited
                assert not psutil.pid_exists(int(snap["ppid"][i])), pid
            assert snap["uid"][i] == info["uids"].real and snap["euid"][i] == info["uids"].effective
            if list(snap["cmdline"][i]) != info["cmdline"]:
                continue  # it exec'd another program since the snapshot (same pid and start time)
            if not snap["kernel_thread"][i]:  # kworkers rename themselves as they work
                assert info["name"].startswith(snap["comm"][i]), pid
            assert snap["nice"][i] == info["nice"], pid
            tty = tty_names(snap["tty_nr"][i:i + 1])[0]
            assert (None if tty is None else "/dev/" + tty) == info["terminal"], pid
            if pid in ours:
                assert list(snap["cmdline"][i]) == info["cmdline"]
                assert snap["threads"][i] == info["threads"]
                assert snap["vsize_bytes"][i] == info["vms"]
            compared.add(pid)
    assert len(compared) >= 5 and ours <= compared


def test_agrees_with_ps():
    """Our sleepers, ourselves and pid 1: processes that cannot change parent,
    group or session between the two reads."""
    with sleepers(2) as procs:
        snap = collect()
        ps = subprocess.run(["ps", "-eo", "pid=,ppid=,pgid=,sid=,ruid=,ni="],
                            capture_output=True, text=True, check=True).stdout
    seen = {int(line.split()[0]): line.split() for line in ps.splitlines()}
    stable = {1, os.getpid(), *(p.pid for p in procs)}
    matched = 0
    for i, pid in enumerate(snap["pid"].tolist()):
        if pid not in seen or pid not in stable:
            continue
        _, ppid, pgid, sid, ruid, ni = seen[pid]
        assert (snap["ppid"][i], snap["pgid"][i], snap["sid"][i], snap["uid"][i]) == \
            (int(ppid), int(pgid), int(sid), int(ruid)), pid
        if ni != "-":
            assert snap["nice"][i] == int(ni)
        matched += 1
    assert matched >= 3   # pid 1 may be hidden in a pid namespace


def test_take_selects_rows_in_every_column():
    snap = collect()
    sub = snap.take(snap["pid"] == os.getpid())
    assert len(sub) == 1
    assert all(len(c) == 1 for c in sub.columns.values())
    assert sub.host is snap.host
