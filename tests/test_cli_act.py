"""pt plan / apply / verify / undo / history / explain --plan, run as a user runs them."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from pt.act.identity import read_identity
from pt.act.plan import plan_id
from pt.testing import (
    _state,
    acting_env,
    kill_if_same,
    plan_for,
    pt_at_terminal,
    python_child,
    run_pt,
    sleepers,
    spawn_detached,
    wait_for,
)

IGNORES_TERM = ("import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "print('ready', flush=True); time.sleep(600)")


@pytest.fixture
def env(tmp_path):
    """Private config, state and telemetry dirs, and a policy that may act on
    the test's own fresh processes (:func:`pt.testing.acting_env`)."""
    return acting_env(tmp_path)


def pt_json(*args, cwd, env, code=0):
    proc = run_pt(*args, "--json", cwd=cwd, env=env, check=False)
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def journal_lines(tmp_path):
    path = tmp_path / "state/pt/journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_plan_apply_verify_history_explain(tmp_path, env):
    targets = [spawn_detached(tmp_path) for _ in range(2)]
    try:
        pids = [str(p) for p, _ in targets]
        plan = pt_json("plan", "--pid", pids[0], "--pid", pids[1], "--at", "+1d", cwd=tmp_path,
                       env=env)["data"]["plan"]
        assert [a["action"] for a in plan["actions"]] == ["kill", "kill"]
        assert {a["target"]["pid"] for a in plan["actions"]} == {p for p, _ in targets}
        assert all(a["target"]["start_ticks"] == s for a, (_, s) in zip(plan["actions"], targets))

        refused = run_pt("apply", plan["plan_id"], cwd=tmp_path, env=env, check=False)
        assert refused.returncode == 4 and "--yes" in refused.stderr
        assert all(_state(p) == "S" for p, _ in targets)

        applied = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)
        assert [o["result"] for o in applied["data"]["outcomes"]] == ["exited", "exited"]
        for pid, _ in targets:
            wait_for(lambda pid=pid: _state(pid) in (None, "Z"))

        verified = pt_json("verify", plan["plan_id"], cwd=tmp_path, env=env)["data"]["targets"]
        assert [(t["alive"], t["respawned_as"]) for t in verified] == [(False, []), (False, [])]
        history = pt_json("history", cwd=tmp_path, env=env)["data"]["plans"]
        assert history[0]["plan_id"] == plan["plan_id"] and history[0]["results"] == {"exited": 2}
        explained = pt_json("explain", "--plan", plan["plan_id"], cwd=tmp_path, env=env)["data"]["actions"]
        assert explained[0]["justification"]["why"] == plan["actions"][0]["why"]
        assert explained[0]["outcome"]["result"] == "exited"
        text = run_pt("explain", "--plan", plan["plan_id"], cwd=tmp_path, env=env).stdout
        assert "orphaned" in text and "exited after SIGTERM" in text

        # The journal reached the telemetry lake, redacted: pt duck reports the actions.
        actions = pt_json("duck", "actions", cwd=tmp_path, env=env)["data"]
        rows = actions.get("rows", actions)
        assert sum(1 for r in rows if r.get("plan_id") == plan["plan_id"]) == 2, actions
        lake = tmp_path / ".local/share/pt/lake"
        stored = b"".join(p.read_bytes() for p in lake.rglob("*.parquet"))
        assert stored and plan["actions"][0]["command"].encode() not in stored   # no raw command line
    finally:
        for pid, start in targets:
            kill_if_same(pid, start)


def test_plan_do_needs_named_processes(tmp_path, env):
    proc = run_pt("plan", "--do", "kill", cwd=tmp_path, env=env, check=False)
    assert proc.returncode == 2 and "--pid or --match" in proc.stderr


def test_missing_and_stale_plans(tmp_path, env):
    missing = pt_json("apply", "0123456789abcdef", "--yes", cwd=tmp_path, env=env, code=3)
    assert missing["errors"][0]["code"] == "plan_not_found"
    with sleepers(1) as (proc,):
        path = tmp_path / "old.json"
        path.write_text(json.dumps(plan_for([proc.pid], "kill", created_at=time.time() - 7200, ttl_s=900)))
        stale = pt_json("apply", str(path), "--yes", cwd=tmp_path, env=env, code=4)
        assert "expired" in stale["errors"][0]["message"]
        assert _state(proc.pid) == "S" and journal_lines(tmp_path) == []


