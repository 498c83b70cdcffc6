"""Vetoes restrict actions, never observation: a protected process's evidence
and posterior are shown by ``explain``, ``deep-scan`` and ``--json``; only its
action is pinned to keep, with the rule named.

The protected process is the test's own child, named ``sshd`` (argv[0]): a
protected pattern of the default policy. Nothing here acts on it.
"""
from __future__ import annotations

import json

from pt.config import CLASSES
from pt.testing import run_pt, sleepers


def test_deep_scan_watches_a_named_protected_process(tmp_path):
    with sleepers(1, argv0="sshd") as (proc,):
        out = run_pt("deep-scan", "--pid", str(proc.pid), "--max-time", "2", "--json", "--no-telemetry",
                     cwd=tmp_path)
        text = run_pt("deep-scan", "--pid", str(proc.pid), "--max-time", "2", "--no-telemetry",
                      cwd=tmp_path).stdout
    data = json.loads(out.stdout)["data"]
    assert data["skipped"] == []
    (c,) = data["candidates"]
    assert c["pid"] == proc.pid and c["samples"] > 0 and c["protected_by"]
    assert c["deep"]["action"] == "keep" and set(c["deep"]["posterior"]) == set(CLASSES)
    assert {"cpu_window", "cpu_regime"} <= {e["feature"] for e in c["evidence"]}
    assert "pinned to keep by rule" in " ".join(text.split()) and "already clear" not in text


def test_explain_and_scan_json_show_a_protected_process_evidence(tmp_path):
    with sleepers(1, argv0="sshd") as (proc,):
        explained = json.loads(run_pt("explain", str(proc.pid), "--json", cwd=tmp_path).stdout)["data"]
        scanned = json.loads(run_pt("scan", "--json", "--ledger", "--no-telemetry", cwd=tmp_path).stdout)["data"]
    p = explained["process"]
    assert p["protected_by"] and p["action"] == "keep"
    assert set(p["posterior"]) == set(CLASSES) and p["evidence"]
    (row,) = [r for r in scanned["processes"] if r["pid"] == proc.pid]
    assert row["protected_by"] and row["action"] == "keep" and set(row["posterior"]) == set(CLASSES)
    assert row["evidence"]
