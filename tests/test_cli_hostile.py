"""Hostile processes, files and options against every command, run as a user
runs them: no traceback, nothing on the terminal but visible text, and
errors that name the option at fault."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata

import pytest

from pt.testing import (
    HOSTILE_TEXT,
    _state,
    isolated_env,
    named_process,
    pt_at_terminal,
    python_child,
    run_pt,
    running,
    sleepers,
    wait_for,
    zombie,
)
from pt.ui.text import UNSAFE_CATEGORIES, escape

HOSTILE = "".join(HOSTILE_TEXT)
#: A comm (15 bytes) that sets the window title, with markup that crashes a Rich render.
COMM = b"\x1b]0;PWN\x07[/x]\xe2\x80\xae"
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def env(tmp_path):
    """Private config, state and telemetry dirs; a policy that may act on the
    test's own fresh processes (as root, everything root owns is protected)."""
    (tmp_path / "config/pt").mkdir(parents=True)
    policy = {"version": 1, "actions": {"min_age_s": 0, "kill_grace_s": 1}}
    if os.geteuid() == 0:
        policy["guards"] = {"allow_system_services": True}
    (tmp_path / "config/pt/policy.json").write_text(json.dumps(policy))
    return {**isolated_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state")}


def assert_safe(output: str) -> None:
    """Only text a terminal prints (newlines aside; Rich's own SGR styling
    allowed on a terminal): no ESC, C1, bidi or zero-width character, no
    OSC 8 link, no traceback."""
    plain = SGR.sub("", output)
    bad = sorted({c for c in plain if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES})
    assert not bad, f"unsafe characters reached the terminal: {bad!r}"
    assert "Traceback" not in output


def pt(*args, cwd, env=None, code=0):
    proc = run_pt(*args, cwd=cwd, env=env, check=False)
    assert_safe(proc.stdout)
    assert_safe(proc.stderr)
    assert proc.returncode == code, proc.stderr
    return proc


@pytest.fixture
def hostile(tmp_path):
    """A sleeper whose argv[0] is every hostile string, and a process named
    COMM with a zombie child (both named COMM, the child unreaped)."""
    with sleepers(1, argv0=HOSTILE) as (sleeper,), \
            named_process(COMM, *HOSTILE_TEXT, zombie_child=True) as (parent, zombie_pid):
        yield sleeper.pid, parent.pid, zombie_pid


def test_scan_and_explain_show_hostile_names_escaped(tmp_path, hostile):
    sleeper, parent, zombie_pid = hostile
    table = pt("scan", "--top", "0", "--no-telemetry", cwd=tmp_path).stdout
    assert escape(HOSTILE) in table                     # the sleeper's command line, shown as it is
    assert f"[{escape(COMM.decode())}]" in table        # the zombie's name
    tree = pt("scan", "--tree", "--no-telemetry", cwd=tmp_path).stdout
    assert escape(HOSTILE) in tree
    scan = json.loads(pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout)["data"]["processes"]
    assert {p["pid"]: p["command"] for p in scan}[sleeper] == HOSTILE + " 600"   # JSON keeps the value

    explained = pt("explain", str(zombie_pid), cwd=tmp_path).stdout
    assert f"parent {parent} ({escape(COMM.decode())}) has not reaped it" in explained
    assert escape(HOSTILE) in pt("explain", str(sleeper), cwd=tmp_path).stdout
    pt("explain", str(parent), cwd=tmp_path)


def test_plan_confirmation_apply_verify_undo_history_show_hostile_names_escaped(tmp_path, env, hostile):
    sleeper, parent, _ = hostile
    made = pt("plan", "--pid", str(sleeper), "--pid", str(parent), "--do", "pause", cwd=tmp_path, env=env).stdout
    assert escape(HOSTILE)[:40] in made and escape(COMM.decode()) in made
    plan_id = re.search(r"pt apply ([0-9a-f]{16})", made).group(1)

    code, shown = pt_at_terminal(["apply", plan_id], env, b"y\n", tmp_path)
    assert_safe(shown)
    assert code == 0 and "Apply these 2 actions? [y/N]" in shown
    # The confirmation names exactly the targets: each pid with its name and whole command line.
    plain = SGR.sub("", shown)
    assert str(sleeper) in plain and str(parent) in plain
    assert escape(HOSTILE) in plain and escape(COMM.decode()) in plain
    wait_for(lambda: _state(sleeper) == "T" and _state(parent) == "T")

    verified = pt("verify", plan_id, cwd=tmp_path, env=env).stdout
    assert escape(COMM.decode()) in verified
    pt("history", cwd=tmp_path, env=env)
    assert escape(HOSTILE)[:60] in pt("explain", "--plan", plan_id, cwd=tmp_path, env=env).stdout
    undone = pt("undo", plan_id, cwd=tmp_path, env=env).stdout
    assert "done" in undone
    wait_for(lambda: _state(sleeper) == "S" and _state(parent) == "S")


def test_one_target_is_asked_about_in_the_singular(tmp_path, env):
    with sleepers(1) as (proc,):
        made = pt("plan", "--pid", str(proc.pid), "--do", "pause", cwd=tmp_path, env=env).stdout
        plan_id = re.search(r"pt apply ([0-9a-f]{16})", made).group(1)
        code, shown = pt_at_terminal(["apply", plan_id], env, b"n\n", tmp_path)
        assert code == 4 and "Apply this action? [y/N]" in shown and _state(proc.pid) == "S"


def test_deep_scan_shows_hostile_names_escaped(tmp_path, env, hostile):
    sleeper, parent, zombie_pid = hostile
    out = pt("deep-scan", "--pid", str(sleeper), "--pid", str(parent), "--pid", str(zombie_pid), "--max-time", "1",
             "--no-telemetry", cwd=tmp_path, env=env).stdout
    assert escape(HOSTILE)[:30] in out
    out = pt("explain", str(sleeper), "--deep", "--max-time", "1", cwd=tmp_path, env=env).stdout
    assert escape(HOSTILE) in out


def test_duck_and_config_show_hostile_values_escaped(tmp_path):
    row = pt("duck", "--sql", "SELECT '[/x]' || chr(27) || ']0;PWN' || chr(7) || chr(8238) AS \"[link=x]c\"",
             cwd=tmp_path).stdout
    assert "[/x]\\x1b]0;PWN\\x07\\u202e" in row and "[link=x]c" in row
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": 1, "guards": {"protected_patterns": ["^[/x]\u001b]0;PWN\u202e"]}}))
    shown = pt("config", "show", "--policy", str(policy), cwd=tmp_path).stdout
    assert "^[/x]\\x1b]0;PWN\\u202e" in shown
    policy.write_text(json.dumps({"version": 1, "window_s": "\u001b[2J\u009b2J"}))
    pt("config", "validate", "--policy", str(policy), cwd=tmp_path, code=1)


