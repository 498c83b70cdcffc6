"""The CPU window's kept files (``WindowFiles``) and the quick scan's per-process files
(``read_process_files``): pread on fds kept from the first pass, processes that exit
or whose pid is reused between the passes, hostile trees, low fd limits."""
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pt.collect import collect, start_window
from pt.collect._procfs import IO_FIELDS, WINDOW_FILES, WindowFiles, read_process_files
from pt.collect.fds import open_fd_count, raised_soft_limit
from pt.testing import add_proc, make_tree, sleepers, start_ticks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

IO_TEXT = b"rchar: 11\nwchar: 22\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"


def pids_of(procs):
    return np.array([p.pid for p in procs], dtype=np.int32)


def starts_of(procs):
    return np.array([start_ticks(p.pid) for p in procs], dtype=np.uint64)


def python_reads(pid: int, root: str = "/proc"):
    """The same three files read the plain way: (ticks, io values, run ns) or None each."""
    def read(name):
        try:
            with open(f"{root}/{pid}/{name}", "rb") as f:
                return f.read()
        except OSError:
            return None
    stat, io, sched = read("stat"), read("io"), read("schedstat")
    fields = stat[stat.rfind(b")") + 2:].split() if stat else None
    return (int(fields[11]) + int(fields[12]) if fields else None,
            dict(line.split(b": ") for line in io.splitlines()) if io else None,
            int(sched.split()[0]) if sched else None)


def test_kept_files_read_what_a_plain_read_sees_and_are_all_closed():
    with sleepers(4) as procs:
        pids, starts = pids_of(procs), starts_of(procs)
        before = open_fd_count()
        files = WindowFiles("/proc", pids, max_fds=100)
        assert files.kept == 4
        assert open_fd_count() == before + len(WINDOW_FILES) * 4 + 1     # and the root directory
        ticks, state, alive = files.stat_ticks(starts)
        io = files.io()
        run, wait = files.schedstat()
        for i, proc in enumerate(procs):
            plain_ticks, plain_io, _ = python_reads(proc.pid)
            assert ticks[i] == plain_ticks and chr(state[i]) == "S" and alive[i]
            assert io["syscr"][i] == int(plain_io[b"syscr"])     # an asleep process makes no syscalls
            assert run[i] >= 0 and wait[i] >= 0
        files.close()
        files.close()                                            # idempotent
        assert open_fd_count() == before
        with pytest.raises(ValueError, match="closed"):
            files.io()


@pytest.mark.parametrize("max_fds", [100, 0], ids=["kept", "by-pid"])
def test_a_process_that_exits_between_the_passes_is_gone(max_fds):
    with sleepers(2) as procs:
        pids, starts = pids_of(procs), starts_of(procs)
        with WindowFiles("/proc", pids, max_fds=max_fds) as files:
            assert files.kept == (2 if max_fds else 0)
            assert files.io()["rchar"].min() >= 0
            procs[0].kill()
            procs[0].wait()                                      # reaped: a kept fd now reads ESRCH
            ticks, state, alive = files.stat_ticks(starts)
            io = files.io()
            run, wait = files.schedstat()
    assert alive.tolist() == [False, True]
    assert ticks[0] == 0 and state[0] == 0 and chr(state[1]) == "S"
    assert all(io[name][0] == -1 for name in IO_FIELDS) and io["rchar"][1] >= 0
    assert run[0] == -1 and wait[0] == -1 and run[1] >= 0


def test_a_kept_fd_stays_with_its_process_and_a_reused_pid_is_caught_by_pid(tmp_path):
    """A kept fd reads the process it was opened on, never a successor with
    its pid; read by pid, the successor's start time gives it away."""
    root = make_tree(tmp_path)
    (add_proc(root, 10, start=500, utime=7, stime=0) / "io").write_bytes(IO_TEXT)
    pids, starts = np.array([10], np.int32), np.array([500], np.uint64)
    with WindowFiles(root, pids, max_fds=3) as kept, WindowFiles(root, pids) as by_pid:
        shutil.rmtree(root / "10")                               # pid 10 exits; a new pid 10 starts
        add_proc(root, 10, start=900, utime=99, stime=0)
        assert kept.stat_ticks(starts)[0].tolist() == [7] and kept.stat_ticks(starts)[2].all()
        assert kept.io()["wchar"].tolist() == [22]
        assert not by_pid.stat_ticks(starts)[2].any()
        assert by_pid.io()["wchar"].tolist() == [-1]             # the new process has no io file


