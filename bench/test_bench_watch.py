"""What ``pt watch`` costs per interval at ~2,000 processes, against the
cron-style baseline of a fresh ``pt scan --json`` every interval, and a soak
that samples the watcher's CPU and RSS over time (flat means no leak).

    pytest bench/test_bench_watch.py --benchmark-enable -s
    PT_BENCH_SOAK_S=3600 pytest bench/test_bench_watch.py -k soak -s   # the one-hour soak

The soak prints CPU seconds per interval, the share of one core that makes
at the default 30 s interval, and RSS at the start, the end and its peak.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pt.testing import isolated_env, sleepers

HZ = os.sysconf("SC_CLK_TCK")
LAKE_HOME = tempfile.TemporaryDirectory(prefix="pt-bench-watch-")


SOAK_S = float(os.environ.get("PT_BENCH_SOAK_S", "15"))


@pytest.fixture(scope="module")
def machine_with_2000_processes():
    present = sum(name.isdigit() for name in os.listdir("/proc"))
    with sleepers(max(2000 - present, 0), seconds=int(SOAK_S) + 600):      # they outlive the soak
        yield


@pytest.fixture
def state_home(monkeypatch):
    home = Path(LAKE_HOME.name)
    for key, value in isolated_env(home).items():
        monkeypatch.setenv(key, value)
    return home


def test_watch_interval(benchmark, machine_with_2000_processes, state_home):
    """One interval of a long-running watcher (observe, telemetry on), in process."""
    from pt.act.plan import Selection
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController
    watcher = Watcher(controller=ModeController("observe"), selection=Selection())
    benchmark.group = "watch-interval-2000"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(watcher.step, rounds=5, warmup_rounds=1)
    watcher.reap(wait=True)


def test_cron_scan(benchmark, machine_with_2000_processes, state_home):
    """Baseline: a fresh `pt scan --json` process each interval (what cron would run)."""
    benchmark.group = "watch-interval-2000"
    benchmark.extra_info["role"] = "cron pt scan"
    env = {**os.environ}
    benchmark.pedantic(subprocess.run, args=([sys.executable, "-m", "pt", "scan", "--json"],),
                       kwargs={"stdout": subprocess.DEVNULL, "check": True, "env": env,
                               "cwd": tempfile.gettempdir()}, rounds=5, warmup_rounds=1)


def _ticks_and_rss(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    with open(f"/proc/{pid}/status", "rb") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith(b"VmRSS:"))
    # utime + stime + the reaped children's (the lake writers)
    return sum(int(x) for x in fields[11:15]), rss * 1024


@pytest.mark.parametrize("options", [[], ["--no-telemetry"]], ids=["lake", "no-lake"])
def test_watch_soak(machine_with_2000_processes, state_home, capsys, options):
    """Run `pt watch --interval 1` for PT_BENCH_SOAK_S seconds (default 15),
    sampling its CPU ticks (its lake writers' included) and RSS every second."""
    seconds = SOAK_S
    # Its output goes to a file: a pipe nobody reads until the end fills up
    # (64 KB, about 40 intervals) and then blocks the watcher.
    out, err = tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([sys.executable, "-m", "pt", "watch", "--interval", "1", "--for", f"{seconds:g}",
                             "--json", *options], stdout=out, stderr=err, text=True,
                            cwd=tempfile.gettempdir())
    samples = []
    try:
        while proc.poll() is None:
            try:
                samples.append((time.monotonic(), *_ticks_and_rss(proc.pid)))
            except (OSError, StopIteration):
                break
            time.sleep(1.0)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    assert proc.returncode == 0, err.read()[-3000:]
    err.close()
    out.seek(0)
    intervals = sum(1 for line in out if line.strip())
    out.close()
    assert intervals >= 2 and len(samples) >= 2
    # Steady state: from the second sample (imports and the first scan done) to the last.
    (t0, c0, r0), (t1, c1, r1) = samples[1], samples[-1]
    in_window = max(1.0, (t1 - t0) * intervals / seconds)
    cpu_per_interval = (c1 - c0) / HZ / in_window
    peak = max(r for _, _, r in samples)
    with capsys.disabled():
        print(f"\npt watch {' '.join(options)} soak: {intervals} intervals in {seconds:g} s; {cpu_per_interval * 1000:.0f} ms CPU "
              f"per interval = {100 * cpu_per_interval / 30:.2f} % of one core at --interval 30; RSS "
              f"{r0 / 2**20:.0f} MB after the first scan, {r1 / 2**20:.0f} MB at the end, peak "
              f"{peak / 2**20:.0f} MB")
