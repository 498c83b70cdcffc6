"""Deep-scan sampler: kept-fd pread passes over the test's own processes,
captured and fake procfs trees, fd budget, system samples, series."""
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pt.collect._sampler import (
    FIELDS,
    MODES,
    REASONS,
    SYSTEM_FIELDS,
    ProcSampler,
    SystemSampler,
    children_activity,
    choose_mode,
)
from pt.collect.series import COUNTERS, Sampler, sample_series
from pt.testing import (
    add_proc,
    fd_count,
    make_tree,
    python_child,
    sample_python,
    sleepers,
    spinner,
    start_ticks,
    zombie,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

CAPTURED = Path(__file__).parent / "fixtures" / "procfs" / "linux-6.18-x86_64-sampler"
SPIN, SLEEP, WRITER, ZOMBIE = 21441, 21442, 21443, 21444
HZ = os.sysconf("SC_CLK_TCK")


def identities(*procs):
    pids = np.array([p if isinstance(p, int) else p.pid for p in procs], np.int32)
    return pids, np.array([start_ticks(int(p)) for p in pids], np.uint64)


def tree_identities(root, pids):
    starts = []
    for pid in pids:
        stat = (Path(root) / str(pid) / "stat").read_bytes()
        starts.append(int(stat[stat.rfind(b")") + 2:].split()[19]))
    return np.array(pids, np.int32), np.array(starts, np.uint64)


def add_sampled_proc(root, pid, **kwargs):
    """A fake process with every file the sampler reads."""
    d = add_proc(root, pid, **kwargs)
    (d / "io").write_text("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 0\n"
                          "cancelled_write_bytes: 0\n")
    (d / "schedstat").write_text("1000 20 3\n")
    return d


def one_pass(sampler):
    out, state, alive = sampler.new_arrays()
    sampler.sample(out, state, alive)
    return {name: out[k] for k, name in enumerate(FIELDS)} | {"state": state, "alive": alive.view(bool)}


# --- parsers on the captured tree ---------------------------------------------------

@pytest.mark.parametrize("mode", sorted(MODES))
def test_captured_tree_matches_plain_python_reader(mode):
    pids, starts = tree_identities(CAPTURED, [SPIN, SLEEP, WRITER, ZOMBIE])
    with ProcSampler(pids, starts, CAPTURED, mode=mode) as sampler:
        got = one_pass(sampler)
        assert sampler.mode == mode and sampler.kept_fds == MODES[mode] * 4
    ref = sample_python(CAPTURED, pids, starts)
    for name, expected in ref.items():
        np.testing.assert_array_equal(got[name], expected, err_msg=name)
    assert [chr(s) for s in got["state"]] == ["R", "S", "S", "Z"]
    assert got["write_bytes"][2] == 3280896 and got["wchar"][2] == 3276806
    assert got["syscalls"][2] == 166 + 52
    assert (got["run_ns"] > 0).all() and got["alive"].all()


def test_without_ctx_switches_status_is_never_opened():
    pids, starts = tree_identities(CAPTURED, [SPIN, SLEEP])
    with ProcSampler(pids, starts, CAPTURED, ctx_switches=False) as sampler:
        assert sampler.kept_fds == 6 and not sampler.ctx_switches
        got = one_pass(sampler)
    ref = sample_python(CAPTURED, pids, starts)
    assert (got["vol_ctx"] == -1).all() and (got["invol_ctx"] == -1).all()
    for name in ("cpu_ticks", "rchar", "run_ns", "timeslices", "state"):
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    assert got["timeslices"].tolist() == [184, 2]


def test_captured_tree_fake_edits_are_parsed(tmp_path):
    root = shutil.copytree(CAPTURED, tmp_path / "proc")
    (root / str(SLEEP) / "schedstat").write_text("123 456 7\n")
    status = (root / str(SLEEP) / "status").read_text()
    (root / str(SLEEP) / "status").write_text(
        status.replace("nonvoluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:\t77 #"))
    (root / str(SPIN) / "io").write_text("garbage\n")          # malformed io: -1, still alive
    pids, starts = tree_identities(root, [SPIN, SLEEP])
    with ProcSampler(pids, starts, root) as sampler:
        got = one_pass(sampler)
    assert got["run_ns"][1] == 123 and got["wait_ns"][1] == 456 and got["invol_ctx"][1] == 77
    assert got["rchar"][0] == -1 and got["alive"].all() and got["cpu_ticks"][0] > 0


# --- identity, exit, reuse ------------------------------------------------------------

def test_refuses_a_pid_whose_start_time_does_not_match():
    with sleepers(2) as procs:
        pids, starts = identities(*procs)
        starts[1] += 1
        baseline = fd_count()
        with ProcSampler(pids, starts) as sampler:
            assert REASONS[sampler.reason[1]] == "refused"
            assert sampler.kept_fds == 4 and fd_count() == baseline + 1 + 4
            got = one_pass(sampler)
            assert got["alive"].tolist() == [True, False]
            assert (np.array([got[f][1] for f in FIELDS]) == -1).all()
        assert fd_count() == baseline


def test_exit_mid_sampling_marks_dead_and_closes_fds():
    baseline = fd_count()
    with sleepers(2) as procs:
        pids, starts = identities(*procs)
        sampler = ProcSampler(pids, starts)
        assert fd_count() == baseline + 1 + 8
        assert one_pass(sampler)["alive"].all()
        procs[0].kill()
        procs[0].wait()                                      # reaped: gone for good
        got = one_pass(sampler)
        assert got["alive"].tolist() == [False, True]
        assert REASONS[sampler.reason[0]] == "exited" and got["cpu_ticks"][0] == -1
        assert sampler.kept_fds == 4 and fd_count() == baseline + 1 + 4
        sampler.close()
        assert fd_count() == baseline
        with pytest.raises(ValueError, match="closed"):
            one_pass(sampler)


def test_a_zombie_is_sampled_until_reaped():
    with zombie() as z:
        pids, starts = identities(z)
        with ProcSampler(pids, starts) as sampler:
            got = one_pass(sampler)
            assert got["alive"][0] and chr(got["state"][0]) == "Z"
            z.wait()
            assert not one_pass(sampler)["alive"][0]


def test_start_time_is_rechecked_on_every_read(tmp_path):
    """A kept fd cannot follow a reused pid on real procfs; on a fake tree the
    file is rewritten in place, so only the start-time check catches it."""
    root = make_tree(tmp_path)
    d = add_sampled_proc(root, 10, start=500)
    add_sampled_proc(root, 11, start=600)
    for mode in MODES:
        with ProcSampler(np.array([10, 11], np.int32), np.array([500, 600], np.uint64), root,
                         mode=mode) as sampler:
            assert one_pass(sampler)["alive"].all()
            stat = (d / "stat").read_bytes()
            (d / "stat").write_bytes(stat.replace(b" 500 ", b" 501 "))
            got = one_pass(sampler)
            assert got["alive"].tolist() == [False, True], mode
            assert REASONS[sampler.reason[0]] == "reused"
            (d / "stat").write_bytes(stat)                   # the old start again: still dead
            assert one_pass(sampler)["alive"].tolist() == [False, True]
            assert sampler.kept_fds == MODES[mode]            # status, io, schedstat of 11


def test_malformed_and_missing_files_never_raise(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10, stat=b"10 (x) S 1 2\n")                # truncated stat
    add_proc(root, 11, start=7)                               # stat only: other files absent
    d = add_proc(root, 12, start=8)
    with ProcSampler(np.array([10, 11, 12], np.int32), np.array([0, 7, 8], np.uint64), root,
                     mode="reopen") as sampler:
        assert REASONS[sampler.reason[0]] == "refused"
        (d / "stat").write_bytes(b"12 (x) S\n")
        got = one_pass(sampler)
        assert REASONS[sampler.reason[2]] == "malformed"
    assert got["alive"].tolist() == [False, True, False]
    assert got["cpu_ticks"][1] == 200 and got["rchar"][1] == -1 and got["run_ns"][1] == -1


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="permission test drops root's file-permission override with setpriv")
def test_unreadable_io_nulls_its_columns_and_keeps_sampling():
    with tempfile.TemporaryDirectory() as tmp:
        root = shutil.copytree(CAPTURED, Path(tmp) / "proc")
        os.chmod(root / str(WRITER) / "io", 0)
        pids, starts = tree_identities(root, [SLEEP, WRITER])
        code = ("import json, numpy as np; from pt.collect._sampler import ProcSampler, FIELDS\n"
                f"s = ProcSampler(np.array({pids.tolist()}, np.int32), np.array({starts.tolist()}, "
                f"np.uint64), {str(root)!r})\n"
                "out, st, al = s.new_arrays(); s.sample(out, st, al)\n"
                "print(json.dumps([dict(zip(FIELDS, out[:, 1].tolist())), al.tolist(), "
                "s.io_denied.tolist()]))")
        out = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                              sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=tmp, check=True)
    row, alive, io_denied = json.loads(out.stdout)
    assert alive == [1, 1] and io_denied == [False, True]
    assert all(row[k] == -1 for k in ("rchar", "wchar", "syscalls", "read_bytes", "write_bytes"))
    assert row["cpu_ticks"] >= 0 and row["vol_ctx"] >= 0 and row["run_ns"] > 0