def _apply_at_terminal(args, env, answer: bytes, cwd) -> tuple[int, str]:
    """``pt apply ARGS`` on a pseudo-terminal, its question answered."""
    return pt_at_terminal(["apply", *args], env, answer, cwd)


def _plain(shown: str) -> str:
    """Terminal output without its colours (SGR sequences) and with ``\\n`` line ends."""
    return re.sub(r"\x1b\[[0-9;]*m", "", shown).replace("\r\n", "\n")


def test_interactive_confirmation_shows_the_live_target(tmp_path, env):
    """Applied from a file, the plan is kept: undo, verify and history find it by id."""
    with sleepers(1, argv0="pt-test-target") as (proc,):
        path = tmp_path / "plan.json"
        plan = plan_for([proc.pid], "pause")
        path.write_text(json.dumps(plan))
        code, shown = _apply_at_terminal([str(path)], env, b"n\n", tmp_path)
        shown = _plain(shown)
        assert code == 4 and f"pid {proc.pid} (sleep)" in shown and "SIGSTOP" in shown and "Nothing done" in shown
        assert "command: pt-test-target 600" in shown and "the plan file says" not in shown
        assert _state(proc.pid) == "S"
        code, shown = _apply_at_terminal([str(path)], env, b"y\n", tmp_path)
        assert code == 0 and "done" in shown
        assert _state(proc.pid) == "T"
        assert pt_json("history", cwd=tmp_path, env=env)["data"]["plans"][0]["plan_id"] == plan["plan_id"]
        undone = pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)
        assert [o["result"] for o in undone["data"]["outcomes"]] == ["done"]
        wait_for(lambda: _state(proc.pid) == "S")
        verified = pt_json("verify", plan["plan_id"], cwd=tmp_path, env=env)["data"]["targets"]
        assert [t["alive"] for t in verified] == [True]


def _forge(plan: dict, index: int, target: dict, **text) -> dict:
    """``plan`` with action ``index`` pointed at ``target`` and its text
    replaced, id recomputed: a plan file anyone could write."""
    body = {k: v for k, v in plan.items() if k != "plan_id"}
    body["actions"][index] = {**body["actions"][index], "target": target, **text}
    return {"plan_id": plan_id(body), **body}


def test_a_forged_plan_shows_what_would_really_be_signalled(tmp_path, env):
    """The plan names process C's identity with another process's text: the
    confirmation shows C as it runs (comm, argv, age), says the plan's text
    is not what runs there; a target whose command line does not match, or
    that is gone, is shown as changed, and is not signalled."""
    with sleepers(1, argv0="victimA") as (a,), sleepers(1, argv0="victimC") as (c,), \
            sleepers(1, argv0="victimD") as (d,), sleepers(1, argv0="victimE") as (e,):
        plan = plan_for([a.pid, d.pid, e.pid], "kill")
        e.kill()                                   # gone before the apply: our own child, reaped
        e.wait()
        plan = _forge(plan, 0, read_identity(c.pid).as_dict(), comm="harmless", command="vim thesis.tex",
                      age_s=43.0)
        plan = _forge(plan, 1, {**plan["actions"][1]["target"], "cmd_hash": "0123456789abcdef"})
        path = tmp_path / "forged.json"
        path.write_text(json.dumps(plan))
        code, shown = _apply_at_terminal([str(path)], env, b"n\n", tmp_path)
        shown = _plain(shown)
        first, second, third = shown.split("#1 ")[0], *shown.split("#1 ")[1].split("#2 ")
        assert code == 4 and f"pid {c.pid} (sleep)" in first and "command: victimC 600" in first
        assert "(harmless)" not in first and "command: vim thesis.tex" not in first
        assert "the plan file says comm 'harmless'; command 'vim thesis.tex'; age 43s when the plan was made" \
            in first
        assert f"pid {d.pid}" in second and "identity changed: the command line changed" in second
        assert f"pid {e.pid}" in third and "identity changed: " in third
        assert "will not be signalled" in second and "will not be signalled" in third
        assert "2 will not be signalled" in shown
        assert all(_state(p.pid) == "S" for p in (a, c, d)) and journal_lines(tmp_path) == []
        code, shown = _apply_at_terminal([str(path)], env, b"y\n", tmp_path)   # what was shown is what is hit
        assert code == 5, shown
        wait_for(lambda: _state(c.pid) in (None, "Z"))
        assert _state(a.pid) == "S" and _state(d.pid) == "S"


