"""A quick scan's first reads on a thread (``pt.collect.early``): the table read
that also opens the CPU window (``TableRead.read(max_fds)``), the per-process
files read without the GIL (``ProcessFiles``), and ``triage(first=...)`` taking
them over. The reads must see what the one-step readers see, keep and give
back descriptors as the window always did, and need no numpy."""
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pt.collect._procfs import ProcessFiles, TableRead, read_process_files, read_processes
from pt.collect.early import FirstReads
from pt.collect.fds import open_fd_count
from pt.testing import add_proc, make_tree, sleepers, start_ticks
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

IO_TEXT = b"rchar: 11\nwchar: 22\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"


def fixture_tree(root: Path) -> Path:
    make_tree(root)
    for pid in (1, 40, 41, 42):
        d = add_proc(root, pid, b"sleep" if pid > 1 else b"init", ppid=0 if pid == 1 else 1)
        (d / "io").write_bytes(IO_TEXT.replace(b"11", str(pid).encode()))
        (d / "schedstat").write_bytes(f"{pid * 1000} {pid * 10} 3\n".encode())
        (d / "cgroup").write_bytes(f"0::/user.slice/app-{pid}.scope\n".encode())
    return root


def test_importing_the_readers_imports_no_numpy(tmp_path):
    code = ("import sys, pt.collect, pt.collect.early, pt.collect._procfs; "
            "print(sorted(m for m in sys.modules if m == 'numpy' or m.startswith('numpy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


def test_what_loads_before_the_reads_begin_is_light(tmp_path):
    """Everything imported before the reads begin delays the window's
    opening: typing, pathlib and re (~10 ms) load after, beside the reads
    (those the interpreter's site imported already are not counted)."""
    code = ("import sys; before = set(sys.modules); import pt.__main__, pt.collect.early; "
            "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
            "('numpy', 'typing', 'pathlib', 're')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


def test_the_table_read_with_the_window_equals_the_one_step_read(tmp_path):
    root = fixture_tree(tmp_path / "proc")
    table = TableRead(str(root))
    before = open_fd_count()
    assert table.count() == 4
    table.read(300)
    assert open_fd_count() == before + 3 * 4                           # stat, io and schedstat of each row
    columns, counts = table.columns()
    plain_columns, plain_counts = read_processes(str(root))
    assert counts == plain_counts
    assert columns.keys() == plain_columns.keys()
    for name, column in columns.items():
        assert column.dtype == plain_columns[name].dtype, name
        assert column.tolist() == plain_columns[name].tolist(), name
    assert list(table.pids()) == columns["pid"].tolist()
    with table.window_files() as files:
        assert open_fd_count() == before + 3 * 4 + 1                   # handed over, and the files' own root
        assert files.kept == 4
        io, _, queued = files.first()
        pids = columns["pid"]                                          # in the directory's order
        assert (io["rchar"] == pids).all() and (io["wchar"] == 22).all() and (queued == 10 * pids).all()
        assert (files.io()["rchar"] == pids).all()
        ticks, _, alive = files.stat_ticks(columns["start_ticks"])
        assert alive.all() and ticks.tolist() == (columns["utime"] + columns["stime"]).tolist()
    assert open_fd_count() == before
    with pytest.raises(ValueError, match="once"):
        table.window_files()


def test_a_forked_child_holds_none_of_the_kept_files(tmp_path):
    """A child forked while the window keeps its files (the telemetry writer)
    closes its copies at once: holding the last references, it spent ~15 ms
    releasing 6,000 procfs files on exit while the scan waited to reap it."""
    root = fixture_tree(tmp_path / "proc")
    table = TableRead(str(root))
    table.count()
    table.read(300)
    for step in ("table", "window files"):                  # the table keeps them, then hands them over
        with table.window_files() if step == "window files" else contextlib.nullcontext():
            r, w = os.pipe()
            parent = open_fd_count()
            pid = os.fork()
            if pid == 0:                                               # the child: report its count, exit
                os.write(w, str(open_fd_count()).encode())
                os._exit(0)
            child = int(os.read(r, 64))
            os.waitpid(pid, 0)
            assert open_fd_count() == parent                           # the parent's are its own
            os.close(r)
            os.close(w)
            assert child <= parent - 3 * 4, step                       # its copies of the 12 kept files: closed


def test_a_window_closed_behind_has_closed_every_kept_file_once_closed(tmp_path):
    """``finish(close_behind=True)`` closes the kept files on a thread;
    ``close()`` waits for it, after which none is open."""
    from pt.collect import collect, start_window
    root = fixture_tree(tmp_path / "proc")
    snapshot = collect(root)
    before = open_fd_count()
    opened = start_window(snapshot, root)
    assert open_fd_count() >= before + 3 * 4
    window = opened.finish(0.0, close_behind=True)
    opened.close()
    assert open_fd_count() == before
    assert window.alive.all() and len(window.ticks) == 4


def test_a_window_whose_closing_thread_cannot_start_closes_everything_itself(tmp_path, monkeypatch):
    """Out of threads (``can't start new thread``), the kept files are closed
    on the caller's thread, and the rest (the fd limit, the roots) still is."""
    import threading

    from pt.collect import collect, start_window
    root = fixture_tree(tmp_path / "proc")
    snapshot = collect(root)
    before = open_fd_count(), resource.getrlimit(resource.RLIMIT_NOFILE)
    start = threading.Thread.start

    def refuse(self):
        if self.name == "pt-window-close":
            raise RuntimeError("can't start new thread")
        start(self)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    opened = start_window(snapshot, root)
    window = opened.finish(0.0, close_behind=True)
    assert (open_fd_count(), resource.getrlimit(resource.RLIMIT_NOFILE)) == before
    assert window.alive.all()


def test_rows_past_the_budget_keep_no_file_but_have_first_reads(tmp_path):
    root = fixture_tree(tmp_path / "proc")
    table = TableRead(str(root))
    table.read(6)                                                      # files for 2 rows of 4
    with table.window_files() as files:
        assert files.kept == 2
        io, _, queued = files.first()
        pids = np.asarray(table.pids())
        assert (io["rchar"] == pids).all() and (queued == 10 * pids).all()
    table = TableRead(str(root))
    table.read()                                                       # no window: nothing to hand over
    with pytest.raises(ValueError, match="window"):
        table.window_files()


def test_a_process_gone_between_listing_and_reading_is_dropped_and_keeps_nothing(tmp_path):
    root = fixture_tree(tmp_path / "proc")
    (root / "43").mkdir()                                              # listed, then gone: no files at all
    (root / "44").mkdir()
    (root / "44" / "stat").write_bytes(b"44 (half) S 1 44 1 0 -1")   # malformed stat: dropped
    table = TableRead(str(root))
    assert table.count() == 6
    shutil.rmtree(root / "41")                                         # exits after the listing
    before = open_fd_count()
    table.read(300)
    columns, counts = table.columns()
    assert sorted(columns["pid"].tolist()) == [1, 40, 42]
    assert counts["vanished"] == 2 and counts["malformed"] == 1 and counts["malformed_pids"] == [44]
    assert open_fd_count() == before + 3 * 3                           # only the rows kept hold files
    table.window_files().close()
    assert open_fd_count() == before


def test_process_files_read_with_the_table_equal_the_one_step_read(tmp_path):
    root = fixture_tree(tmp_path / "proc")
    table, files = TableRead(str(root)), ProcessFiles(str(root))
    with pytest.raises(ValueError, match="pids"):
        files.read()
    table.read(300, files)
    got, plain = files.result(), read_process_files(str(root), table.pids())
    assert got["cgroup"] == plain["cgroup"] and len(got["cgroup"]) == 5            # "" and four scopes
    assert got["cgroup_index"].tolist() == plain["cgroup_index"].tolist()
    with pytest.raises(ValueError, match="files"):
        TableRead(str(root)).read(300, files)                                      # read already
    table.window_files().close()


def test_process_files_equal_the_one_step_read():
    with sleepers(3) as procs:
        pids = np.array([p.pid for p in procs], dtype=np.int32)
        files = ProcessFiles("/proc", pids)
        files.read()
        got, plain = files.result(), read_process_files("/proc", pids)
    assert got.keys() == plain.keys()
    for name in got:
        assert np.asarray(got[name]).tolist() == np.asarray(plain[name]).tolist(), name
    assert (got["fd_count"] >= 3).all()
    own = ProcessFiles("/proc", np.array([os.getpid()], dtype=np.int32))
    own.read()
    assert own.result()["cwd"][0] == os.getcwd()


def test_pts_own_fds_are_counted_when_the_reader_is_made_not_listed_while_the_window_keeps_files():
    """Listing /proc/<pt>/fd while the window keeps 6,000 files left a dentry
    per fd that the kernel frees only when pt is reaped (~9 ms added to every
    scan's end): pt's own row is counted when the reader is made, before the
    files are kept, and its fd directory is not listed again."""
    files = ProcessFiles("/proc", np.array([os.getpid()], dtype=np.int32))
    at_start = open_fd_count()
    extra = [os.open(os.devnull, os.O_RDONLY) for _ in range(50)]       # opened after: not counted
    try:
        files.read()
    finally:
        for fd in extra:
            os.close(fd)
    got = files.result()
    assert abs(int(got["fd_count"][0]) - at_start) <= 2                  # the reader's own root, give or take
    assert got["cwd"][0] == os.getcwd()


def test_first_reads_give_the_scan_what_its_own_reads_would(tmp_path, monkeypatch):
    root = fixture_tree(tmp_path / "proc")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    first = FirstReads(root)
    with_first = triage(first=first, window_s=0.01)
    plain = triage(root=root, window_s=0.01)
    for name in ("pid", "comm", "cmdline", "uid", "start_ticks"):
        assert with_first.snapshot[name].tolist() == plain.snapshot[name].tolist(), name
    assert with_first.decision.action.tolist() == plain.decision.action.tolist()
    assert with_first.context.units.cgroup.tolist() == plain.context.units.cgroup.tolist()
    assert with_first.window.io_syscalls.tolist() == plain.window.io_syscalls.tolist() == [0, 0, 0, 0]
    first.close()                                                      # closed already by the window: a no-op


def test_first_reads_that_fail_raise_in_the_caller_and_keep_nothing(tmp_path):
    before = open_fd_count(), resource.getrlimit(resource.RLIMIT_NOFILE)
    with pytest.raises(OSError):
        FirstReads(tmp_path / "no-such-procfs")
    assert (open_fd_count(), resource.getrlimit(resource.RLIMIT_NOFILE)) == before
    root = fixture_tree(tmp_path / "proc")
    first = FirstReads(root)                                           # holds its 12 files from here
    (root / "stat").write_text("cpu  1 2 3 4\n")                      # no btime: the snapshot fails
    with pytest.raises(OSError, match="btime"):
        triage(first=first)
    assert (open_fd_count(), resource.getrlimit(resource.RLIMIT_NOFILE)) == before


SCAN_CHILD = textwrap.dedent("""
    import json, os, resource, sys
    from pt.collect.early import start
    from pt.triage import triage
    soft, hard = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wanted = set(map(int, sys.argv[3:]))
    fds = len(os.listdir("/proc/self/fd"))
    t = triage(first=start(), window_s=0.05)
    rows = [i for i, pid in enumerate(t.snapshot["pid"].tolist()) if pid in wanted]
    print(json.dumps({"alive": int(t.window.alive[rows].sum()),
                      "io_known": int((t.window.io_syscalls[rows] >= 0).sum()),
                      "leaked": len(os.listdir("/proc/self/fd")) - fds,
                      "limit_after": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
""")


@pytest.mark.parametrize("raise_hard", [False, True], ids=["hard-limit-low", "soft-limit-low"])
def test_a_scan_with_first_reads_under_a_small_fd_limit(tmp_path, raise_hard):
    """As the window's own test (test_collect_window): every row read, the
    limit put back, nothing leaked, whether the limit can be raised or not."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if raise_hard and (hard != resource.RLIM_INFINITY and hard < 4096):
        pytest.skip("needs a hard fd limit of 4096 or more")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    with sleepers(30) as procs:
        argv = [sys.executable, "-c", SCAN_CHILD, "64", str(hard if raise_hard else 64),
                *(str(p.pid) for p in procs)]
        out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path,
                                        env=env).stdout)
    assert out == {"alive": 30, "io_known": 30, "leaked": 0, "limit_after": 64}


def test_pts_own_fd_count_leaves_out_the_files_the_window_keeps():
    """pt's own row is read while the table's kept files are open (before the
    window takes them): its fd count must not count them, as it never did."""
    with sleepers(40):
        before = open_fd_count()
        t = triage(first=FirstReads(Path("/proc")), window_s=0.05)
    own = int(np.flatnonzero(t.snapshot["pid"] == os.getpid())[0])
    assert len(t.snapshot) >= 40                                          # >= 120 files kept in the window
    assert 0 < t.context.fd_count[own] <= before + 16


def test_the_window_of_first_reads_sees_a_spinner_busy_and_a_sleeper_idle():
    code = "while True: pass"
    with sleepers(1) as idle:
        spinner = subprocess.Popen([sys.executable, "-c", code])
        try:
            t = triage(first=FirstReads(Path("/proc")), window_s=0.5)
            row = {pid: i for i, pid in enumerate(t.snapshot["pid"].tolist())}
            assert t.window.ticks[row[spinner.pid]] > 0
            assert t.window.ticks[row[idle[0].pid]] == 0
            assert t.snapshot["start_ticks"][row[spinner.pid]] == start_ticks(spinner.pid)
        finally:
            spinner.kill()
            spinner.wait()


STARTED_BEFORE_NUMPY = textwrap.dedent("""
    import json, sys
    import pt.collect.early as early
    seen = []
    construct = early.FirstReads.__init__
    def recorded(self, *args, **kwargs):
        seen.append("numpy" in sys.modules)
        construct(self, *args, **kwargs)
    early.FirstReads.__init__ = recorded
    from pt.cli import main
    code = main(sys.argv[1:])
    print(json.dumps({"code": code, "numpy_loaded_at_start": seen}), file=sys.stderr)
""")


@pytest.mark.parametrize("argv", [["scan", "--no-telemetry"], ["scan", "--json", "--no-telemetry"],
                                  ["plan", "--json", "--no-telemetry"], ["explain", "1", "--json"]])
def test_commands_start_their_reads_before_numpy_loads(tmp_path, argv):
    """The point of the thread: the reads start first and numpy and the model
    load beside them (a read started after numpy would overlap nothing)."""
    from pt.testing import isolated_env
    out = subprocess.run([sys.executable, "-c", STARTED_BEFORE_NUMPY, *argv], capture_output=True, text=True,
                         cwd=tmp_path, env=isolated_env(tmp_path))
    result = json.loads(out.stderr.strip().splitlines()[-1])
    assert result == {"code": 0, "numpy_loaded_at_start": [False]}, out.stderr


def fd_table_size() -> int:
    """The size of this process's descriptor table, as the kernel reports it."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("FDSize:")))


GROWN_TABLE_CHILD = textwrap.dedent("""
    import json, os, sys
    from pt.collect.fds import grow_fd_table, open_fd_count
    def size():
        return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("FDSize:")))
    before, open_before = size(), sorted(os.listdir("/proc/self/fd"))
    grown = grow_fd_table(int(sys.argv[1]))
    print(json.dumps({"before": before, "after": size(), "grown": grown,
                      "same_fds": sorted(os.listdir("/proc/self/fd")) == open_before}))
""")


@pytest.mark.parametrize("top", [3000, 1 << 30, 1 << 40])
def test_the_descriptor_table_grows_ahead_without_opening_or_closing_a_file(tmp_path, top):
    """grow_fd_table makes room for ``top`` descriptors at once (the kernel's
    FDSize) and leaves the open ones as they were; past the soft limit it
    changes nothing and says so. In a child: a table never shrinks."""
    out = json.loads(subprocess.run([sys.executable, "-c", GROWN_TABLE_CHILD, str(top)], capture_output=True,
                                    text=True, check=True, cwd=tmp_path).stdout)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    fits = soft == resource.RLIM_INFINITY or top <= soft
    assert out["same_fds"] and out["grown"] == fits
    assert out["before"] < 3000
    assert (out["after"] >= top) if fits else (out["after"] == out["before"])


GROWN_BEFORE_THREAD_CHILD = textwrap.dedent("""
    import json, os
    from pathlib import Path
    from pt.collect.early import FirstReads
    from pt.collect.fds import open_fd_count
    def size():
        return int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("FDSize:")))
    before = size()
    first = FirstReads(Path("/proc"))
    made = size()
    first.wait()
    print(json.dumps({"before": before, "made": made, "read": size(), "open": open_fd_count()}))
    first.close()
""")


def test_first_reads_grow_the_table_for_the_kept_files_before_their_thread_starts(tmp_path):
    """The reading thread keeps ~3 files a process open: the table must hold
    them all before it starts, so that no growth waits beside a second
    thread. In a fresh process: a table never shrinks, so one grown by an
    earlier scan here would pass without the growth."""
    with sleepers(200):
        rows = sum(name.isdigit() for name in os.listdir("/proc"))
        out = json.loads(subprocess.run([sys.executable, "-c", GROWN_BEFORE_THREAD_CHILD], capture_output=True,
                                        text=True, check=True, cwd=tmp_path).stdout)
    assert out["before"] < out["made"] == out["read"]                    # grown once, before the thread
    assert out["read"] >= out["open"] > rows                             # and the rows' files are kept
