"""Collector benchmarks: pt against psutil and a plain-Python /proc reader,
with ~500 and ~2,000 processes on the machine, and the C floor of the same
syscalls (tools/procfloor.c) measured in the same run.

    pytest bench/test_bench_collect.py --benchmark-enable
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from pt.collect import collect
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


def _floor(size: int, tmp_path_factory, record_reference) -> None:
    """Run the C floor now (same process table) and record stat+status+cmdline."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return
    exe = tmp_path_factory.mktemp("floor") / "procfloor"
    subprocess.run([cc, "-O2", "-o", str(exe), str(FLOOR_SOURCE)], check=True)
    out = subprocess.run([str(exe), "21"], capture_output=True, text=True, check=True).stdout
    modes = {m["mode"]: m for m in map(json.loads, out.splitlines())}
    record_reference(f"collect-{size}", "C floor (stat+status+cmdline)",
                     modes["stat+status+cmdline"]["median"])


def test_pt_collect(benchmark, table_size, tmp_path_factory, record_reference):
    benchmark.group = f"collect-{table_size}"
    benchmark.extra_info["role"] = "pt"
    snap = benchmark(collect)
    assert len(snap) >= table_size * 0.9
    if benchmark.enabled:
        _floor(table_size, tmp_path_factory, record_reference)


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
