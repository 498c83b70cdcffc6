"""Alpha-investing across scans: mFDR controlled in simulations with known
nulls (payouts only for confirmed discoveries, some late), wealth never
negative; lfdr / P(useful) a valid p-value where lfdr is not; the replay over
a real lake that `pt calibrate --json` shows; and the kill gate that a spent
wealth closes (a real scan says so) and confirmed kills open again."""
import json
import math

import numpy as np
import pyarrow as pa
import pytest

from pt.config import load_policy
from pt.decide.loss import DEMOTED_BOUND
from pt.learn import store
from pt.learn.gate import kill_gate
from pt.learn.investing import EXHAUSTED, AlphaInvestor, p_values, replay, run_stream, spent
from pt.telemetry import duck, schemas, writer
from pt.telemetry.redact import Redactor
from pt.testing import run_pt as pt

KEY = bytes(range(32))


pytestmark = pytest.mark.usefixtures("private_homes")


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
    got = replay(duck.open_lake(root, tables=("decisions", "outcomes"), macros=False), 0.05, 1.0)
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


def _lfdr(x, prior, shift):
    """lfdr of a two-class Gaussian model: useful N(0, 1), the other N(shift, 1)."""
    f0, f1 = np.exp(-x ** 2 / 2), np.exp(-(x - shift) ** 2 / 2)
    return prior * f0 / (prior * f0 + (1 - prior) * f1)