def test_hostile_window_files(tmp_path):
    root = make_tree(tmp_path)
    good = add_proc(root, 10, start=500)
    (good / "io").write_bytes(IO_TEXT + b"x" * 100_000)          # longer than the first buffer: grown
    (good / "schedstat").write_bytes(b"123 456 7\n")
    (add_proc(root, 11, stat=b"11 (x) S 1") / "io").write_bytes(b"rchar: 1\n")        # truncated
    (add_proc(root, 12, start=500) / "schedstat").write_bytes(b"-5 9 1\n")            # negative
    (add_proc(root, 13, start=500) / "io").write_bytes(IO_TEXT.replace(b"22", b"9" * 30))  # too wide
    (root / "14").mkdir()                                        # a directory without files
    os.mkfifo(root / "15")                                       # not a directory
    pids = np.arange(10, 17, dtype=np.int32)                     # 16: absent
    starts = np.full(7, 500, np.uint64)
    for max_fds in (100, 0):
        with WindowFiles(root, pids, max_fds=max_fds) as files:
            _, _, alive = files.stat_ticks(starts)
            io = files.io()
            run, wait = files.schedstat()
        assert alive.tolist() == [True, False, True, True, False, False, False]
        assert io["wchar"].tolist() == [22, -1, -1, -1, -1, -1, -1]
        assert run.tolist() == [123, -1, -1, -1, -1, -1, -1] and wait[0] == 456
    with WindowFiles(root, pids) as files, pytest.raises(ValueError, match="start_ticks"):
        files.stat_ticks(starts[:3])


def test_fds_opened_during_the_window_stay_below_fd_setsize(tmp_path):
    """Low descriptors are left free while the window's files are opened, so
    a pipe opened during the window can still be watched with select()."""
    root = make_tree(tmp_path)
    for pid in range(10, 410):
        add_proc(root, pid)
    pids = np.arange(10, 410, dtype=np.int32)
    with WindowFiles(root, pids, max_fds=len(WINDOW_FILES) * 400) as files:
        assert files.kept == 400                                 # 1,200 fds: past 1024
        r, w = os.pipe()
        os.close(r)
        os.close(w)
    assert max(r, w) < 1024


def test_rows_beyond_the_fd_budget_are_read_by_pid():
    with sleepers(5) as procs:
        pids, starts = pids_of(procs), starts_of(procs)
        before = open_fd_count()
        with WindowFiles("/proc", pids, max_fds=7) as files:     # room for two rows of three files
            assert files.kept == 2
            assert open_fd_count() == before + 6 + 1                 # and the root directory
            ticks, _, alive = files.stat_ticks(starts)
            io = files.io()
        with WindowFiles("/proc", pids, max_fds=100) as all_kept:
            assert all_kept.stat_ticks(starts)[0].tolist() == ticks.tolist()
            assert all_kept.io()["syscr"].tolist() == io["syscr"].tolist()
        assert alive.all()
        assert open_fd_count() == before


