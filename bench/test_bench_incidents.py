"""Lifecycle-incident detection at ~2,000 processes, against what it rides on.

    pytest bench/test_bench_incidents.py --benchmark-enable

- ``incidents-scan``: judging the quick scan's own window (what ``pt scan``
  adds to its summary) against the quick scan itself (``triage()``);
- ``incidents-30-reads``: judging 30 reads of the table (``pt incidents
  --window 3``: a read every 0.1 s) against one read of the table.

The summary prints each baseline's median over detection's: how many times
cheaper detection is than what it rides on.
"""
from __future__ import annotations

import os

import pytest

from pt.testing import sleepers


@pytest.fixture(scope="module")
def scan_of_2000():
    from pt.collect import collect
    from pt.triage import triage
    present = sum(name.isdigit() for name in os.listdir("/proc"))
    with sleepers(max(2000 - present, 0)):
        t = triage()
        yield t, [collect() for _ in range(29)]


def test_detection_on_the_scan_window(benchmark, scan_of_2000):
    from pt.incidents import judge
    t, _ = scan_of_2000
    judge(t)                                   # scipy's import is not the detection's cost
    benchmark.group = "incidents-scan"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(judge, args=(t,), rounds=15, warmup_rounds=1)


def test_quick_scan(benchmark, scan_of_2000):
    from pt.triage import triage
    benchmark.group = "incidents-scan"
    benchmark.extra_info["role"] = "quick scan (triage)"
    benchmark.pedantic(triage, rounds=5, warmup_rounds=1)


def test_detection_over_30_reads(benchmark, scan_of_2000):
    from pt.incidents import judge
    t, reads = scan_of_2000
    benchmark.group = "incidents-30-reads"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(judge, args=(t, reads), rounds=7, warmup_rounds=1)


def test_one_read_of_the_table(benchmark, scan_of_2000):
    from pt.collect import collect
    benchmark.group = "incidents-30-reads"
    benchmark.extra_info["role"] = "one read (collect)"
    benchmark.pedantic(collect, rounds=7, warmup_rounds=1)