def test_lfdr_over_the_prior_is_a_valid_p_value_and_lfdr_alone_is_not():
    """Under the null (x from the useful class), P(lfdr / pi <= u) <= u at
    every u; lfdr itself can exceed it (weak evidence, a small prior)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=200_000)                     # all useful: the null
    for prior, shift in ((0.2, 0.5), (0.78, 3.0), (0.5, 1.0)):
        lfdr = _lfdr(x, prior, shift)
        p = p_values(lfdr, prior)
        for u in (0.001, 0.01, 0.05, 0.1, 0.19, 0.5):
            tol = 4 * math.sqrt(u * (1 - u) / x.size)
            assert (p <= u).mean() <= u + tol, (prior, shift, u)
    lfdr = _lfdr(x, 0.2, 0.5)
    assert (lfdr <= 0.19).mean() > 0.3               # P(lfdr <= 0.19 | useful) ~ 0.35: not a p-value
    with pytest.raises(ValueError, match="prior of useful"):
        p_values([0.1], 0.0)


@pytest.mark.parametrize("null_share,delay", [(0.9, 0), (0.6, 15)])
def test_mfdr_holds_with_p_values_from_the_model(null_share, delay):
    """The p-values pt uses (lfdr / pi from a known model; the lfdr uses the
    true prior), tests and late payouts interleaved by :func:`run_stream`,
    as the lake replay does: E[V] / (E[R] + eta) <= alpha over 1,500 streams."""
    rng = np.random.default_rng(int(null_share * 10) + delay)
    alpha, reps, m = 0.05, 1500, 150
    V = R = 0
    for _ in range(reps):
        null = rng.random(m) < null_share
        x = np.where(null, rng.normal(size=m), rng.normal(4.0, 1.0, m))
        p = p_values(_lfdr(x, null_share, 4.0), null_share)
        ts = np.arange(m, dtype=float)
        inv, admitted = run_stream(ts, p, ts + delay, ~null, alpha)
        admitted = np.asarray(admitted)
        R += int(admitted.sum())
        V += int((admitted & null).sum())
    mfdr = (V / reps) / (R / reps + (1 - alpha))
    assert mfdr <= alpha and R > reps // 4, (mfdr, V, R)     # and it does admit kills


def _scan(root, ts, pids, lfdr):
    run_id = writer.new_run_id(ts)
    n = len(pids)
    key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": pids,
           "start_ticks": [p * 7 for p in pids]}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["kill"] * n, "class": ["abandoned"] * n,
                                          "lfdr": list(lfdr), "command_category": ["build"] * n}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)


def _confirm(root, ts, pids, label="abandoned"):
    rows = [{"ts": ts, "boot_id": "b", "pid": p, "start_ticks": p * 7, "uid": 0, "action": "kill",
             "result": "confirmed", "observed_by": "apply", "label": label, "verdict_run_id": None,
             "after_s": None, "note": None} for p in pids]
    assert writer.write_labels(rows, lake=root, red=Redactor(KEY)).written


def test_a_known_null_stream_through_the_lake_replays_exactly(tmp_path):
    """Eight scans of simulated kill verdicts with known truth (lfdr from a
    known model), the true ones confirmed half a scan later: the lake replay
    is the same stream (by time, then identity) and admits no null."""
    rng = np.random.default_rng(11)
    root = tmp_path / "lake"
    prior, t0 = 0.78, 1_800_000_000.0
    all_ts, all_p, truth, label_ts = [], [], [], []
    for r in range(8):
        null = rng.random(12) < 0.5
        x = np.where(null, rng.normal(size=12), rng.normal(5.0, 1.0, 12))
        lfdr = _lfdr(x, prior, 5.0)
        pids = list(range(100 * r, 100 * r + 12))
        _scan(root, t0 + 3600 * r, pids, lfdr)
        _confirm(root, t0 + 3600 * r + 1800, [p for p, n in zip(pids, null) if not n])
        all_ts += [t0 + 3600 * r] * 12
        all_p += list(p_values(lfdr, prior))
        truth += list(null)
        label_ts += [t0 + 3600 * r + 1800] * 12
    got = replay(duck.open_lake(root, tables=("decisions", "outcomes"), macros=False), 0.05, prior)
    inv, admitted = run_stream(all_ts, all_p, label_ts, [not n for n in truth], 0.05)
    assert got["tests"] == 96 and got["admitted"] == inv.discoveries and got["confirmed"] == inv.confirmed
    assert got["wealth"] == pytest.approx(inv.wealth) and not got["exhausted"]
    assert not any(a and n for a, n in zip(admitted, truth))


def test_a_spent_wealth_withholds_kills_in_scans_until_confirmed_kills_pay_it_back(tmp_path):
    root = tmp_path / "lake"
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    t0 = 1_800_000_000.0
    # Ten scans, each calling a kill on a process in use (lfdr 0.5, never confirmed): each halves the wealth.
    for r in range(10):
        _scan(root, t0 + 3600 * r, [r + 1], [0.5])
    data = json.loads(pt("calibrate", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout)["data"]
    ai = data["alpha_investing"]
    assert ai["tests"] == 10 and ai["admitted"] == 0 and ai["exhausted"]
    assert ai["wealth"] == pytest.approx(0.05 * 0.95 / 2 ** 10, rel=1e-6)
    assert data["labels"]["n"] == 0 and data["written"]            # no labels, but the spent budget is stored
    learned = store.read_learned(tmp_path / "data" / "pt" / "learned-priors.json")
    why = kill_gate(load_policy(), learned)
    assert why and "alpha-investing wealth" in why and "spent by 10 kill verdicts" in why
    # A real scan: no kill, and the summary says why (the same line as the false-kill bound's).
    out = json.loads(pt("scan", "--json", "--no-telemetry", "--top", "0", cwd=tmp_path, env=env).stdout)["data"]
    assert out["summary"]["kill_withheld"]["why"] == why
    assert out["summary"]["kill_withheld"]["count"] == sum(p.get("demoted") == DEMOTED_BOUND
                                                           for p in out["processes"])
    assert all(p["action"] != "kill" for p in out["processes"])
    assert "kill recommendations withheld" in pt("scan", "--no-telemetry", cwd=tmp_path, env=env).stdout
    # Strong kill verdicts, admitted even at the spent level, then confirmed: the wealth is paid back.
    _scan(root, t0 + 3600 * 11, [50, 51], [1e-7, 1e-7])
    _confirm(root, t0 + 3600 * 12, [50, 51])
    data = json.loads(pt("calibrate", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout)["data"]
    assert data["alpha_investing"]["confirmed"] == 2 and not data["alpha_investing"]["exhausted"]
    assert kill_gate(load_policy(), store.read_learned(tmp_path / "data" / "pt" / "learned-priors.json")) is None


def test_an_empty_or_fresh_lake_withholds_nothing(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    data = json.loads(pt("calibrate", "--json", "--lake", str(tmp_path / "lake"), cwd=tmp_path,
                         env=env).stdout)["data"]
    assert data["alpha_investing"]["tests"] == 0 and not data["alpha_investing"]["exhausted"]
    assert data["written"] is None
    assert kill_gate(load_policy(), None) is None
    out = json.loads(pt("scan", "--json", "--no-telemetry", "--top", "0", cwd=tmp_path, env=env).stdout)["data"]
    assert "kill_withheld" not in out["summary"]


def test_a_hostile_stored_wealth_is_ignored_not_trusted():
    policy = load_policy()
    good = {"wealth": 1e-9, "alpha": 0.05, "eta": 0.95, "kill_verdicts": 40}
    assert spent(good, 0.05) and kill_gate(policy, ({}, {"alpha_investing": good}))
    assert spent({**good, "wealth": EXHAUSTED * 0.05 * 0.95}, 0.05) is None       # at the line: not spent
    for bad in ({**good, "wealth": "0"}, {**good, "wealth": True}, {**good, "alpha": float("nan")},
                {**good, "alpha": 2.0}, {**good, "wealth": -1.0}, {"wealth": 0.0}, "spent", None, [0.0]):
        assert spent(bad, 0.05) is None
        assert kill_gate(policy, ({}, {"alpha_investing": bad})) is None
    assert "by many" not in spent({**good, "kill_verdicts": "many"}, 0.05)