# --- fd budget ----------------------------------------------------------------------

def test_mode_follows_the_fd_budget():
    assert choose_mode(100, 400)[0] == "pread"
    assert choose_mode(100, 399)[0] == "pread-stat-io"
    assert choose_mode(100, 199)[0] == "reopen"
    assert choose_mode(0, 0)[0] == "pread"
    pids, starts = tree_identities(CAPTURED, [SPIN, SLEEP, WRITER])
    for budget, mode, kept in ((12, "pread", 12), (11, "pread-stat-io", 6), (5, "reopen", 0)):
        with ProcSampler(pids, starts, CAPTURED, max_fds=budget) as sampler:
            assert (sampler.mode, sampler.kept_fds) == (mode, kept)
            assert str(budget) in sampler.mode_reason
            assert one_pass(sampler)["alive"].all()
    with pytest.raises(ValueError, match="mode must be"):
        ProcSampler(pids, starts, CAPTURED, mode="mmap")


def test_rlimit_nofile_degrades_the_mode_and_exhaustion_leaks_nothing(tmp_path):
    root = make_tree(tmp_path)
    for pid in range(10, 30):
        add_sampled_proc(root, pid, start=pid)
    pids, starts = np.arange(10, 30, dtype=np.int32), np.arange(10, 30, dtype=np.uint64)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    baseline = fd_count()
    # Budget = limit - open - reserve(64): 36 free fds.
    resource.setrlimit(resource.RLIMIT_NOFILE, (baseline + 100, hard))
    try:
        with ProcSampler(pids, starts, root) as sampler:          # 20 x 2 > 36: reopen
            assert sampler.mode == "reopen" and sampler.kept_fds == 0
            assert one_pass(sampler)["alive"].all()
        with ProcSampler(pids[:10], starts[:10], root) as sampler:  # 10 x 2 <= 36
            assert sampler.mode == "pread-stat-io" and sampler.kept_fds == 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (baseline + 40, hard))
        with pytest.raises(OSError, match="out of file descriptors"):
            ProcSampler(pids, starts, root, mode="pread")            # forced: 80 fds
        assert fd_count() == baseline
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- system sampler -----------------------------------------------------------------

