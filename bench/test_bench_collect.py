"""Collector benchmarks: pt against psutil and a plain-Python /proc reader,
with ~500 and ~2,000 processes on the machine, and the C floor of the same
syscalls (tools/procfloor.c) measured in the same run. Three stages of a quick
scan: the process table (``collect-*``), the CPU window's re-read of stat, io
and schedstat (``window-*``: pread on kept fds, and opened by pid as before
them), and the other per-process files (``observed-*``: cwd, fds, cgroup).
``first-reads-*`` times the quick scan's reading thread in a fresh process,
which keeps ~3 files a process open: with the descriptor table grown before
the thread starts (pt) and grown as the files are opened ("table grown while
reading"), each growth then waiting for an RCU grace period.

    pytest bench/test_bench_collect.py --benchmark-enable
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import pytest

from pt.collect import collect
from pt.collect._procfs import WINDOW_FILES, WindowFiles, read_process_files
from pt.testing import read_processes_python, sleepers

#: psutil attributes matching the collector's fields (psutil has no pgid/sid/tpgid).
PSUTIL_ATTRS = ["pid", "ppid", "uids", "name", "status", "cmdline", "cpu_times", "create_time",
                "nice", "num_threads", "memory_info", "terminal"]
FLOOR_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "procfloor.c"


def process_count() -> int:
    return sum(name.isdigit() for name in os.listdir("/proc"))


@pytest.fixture(scope="module", params=[500, 2000], ids=lambda n: f"{n}procs")
def table_size(request):
    """Spawn sleepers until the machine has about ``param`` processes."""
    missing = max(request.param - process_count(), 0)
    with sleepers(missing):
        yield request.param


#: The C floor's modes recorded beside each group: (group, mode, name in the summary).
FLOOR_MODES = (("collect", "stat+status+cmdline", "C floor (stat+status+cmdline)"),
               ("window", "window_pread", "C floor (pread stat+io+schedstat)"),
               ("window", "window_open", "C floor (open stat+io+schedstat)"),
               ("observed", "observed", "C floor (cwd, fd/, cgroup)"))


def _floor(size: int, group: str, tmp_path_factory, record_reference) -> None:
    """Run the C floor now (same process table) and record the modes of ``group``."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return
    exe = tmp_path_factory.mktemp("floor") / "procfloor"
    subprocess.run([cc, "-O2", "-o", str(exe), str(FLOOR_SOURCE)], check=True)
    out = subprocess.run([str(exe), "21"], capture_output=True, text=True, check=True).stdout
    modes = {m["mode"]: m for m in map(json.loads, out.splitlines())}
    for floor_group, mode, name in FLOOR_MODES:
        if floor_group == group:
            record_reference(f"{group}-{size}", name, modes[mode]["median"])


def test_pt_collect(benchmark, table_size, tmp_path_factory, record_reference):
    benchmark.group = f"collect-{table_size}"
    benchmark.extra_info["role"] = "pt"
    snap = benchmark(collect)
    assert len(snap) >= table_size * 0.9
    if benchmark.enabled:
        _floor(table_size, "collect", tmp_path_factory, record_reference)


def test_psutil_process_iter(benchmark, table_size):
    benchmark.group = f"collect-{table_size}"
    benchmark.extra_info["role"] = "psutil"
    rows = benchmark(lambda: [p.info for p in psutil.process_iter(PSUTIL_ATTRS)])
    assert len(rows) >= table_size * 0.9


def test_plain_python_reader(benchmark, table_size):
    benchmark.group = f"collect-{table_size}"
    benchmark.extra_info["role"] = "python"
    rows = benchmark(read_processes_python)
    assert len(rows) >= table_size * 0.9


@pytest.fixture(scope="module")
def table(table_size):
    """The process table, read once for the per-process stages."""
    return collect()


