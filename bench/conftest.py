"""Shared benchmark plumbing: ratios against named baselines, printed in the same run.

Every benchmark sets ``benchmark.extra_info["role"]`` to ``"pt"`` or to the
name of a baseline (``"psutil"``, ``"python"``, ``"scipy"`` ...) and puts the
pt entry and its baselines in one ``group``. The summary at the end prints,
per group, each baseline's median over pt's median: how many times faster pt
is. Extra reference figures (such as the C floor of reading /proc) can be
recorded with the ``record_reference(group, name, median_seconds)`` fixture.
"""
from __future__ import annotations

import os
from collections import defaultdict

import pytest

# One BLAS thread: OpenBLAS's spinning workers would skew timings on 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REFERENCES: list[tuple[str, str, float]] = []
#: Other figures measured by a benchmark, printed as they are: (what, value, unit).
FIGURES: list[tuple[str, float, str]] = []


@pytest.fixture
def record(benchmark):
    """Run ``fn`` as implementation ``impl`` ("pt" or "scipy") of ``kernel`` at
    ``size``, in the group its counterpart shares (kernel benchmarks)."""
    def run(kernel, size, impl, fn, rounds, iterations=1):
        benchmark.group = f"{kernel} {size}"
        benchmark.extra_info["role"] = impl
        benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
    return run


@pytest.fixture(scope="session")
def record_figure():
    """Record a figure that is not a time (a peak RSS in MB, say), printed in the summary."""
    def record(what: str, value: float, unit: str) -> None:
        FIGURES.append((what, value, unit))
    return record


@pytest.fixture(scope="session")
def record_reference():
    """Record a reference median (seconds) measured outside pytest-benchmark."""
    def record(group: str, name: str, median: float) -> None:
        REFERENCES.append((group, name, median))
    return record


def _medians(config) -> dict[str, dict[str, float]]:
    session = getattr(config, "_benchmarksession", None)
    groups: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in getattr(session, "benchmarks", []):
        if bench.stats and bench.stats.rounds:
            groups[bench.group][bench.extra_info.get("role", bench.name)] = bench.stats.median
    for group, name, median in REFERENCES:
        groups[group][name] = median
    return groups


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    groups = _medians(config)
    lines = []
    for group, medians in sorted(groups.items()):
        if "pt" not in medians:
            continue
        pt_median = medians["pt"]
        parts = [f"pt {pt_median * 1e3:.3f} ms"]
        for name, median in sorted(medians.items()):
            if name != "pt":
                parts.append(f"{name}/pt = {median / pt_median:.2f}x")
        lines.append(f"{group:<40} " + "  ".join(parts))
    if lines:
        terminalreporter.section("pt ratios (median of baseline / median of pt; >1 means pt is faster)")
        for line in lines:
            terminalreporter.write_line(line)
    if FIGURES:
        terminalreporter.section("other pt figures")
        for what, value, unit in FIGURES:
            terminalreporter.write_line(f"{what:<60} {value:10.1f} {unit}")