def system_sample(root):
    out = np.empty(len(SYSTEM_FIELDS))
    with SystemSampler(root) as s:
        s.sample(out)
        present = s.present
    return dict(zip(SYSTEM_FIELDS, out)), present


def test_system_sampler_on_this_machine():
    row, present = system_sample("/proc")
    assert present["loadavg"] and present["meminfo"]
    assert row["load1"] >= 0 and row["procs_total"] >= 1
    assert 0 < row["mem_available_kb"] <= row["mem_total_kb"]
    psi = os.path.exists("/proc/pressure/cpu")
    assert present["pressure/cpu"] == psi
    assert np.isfinite(row["cpu_some_total_us"]) == psi


def test_system_sampler_on_captured_and_psi_less_trees(tmp_path):
    row, present = system_sample(CAPTURED)
    assert all(present.values()) and all(np.isfinite(list(row.values())))
    assert row["mem_total_kb"] == 24684092
    root = make_tree(tmp_path)
    (root / "loadavg").write_text("0.50 1.25 2.00 3/456 7890\n")
    (root / "meminfo").write_text("MemTotal:  1000 kB\nMemFree:  10 kB\nMemAvailable:  500 kB\n")
    row, present = system_sample(root)
    assert [row[k] for k in ("load1", "load5", "load15", "procs_running", "procs_total")] \
        == [0.5, 1.25, 2.0, 3, 456]
    assert (row["mem_total_kb"], row["mem_available_kb"]) == (1000, 500)
    assert np.isnan(row["swap_free_kb"]) and not present["pressure/io"]
    assert all(np.isnan(row[k]) for k in SYSTEM_FIELDS if "some" in k or "full" in k)
    # A kernel before 5.13 has no "full" line for cpu.
    (root / "pressure").mkdir()
    (root / "pressure" / "cpu").write_text("some avg10=1.50 avg60=0.00 avg300=0.00 total=42\n")
    row, _ = system_sample(root)
    assert (row["cpu_some_avg10"], row["cpu_some_total_us"]) == (1.5, 42)
    assert np.isnan(row["cpu_full_avg10"]) and np.isnan(row["io_some_avg10"])


