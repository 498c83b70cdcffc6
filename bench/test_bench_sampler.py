"""Deep-scan sampler benchmarks: one pass over ~200 and ~1,000 candidates
(sleepers this test spawned), pt's kept-fd pread sampler against the same
sampler reopening every file, a plain-Python open/read/close reader of the
same four files (pt.testing.sample_python), and the C floor of the same
syscalls (tools/samplerfloor.c) measured in the same run.

    pytest bench/test_bench_sampler.py --benchmark-enable
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from pt.collect._sampler import ProcSampler
from pt.collect.series import Sampler
from pt.testing import sample_python, sleepers, start_ticks

FLOOR_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "samplerfloor.c"
ROUNDS = 30


@pytest.fixture(scope="module", params=[200, 1000], ids=lambda n: f"{n}cands")
def candidates(request):
    """``param`` sleepers of this test: (pids int32, start_ticks uint64)."""
    with sleepers(request.param) as procs:
        pids = np.array([p.pid for p in procs], np.int32)
        yield pids, np.array([start_ticks(int(p)) for p in pids], np.uint64)


def _floor(pids, tmp_path_factory, record_reference, group) -> dict[str, float]:
    """Run the C floor now (same candidates) and record both of its modes."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return {}
    exe = tmp_path_factory.mktemp("floor") / "samplerfloor"
    subprocess.run([cc, "-O2", "-o", str(exe), str(FLOOR_SOURCE)], check=True)
    out = subprocess.run([str(exe), "51", *map(str, pids)], capture_output=True, text=True,
                         check=True).stdout
    modes = {m["mode"]: m["median"] for m in map(json.loads, out.splitlines())}
    record_reference(group, "C floor pread (4 kept fds)", modes["pread_kept_4"])
    record_reference(group, "C floor open+read+close (4 files)", modes["open_read_close_4"])
    return modes


def _pass(benchmark, candidates, mode, role):
    pids, starts = candidates
    benchmark.group = f"sampler-{len(pids)}"
    benchmark.extra_info["role"] = role
    with ProcSampler(pids, starts, mode=mode) as sampler:
        out, state, alive = sampler.new_arrays()
        assert sampler.mode == mode
        benchmark.pedantic(sampler.sample, (out, state, alive), rounds=ROUNDS, warmup_rounds=2)
        assert alive.all() and (out >= 0).all()


def test_pt_sampler_pread(benchmark, candidates, tmp_path_factory, record_reference, capsys):
    _pass(benchmark, candidates, "pread", "pt")
    if benchmark.enabled:
        n = len(candidates[0])
        floor = _floor(candidates[0], tmp_path_factory, record_reference, benchmark.group)
        median = benchmark.stats.stats.median
        with capsys.disabled():
            print(f"\n{benchmark.group}: pt {median * 1e3:.3f} ms/pass = {median / n * 1e6:.2f} us/process; "
                  f"C floor pread {floor.get('pread_kept_4', float('nan')) / n * 1e6:.2f} us/process, "
                  f"open+read+close {floor.get('open_read_close_4', float('nan')) / n * 1e6:.2f} "
                  f"us/process; 200 candidates at 10 Hz = {median / n * 200 * 10 * 100:.2f}% of one core")


def test_pt_sampler_without_status(benchmark, candidates):
    pids, starts = candidates
    benchmark.group = f"sampler-{len(pids)}"
    benchmark.extra_info["role"] = "pt without status"
    with ProcSampler(pids, starts, ctx_switches=False) as sampler:
        out, state, alive = sampler.new_arrays()
        benchmark.pedantic(sampler.sample, (out, state, alive), rounds=ROUNDS, warmup_rounds=2)
        assert alive.all()


def test_series_at_10hz_in_situ(benchmark, candidates, capsys):
    """The whole Sampler at its real pace (caches go cold between ticks):
    3 s at 10 Hz with system samples, extras every 10th tick; CPU share of
    one core from the thread's CPU time over the wall time."""
    pids, starts = candidates
    if len(pids) != 200 or not benchmark.enabled:
        pytest.skip("in-situ figure is for 200 candidates, benchmarks enabled")
    benchmark.group = "series-200-10Hz"
    benchmark.extra_info["role"] = "pt"
    shares = []

    def run():
        with Sampler(pids, starts, interval_s=0.1, extras_every=10) as sampler:
            cpu, wall = time.thread_time(), time.monotonic()
            series = sampler.run(30)
            shares.append((time.thread_time() - cpu) / (time.monotonic() - wall))
        return series

    series = benchmark.pedantic(run, rounds=1, iterations=1)
    assert series.alive.all() and series.skipped_slots == 0
    with capsys.disabled():
        print(f"\nseries-200-10Hz: {shares[0] * 100:.2f}% of one core in total "
              f"(passes alone {series.cost()['core_share'] * 100:.2f}%, median pass "
              f"{series.cost()['pass_s'] * 1e3:.2f} ms)")


def test_pt_sampler_reopen(benchmark, candidates):
    _pass(benchmark, candidates, "reopen", "pt reopen")


def test_plain_python_reader(benchmark, candidates):
    pids, starts = candidates
    benchmark.group = f"sampler-{len(pids)}"
    benchmark.extra_info["role"] = "python"
    got = benchmark.pedantic(sample_python, ("/proc", pids, starts), rounds=ROUNDS, warmup_rounds=1)
    assert got["alive"].all()
