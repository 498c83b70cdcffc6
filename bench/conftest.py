"""Collects pt-vs-SciPy medians from the benchmarks and prints the ratios at the end of the run."""
import pytest

_MEDIANS = {}   # (kernel, size label, "pt" | "scipy") -> median seconds


@pytest.fixture
def record(benchmark):
    """Run ``fn`` under pytest-benchmark and keep its median for the ratio table."""
    def run(kernel, size, impl, fn, rounds, iterations=1):
        benchmark.group = f"{kernel} {size}"
        benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
        if benchmark.stats is not None:          # None under --benchmark-disable
            _MEDIANS[kernel, size, impl] = benchmark.stats.stats.median
    return run


def pytest_terminal_summary(terminalreporter):
    rows = sorted({(k, s) for k, s, _ in _MEDIANS}, key=lambda ks: (ks[0], _size_key(ks[1])))
    pairs = [(k, s, _MEDIANS.get((k, s, "pt")), _MEDIANS.get((k, s, "scipy"))) for k, s in rows]
    pairs = [p for p in pairs if p[2] and p[3]]
    if not pairs:
        return
    tr = terminalreporter
    tr.section("pt vs SciPy: median time and speed-up (SciPy / pt)")
    tr.write_line(f"{'kernel':<28} {'size':>10} {'pt':>12} {'SciPy':>12} {'SciPy/pt':>9}")
    for kernel, size, t_pt, t_sc in pairs:
        tr.write_line(f"{kernel:<28} {size:>10} {_fmt(t_pt):>12} {_fmt(t_sc):>12} "
                      f"{t_sc / t_pt:>8.2f}x")


def _size_key(size):
    return -1.0 if size == "scalar" else float(size.split("=")[1])


def _fmt(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
