"""What memory growth across scans costs a quick scan: the scan without the
verdict memory against the scan with it (CPU and IO history, held verdicts,
and every process's RSS at four earlier scans 10 s apart: the points read,
the sustained slope fitted, the growth term scored, the points written back),
on this machine's process table (~2,000 processes here). The summary prints
(scan without memory)/(scan with it): the share of the scan it is with the
memory, and (the scan with the memory but no RSS points)/(with it): what
growth across scans adds; the RSS part alone is timed on its own.

    pytest bench/test_bench_memory_scans.py --benchmark-enable
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from pt.config import load_policy, load_priors
from pt.decide import stability
from pt.infer import memory
from pt.triage import _rss_points, triage

GAP_S = 10.0


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """A verdict memory where every process has four RSS points, 10 s apart, growing 1 MB a point."""
    path = tmp_path_factory.mktemp("state") / "verdicts"
    triage(policy=load_policy(), priors=load_priors(), memory=path)
    data = path.read_bytes()
    head = data[:data.index(b"\n") + 1]
    records = np.frombuffer(data[len(head):], dtype=stability.RECORD).copy()
    now = time.clock_gettime(time.CLOCK_BOOTTIME)
    steps = np.arange(stability.POINTS)
    records["rss_s"] = now - GAP_S * (stability.POINTS - steps)[None, :]
    records["rss_bytes"] = (100 << 20) + (steps[None, :] << 20)
    path.write_bytes(head + records.tobytes())
    return path


def test_scan_without_memory(benchmark, verdicts):
    benchmark.group = "quick scan and the verdict memory"
    benchmark.extra_info["role"] = "scan without memory"
    benchmark.pedantic(lambda: triage(policy=load_policy(), priors=load_priors()), rounds=7, warmup_rounds=1)


def test_scan_with_memory(benchmark, verdicts):
    benchmark.group = "quick scan and the verdict memory"
    benchmark.extra_info["role"] = "pt"

    def scan():
        t = triage(policy=load_policy(), priors=load_priors(), memory=verdicts)
        assert t.rss_points is not None
        return t
    benchmark.pedantic(scan, rounds=7, warmup_rounds=1)


def test_scan_with_memory_without_growth(benchmark, verdicts, monkeypatch):
    """The same scan with the verdict memory, its RSS points left out: what growth across scans adds."""
    import pt.triage
    monkeypatch.setattr(pt.triage, "_rss_points", lambda *args: None)
    benchmark.group = "quick scan and the verdict memory"
    benchmark.extra_info["role"] = "memory without growth"
    benchmark.pedantic(lambda: triage(policy=load_policy(), priors=load_priors(), memory=verdicts), rounds=7,
                       warmup_rounds=1)


def test_growth_across_scans_alone(benchmark, verdicts):
    """The RSS part: points read and matched, the slope fitted, the term scored."""
    t = triage(policy=load_policy(), priors=load_priors())
    remembered = stability.load(verdicts, t.snapshot.host.boot_id)

    def growth():
        times, rss = _rss_points(remembered, t.snapshot, t.window, t.policy)
        slope, sd, seen, span = memory.scan_slope(times, rss, t.snapshot.host.page_size)
        return memory.growth_terms(np.nan_to_num(slope), np.nan_to_num(sd, nan=1.0), seen, t.priors, watch_s=span)
    benchmark.group = "growth across scans, every process"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(growth, rounds=10, warmup_rounds=1)
