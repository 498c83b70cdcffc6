"""Collects pt-vs-SciPy medians from the benchmarks and prints the ratios at the end of the run."""
import os

# SciPy's OpenBLAS worker threads spin for a while after each SciPy call and take the
# second core from whatever is timed next; none of the benchmarked functions use BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

_TIMES = {}   # (kernel, size label, "pt" | "scipy") -> (median, min) seconds


@pytest.fixture
def record(benchmark):
    """Run ``fn`` under pytest-benchmark and keep its median and minimum for the ratio table."""
    def run(kernel, size, impl, fn, rounds, iterations=1):
        benchmark.group = f"{kernel} {size}"
        benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
        if benchmark.stats is not None:          # None under --benchmark-disable
            stats = benchmark.stats.stats
            _TIMES[kernel, size, impl] = (stats.median, stats.min)
    return run


def pytest_terminal_summary(terminalreporter):
    keys = sorted({(k, s) for k, s, _ in _TIMES}, key=lambda ks: (ks[0], _size_key(ks[1])))
    pairs = [(k, s, _TIMES[k, s, "pt"], _TIMES[k, s, "scipy"]) for k, s in keys
             if (k, s, "pt") in _TIMES and (k, s, "scipy") in _TIMES]
    if not pairs:
        return
    tr = terminalreporter
    tr.section("pt vs SciPy: median times and speed-up SciPy/pt (of medians, of minima)")
    tr.write_line(f"{'kernel':<30} {'size':>7} {'pt':>10} {'SciPy':>10} {'median':>8} {'min':>8}")
    for kernel, size, (pt_med, pt_min), (sc_med, sc_min) in pairs:
        tr.write_line(f"{kernel:<30} {size:>7} {_fmt(pt_med):>10} {_fmt(sc_med):>10} "
                      f"{sc_med / pt_med:>7.2f}x {sc_min / pt_min:>7.2f}x")


def _size_key(size):
    return -1.0 if size == "scalar" else float(size.split("=")[1])


def _fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
