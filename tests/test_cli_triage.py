"""``pt scan`` verdicts, ``pt explain`` and ``pt config`` end to end, as subprocesses."""
import json
import os
import sys

import numpy as np
import pytest

from pt.config import ACTIONS, CLASSES
from pt.testing import run_pt as pt
from pt.testing import sleepers, zombie
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")

def developer_env(tmp_path) -> dict:
    """Environment for running pt on a developer's own processes. Run as root
    (CI here), pt protects root-owned processes as system services by default
    and every test process is root's, so a user policy allows them."""
    if os.geteuid() != 0:
        return {}
    (tmp_path / "xdg" / "pt").mkdir(parents=True, exist_ok=True)
    (tmp_path / "xdg" / "pt" / "policy.json").write_text('{"guards": {"allow_system_services": true}}')
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


VERDICT_KEYS = {"class", "posterior", "action", "expected_loss", "evidence", "bayes_factors",
                "protected_by", "identity", "why", "posterior_bounds", "confidence"}




def test_scan_json_carries_verdicts(tmp_path):
    with sleepers(1) as (p,), zombie() as z:
        result = json.loads(pt("scan", "--json", "--ledger", cwd=tmp_path, env=developer_env(tmp_path)).stdout)
    rows = {r["pid"]: r for r in result["data"]["processes"]}
    for pid in (p.pid, z.pid):
        row = rows[pid]
        assert VERDICT_KEYS <= row.keys()
        assert set(row["posterior"]) == set(CLASSES) and abs(sum(row["posterior"].values()) - 1) < 1e-5
        assert set(row["expected_loss"]) == set(ACTIONS) and row["action"] in ACTIONS
        assert {e["feature"] for e in row["evidence"]} >= {"cpu_window", "orphan", "state", "command"}
        assert row["identity"].endswith(f":{pid}")
    assert rows[z.pid]["class"] == "zombie" and rows[z.pid]["reap_via"].startswith(f"parent {os.getpid()}")
    me = next(r for r in result["data"]["processes"] if r["pid"] == os.getpid())
    assert me["protected_by"] == "ancestor of pt" and me["action"] == "keep"
    model = result["data"]["model"]
    assert model["priors"]["digest"] and model["fdr"]["alpha"] == 0.05


def test_scan_table_shows_class_and_action(tmp_path):
    with zombie() as z:
        out = pt("scan", "--top", "0", cwd=tmp_path, env=developer_env(tmp_path)).stdout
    line = next(l for l in out.splitlines() if l.split() and l.split()[0] == str(z.pid))
    assert "zombie" in line and "kill" in line
    assert "CLASS" in out and "ACTION" in out


def test_scan_at_ages_every_process(tmp_path):
    later = json.loads(pt("scan", "--json", "--at", "+3h", cwd=tmp_path).stdout)
    assert later["data"]["model"]["at_s"] == 10800.0
    t = triage(at_s=10800.0, window_s=0.05)
    np.testing.assert_allclose(t.evidence.age_s - t.snapshot["elapsed_s"], 10800.0)


def test_bad_user_policy_gives_an_error_object(tmp_path):
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "policy.json").write_text('{"fdr": {"alpha": 2}}')
    proc = pt("scan", "--json", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)}, check=False)
    assert proc.returncode == 1 and "fdr.alpha = 2: must be <= 1" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "error" and result["errors"][0]["code"] == "invalid_config"


def test_json_survives_a_policy_where_kill_never_wins(tmp_path):
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "policy.json").write_text('{"dependency_impact": {"files": 100}}')
    result = json.loads(pt("scan", "--json", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)}).stdout)
    assert any(r["sprt_boundary"] is None for r in result["data"]["processes"])


def test_raw_scan_has_no_verdicts(tmp_path):
    row = json.loads(pt("scan", "--raw", "--json", cwd=tmp_path).stdout)["data"]["processes"][0]
    assert "action" not in row and "pid" in row
    proc = pt("scan", "--raw", "--sort", "attention", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "needs the verdicts" in proc.stderr


def test_explain_text_and_json(tmp_path):
    with zombie() as z:
        env = developer_env(tmp_path)
        text = pt("explain", str(z.pid), cwd=tmp_path, env=env).stdout
        result = json.loads(pt("explain", str(z.pid), "--json", cwd=tmp_path, env=env).stdout)
    assert "evidence ledger" in text and "expected loss" in text and "zombie" in text
    assert "what would change my mind" in text and "SPRT" in text
    data = result["data"]
    assert result["command"] == "explain" and data["process"]["pid"] == z.pid
    assert data["process"]["class"] == "zombie"
    assert {"sprt_boundary", "fdr_alpha", "lfdr"} <= data["thresholds"].keys()
    # The Z state alone makes it a zombie: without it pt would not reap it.
    assert any(m.startswith("without the state evidence: ") and not m.endswith("kill")
               for m in data["what_would_change_my_mind"])


def test_explain_missing_pid_exits_3(tmp_path):
    proc = pt("explain", "4194304", cwd=tmp_path, check=False)
    assert proc.returncode == 3 and "no process with pid 4194304" in proc.stderr
    proc = pt("explain", "4194304", "--json", cwd=tmp_path, check=False)
    assert json.loads(proc.stdout)["status"] == "error"
    proc = pt("explain", "abc", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "PID must be a positive integer, got 'abc'" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["scan", "--at", "soon"], "argument --at: wants a duration >= 0 like +3h, 90m, 2d or seconds "
                               "(at most 3650d), got 'soon'"),
    (["scan", "--window", "0"], "argument --window: must be seconds in (0, 60], got '0'"),
    (["scan", "--window", "120"], "got '120'"),
])
def test_bad_triage_arguments(tmp_path, args, message):
    proc = pt(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and message in proc.stderr


def test_config_show_validate_and_bad_file(tmp_path):
    shown = json.loads(pt("config", "show", "--json", cwd=tmp_path).stdout)["data"]
    assert shown["policy"]["loss"]["kill"]["useful"] == 100
    assert "ok:" in pt("config", "validate", cwd=tmp_path).stdout
    bad = tmp_path / "policy.json"
    bad.write_text('{"loss": {"kill": {"useful": -1}}}')
    proc = pt("config", "validate", "--policy", str(bad), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert f"{bad}: loss.kill.useful = -1: must be >= 0" in proc.stderr


def test_user_policy_file_is_used_by_scan(tmp_path):
    (tmp_path / "pt").mkdir()
    (tmp_path / "pt" / "policy.json").write_text('{"window_s": 0.05, "fdr": {"alpha": 0.01}}')
    result = json.loads(pt("scan", "--json", cwd=tmp_path, env={"XDG_CONFIG_HOME": str(tmp_path)}).stdout)
    assert result["data"]["model"]["policy"]["source"] == str(tmp_path / "pt" / "policy.json")
    assert result["data"]["model"]["fdr"]["alpha"] == 0.01          # the file's values are the ones used
    assert result["data"]["model"]["window_s"] >= 0.05              # a window is never shorter (load only lengthens it)
