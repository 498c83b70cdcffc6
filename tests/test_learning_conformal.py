"""Conformal bounds on remaining lifetime: the finite-sample coverage
guarantee by simulation (exchangeable draws), the pairs read from a real
lake written through the real writers, and the line `pt explain` shows
(a real process this test started, stopped by pidfd at the end).
"""
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from pt.config import CATEGORICAL_LEVELS
from pt.learn import conformal
from pt.telemetry import duck, schemas, writer
from pt.testing import kill_if_same, spawn_detached
from pt.testing import run_pt as pt

pytestmark = pytest.mark.usefixtures("private_homes")


def _draw(rng, n):
    """Exchangeable (age, remaining) pairs: log-normal ages, remaining life
    heavy-tailed and depending on age (no model pt assumes)."""
    age = np.exp(rng.normal(6, 2, n))
    remaining = age ** 0.7 * rng.pareto(1.5, n) * 30 + 1
    return age, remaining


@pytest.mark.parametrize("n,alpha", [(9, 0.1), (30, 0.1), (200, 0.1), (40, 0.2), (99, 0.05)])
def test_coverage_holds_in_finite_samples(n, alpha):
    """Over many repetitions, P(new remaining <= bound) >= 1 - alpha (within
    binomial tolerance), and, the scores being continuous, at most
    1 - alpha + 1 / (n + 1): the bound is valid and not vacuous."""
    rng = np.random.default_rng(n)
    reps = 4000
    covered = 0
    for _ in range(reps):
        age, rem = _draw(rng, n + 1)
        q = conformal.quantile(conformal.scores(age[:n], rem[:n]), alpha)
        covered += rem[n] <= age[n] * math.exp(q)
    rate, sd = covered / reps, math.sqrt(alpha * (1 - alpha) / reps)
    assert rate >= 1 - alpha - 3 * sd, rate
    assert rate <= 1 - alpha + 1 / (n + 1) + 3 * sd, rate


def test_too_few_pairs_give_no_bound_and_say_how_many():
    assert conformal.needed(0.1) == 9 and conformal.needed(0.05) == 19 and conformal.needed(0.2) == 4
    assert conformal.quantile(np.arange(8.0), 0.1) is None and conformal.quantile(np.arange(9.0), 0.1) == 8.0
    pairs = (np.array(["build"] * 5, dtype=object), np.ones(5) * 60, np.ones(5) * 30)
    b = conformal.bound("build", 120.0, pairs)
    assert b["within_s"] is None and b["note"] == "not enough history: 5 of 9 exits of build processes needed"
    with pytest.raises(ValueError, match="alpha"):
        conformal.needed(1.5)


def _table(name, columns):
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def lake_of_exits(root, category: str, ages, remaining, killed: int = 0) -> None:
    """A scan's verdicts about len(ages) processes of ``category``, then a
    rescan finding each gone (the middle of its gap is verdict + remaining);
    the first ``killed`` were ended by pt (a journalled kill), not by themselves."""
    n, ts = len(ages), 1_800_000_000.0
    run_id = writer.new_run_id(ts)
    pids = list(range(3000, 3000 + n))
    key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": pids,
           "start_ticks": [p * 5 for p in pids]}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["pause"] * n, "class": ["abandoned"] * n,
                                          "lfdr": [0.2] * n, "command_category": [category] * n}),
        "proc_features": _table("proc_features", {**key, "age_s": list(map(float, ages)), "cpu_ticks": [0] * n,
                                                  "window_ticks": [30] * n}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    # Seen alive until verdict + r - 10, gone at the scan at verdict + r + 10: the middle is verdict + r.
    rows = [{"ts": ts + r + 10, "boot_id": "b", "pid": p, "start_ticks": p * 5, "uid": 1000, "action": "pause",
             "result": "exited", "observed_by": "rescan", "label": None, "verdict_run_id": run_id,
             "after_s": float(r + 10), "seen_until_s": float(r - 10), "note": None}
            for p, r in zip(pids, remaining)]
    cols = {k: [r[k] for r in rows] for k in rows[0]}
    table = writer.outcome_table(cols)
    writer.write_tables(root, {"outcomes": table}, writer.new_run_id(ts + 1), ts + 1)
    if killed:
        kills = [{**rows[i], "ts": ts + 5, "observed_by": "journal", "result": "done", "action": "kill"}
                 for i in range(killed)]
        writer.write_tables(root, {"outcomes": writer.outcome_table({k: [r[k] for r in kills] for k in kills[0]})},
                            writer.new_run_id(ts + 2), ts + 2)


def test_pairs_come_from_the_lake_and_leave_out_what_pt_killed(tmp_path):
    ages = [100.0 * (i + 1) for i in range(12)]
    remaining = [50.0 + 40 * i for i in range(12)]
    lake_of_exits(tmp_path / "lake", "build", ages, remaining, killed=2)
    lake = duck.open_lake(tmp_path / "lake", tables=("decisions", "proc_features", "outcomes"), macros=False)
    cat, age, rem = conformal.read_pairs(lake)
    assert list(cat) == ["build"] * 10
    got = np.array(sorted(zip(age, rem)))
    assert got == pytest.approx(np.array(sorted(zip(ages[2:], remaining[2:]))))
    b = conformal.bound("build", 600.0, (cat, age, rem))
    want = conformal.quantile(np.log(np.array(remaining[2:]) / np.array(ages[2:])), 0.1)
    assert b["n"] == 10 and b["within_s"] == pytest.approx(600.0 * math.exp(want))


def test_explain_shows_the_bound_or_how_much_history_it_needs(tmp_path):
    pid, start = spawn_detached()
    try:
        from pt.triage import triage
        t = triage(window_s=0.05)
        row = int(np.flatnonzero(t.snapshot["pid"] == pid)[0])
        category = CATEGORICAL_LEVELS["command"][t.context.command_category[row]]
        rng = np.random.default_rng(2)
        age, rem = _draw(rng, 40)
        lake_of_exits(tmp_path / "lake", category, age, rem)
        env = {"PT_LAKE": str(tmp_path / "lake")}
        data = json.loads(pt("explain", str(pid), "--json", cwd=tmp_path, env=env).stdout)["data"]
        life = data["remaining_lifetime"]
        assert life["n"] == 40 and life["coverage"] == 0.9 and life["within_s"] > 0
        shown = pt("explain", str(pid), cwd=tmp_path, env=env).stdout
        assert "likely to exit within" in " ".join(shown.split()) and "90% conformal" in " ".join(shown.split())
        few = tmp_path / "few"
        lake_of_exits(few, category, age[:3], rem[:3])
        shown = pt("explain", str(pid), cwd=tmp_path, env={"PT_LAKE": str(few)}).stdout
        assert f"not enough history: 3 of 9 exits of {category}" in " ".join(shown.split())
    finally:
        kill_if_same(pid, start)