# --- options name themselves ----------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["plan", "--min-age", "1hour"], "argument --min-age: wants a duration >= 0 like +3h, 90m, 2d or seconds"),
    (["deep-scan", "--max-time", "forever"], "argument --max-time: wants a duration"),
    (["deep-scan", "--max-time", "0"], "argument --max-time: wants a duration > 0"),
    (["scan", "--at", "-1h"], "argument --at: wants a duration >= 0 like +3h, 90m, 2d or seconds "
                              "(at most 3650d), got '-1h'"),
    (["scan", "--at", "1e300"], "argument --at: wants a duration"),
    (["duck", "--since", "nan"], "argument --since: wants a number of days > 0 (at most 3650), got 'nan'"),
    (["duck", "--since", "inf"], "argument --since: wants a number of days > 0"),
    (["duck", "--since", "-5"], "argument --since: wants a number of days > 0 (at most 3650), got '-5'"),
    (["duck", "--limit", "1e20"], "argument --limit: wants a whole number from 1 to 1,000,000,000, got '1e20'"),
    (["duck", "--limit", "1" * 20], "argument --limit: wants a whole number from 1 to 1,000,000,000"),
    (["scan", "--user", "1" * 20], f"--user: '{'1' * 20}' is not a uid (at most 4294967294)"),
    (["plan", "--user", "1" * 20], "is not a uid"),
    (["explain", "1" * 20], "argument PID: PID must be below 2^31"),
    (["plan", "--match", "("], "argument --match: '(' is not a valid regex"),
    (["scan", HOSTILE], f"unrecognized arguments: {escape(HOSTILE)}"),
])
def test_bad_options_are_named(tmp_path, args, message):
    proc = pt(*args, cwd=tmp_path, code=2)
    assert message in proc.stderr and "expected one argument" not in proc.stderr


@pytest.mark.parametrize("where", ["PT_LAKE", "--lake"])
def test_a_lake_that_is_a_file_is_one_clear_error(tmp_path, where):
    lake = tmp_path / "not-a-lake"
    lake.write_text("x")
    env, extra = ({"PT_LAKE": str(lake)}, []) if where == "PT_LAKE" else ({}, ["--lake", str(lake)])
    named = "$PT_LAKE" if where == "PT_LAKE" else "--lake"
    message = f"{named} {lake} is not a directory"
    for args in (["duck"], ["duck", "why", "1"], ["lake", "info"], ["lake", "check"]):
        proc = pt(*args, *extra, cwd=tmp_path, env=env, code=1)
        assert message in proc.stderr and len(proc.stderr.splitlines()) == 1
    scan = pt("scan", "--top", "1", *extra, cwd=tmp_path, env=env)
    assert scan.stderr.splitlines() == [f"pt scan: telemetry skipped: {message}; point it at a directory"]
    assert lake.read_text() == "x"


# --- --match is bounded ----------------------------------------------------------------------

