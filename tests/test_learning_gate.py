"""The kill gate: while pt calibrate's false-kill bound, computed from a
real lake, is above the policy's target, scans and plans recommend no kill
and say why; below it (or with no bound), nothing is withheld.

Lakes are written through the real writers under ``tmp_path``; no process
is signalled.
"""
import json
import os

import numpy as np
import pyarrow as pa
import pytest

from pt.config import ACTIONS, load_policy, shipped_priors
from pt.decide.loss import DEMOTED_BOUND, decide
from pt.infer.posterior import FEATURES, Inference
from pt.learn import store
from pt.learn.gate import kill_gate
from pt.telemetry import schemas, writer
from pt.telemetry.redact import Redactor
from pt.testing import run_pt as pt

KEY = bytes(range(32))


pytestmark = pytest.mark.usefixtures("private_homes")


def _table(name: str, columns: dict) -> pa.Table:
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def lake_of_kill_verdicts(root, kills: int, false: int, boot: str = "b") -> None:
    """One recorded scan whose verdict is kill for ``kills`` processes, and a
    rescan label for each: ``false`` of them useful, the rest abandoned."""
    run_id, ts = "20270201T000000Z-00000001", 1_800_000_000.0
    pids = list(range(2000, 2000 + kills))
    key = {"run_id": [run_id] * kills, "ts": [ts] * kills, "boot_id": [boot] * kills, "pid": pids,
           "start_ticks": [p * 3 for p in pids]}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["kill"] * kills, "class": ["abandoned"] * kills,
                                          "lfdr": [0.01] * kills, "command_category": ["test_runner"] * kills}),
        "proc_features": _table("proc_features", {**key, "cpu_ticks": [0] * kills, "window_ticks": [30] * kills}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    rows = [{"ts": ts + 86400 + i, "boot_id": boot, "pid": p, "start_ticks": p * 3, "uid": 1000, "action": "kill",
             "result": "idle", "observed_by": "feedback", "label": "useful" if i < false else "abandoned",
             "verdict_run_id": run_id, "after_s": 86400.0, "note": None} for i, p in enumerate(pids)]
    assert writer.write_labels(rows, lake=root, red=Redactor(KEY)).written


def _kill_posterior_decision(gate):
    post = np.array([[0.004, 0.001, 0.99, 0.005]])
    prior = np.asarray(shipped_priors().class_prior)
    terms = np.zeros((1, len(FEATURES), 4))
    terms[:, 0] = np.log(post) - np.log(prior)
    inference = Inference.from_terms(terms, np.ones(terms.shape[:2], bool), np.log(prior))
    available = np.ones((1, len(ACTIONS)), bool)
    available[:, ACTIONS.index("restart")] = False
    return decide(inference, load_policy(), impact=np.zeros(1), available=available,
                  protected=np.zeros(1, bool), kill_gate=gate)


def test_a_bound_above_target_withholds_kills_in_scan_and_says_why(tmp_path):
    lake = tmp_path / "lake"
    lake_of_kill_verdicts(lake, kills=60, false=9)             # 15 % of pt's kills were wrong
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    data = json.loads(pt("calibrate", "--json", "--lake", str(lake), cwd=tmp_path, env=env).stdout)["data"]
    pb = data["pac_bayes"]
    assert data["ppc"]["cpu_window"]["n"] == 60 and data["ppc"]["cpu_window"]["p_value"] is not None
    shown = pt("calibrate", "--dry-run", "--lake", str(lake), cwd=tmp_path, env=env).stdout
    assert "predictive check cpu_window" in shown and "predictive check runtime: too few" in shown
    assert pb["n"] == 60 and pb["false_kills"] == 9 and pb["false_kill_bound"] > load_policy().fdr_alpha

    learned = store.read_learned(tmp_path / "data" / "pt" / "learned-priors.json")
    why = kill_gate(load_policy(), learned)
    assert why and "fdr_alpha" in why and f"{pb['false_kill_bound']:.3g}" in why
    # The decision: kill is least-loss, and the gate demotes it to the best non-kill action.
    free, gated = _kill_posterior_decision(None), _kill_posterior_decision(why)
    assert ACTIONS[free.action[0]] == "kill" and free.demoted[0] is None
    without_kill = np.where(np.arange(len(ACTIONS)) == ACTIONS.index("kill"), np.inf, gated.expected_loss[0])
    assert gated.action[0] == np.argmin(without_kill) and gated.demoted[0] == DEMOTED_BOUND

    # A real scan with that learned file: no kill, and the summary says why.
    out = json.loads(pt("scan", "--json", "--no-telemetry", "--top", "0", cwd=tmp_path, env=env).stdout)["data"]
    assert out["summary"]["kill_withheld"]["why"] == why
    assert out["summary"]["kill_withheld"]["count"] == sum(p.get("demoted") == "bound" for p in out["processes"])
    assert all(p["action"] != "kill" for p in out["processes"])
    text = pt("scan", "--no-telemetry", cwd=tmp_path, env=env).stdout
    assert "kill recommendations withheld" in text and "(fdr_alpha)" in text


def test_a_bound_below_target_or_none_withholds_nothing(tmp_path):
    lake = tmp_path / "lake"
    lake_of_kill_verdicts(lake, kills=150, false=0)
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    pb = json.loads(pt("calibrate", "--json", "--lake", str(lake), cwd=tmp_path, env=env).stdout)["data"]["pac_bayes"]
    assert pb["false_kill_bound"] <= load_policy().fdr_alpha
    assert kill_gate(load_policy(), store.read_learned(tmp_path / "data" / "pt" / "learned-priors.json")) is None
    out = json.loads(pt("scan", "--json", "--no-telemetry", cwd=tmp_path, env=env).stdout)["data"]
    assert "kill_withheld" not in out["summary"]
    # Too few labelled kill verdicts: no bound is stored, so the gate cannot bind.
    few = tmp_path / "few"
    lake_of_kill_verdicts(few, kills=5, false=5)
    env2 = {**env, "XDG_DATA_HOME": str(tmp_path / "data2")}
    pb = json.loads(pt("calibrate", "--json", "--lake", str(few), cwd=tmp_path, env=env2).stdout)["data"]["pac_bayes"]
    assert pb["false_kill_bound"] is None
    assert kill_gate(load_policy(), store.read_learned(tmp_path / "data2" / "pt" / "learned-priors.json")) is None
    assert kill_gate(load_policy(), None) is None


def test_a_hostile_stored_bound_is_ignored_not_trusted(tmp_path):
    policy = load_policy()
    for bad in ("0.9", True, float("nan"), None, [1], {"x": 1}):
        assert kill_gate(policy, ({}, {"pac_bayes": {"false_kill_bound": bad}})) is None
    assert kill_gate(policy, ({}, {"pac_bayes": "high"})) is None
    assert kill_gate(policy, ({}, {"pac_bayes": {"false_kill_bound": 0.5, "n": "many"}}))



def test_a_learned_file_pt_cannot_use_withholds_kills_and_says_which(tmp_path, capsys):
    """A damaged learned file may have held a binding gate: kills stay
    withheld (naming the file and the way out) until it is rewritten or
    removed; no file at all withholds nothing."""
    policy = load_policy()
    assert kill_gate(policy) is None                                   # no file (private homes)
    path = store.write_learned({}, {"pac_bayes": {"false_kill_bound": 0.4, "n": 60}})
    assert kill_gate(policy)                                           # binds
    for damage in (path.read_bytes()[:-20], b"[1, 2]", b'{"learned": {"format": 99}}', b"x" * (store.MAX_BYTES + 1)):
        path.write_bytes(damage)
        why = kill_gate(policy)
        assert why and str(path) in why and "pt calibrate --reset" in why, damage[:30]
    assert "ignoring the learned priors" in capsys.readouterr().err
    assert store.remove_learned()
    assert kill_gate(policy) is None


def test_other_hosts_right_kills_do_not_open_this_hosts_gate(tmp_path, monkeypatch):
    """In a fleet, the stored bound is this host's own where it has one and it
    is the larger: 150 right kills elsewhere do not cover 20 wrong of 40 here."""
    from pt.telemetry import lake as lakes
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    for host, kills, false, boot in (("good", 150, 0, "b-good"), ("here", 40, 20, "b-here")):
        monkeypatch.setenv(lakes.HOST_ENV, host)
        lake_of_kill_verdicts(root, kills=kills, false=false, boot=boot)
    env = {lakes.HOST_ENV: "here", "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    pb = json.loads(pt("calibrate", "--fleet", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout
                    )["data"]["pac_bayes"]
    assert pb["scope"] == "this host" and pb["n"] == 40 and pb["false_kills"] == 20
    assert pb["false_kill_bound"] > load_policy().fdr_alpha and kill_gate(load_policy())
    # The fleet's own figure is the smaller one, and is still there to read.
    assert pb["this_host"]["false_kill_bound"] == pb["false_kill_bound"]
    pb = json.loads(pt("calibrate", "--fleet", "--json", "--dry-run", "--lake", str(root), cwd=tmp_path,
                       env={**env, lakes.HOST_ENV: "good"}).stdout)["data"]["pac_bayes"]
    assert pb["scope"] == "fleet" and pb["n"] == 190
