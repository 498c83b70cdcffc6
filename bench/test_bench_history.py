"""What the lake's earlier runs add to a deep scan's start: the quick scan
(``triage``) alone against the quick scan plus :mod:`pt.telemetry.history`
(read the last 48 runs' five columns with DuckDB, every process's RSS slope
across them, respawn loops), on this machine's process table with a lake of
a day of runs (48 scans of it, 30 minutes apart). The summary prints
(scan alone)/(scan + history): the share of the scan it is with the history.

    pytest bench/test_bench_history.py --benchmark-enable
"""
from __future__ import annotations

import pytest

from pt.config import load_policy, load_priors
from pt.telemetry import history
from pt.telemetry.redact import redactor
from pt.telemetry.writer import new_run_id, scan_tables, write_tables
from pt.triage import triage

RUNS = 48
EVERY_S = 1800.0


@pytest.fixture(scope="module")
def day_lake(tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    t = triage(policy=load_policy(), priors=load_priors())
    red = redactor()
    for k in range(RUNS):
        ts = t.snapshot.host.taken_at - EVERY_S * (RUNS - k)
        run_id = new_run_id(ts)
        write_tables(lake, scan_tables(triage=t, red=red, run_id=run_id, ts=ts), run_id, ts)
    return lake


def _scan():
    return triage(policy=load_policy(), priors=load_priors())


def _scan_with_history(lake):
    t = _scan()
    h = history.read(lake, t.snapshot.host.boot_id)
    assert h.note is None and h.runs == RUNS
    history.growth_across_runs(h, t.snapshot, t.priors)
    history.respawn_incidents(h, t.snapshot, t.protected_by)
    return t


def test_scan_alone(benchmark, day_lake):
    benchmark.group = "scan with a day of earlier runs"
    benchmark.extra_info["role"] = "scan alone"
    benchmark.pedantic(_scan, rounds=5, warmup_rounds=1)


def test_scan_with_history(benchmark, day_lake):
    benchmark.group = "scan with a day of earlier runs"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(_scan_with_history, args=(day_lake,), rounds=5, warmup_rounds=1)


def test_history_alone(benchmark, day_lake):
    t = _scan()

    def read_and_judge():
        h = history.read(day_lake, t.snapshot.host.boot_id)
        history.growth_across_runs(h, t.snapshot, t.priors)
        history.respawn_incidents(h, t.snapshot, t.protected_by)
    benchmark.group = "history of a day of runs"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(read_and_judge, rounds=5, warmup_rounds=1)