def test_match_gives_up_on_a_huge_hostile_command_line(tmp_path):
    """A backtracking regex against a 150 KB argv returns (the process is
    simply not matched, and pt says so), with a short matching one beside it."""
    code = "import time; print('ready', flush=True); time.sleep(600)"
    with python_child(code, *["node"] * 30000) as huge, python_child(code, "node", "x", "node", "server"):
        proc = subprocess.run([sys.executable, "-m", "pt", "deep-scan", "--match", "node.*node.*server",
                               "--max-time", "1", "--no-telemetry", "--json"], capture_output=True, text=True,
                              cwd=tmp_path, env=isolated_env(tmp_path), timeout=600)
        assert proc.returncode == 0, proc.stderr
        assert "--match 'node.*node.*server' gave up on" in proc.stderr
        data = json.loads(proc.stdout)["data"]
        watched = {c["pid"] for c in data["candidates"]} | {s["pid"] for s in data["skipped"]}
        assert huge.pid not in watched


def test_user_regex_bounds():
    from pt.commands.options import MATCH_CHARS, UserRegex

    slow = UserRegex("node.*node.*server")
    assert slow.search("node " * 30000) is None and slow.gave_up == 1
    assert slow.search("node a node b server") and slow.gave_up == 1
    needle = UserRegex("needle")
    assert needle.search("x" * (MATCH_CHARS - 6) + "needle")
    assert needle.search("x" * MATCH_CHARS + "needle") is None and needle.gave_up == 0


def test_config_regexes_give_up_on_a_hostile_name_and_the_scan_returns(tmp_path):
    """A user's catastrophic protected pattern and category rules against a
    process named to defeat them: the scan returns; the pattern that gave up
    protects the process (fail safe), the rules that gave up do not match."""
    config = tmp_path / "config" / "pt"
    config.mkdir(parents=True)
    guards = {"protected_patterns": ["^(a+)+$", "(a*)*b"]}
    if os.geteuid() == 0:
        guards["allow_system_services"] = True          # as root, everything root owns is protected
    (config / "policy.json").write_text(json.dumps({"version": 1, "guards": guards}))
    (config / "categories.json").write_text(json.dumps({"version": 1, "rules": [
        {"category": "server", "match": "cmdline", "regex": "(a+)+$"},
        {"category": "server", "match": "argv0", "regex": "(a+)+$"}]}))
    env = {**isolated_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200"}
    with sleepers(1, argv0="a" * 40 + "b") as (sleeper,):
        proc = subprocess.run([sys.executable, "-m", "pt", "scan", "--json", "--no-telemetry"], capture_output=True,
                              text=True, cwd=tmp_path, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr
        row = {p["pid"]: p for p in json.loads(proc.stdout)["data"]["processes"]}[sleeper.pid]
        assert row["protected_by"] == "protected pattern '^(a+)+$' (too slow to match this name; protected to be safe)"
        assert row["command_category"] != "server"


SECRETS = ("Hunter2Mysql", "hunter2", "user:pass")


def test_live_output_masks_secrets_in_command_lines(tmp_path):
    argv = ["sh", "-c", "read line", "mysql", "-pHunter2Mysql", "--password=hunter2", "curl", "-u", "user:pass"]
    masked = "sh -c read line mysql -p<secret> --password=<secret> curl -u <secret>"
    with running(argv) as child:
        wait_for(lambda: _state(child.pid) == "S")
        outputs = {"table": pt("scan", "--top", "0", "--no-telemetry", cwd=tmp_path).stdout,
                   "tree": pt("scan", "--tree", "--no-telemetry", cwd=tmp_path).stdout,
                   "explain": pt("explain", str(child.pid), cwd=tmp_path).stdout}
        scan = pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout
        explained = pt("explain", str(child.pid), "--json", cwd=tmp_path).stdout
        for name, out in {**outputs, "scan --json": scan, "explain --json": explained}.items():
            assert not [s for s in SECRETS if s in out], name
        for name, out in outputs.items():
            assert escape(masked) in out, name
        row = {p["pid"]: p for p in json.loads(scan)["data"]["processes"]}[child.pid]
        assert row["command"] == masked
        assert row["cmdline"] == ["sh", "-c", "read line", "mysql", "-p<secret>", "--password=<secret>", "curl",
                                  "-u", "<secret>"]
        assert json.loads(explained)["data"]["process"]["command"] == masked


# --- what is worth a look comes first -----------------------------------------------------------

def test_a_zombie_is_listed_before_every_quiet_process(tmp_path):
    with zombie() as z:
        rows = json.loads(pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout)["data"]["processes"]
        actions = [r["action"] != "keep" for r in rows]
        assert actions == sorted(actions, reverse=True)          # recommended actions first
        keep = [r for r in rows if r["action"] == "keep"]
        zombies = [r["state"] == "Z" for r in keep]
        assert zombies == sorted(zombies, reverse=True)          # then zombies
        rest = [1 - r["posterior"]["useful"] for r in keep if r["state"] != "Z"]
        assert rest == sorted(rest, reverse=True)                # then the least probably useful
        assert z.pid in [r["pid"] for r in rows[:sum(actions) + sum(zombies)]]
        table = pt("scan", "--top", str(sum(actions) + sum(zombies)), "--no-telemetry", cwd=tmp_path).stdout
        assert re.search(rf"^\s*{z.pid} ", table, re.M)
