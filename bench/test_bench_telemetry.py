"""Telemetry benchmarks.

1. What recording adds to a quick scan of 2,000 processes (a fake procfs
   tree, so the process table is the same every round): triage + write_scan
   against triage alone, in process; and ``pt scan`` against
   ``pt scan --no-telemetry`` end to end (interpreter start to exit, the
   telemetry child's work included). Target: at most 10% more.
2. ``pt duck why`` over a month of hourly scans of 500 processes (720 runs,
   generated in the lake layout, then compacted), against the same lake
   before compaction. Target: under 200 ms.
3. pt's Parquet writer (:mod:`pt.telemetry.parquet`) against pyarrow writing
   the same six tables of a 2,000-process scan as the lake did before (zstd,
   dictionary strings, identity statistics, page CRCs), to memory; pyarrow
   is the named baseline, its Arrow tables built beforehand.

    pytest bench/test_bench_telemetry.py --benchmark-enable
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import io

import numpy as np
import pytest

from pt.telemetry import duck, parquet, schemas, writer
from pt.telemetry import lake as lakes
from pt.telemetry.recorder import Recorder
from pt.telemetry.redact import Redactor
from pt.testing import add_proc, isolated_env, make_tree
from pt.triage import triage

KEY = bytes(range(32))
WORDS = ("worker", "serve", "test", "build", "watch", "run", "lint", "index")


def fake_machine(root: Path, n: int) -> Path:
    """``n`` processes with a realistic spread of command lines: interpreters,
    scripts under home directories, flags with values, a few planted secrets;
    about one distinct argv per four processes."""
    make_tree(root)
    rng = np.random.default_rng(42)
    exes = (b"python3", b"node", b"java", b"bash", b"ruby", b"go", b"cargo", b"pytest")
    for i in range(n):
        kind = int(rng.integers(len(exes)))
        variant = int(rng.integers(max(n // (4 * len(exes)), 1)))
        argv = [exes[kind], f"/home/dev{variant % 9}/proj{variant}/{WORDS[variant % 8]}.py".encode(),
                f"--port={8000 + variant}".encode(), b"--verbose", WORDS[kind].encode()]
        if variant % 11 == 0:
            argv.append(f"--token=ghp_{variant:04d}R4nd0mT0k3nV4lu3xyzABCDEFGHIJ".encode())
        add_proc(root, 100 + i, exes[kind][:15], ppid=1 if i % 9 == 0 else 100 + i // 3,
                 cmdline=b"\x00".join(argv) + b"\x00", start=50_000 + i, utime=int(rng.integers(1000)),
                 state="R" if i % 50 == 0 else "S")
    return root


@pytest.fixture(scope="module")
def procfs_2000(tmp_path_factory):
    return fake_machine(tmp_path_factory.mktemp("procfs") / "proc", 2000)


def test_quick_scan_with_telemetry(benchmark, procfs_2000, tmp_path):
    """As ``pt scan`` records: redaction starts when the snapshot is taken (it
    overlaps the CPU window), the write follows the scan. A fresh redactor
    each round, so nothing is memoised from the round before."""
    benchmark.group = "quick-scan-2000 +telemetry (in process)"
    benchmark.extra_info["role"] = "pt"

    def scan_and_record():
        recorder = Recorder(tmp_path, red=Redactor(KEY), procfs=procfs_2000)
        t = triage(root=procfs_2000, on_snapshot=recorder.prepare)
        result = recorder.record(t)
        assert result.written, result.reason

    benchmark.pedantic(scan_and_record, rounds=9, warmup_rounds=1)


def test_quick_scan_without_telemetry(benchmark, procfs_2000):
    benchmark.group = "quick-scan-2000 +telemetry (in process)"
    benchmark.extra_info["role"] = "no telemetry"
    benchmark.pedantic(lambda: triage(root=procfs_2000), rounds=9, warmup_rounds=1)


def test_telemetry_write_alone(benchmark, procfs_2000, tmp_path, record_reference):
    """The write by itself (build + redact + Parquet, nothing prepared), for the docs."""
    benchmark.group = "telemetry-write-2000"
    benchmark.extra_info["role"] = "pt"
    t = triage(root=procfs_2000, window_s=0.01)
    benchmark.pedantic(lambda: writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=procfs_2000),
                       rounds=9, warmup_rounds=1)


def _cli(procfs: Path, home: Path, *extra: str) -> None:
    env = {**isolated_env(home), "PT_PROCFS_PATH": str(procfs), "COLUMNS": "160"}
    subprocess.run([sys.executable, "-m", "pt", "scan", *extra], stdout=subprocess.DEVNULL, check=True,
                   cwd=tempfile.gettempdir(), env=env)


def test_cli_scan_with_telemetry(benchmark, procfs_2000, tmp_path):
    benchmark.group = "pt scan 2000 +telemetry (CLI)"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(_cli, args=(procfs_2000, tmp_path), rounds=7, warmup_rounds=1)
    assert list((tmp_path / ".local/share/pt/lake/runs").rglob("*.parquet"))


def test_cli_scan_without_telemetry(benchmark, procfs_2000, tmp_path):
    benchmark.group = "pt scan 2000 +telemetry (CLI)"
    benchmark.extra_info["role"] = "--no-telemetry"
    benchmark.pedantic(_cli, args=(procfs_2000, tmp_path, "--no-telemetry"), rounds=7, warmup_rounds=1)


# --- a month of hourly scans ------------------------------------------------------------

RUNS, PROCS = 24 * 30, 500


def month_lake(root: Path, runs: int = RUNS) -> int:
    """Write ``runs`` (720) hourly runs of a 500-process scan in the lake layout: the
    Arrow tables of one real scan (fake procfs), with run_id, ts and pids
    rewritten per run, one file per table per run as pt scan writes them.
    Returns a pid present in the last run."""
    procfs = fake_machine(root.parent / "procfs500" / "proc", PROCS)
    t = triage(root=procfs, window_s=0.01)
    tables = writer.scan_tables(triage=t, red=Redactor(KEY), run_id="x", ts=0.0, procfs=procfs)
    start = time.time() - runs * 3600
    pids = {name: tbl.columns["pid"].values for name, tbl in tables.items() if "pid" in tbl.columns}
    for r in range(runs):
        ts, run_id = start + r * 3600, f"run{r:04d}"
        for name, tbl in tables.items():
            n = tbl.num_rows
            cols = {**tbl.columns, "run_id": parquet.const(run_id, n, "string"),
                    "ts": parquet.const(ts, n, "float64")}
            if name in pids:     # churn: a tenth of the processes are new every day
                shifted = pids[name] + np.where(np.arange(n) % 10 == 0, (r // 24) * 10_000, 0)
                cols["pid"] = parquet.Numbers(shifted.astype(np.int32))
            tbl = writer.Table(name, cols)
            lakes.publish(root, lakes.partition(root, name, ts, run_id),
                          lambda tmp, tbl=tbl: writer.write_parquet(tbl, tmp))
    return int(pids["decisions"][1])


@pytest.fixture(scope="module")
def month(tmp_path_factory, request):
    """The month lake; two days of it when benchmarks are off (the CI smoke run)."""
    enabled = request.config.getoption("benchmark_enable") or not request.config.getoption("benchmark_disable")
    root = tmp_path_factory.mktemp("month") / "lake"
    runs = RUNS if enabled else 48
    return root, month_lake(root, runs), runs


def _why(root: Path, pid: int) -> None:
    """What ``pt duck why PID`` does after its imports: open the two views, query."""
    lake = duck.open_lake(root, tables=("decisions", "proc_inference"), macros=False)
    assert duck.why(lake, str(pid)) is not None


def test_why_over_an_uncompacted_month(benchmark, month):
    root, pid, _ = month
    benchmark.group = "why over a month (720 runs x 500 procs)"
    benchmark.extra_info["role"] = "uncompacted"
    benchmark.pedantic(_why, args=(root, pid), rounds=3, warmup_rounds=1)


def test_why_over_a_compacted_month(benchmark, month, record_reference):
    root, pid, runs = month
    before = duck.open_lake(root).query("SELECT count(*) FROM proc_inference")[1]
    started = time.perf_counter()
    lakes.compact(root)
    record_reference("why over a month (720 runs x 500 procs)", "compaction itself",
                     time.perf_counter() - started)
    assert duck.open_lake(root).query("SELECT count(*) FROM proc_inference")[1] == before == [(runs * PROCS,)]
    benchmark.group = "why over a month (720 runs x 500 procs)"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(_why, args=(root, pid), rounds=15, warmup_rounds=2)
    if benchmark.enabled:
        assert benchmark.stats.stats.median < 0.2
        env = {**os.environ, "PT_LAKE": str(root)}
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pt", "duck", "why", str(pid), "--json"], check=True,
                           stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir(), env=env)
            times.append(time.perf_counter() - t0)
        record_reference("why over a month (720 runs x 500 procs)", "pt duck why (CLI, whole process)",
                         float(np.median(times)))


# --- pt's Parquet writer against pyarrow ------------------------------------------------

@pytest.fixture(scope="module")
def scan_tables_2000(procfs_2000):
    t = triage(root=procfs_2000, window_s=0.01)
    return writer.scan_tables(triage=t, red=Redactor(KEY), run_id="20270101T000000Z-00000000", ts=1.8e9,
                              procfs=procfs_2000)


def _write_all_pt(tables) -> int:
    size = 0
    for tbl in tables.values():
        out = io.BytesIO()
        writer.write_parquet(tbl, out)
        size += out.tell()
    return size


def _arrow_tables(tables) -> dict:
    """The same tables as pyarrow tables with the lake's schemas (read back from pt's files)."""
    import pyarrow.parquet as pq
    out = {}
    for name, tbl in tables.items():
        buf = io.BytesIO()
        writer.write_parquet(tbl, buf)
        buf.seek(0)
        out[name] = pq.read_table(buf).cast(schemas.schema(name))
    return out


def _write_all_pyarrow(arrow_tables) -> int:
    """As the lake's writer did before pt's own: zstd, strings dictionary-encoded,
    statistics on the identity columns, page checksums."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    size = 0
    for tbl in arrow_tables.values():
        out = io.BytesIO()
        strings = [f.name for f in tbl.schema if pa.types.is_string(f.type) or pa.types.is_list(f.type)]
        stats = [n for n in writer.STATISTICS if n in tbl.schema.names]
        pq.write_table(tbl, out, compression="zstd", use_dictionary=strings or False,
                       write_statistics=stats or False, write_page_checksum=True)
        size += out.tell()
    return size


def test_parquet_writer_pt(benchmark, scan_tables_2000, record_figure):
    benchmark.group = "write the six scan tables (2000 procs)"
    benchmark.extra_info["role"] = "pt"
    size = benchmark.pedantic(_write_all_pt, args=(scan_tables_2000,), rounds=9, warmup_rounds=1)
    record_figure("scan tables, pt's writer (gzip-1)", size / 1e3, "kB")
    old = writer.COMPRESSION
    writer.COMPRESSION = parquet.UNCOMPRESSED
    try:
        record_figure("scan tables, pt's writer (uncompressed)", _write_all_pt(scan_tables_2000) / 1e3, "kB")
    finally:
        writer.COMPRESSION = old


def test_parquet_writer_pyarrow(benchmark, scan_tables_2000, record_figure):
    arrow_tables = _arrow_tables(scan_tables_2000)
    benchmark.group = "write the six scan tables (2000 procs)"
    benchmark.extra_info["role"] = "pyarrow"
    size = benchmark.pedantic(_write_all_pyarrow, args=(arrow_tables,), rounds=9, warmup_rounds=1)
    record_figure("scan tables, pyarrow (zstd)", size / 1e3, "kB")