@pytest.mark.parametrize("how", ["other owner", "mode 0666", "mode 0620"])
def test_plan_files_others_could_write_are_refused(tmp_path, env, how):
    if how == "other owner" and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "kill")
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan))
        path.chmod(0o600)
        if how == "other owner":
            os.chown(path, 54321, -1)
        else:
            path.chmod(int(how[-4:], 8))
        why = {"other owner": "belongs to uid 54321", "mode 0666": "can be written by group and others",
               "mode 0620": "can be written by group (mode 0620)"}[how]
        for command in ("apply", "verify", "undo"):
            extra = ["--yes"] if command == "apply" else []
            refused = pt_json(command, str(path), *extra, cwd=tmp_path, env=env, code=4)
            message = refused["errors"][0]["message"]
            assert str(path) in message and why in message, message
        code, shown = pty_refusal(path, env, tmp_path)
        assert code == 4 and why in shown and "[y/N]" not in shown
        assert _state(proc.pid) == "S" and journal_lines(tmp_path) == []
        assert pt_json("history", cwd=tmp_path, env=env)["data"]["plans"] == []


def pty_refusal(path, env, cwd) -> tuple[int, str]:
    """``pt apply PATH`` on a terminal that is refused before it asks."""
    return pt_at_terminal(["apply", str(path)], env, None, cwd)


def test_an_apply_killed_halfway_resumes(tmp_path, env):
    """Kill pt during the grace period: intents are journalled, outcomes not;
    the next apply finishes the job and a third does nothing."""
    with python_child(IGNORES_TERM) as a, python_child(IGNORES_TERM) as b:
        path = tmp_path / "plan.json"
        plan = plan_for([a.pid, b.pid], "kill", {"signal": "SIGTERM", "grace_s": 2.0, "then": "SIGKILL"})
        path.write_text(json.dumps(plan))
        apply = subprocess.Popen([sys.executable, "-m", "pt", "apply", str(path), "--yes"], cwd=tmp_path,
                                 env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: sum(r["kind"] == "intent" for r in journal_lines(tmp_path)) == 2)
        time.sleep(0.2)
        apply.send_signal(signal.SIGKILL)
        apply.wait()
        assert [r["kind"] for r in journal_lines(tmp_path)] == ["intent", "intent"]
        assert a.poll() is None and b.poll() is None         # SIGTERM ignored, SIGKILL never sent

        resumed = pt_json("apply", str(path), "--yes", cwd=tmp_path, env=env)
        assert [o["result"] for o in resumed["data"]["outcomes"]] == ["exited", "exited"]
        assert all("SIGKILL" in o["detail"] for o in resumed["data"]["outcomes"])
        again = pt_json("apply", str(path), "--yes", cwd=tmp_path, env=env)
        assert all(o["earlier"] for o in again["data"]["outcomes"])
        outcomes = [r for r in journal_lines(tmp_path) if r["kind"] == "outcome"]
        assert len(outcomes) == 2


def test_plans_and_the_journal_hold_no_secrets_from_argv(tmp_path, env):
    secret = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    with python_child("import time\nprint('ready', flush=True)\ntime.sleep(600)", f"--token={secret}",
                      "--password", "hunter2-hunter2") as proc:
        plan = pt_json("plan", "--pid", str(proc.pid), "--do", "pause", cwd=tmp_path, env=env)["data"]["plan"]
        assert "--token=<secret>" in plan["actions"][0]["command"]
        pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)
        pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)
    state = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert state and secret.encode() not in state and b"hunter2-hunter2" not in state
