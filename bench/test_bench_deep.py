"""The deep scan's own CPU cost: 200 candidates watched at 10 Hz.

Two parts, each as pt's CPU seconds per wall second (a share of one core):

* watching: ``deep_scan`` over 200 sleepers this test spawned, sampling
  every 0.1 s for 3 s with every candidate kept open (VOI stopping
  disabled), CPU measured between the first and last tick;
* deciding: one VOI step for 200 open candidates (cumulative counts,
  change-point, wake-up and memory-growth terms, posterior, decision, VOI over 1 s and
  ``horizon_max_s``, wake-up VOI also over ``max_time_s``),
  which the deep scan runs every ``voi_every_s`` (policy, 1 s): its share is
  the step's CPU time over that interval.

Baseline: the loop people write with psutil, reading the same counters
(cpu_times, io_counters, num_ctx_switches, memory_info, num_threads) of the
same 200 processes at 10 Hz, measured the same way. The summary prints
psutil/pt; the test asserts nothing about speed (see docs/deep-scan.md).

    pytest bench/test_bench_deep.py --benchmark-enable -s
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import psutil
import pytest

from pt.act.plan import Selection
from pt.testing import acting_policy, sleepers

N = 200
SECONDS = 3.0
INTERVAL = 0.1


@pytest.fixture(scope="module")
def candidates():
    with sleepers(N) as procs:
        yield [p.pid for p in procs]


def watching_share(pids) -> tuple[float, object]:
    """pt's CPU share of one core while watching ``pids`` (and the scan's result)."""
    from pt.deep import deep_scan
    policy = acting_policy()
    policy = dataclasses.replace(policy, deep_scan=dataclasses.replace(
        policy.deep_scan, voi_every_s=1e9, candidates=N))
    marks = []

    def on_progress(*_):
        marks.append((time.monotonic(), time.process_time()))
    result = deep_scan(Selection(pids=tuple(pids)), max_time_s=SECONDS, interval_s=INTERVAL, policy=policy,
                       on_progress=on_progress)
    (w0, c0), (w1, c1) = marks[0], marks[-1]
    return (c1 - c0) / (w1 - w0), result


def psutil_share(pids) -> float:
    procs = [psutil.Process(p) for p in pids]
    ticks = int(SECONDS / INTERVAL)
    start = time.monotonic()
    w0, c0 = time.monotonic(), time.process_time()
    for t in range(ticks):
        deadline = start + t * INTERVAL
        now = time.monotonic()
        if now < deadline:
            time.sleep(deadline - now)
        for p in procs:
            with p.oneshot():
                p.cpu_times(), p.io_counters(), p.num_ctx_switches(), p.memory_info(), p.num_threads()
    return (time.process_time() - c0) / (time.monotonic() - w0)


def voi_step_seconds(result) -> float:
    """CPU seconds of one VOI step over every watched candidate."""
    from pt.config import load_priors
    from pt.deep import _Model, deep_evidence
    from pt.infer import memory
    from pt.infer.posterior import ModelTables

    priors = load_priors()
    from pt.config import load_policy
    policy = load_policy().deep_scan
    model = _Model(result.quick, result.rows, ModelTables(priors))
    hz = result.quick.snapshot.host.clock_ticks
    best = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        ev, _, regime, wakes = deep_evidence(result.quick, result.rows, result.series, priors)
        growth = memory.growth(result.series, priors, page_size=result.quick.snapshot.host.page_size)
        inference = model.infer(ev, regime, wakes, growth)
        model.decide(inference)
        idle_now = np.ones(len(result.rows), dtype=bool)        # sleepers: every candidate gets the wake-up VOI too
        model.net_voi(inference, ev, np.arange(len(result.rows)), [1.0, policy.horizon_max_s], 0.05, hz,
                      (wakes.onsets, wakes.idle_s, idle_now), policy.max_time_s)
        best = min(best, time.process_time() - c0)
    return best


def test_deep_scan_cost(candidates, record_reference):
    share, result = watching_share(candidates)
    assert len(result) == N and len(result.series) >= SECONDS / INTERVAL
    step = voi_step_seconds(result)
    from pt.config import load_policy
    every = load_policy().deep_scan.voi_every_s           # the default cadence (the run above disabled it)
    total = share + step / every
    baseline = psutil_share(candidates)
    print(f"\ndeep scan, {N} candidates at {1 / INTERVAL:g} Hz: watching {100 * share:.2f}% of a core, "
          f"VOI step {1e3 * step:.1f} ms (every {every:g} s: {100 * step / every:.2f}%), total {100 * total:.2f}%; "
          f"psutil loop {100 * baseline:.2f}% (psutil/pt {baseline / total:.1f}x)")
    group = f"deep scan {N}@10Hz (CPU ms per wall s)"
    record_reference(group, "pt", total)
    record_reference(group, "psutil loop", baseline)
