"""The lifecycle sampler's tick against a full read of the table, at ~2,000 processes.

    pytest bench/test_bench_lifecycle.py --benchmark-enable

``lifecycle-tick``: one tick of :class:`pt.collect._lifecycle.LifeSampler`
(list the pids, read only the new ones) against one full read (``collect()``,
what ``pt incidents`` read every 0.1 s before); the summary prints the full
read's median over the tick's. ``lifecycle-flood`` runs both ways of
watching over a parent forking a child every ~20 ms that lives ~50 ms, for
1.5 s each, and records as figures how many of its children each saw
(and the tick's estimate with the fork counter) against how many it forked.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pt.testing import fork_loop, sleepers


@pytest.fixture(scope="module")
def table_of_2000():
    from pt.collect import collect
    present = sum(name.isdigit() for name in os.listdir("/proc"))
    with sleepers(max(2000 - present, 0)):
        yield collect()


def test_one_tick(benchmark, table_of_2000):
    from pt.collect._lifecycle import LifeSampler
    first = table_of_2000
    sampler = LifeSampler(b"/proc")
    sampler.seed(first["pid"], first["ppid"], first["start_ticks"], first["kernel_thread"], first["comm"],
                 first["cmdline"], first.host.monotonic)
    benchmark.group = "lifecycle-tick"
    benchmark.extra_info["role"] = "pt"
    benchmark.extra_info["processes"] = len(first)
    benchmark.pedantic(sampler.tick, rounds=50, warmup_rounds=2)


def test_one_full_read(benchmark, table_of_2000):
    from pt.collect import collect
    benchmark.group = "lifecycle-tick"
    benchmark.extra_info["role"] = "one full read (collect)"
    benchmark.pedantic(collect, rounds=7, warmup_rounds=1)


#: A child every ~20 ms, each living ~50 ms.
FLOOD = fork_loop(0.05, 0.02)


def test_flood_seen(benchmark, table_of_2000, record_figure):
    """Children of a 50 ms flood seen by full reads every 0.1 s, and by the
    ticks (plus the fork counter's estimate), over 1.5 s each (figures)."""
    import numpy as np

    from pt.collect import collect
    from pt.collect.lifecycle import LifeWatch
    from pt.infer.incidents import Thresholds, lives_of_ticks, unseen_births
    proc = subprocess.Popen([sys.executable, "-c", FLOOD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"

        def full_reads():
            seen, end = set(), time.monotonic() + 1.5
            while time.monotonic() < end:
                s = collect()
                seen |= {(p, t) for p, t, q in zip(s["pid"].tolist(), s["start_ticks"].tolist(),
                                                   s["ppid"].tolist()) if q == proc.pid}
                time.sleep(0.1)
            return len(seen)

        def ticks():
            first = collect()
            w = LifeWatch()
            w.start(first)
            time.sleep(1.5)
            f = w.stop()
            up = first.host.uptime_s
            lv = lives_of_ticks(first, f.lives, forks=f.forks,
                                forks_span=(f.forks_span[0] - up, f.forks_span[1] - up))
            mine = lv.ppid == proc.pid
            short = mine & np.isfinite(lv.gone_s) & (lv.parent >= 0)
            extra = unseen_births(lv, short, Thresholds())[lv.parent[short]].max(initial=0.0)
            return int(mine.sum()), int(mine.sum() + extra), f.ticks / 1.5

        old = full_reads()
        benchmark.group = "lifecycle-flood"
        benchmark.extra_info["role"] = "pt"
        seen, estimated, rate = benchmark.pedantic(ticks, rounds=1, iterations=1)
        record_figure("50 ms flood, 1.5 s: children forked (about)", round(1.5 / 0.022), "")
        record_figure("50 ms flood, 1.5 s: seen by full reads every 0.1 s", old, "")
        record_figure("50 ms flood, 1.5 s: seen by ticks", seen, "")
        record_figure("50 ms flood, 1.5 s: ticks + fork counter", estimated, "")
        record_figure("lifecycle ticks per second", round(rate, 1), "/s")
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