def test_pt_window_pread(benchmark, table, table_size, tmp_path_factory, record_reference):
    """One closing pass of the CPU window: stat, io and schedstat by pread on kept fds."""
    benchmark.group = f"window-{table_size}"
    benchmark.extra_info["role"] = "pt"
    with WindowFiles("/proc", table["pid"], max_fds=len(WINDOW_FILES) * len(table)) as files:
        assert files.kept == len(table)
        _, _, alive = benchmark(lambda: (files.stat_ticks(table["start_ticks"]), files.io(), files.schedstat()))[0]
    assert alive.sum() >= 0.9 * len(table)
    if benchmark.enabled:
        _floor(table_size, "window", tmp_path_factory, record_reference)


def test_pt_window_by_pid(benchmark, table, table_size):
    """The same pass opening each file by pid (rows past the fd budget; every row before pread)."""
    benchmark.group = f"window-{table_size}"
    benchmark.extra_info["role"] = "pt by pid"
    with WindowFiles("/proc", table["pid"]) as files:
        assert files.kept == 0
        _, _, alive = benchmark(lambda: (files.stat_ticks(table["start_ticks"]), files.io(), files.schedstat()))[0]
    assert alive.sum() >= 0.9 * len(table)


def test_psutil_window(benchmark, table, table_size):
    """What a psutil script reads to close a window: CPU times and IO counters (psutil keeps no fds)."""
    benchmark.group = f"window-{table_size}"
    benchmark.extra_info["role"] = "psutil"
    procs = [psutil.Process(pid) for pid in table["pid"].tolist() if psutil.pid_exists(pid)]

    def window():
        rows = []
        for proc in procs:
            try:
                rows.append((proc.cpu_times(), proc.io_counters()))
            except psutil.Error:
                pass
        return rows
    assert len(benchmark(window)) >= 0.9 * len(table)


def test_pt_observed(benchmark, table, table_size, tmp_path_factory, record_reference):
    """The quick scan's other files of every process: cwd, fd/ (count, sockets, stdio), cgroup."""
    benchmark.group = f"observed-{table_size}"
    benchmark.extra_info["role"] = "pt"
    files = benchmark(read_process_files, b"/proc", table["pid"])
    assert np.count_nonzero(files["fd_count"] >= 0) >= 0.9 * len(table)
    if benchmark.enabled:
        _floor(table_size, "observed", tmp_path_factory, record_reference)


def test_psutil_observed(benchmark, table, table_size):
    """psutil's nearest: cwd and the fd count of every process (no sockets, no cgroup)."""
    benchmark.group = f"observed-{table_size}"
    benchmark.extra_info["role"] = "psutil"
    procs = [psutil.Process(pid) for pid in table["pid"].tolist() if psutil.pid_exists(pid)]

    def observed():
        rows = []
        for proc in procs:
            try:
                rows.append((proc.cwd(), proc.num_fds()))
            except psutil.Error:
                pass
        return rows
    assert len(benchmark(observed)) >= 0.9 * len(table)


FIRST_READS_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pt.collect.early as early
    if sys.argv[1] == "ungrown":
        early.grow_fd_table = lambda top: False
    started = time.perf_counter()
    first = early.FirstReads(Path("/proc")).wait()
    print(time.perf_counter() - started)
    first.close()
""")


def test_first_reads_with_the_table_grown_ahead(benchmark, table_size, record_reference):
    """The reading thread's time in a fresh process (a table never shrinks),
    the two ways alternated in each round. The benchmark times a round's pair
    of processes; each way's median of the thread's own time is recorded as
    a reference."""
    times = {"pt": [], "table grown while reading": []}

    def pair():
        for name, mode in (("pt", "grown"), ("table grown while reading", "ungrown")):
            out = subprocess.run([sys.executable, "-c", FIRST_READS_CHILD, mode], capture_output=True,
                                 text=True, check=True, cwd="/")
            times[name].append(float(out.stdout))

    benchmark.group = f"first-reads-{table_size} pairs"
    benchmark.extra_info["role"] = "pair of processes"
    benchmark.pedantic(pair, rounds=15 if benchmark.enabled else 1, iterations=1)
    assert all(t > 0 for ts in times.values() for t in ts)
    for name, ts in times.items():
        record_reference(f"first-reads-{table_size}", name, statistics.median(ts))
