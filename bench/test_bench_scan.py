"""``pt scan`` end to end (interpreter start to last byte printed) with ~2,000
processes, against ``ps`` printing the same columns, ``python -c pass``
(the interpreter floor) and two psutil scripts, each a fresh subprocess per
round:

* ``scan-2000-json``: ``pt scan --json`` against :data:`PSUTIL_WINDOW`, which
  samples every process's CPU over the same window as pt's default one and
  dumps the same process-table fields as JSON (it decides nothing);
* ``scan-2000-raw-json``: ``pt scan --raw --json`` against
  :data:`PSUTIL_DUMP`, the same dump in one pass.

    pytest bench/test_bench_scan.py --benchmark-enable
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import pt
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
    # Bytecode is cached as in an installed pt (PYTHONDONTWRITEBYTECODE, if set
    # here, would make every round compile pt's sources again).
    env = {**isolated_env(Path(LAKE_HOME.name)), "COLUMNS": "160"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=tempfile.gettempdir(), env=env)


LAKE_HOME = tempfile.TemporaryDirectory(prefix="pt-bench-lake-")


#: pt scan's views, and the ps invocation that prints the closest thing.
VIEWS = {
    "table": ([], ["ps", "-eo", PS_COLUMNS]),
    "json": (["--json"], ["ps", "-eo", PS_COLUMNS]),
    "tree": (["--tree"], ["ps", "-eo", PS_COLUMNS, "--forest"]),
}


#: pt's default CPU window (pt/data/policy.json), which the psutil script sleeps too.
WINDOW_S = json.loads((Path(pt.__file__).parent / "data" / "policy.json").read_text())["window_s"]

_PSUTIL_FIELDS = ["pid", "ppid", "uids", "username", "name", "status", "cmdline", "cpu_times",
                  "create_time", "nice", "num_threads", "memory_info", "terminal", "cwd"]
_PSUTIL_DUMP_BODY = f"""
rows = []
for p in psutil.process_iter({_PSUTIL_FIELDS!r}):
    info = p.info
    for key in ("uids", "cpu_times", "memory_info"):
        info[key] = info[key]._asdict() if info[key] is not None else None
    rows.append(info)
"""
#: A one-pass psutil dump of the process table's fields as one JSON document.
PSUTIL_DUMP = ("import json, sys, psutil" + _PSUTIL_DUMP_BODY
               + "sys.stdout.write(json.dumps({'processes': rows}))\n")
#: The same, with each process's CPU share sampled over pt's window (psutil's
#: ``cpu_percent`` needs a first call, a sleep and a second call).
PSUTIL_WINDOW = ("import json, sys, time, psutil\n"
                 "for p in psutil.process_iter():\n"
                 "    try:\n"
                 "        p.cpu_percent()\n"
                 "    except psutil.Error:\n"
                 "        pass\n"
                 f"time.sleep({WINDOW_S!r})\n"
                 + _PSUTIL_DUMP_BODY.replace('"cwd"]', '"cwd", "cpu_percent"]')
                 + "sys.stdout.write(json.dumps({'processes': rows}))\n")

#: group -> (pt's arguments, the psutil script it is measured against)
PSUTIL_BASELINES = {
    "scan-2000-json": (["--json"], PSUTIL_WINDOW),
    "scan-2000-raw-json": (["--raw", "--json"], PSUTIL_DUMP),
}


@pytest.mark.parametrize("group", PSUTIL_BASELINES)
def test_psutil_baseline(benchmark, machine_with_2000_processes, group):
    benchmark.group = group
    benchmark.extra_info["role"] = "psutil"
    argv = [sys.executable, "-c", PSUTIL_BASELINES[group][1]]
    benchmark.pedantic(_run, args=(argv,), rounds=7, warmup_rounds=1)


def test_pt_raw_json(benchmark, machine_with_2000_processes):
    benchmark.group = "scan-2000-raw-json"
    benchmark.extra_info["role"] = "pt"
    argv = [sys.executable, "-m", "pt", "scan", *PSUTIL_BASELINES["scan-2000-raw-json"][0]]
    benchmark.pedantic(_run, args=(argv,), rounds=7, warmup_rounds=1)


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


#: Runs its arguments as a child (stdout to /dev/null) and prints the child's
#: peak RSS in KiB (the largest of the child and the children it waited for:
#: pt scan's telemetry writer is one), its CPU time in seconds (user + system,
#: with those children's) and its wall time. A small go-between, because
#: ``ru_maxrss`` keeps what a process held before ``exec``: a child forked
#: from pytest itself would start at pytest's size.
_MEASURE = """import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss if status == 0 else -1, usage.ru_utime + usage.ru_stime, time.monotonic() - t0)
"""


def _measure(argv) -> tuple[float, float, float]:
    """(peak RSS in MB, CPU s, wall s) of one run of ``argv``."""
    env = {**isolated_env(Path(LAKE_HOME.name)), "COLUMNS": "160"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run([sys.executable, "-S", "-c", _MEASURE, *argv], capture_output=True, text=True,
                         check=True, cwd=tempfile.gettempdir(), env=env).stdout.split()
    assert int(out[0]) > 0, argv
    return int(out[0]) / 1024, float(out[1]), float(out[2])


@pytest.mark.parametrize("view", ["table", "json"])
def test_peak_rss(machine_with_2000_processes, record_figure, view):
    """Peak RSS of pt scan by itself (--no-telemetry), with its telemetry
    child, and of the psutil window script, each the median of 3 runs."""
    import statistics
    options = VIEWS[view][0]
    pt_argv = [sys.executable, "-m", "pt", "scan", *options]
    for what, argv in ((f"peak RSS pt scan {' '.join(options)} --no-telemetry", pt_argv + ["--no-telemetry"]),
                       (f"peak RSS pt scan {' '.join(options)} (its telemetry child's)", pt_argv),
                       ("peak RSS psutil window script", [sys.executable, "-c", PSUTIL_WINDOW])):
        record_figure(what, statistics.median(_measure(argv)[0] for _ in range(3)), "MB")


@pytest.mark.parametrize("view", ["table", "json"])
def test_work_beyond_window(machine_with_2000_processes, record_figure, view):
    """The work a default scan does besides watching its window, medians of 5
    runs: CPU time (user + system, its telemetry child's included: the window
    itself is a sleep, so this is all work) and wall time minus the window,
    beside the psutil window script's, which sleeps the same window."""
    import statistics
    options = VIEWS[view][0]
    for what, argv in ((f"pt scan {' '.join(options)}", [sys.executable, "-m", "pt", "scan", *options]),
                       ("psutil window script", [sys.executable, "-c", PSUTIL_WINDOW])):
        runs = [_measure(argv) for _ in range(5)]
        record_figure(f"CPU time {what}", statistics.median(r[1] for r in runs) * 1e3, "ms")
        record_figure(f"wall time - window {what}", statistics.median(r[2] - WINDOW_S for r in runs) * 1e3, "ms")