def test_the_soft_fd_limit_is_raised_for_the_block_and_put_back():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 64:
        pytest.skip("needs a soft fd limit of 64 or more")
    lower = soft // 2
    resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard))
    try:
        with raised_soft_limit(lower + 10):
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (lower + 10, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (lower, hard)
        with raised_soft_limit(lower - 10):                      # already enough: untouched
            assert resource.getrlimit(resource.RLIMIT_NOFILE) == (lower, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


WINDOW_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    from pt.collect import collect, start_window
    soft, hard = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wanted = set(map(int, sys.argv[3:]))
    fds = len(os.listdir("/proc/self/fd"))
    snap = collect()
    opened = start_window(snap)
    kept = opened.files.kept
    limit_in_window = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    window = opened.finish(0.05)
    rows = [i for i, pid in enumerate(snap["pid"].tolist()) if pid in wanted]
    print(json.dumps({"n": len(snap), "kept": kept, "alive": int(window.alive[rows].sum()),
                      "alive_all": int(window.alive.sum()),
                      "io_known": int((window.io_syscalls[rows] >= 0).sum()),
                      "leaked": len(os.listdir("/proc/self/fd")) - fds,
                      "limit_in_window": limit_in_window,
                      "limit_after": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
""")


@pytest.mark.parametrize("raise_hard", [False, True], ids=["hard-limit-low", "soft-limit-low"])
def test_a_window_under_a_small_fd_limit(tmp_path, raise_hard):
    """Under a hard limit of 64 fds most rows are read by pid; under a soft
    limit of 64 with room above it the limit is raised for the window and put
    back. Either way every row is read and nothing leaks."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if raise_hard and (hard != resource.RLIM_INFINITY and hard < 4096):
        pytest.skip("needs a hard fd limit of 4096 or more")
    with sleepers(30) as procs:
        argv = [sys.executable, "-c", WINDOW_CHILD, "64", str(hard if raise_hard else 64),
                *map(str, pids_of(procs).tolist())]
        out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    assert out["alive"] == 30 and out["io_known"] == 30
    assert out["leaked"] == 0 and out["limit_after"] == 64
    if raise_hard:
        # Every row alive when the window closed was alive when it opened, so was kept
        # (a process of the machine's that exited in between is read by pid: gone).
        assert out["alive_all"] <= out["kept"] <= out["n"] and out["limit_in_window"] > 64
    else:
        assert out["kept"] < 30 and out["limit_in_window"] == 64


def test_the_scan_window_closes_its_files():
    before = open_fd_count()
    snap = collect()
    opened = start_window(snap)
    assert open_fd_count() > before
    window = opened.finish(0.0)
    assert open_fd_count() == before
    assert window.alive.sum() >= 0.9 * len(snap)


# --- read_process_files ---------------------------------------------------------

def test_process_files_of_live_processes(tmp_path):
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
         "print('ready', flush=True); time.sleep(60)\n"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert server.stdout.readline() == "ready\n"
        with sleepers(1) as (sleeper,):                          # stdin /dev/null, stdout ours
            pids = np.array([server.pid, sleeper.pid], np.int32)
            files = read_process_files(b"/proc", pids)
            for i, pid in enumerate(pids.tolist()):
                assert files["cwd"][i] == os.readlink(f"/proc/{pid}/cwd")
                assert files["fd_count"][i] == len(os.listdir(f"/proc/{pid}/fd"))
                with open(f"/proc/{pid}/cgroup") as f:
                    assert files["cgroup"][files["cgroup_index"][i]] == f.read()
            sockets = [int(os.readlink(f"/proc/{server.pid}/fd/{fd}")[8:-1])
                       for fd in os.listdir(f"/proc/{server.pid}/fd")
                       if os.readlink(f"/proc/{server.pid}/fd/{fd}").startswith("socket:[")]
            assert files["socket_row"].tolist() == [0] * len(sockets) and len(sockets) >= 1
            assert sorted(files["socket_inode"].tolist()) == sorted(sockets)
            # stdout of the server is a pipe, of the sleeper this test's own stdout: not both on /dev/null
            assert files["stdio_null"].tolist() == [0, int(os.readlink("/proc/self/fd/1") == os.devnull)]
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    files = read_process_files(b"/proc", pids)                   # both gone now
    assert files["cwd"].tolist() == [None, None] and files["fd_count"].tolist() == [-1, -1]
    assert files["stdio_null"].tolist() == [-1, -1] and files["cgroup"][files["cgroup_index"][0]] == ""


def test_process_files_of_a_hostile_tree(tmp_path):
    root = make_tree(tmp_path)
    a = add_proc(root, 10)
    (a / "fd").mkdir()
    for fd, target in {"0": "/dev/null", "1": "/dev/null", "2": "/dev/pts/0", "3": "socket:[4242]",
                       "4": "socket:[" + "9" * 30 + "]", "5": "socket:[12", "6": "socket:[-3]",
                       "7": "anon_inode:[eventfd]"}.items():
        os.symlink(target, a / "fd" / fd)
    os.symlink("/home/x\udcff", a / "cwd")                       # an undecodable byte stays visible
    (a / "cgroup").write_bytes(b"0::/system.slice/nginx.service\n")
    b = add_proc(root, 11)
    (b / "fd").mkdir()
    os.symlink("/dev/null", b / "fd" / "0")                      # stdout closed: not detached
    (b / "cwd").write_text("a file, not a link")
    (b / "cgroup").write_bytes(b"0::/system.slice/nginx.service\n")
    c = add_proc(root, 12)
    (c / "fd").write_text("not a directory")
    (c / "cgroup").write_bytes(b"\xff\x00garbage")
    files = read_process_files(os.fsencode(root), np.array([10, 11, 12, 13], np.int32))
    assert files["cwd"].tolist() == ["/home/x\\xff", None, None, None]
    assert files["fd_count"].tolist() == [8, 1, -1, -1]
    assert files["socket_row"].tolist() == [0] and files["socket_inode"].tolist() == [4242]
    assert files["stdio_null"].tolist() == [1, -1, -1, -1]
    texts = [files["cgroup"][k] for k in files["cgroup_index"]]
    assert texts == ["0::/system.slice/nginx.service\n"] * 2 + ["\\xff\x00garbage", ""]
    assert len(files["cgroup"]) == 3                             # "", nginx, garbage: each text once


def test_this_process_own_fds_leave_out_the_window_and_are_not_searched_for_sockets():
    """While a scan's window is open, pt's own fd directory holds its kept
    files: its count leaves them out, and its links are not read for
    sockets (pt is never a candidate)."""
    me = np.array([os.getpid()], np.int32)
    with socket.socket() as server, open(os.devnull, "rb"), sleepers(3) as procs:
        server.bind(("127.0.0.1", 0))
        server.listen()
        files = read_process_files(b"/proc", me)
        assert files["fd_count"][0] >= 2 + 3                     # the socket, the file, stdio
        assert len(files["socket_row"]) == 0
        assert files["stdio_null"][0] in (0, 1)                  # stdio is still read
        with WindowFiles("/proc", pids_of(procs), max_fds=100) as window:
            assert window.kept == 3
            assert read_process_files(b"/proc", me)["fd_count"][0] == files["fd_count"][0]
        assert read_process_files(b"/proc", me)["fd_count"][0] == files["fd_count"][0]


FAILING_WINDOW_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    from pt.triage import triage
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, int(sys.argv[1])))
    fds = len(os.listdir("/proc/self/fd"))
    def fail(snapshot):
        raise RuntimeError("inside the window")
    try:
        triage(on_snapshot=fail)
    except RuntimeError as exc:
        kept = exc                       # held, with its traceback (and the window's frame)
    print(json.dumps({"leaked": len(os.listdir("/proc/self/fd")) - fds,
                      "limit_after": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
""")


def test_a_scan_failing_inside_its_window_gives_back_the_kept_files_and_the_fd_limit(tmp_path):
    """Anything that fails between the window's start and its finish (a broken
    policy file, the telemetry fork) must not leave ~3 fds per process open and
    the soft limit raised for as long as its exception is held (review)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("needs a hard fd limit of 4096 or more")
    with sleepers(60):
        out = json.loads(subprocess.run([sys.executable, "-c", FAILING_WINDOW_CHILD, str(hard)], capture_output=True,
                                        text=True, check=True, cwd=tmp_path).stdout)
    assert out == {"leaked": 0, "limit_after": 128}
