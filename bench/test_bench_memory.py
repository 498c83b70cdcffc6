"""The deep scan's memory-growth fit: Theil–Sen on each half of every
candidate's RSS series, for 50 candidates (the default) and 300 samples (a
30 s watch at 10 Hz), as the deep scan re-runs it every VOI step.

Baseline: ``scipy.stats.theilslopes`` on each half of each candidate, the
loop a Python user would write. The summary prints scipy/pt.

    pytest bench/test_bench_memory.py --benchmark-enable
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pt.infer import memory

T, M = 300, 50


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(0)
    t = np.arange(T) * 0.1
    rss = (1e8 + rng.normal(0, 1, (T, M)).cumsum(axis=0) * 1e5).astype(np.int64)
    return t, rss


def test_sustained_slope_pt(series, record):
    t, rss = series
    record("memory growth fit", f"{M}x{T}", "pt", lambda: memory.sustained_slope(t, rss), rounds=10)


def test_sustained_slope_scipy(series, record):
    t, rss = series
    half = T // 2

    def loop():
        for c in range(M):
            stats.theilslopes(rss[:half, c] / memory.MB, t[:half])
            stats.theilslopes(rss[half:, c] / memory.MB, t[half:])
    record("memory growth fit", f"{M}x{T}", "scipy", loop, rounds=3)
