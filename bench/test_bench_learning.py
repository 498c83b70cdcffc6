"""Learning-loop benchmarks.

1. What following verdicts up adds to a quick scan of 2,000 processes (a
   fake procfs, so every round sees the same table and the watch list is in
   its steady state): the follow-up step alone (read the watch list, match
   it, build and write the outcomes file, replace the list) against the
   quick scan itself (``triage``). Target: under 5 %.
2. ``pt calibrate`` over a month of a 500-process machine: 720 hourly runs
   (360,000 decisions and feature rows, compacted as `pt lake compact`
   leaves them) and the outcomes of the processes flagged in them.
   Target: under 5 s.

    pytest bench/test_bench_learning.py --benchmark-enable
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from pt.config import CLASSES, shipped_priors
from pt.learn import calibrate as cal
from pt.telemetry import duck, followup, schemas, writer
from pt.telemetry import lake as lakes
from pt.testing import add_proc, make_tree
from pt.triage import triage


@pytest.fixture(scope="module")
def procfs_2000(tmp_path_factory):
    root = make_tree(tmp_path_factory.mktemp("procfs") / "proc")
    rng = np.random.default_rng(42)
    for i in range(2000):
        argv = [b"python3", f"/home/dev/proj{i % 97}/w.py".encode(), f"--port={8000 + i % 97}".encode()]
        add_proc(root, 100 + i, b"python3", ppid=1 if i % 9 == 0 else 100 + i // 3,
                 cmdline=b"\x00".join(argv) + b"\x00", start=50_000 + i, utime=int(rng.integers(1000)),
                 state="R" if i % 50 == 0 else "S")
    return root


def test_quick_scan_alone(benchmark, procfs_2000):
    benchmark.group = "follow-up vs quick scan (2000 procs)"
    benchmark.extra_info["role"] = "quick scan"
    benchmark.pedantic(lambda: triage(root=procfs_2000), rounds=7, warmup_rounds=1)


def test_follow_up_step(benchmark, procfs_2000, tmp_path, record_reference):
    t = triage(root=procfs_2000)
    # The steady state: every flagged process of this table is on the list.
    _, watched = followup.follow_up(followup.empty(), t, "r0", 1.0)
    followup.write_pending(tmp_path, watched)
    state = {"i": 0}

    def step():
        state["i"] += 1
        run_id, ts = f"20270101T000000Z-{state['i']:08x}", 1_800_000_000.0 + state["i"]
        outcomes, pending = followup.follow_up(followup.read_pending(tmp_path), t, run_id, ts)
        table = writer.outcome_table(outcomes)
        lakes.publish(tmp_path, lakes.partition(tmp_path, "outcomes", ts, run_id),
                      lambda f: writer.write_parquet(table, f))
        followup.write_pending(tmp_path, pending)

    benchmark.group = "follow-up vs quick scan (2000 procs)"
    benchmark.extra_info["role"] = "pt"
    benchmark.extra_info["watched"] = len(watched["pid"])
    cpu = time.process_time()
    benchmark.pedantic(step, rounds=15, warmup_rounds=2)
    record_reference("follow-up vs quick scan (2000 procs)", "follow-up CPU time per step (not wall)",
                     (time.process_time() - cpu) / 17)


# --- a month of a 500-process machine --------------------------------------------------

RUNS, PROCS, FLAGGED = 24 * 30, 500, 20


def _table(name: str, columns: dict, n: int) -> pa.Table:
    sch = schemas.schema(name)
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def month_of_outcomes(root: Path, runs: int) -> None:
    """``runs`` hourly scans of 500 processes (a tenth new each day), every
    run flagging 20 of them; each flagged process followed up by the next
    scans (idle rows, then a final result) and some labelled by people."""
    rng = np.random.default_rng(0)
    start = time.time() - runs * 3600
    cats = np.array(["test_runner", "dev_server", "agent", "shell", "build", "unknown"], dtype=object)
    out: dict[str, list] = {k: [] for k in ("run_id", "ts", "boot_id", "pid", "start_ticks", "action", "result",
                                            "observed_by", "label", "verdict_run_id", "after_s")}
    for r in range(runs):
        ts, run_id = start + r * 3600, f"run{r:04d}"
        pids = np.arange(PROCS) + 1000 + np.where(np.arange(PROCS) % 10 == 0, (r // 24) * 10_000, 0)
        key = {"run_id": [run_id] * PROCS, "ts": np.full(PROCS, ts), "boot_id": ["b"] * PROCS,
               "pid": pids, "start_ticks": pids * 3}
        flagged = np.zeros(PROCS, bool)
        flagged[rng.choice(PROCS, FLAGGED, replace=False)] = True
        tables = {
            "decisions": _table("decisions", {**key, "action": np.where(flagged, "kill", "keep").tolist(),
                                              "class": np.where(flagged, "abandoned", "useful").tolist(),
                                              "lfdr": rng.random(PROCS), "command_category": cats[pids % 6].tolist()},
                                PROCS),
            "proc_features": _table("proc_features", {**key, "cpu_ticks": rng.integers(0, 30, PROCS),
                                                      "window_ticks": np.full(PROCS, 30)}, PROCS),
            "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]}, 1),
        }
        writer.write_tables(root, tables, run_id, ts)
        for pid in pids[flagged]:
            result = rng.choice(["idle", "resumed", "exited"], p=[0.6, 0.2, 0.2])
            label = {"resumed": "useful"}.get(result) or (rng.choice(CLASSES) if rng.random() < 0.2 else None)
            for k, v in (("run_id", f"run{min(r + 1, runs - 1):04d}"), ("ts", ts + 3600), ("boot_id", "b"),
                         ("pid", int(pid)), ("start_ticks", int(pid) * 3), ("action", "kill"), ("result", result),
                         ("observed_by", "rescan"), ("label", label), ("verdict_run_id", run_id),
                         ("after_s", 3600.0)):
                out[k].append(v)
    table = writer.outcome_table(out)
    lakes.publish(root, lakes.partition(root, "outcomes", start, "outcomes-month"),
                  lambda f: writer.write_parquet(table, f))
    lakes.compact(root)


@pytest.fixture(scope="module")
def month(tmp_path_factory, request):
    """The month; two days of it when benchmarks are off (the CI smoke run)."""
    enabled = request.config.getoption("benchmark_enable") or not request.config.getoption("benchmark_disable")
    root = tmp_path_factory.mktemp("learn-month") / "lake"
    month_of_outcomes(root, RUNS if enabled else 48)
    return root


def _calibrate(root: Path) -> dict:
    lake = duck.open_lake(root, tables=("decisions", "proc_features", "outcomes"), macros=False)
    return cal.calibrate(cal.read_record(lake), shipped_priors())


def previous_cpu_window_update(record, shipped):
    """The previous implementation of the per-category CPU-window Betas (the
    baseline): one fine grid search per (category, class) group, eight
    rounds of 41 x 41 points, each point evaluated over every distinct (k, n)."""
    from scipy import special

    from pt.config import CATEGORICAL_LEVELS
    from pt.learn.model import _refine

    by_category, groups = {}, []
    seen = record.window_ticks > 0
    for category in CATEGORICAL_LEVELS["command"]:
        for c in CLASSES:
            sel = seen & (record.category == category) & (record.label == c)
            if sel.sum() < cal.MIN_GROUP:
                continue
            parent = shipped.by_category["cpu_window"].get(category, {}).get(c, shipped.pairs["cpu_window"][c])
            pairs, weight = np.unique(np.stack([record.cpu_ticks[sel].astype(float),
                                                record.window_ticks[sel].astype(float)], axis=1),
                                      axis=0, return_counts=True)
            k, n = pairs[:, 0:1].T, pairs[:, 1:2].T
            centre = np.log(np.asarray(parent, dtype=np.float64))

            def loss(x, k=k, n=n, weight=weight, centre=centre):
                a, b = np.exp(x[:, 0:1]), np.exp(x[:, 1:2])
                ll = (special.betaln(k + a, n - k + b) - special.betaln(a, b)) @ weight
                return -ll + 0.5 * np.sum((x - centre) ** 2, axis=1)

            a, b = np.exp(_refine(loss, [np.log(1e-3)] * 2, [np.log(1e4)] * 2))
            by_category.setdefault(category, {})[c] = [float(a), float(b)]
            groups.append({"category": category, "class": c, "n": int(sel.sum()),
                           "shipped": list(parent), "learned": [float(a), float(b)]})
    return by_category, groups


def test_calibrate_over_a_month_previous_fits(benchmark, month, monkeypatch):
    """Baseline: the same calibration with the previous per-group grid fits;
    the fits agree with the vectorised ones (same optimum)."""
    lake = duck.open_lake(month, tables=("decisions", "proc_features", "outcomes"), macros=False)
    record = cal.read_record(lake)
    new = cal.cpu_window_update(record, shipped_priors())[1]
    old = previous_cpu_window_update(record, shipped_priors())[1]
    assert [(g["category"], g["class"], g["n"]) for g in new] == [(g["category"], g["class"], g["n"]) for g in old]
    for g, h in zip(new, old):
        assert np.log(g["learned"]) == pytest.approx(np.log(h["learned"]), abs=1e-4)
    monkeypatch.setattr(cal, "cpu_window_update", previous_cpu_window_update)
    benchmark.group = "calibrate over a month (720 runs x 500 procs)"
    benchmark.extra_info["role"] = "previous implementation (a grid search per category)"
    benchmark.pedantic(_calibrate, args=(month,), rounds=3, warmup_rounds=1)


def test_calibrate_over_a_month(benchmark, month, record_reference):
    benchmark.group = "calibrate over a month (720 runs x 500 procs)"
    benchmark.extra_info["role"] = "pt"
    result = benchmark.pedantic(_calibrate, args=(month,), rounds=5, warmup_rounds=1)
    assert result["labels"]["n"] > 0 and result["pac_bayes"]["n"] > 0
    if benchmark.enabled:
        assert benchmark.stats.stats.median < 5.0
        env = {**os.environ, "PT_LAKE": str(month), "XDG_DATA_HOME": str(month.parent / "data")}
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pt", "calibrate", "--json", "--dry-run"], check=True,
                           stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir(), env=env)
            times.append(time.perf_counter() - t0)
        record_reference("calibrate over a month (720 runs x 500 procs)", "pt calibrate (CLI, whole process)",
                         float(np.median(times)))