# --- series on real processes ---------------------------------------------------------

def test_spinner_gains_ticks_each_interval_and_a_sleeper_none():
    with spinner() as busy, sleepers(1) as (idle,):
        pids, starts = identities(busy, idle)
        series = sample_series(pids, starts, n_ticks=11, interval_s=0.1, extras_every=0)
    assert len(series) == 11 and series.alive.all()
    ticks = series.delta("cpu_ticks")
    span = (series.times[-1] - series.times[0]) * HZ
    # At most a whole CPU (one thread); a loaded machine gives it less, but some.
    assert 0 < ticks[:, 0].sum() <= 1.1 * span + 2
    assert (ticks[:, 1] == 0).all() and (series.delta("run_ns")[:, 0] > 0).any()
    share = series.cpu_share()
    assert np.isfinite(share).all() and (share[:, 1] == 0).all()
    assert {chr(s) for s in series.state[:, 1]} <= {"S"}


def test_schedule_does_not_drift():
    with sleepers(1) as procs:
        series = sample_series(*identities(*procs), n_ticks=8, interval_s=0.05, extras_every=0)
    elapsed = series.times[-1] - series.times[0]
    assert 7 * 0.05 - 0.01 <= elapsed <= 7 * 0.05 + 0.05 * (1 + series.skipped_slots)
    cost = series.cost()                    # how cheap it is is measured in bench/
    assert 0 <= cost["pass_cpu_s"] <= cost["pass_s"] + 0.01


def test_io_shows_in_byte_and_syscall_deltas(tmp_path):
    code = ("import sys, time\nf = open(sys.argv[1], 'wb')\nprint('ready', flush=True)\n"
            "while True:\n    f.write(b'x' * 65536); f.flush(); time.sleep(0.01)\n")
    with python_child(code, str(tmp_path / "w.bin")) as writer, sleepers(1) as (idle,):
        series = sample_series(*identities(writer, idle), n_ticks=6, interval_s=0.1, extras_every=0)
    wrote = series.delta("wchar")
    assert wrote[:, 0].sum() >= 65536 and (wrote[:, 1] == 0).all()
    assert series.delta("syscalls")[:, 0].sum() >= 1
    assert (series.delta("vol_ctx")[:, 0] > 0).any()
    assert set(series.deltas()) == set(COUNTERS)


def test_callback_drops_candidates_and_stops():
    baseline = fd_count()
    seen = []

    def on_tick(series, t):
        seen.append((t, series.alive[-1].tolist()))
        if t == 1:
            sampler.drop([0])
        return t == 3

    with sleepers(2) as procs, Sampler(*identities(*procs), interval_s=0.02, extras_every=0) as sampler:
        series = sampler.run(10, on_tick)
        assert sampler.procs.kept_fds == 4
    assert fd_count() == baseline
    assert len(series) == 4 and [t for t, _ in seen] == [0, 1, 2, 3]
    assert series.alive[:, 0].tolist() == [True, True, False, False]
    assert series.reasons() == ["dropped", "alive"]
    assert (series["cpu_ticks"][2:, 0] == -1).all() and (series.delta("cpu_ticks")[1:, 0] == -1).all()


