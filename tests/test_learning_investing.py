"""Alpha-investing across scans: mFDR controlled in simulations with known
nulls (payouts only for confirmed discoveries, some late), wealth never
negative, and the replay over a real lake that `pt calibrate --json` shows."""
import json

import numpy as np
import pyarrow as pa
import pytest

from pt.learn import store
from pt.learn.investing import AlphaInvestor, replay
from pt.telemetry import duck, schemas, writer
from pt.telemetry.redact import Redactor
from pt.testing import run_pt as pt

KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def private_homes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("PT_LAKE", raising=False)
    monkeypatch.delenv(store.LEARNED_ENV, raising=False)


@pytest.mark.parametrize("null_share,delay", [(0.9, 0), (0.5, 0), (0.8, 20), (1.0, 0)])
def test_mfdr_is_controlled_with_known_nulls(null_share, delay):
    """E[V] / (E[R] + eta) <= alpha over many simulated streams: nulls have
    uniform p-values, the others Beta(0.05, 1); a discovery pays out only if
    it is a true one, ``delay`` tests after it."""
    rng = np.random.default_rng(int(null_share * 100) + delay)
    alpha, reps, m = 0.05, 3000, 200
    V = R = 0
    for _ in range(reps):
        inv = AlphaInvestor(alpha)
        null = rng.random(m) < null_share
        p = np.where(null, rng.random(m), rng.beta(0.05, 1.0, m))
        due = {}
        for j in range(m):
            for _ in range(due.pop(j, 0)):
                inv.confirm()
            if inv.test(float(p[j])):
                R += 1
                V += bool(null[j])
                if not null[j]:
                    due[j + delay] = due.get(j + delay, 0) + 1
            assert inv.wealth > 0
    mfdr = (V / reps) / (R / reps + (1 - alpha))
    assert mfdr <= alpha, (mfdr, V, R)
    if null_share < 1:
        assert R > 0            # it does discover: the budget is not vacuous


def test_all_null_stream_rarely_admits_anything():
    """With no confirmations the wealth only shrinks: over a whole null
    stream, the expected number admitted is at most the total level spent,
    below alpha * eta / (1 - alpha) ~ 0.05; over 200 streams, a handful."""
    rng = np.random.default_rng(9)
    admitted = 0
    for _ in range(200):
        inv = AlphaInvestor(0.05)
        admitted += sum(inv.test(float(rng.random())) for _ in range(100))
    assert admitted <= 25     # Poisson(<= 10): P(> 25) < 1e-5


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        AlphaInvestor(0.0)
    with pytest.raises(ValueError, match="p must be"):
        AlphaInvestor().test(float("nan"))


def _table(name, columns):
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def test_replay_over_a_lake_spends_and_earns_back(tmp_path):
    """Three scans: kill verdicts with small lfdr, the same processes again in
    later scans (tested once each), then labels confirming some."""
    root = tmp_path / "lake"
    lfdr = [0.0001, 0.0002, 0.3, 0.0001]
    for r in range(3):
        ts = 1_800_000_000.0 + 3600 * r
        run_id = writer.new_run_id(ts)
        n = len(lfdr)
        key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": [10, 11, 12, 13 + r],
               "start_ticks": [100, 110, 120, 130 + r]}
        writer.write_tables(root, {
            "decisions": _table("decisions", {**key, "action": ["kill"] * n, "class": ["abandoned"] * n,
                                              "lfdr": lfdr, "command_category": ["build"] * n}),
            "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    labels = [{"ts": 1_800_000_000.0 + 1800, "boot_id": "b", "pid": 10, "start_ticks": 100, "uid": 0,
               "action": "kill", "result": "idle", "observed_by": "feedback", "label": "abandoned",
               "verdict_run_id": None, "after_s": None, "note": None},
              {"ts": 1_800_000_000.0 + 1900, "boot_id": "b", "pid": 11, "start_ticks": 110, "uid": 0,
               "action": "kill", "result": "idle", "observed_by": "feedback", "label": "useful",
               "verdict_run_id": None, "after_s": None, "note": None}]
    assert writer.write_labels(labels, lake=root, red=Redactor(KEY)).written
    got = replay(duck.open_lake(root, tables=("decisions", "outcomes"), macros=False), 0.05)
    # By hand: 6 distinct identities, in time order.
    inv = AlphaInvestor(0.05)
    seq = [("t", 0.0001), ("t", 0.0002), ("t", 0.3), ("t", 0.0001), ("c", None), ("t", 0.0001), ("t", 0.0001)]
    for kind, p in seq:
        inv.test(p) if kind == "t" else inv.confirm()
    assert got["kill_verdicts"] == 6 and got["tests"] == 6
    assert got["wealth"] == pytest.approx(inv.wealth) and got["confirmed"] == 1
    data = json.loads(pt("calibrate", "--json", "--dry-run", "--lake", str(root), cwd=tmp_path).stdout)["data"]
    assert data["alpha_investing"]["wealth"] == pytest.approx(inv.wealth)
    assert "alpha-investing over 6 kill verdicts" in " ".join(
        pt("calibrate", "--dry-run", "--lake", str(root), cwd=tmp_path).stdout.split())
