"""``pt scan`` end to end (interpreter start to last byte printed) with ~2,000
processes, against ``ps`` printing the same columns and ``python -c pass``
(the interpreter floor), each a fresh subprocess per round.

    pytest bench/test_bench_scan.py --benchmark-enable
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pt.testing import isolated_env, sleepers

PS_COLUMNS = "pid,ppid,user,stat,time,pcpu,rss,etime,tty,args"


@pytest.fixture(scope="module")
def machine_with_2000_processes():
    present = sum(name.isdigit() for name in os.listdir("/proc"))
    with sleepers(max(2000 - present, 0)):
        yield


def _run(argv):
    # Outside the source tree, so `python -m pt` imports the installed package.
    # Telemetry (on by default) goes to a throwaway lake, never the user's.
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=tempfile.gettempdir(),
                   env={**isolated_env(Path(LAKE_HOME.name)), "COLUMNS": "160"})


LAKE_HOME = tempfile.TemporaryDirectory(prefix="pt-bench-lake-")


#: pt scan's views, and the ps invocation that prints the closest thing.
VIEWS = {
    "table": ([], ["ps", "-eo", PS_COLUMNS]),
    "json": (["--json"], ["ps", "-eo", PS_COLUMNS]),
    "tree": (["--tree"], ["ps", "-eo", PS_COLUMNS, "--forest"]),
}


@pytest.mark.parametrize("view", VIEWS)
def test_pt_scan(benchmark, machine_with_2000_processes, view):
    benchmark.group = f"scan-2000-{view}"
    benchmark.extra_info["role"] = "pt"
    argv = [sys.executable, "-m", "pt", "scan", *VIEWS[view][0]]
    benchmark.pedantic(_run, args=(argv,), rounds=7, warmup_rounds=1)


@pytest.mark.parametrize("view", VIEWS)
def test_ps(benchmark, machine_with_2000_processes, view):
    benchmark.group = f"scan-2000-{view}"
    benchmark.extra_info["role"] = "ps"
    benchmark.pedantic(_run, args=(VIEWS[view][1],), rounds=7, warmup_rounds=1)


def test_python_startup(benchmark, machine_with_2000_processes):
    benchmark.group = "scan-2000-table"
    benchmark.extra_info["role"] = "python -c pass"
    benchmark.pedantic(_run, args=([sys.executable, "-c", "pass"],), rounds=7, warmup_rounds=1)


def test_help(benchmark):
    benchmark.group = "help"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(_run, args=([sys.executable, "-m", "pt", "--help"],), rounds=7, warmup_rounds=1)


def test_help_baseline(benchmark):
    benchmark.group = "help"
    benchmark.extra_info["role"] = "python -c pass"
    benchmark.pedantic(_run, args=([sys.executable, "-c", "pass"],), rounds=7, warmup_rounds=1)