def test_run_ends_when_every_candidate_is_gone():
    with sleepers(1) as procs:
        pids, starts = identities(*procs)

        def on_tick(series, t):
            procs[0].kill()
            procs[0].wait()

        with Sampler(pids, starts, interval_s=0.01, extras_every=0) as sampler:
            series = sampler.run(50, on_tick)
    assert len(series) == 2 and series.reasons() == ["exited"]


def test_extras_fd_count_sockets_children_and_wchan():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    try:
        with sleepers(2) as kids:
            pids, starts = identities(os.getpid(), kids[0])
            series = sample_series(pids, starts, n_ticks=5, interval_s=0.02, extras_every=2)
    finally:
        for s in (client, peer, server):
            s.close()
    assert series.extra_ticks.tolist() == [0, 2, 4]
    ex = series.extras
    assert (ex["fd_count"][:, 0] >= 3).all() and (ex["fd_count"][:, 1] >= 0).all()
    # Our client and the accepted peer (other tests may have left sockets open in this process).
    assert (ex["established"][:, 0] >= 2).all() and (ex["established"][:, 1] == 0).all()
    assert (ex["n_children"][:, 0] >= 2).all() and (ex["n_children"][:, 1] == 0).all()
    assert all(isinstance(w, str) for w in series.wchan[:, 1])


def test_children_activity_on_a_fake_tree(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10, ppid=1)
    add_proc(root, 11, ppid=10, utime=5, stime=1)
    add_proc(root, 12, ppid=10, utime=3, stime=0)
    add_proc(root, 13, ppid=12, utime=100, stime=0)
    n, ticks = children_activity(root, np.array([10, 12, 13, 10], np.int32))
    assert n.tolist() == [2, 1, 0, 2] and ticks.tolist() == [9, 100, 0, 9]


def test_series_on_a_fixture_tree_via_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PT_PROCFS_PATH", str(CAPTURED))
    pids, starts = tree_identities(CAPTURED, [SPIN, WRITER])
    series = sample_series(pids, starts, n_ticks=3, interval_s=0.01, extras_every=1)
    assert series.mode == "pread" and series.alive.all()
    assert (series.delta("cpu_ticks") == 0).all()          # a still tree: no change
    assert series.system_present["pressure/cpu"] and np.isfinite(series["memory_some_total_us"]).all()
    assert series.wchan[0].tolist() == ["0", "hrtimer_nanosleep"]
    with pytest.raises(KeyError):
        series["nope"]


# --- hostile files never crash the parsers ---------------------------------------------

HOSTILE = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"\n", b")", b"(", b"1 (x) ", b"1 (x) S", b"some", b"full avg10=",
                     b"total=", b"some avg10=x total=-", b"9" * 40, b"-", b"rchar:", b"MemTotal:"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stat=HOSTILE, io=HOSTILE, status=HOSTILE, schedstat=HOSTILE, loadavg=HOSTILE, psi=HOSTILE,
       meminfo=HOSTILE, mode=st.sampled_from(sorted(MODES)))
def test_hostile_files_never_raise(tmp_path, stat, io, status, schedstat, loadavg, psi, meminfo, mode):
    root = tmp_path / "proc"
    shutil.rmtree(root, ignore_errors=True)
    d = root / "10"
    (root / "pressure").mkdir(parents=True)
    d.mkdir()
    for name, data in (("stat", stat), ("io", io), ("status", status), ("schedstat", schedstat)):
        (d / name).write_bytes(data)
    (root / "loadavg").write_bytes(loadavg)
    (root / "pressure" / "cpu").write_bytes(psi)
    (root / "meminfo").write_bytes(meminfo)
    with ProcSampler(np.array([10], np.int32), np.array([0], np.uint64), root, mode=mode) as sampler:
        got = one_pass(sampler)
        assert got["alive"][0] == (sampler.reason[0] == 0)
    row, _ = system_sample(root)
    assert len(row) == len(SYSTEM_FIELDS)
    children_activity(root, np.array([10, 1], np.int32))
