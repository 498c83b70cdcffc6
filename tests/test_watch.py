"""pt watch on real processes the test starts itself.

Every watcher here is limited with ``--match`` to a marker only this test's
processes carry, so it can never act on anything else on the machine. The
acting tests use :func:`pt.testing.acting_env` (the default policy but no
minimum age, as every test that applies actions to its own fresh children);
what is recommended is the default model's own verdict, except in the
tests of the modes' mechanics (what canary may do, once per process, its
budget, notifications): those need a seconds-old spinner to be acted on
every time, which the default model does only at the margin (renice at
3 s, sometimes keep: harm must be sustained), so they run with
:func:`mechanics_env`'s class prior and ``--no-deep-check``. They test the
watcher, not the verdict; the deep-scan gate is tested on its own, by the
invariant it guarantees, under the default model.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pt.testing import acting_env, isolated_env, kill_if_same, start_ticks, wait_for
from pt.watch.modes import REVERSIBLE

SERVER = """
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
conn, _ = s.accept()
while True:
    data = conn.recv(64)
    if not data:
        break
    conn.sendall(data)
"""


MARKERS: list[str] = []


def mechanics_env(base: Path) -> dict:
    """:func:`pt.testing.acting_env` plus a class prior under which a
    seconds-old orphaned spinner is useful_bad (quarantine, P ~ 0.9) every
    time: for tests of the watcher's mechanics only."""
    env = acting_env(base)
    (base / "config/pt/priors.json").write_text(json.dumps(
        {"version": 1, "class_prior": {"useful": 0.4, "useful_bad": 0.4, "abandoned": 0.17, "zombie": 0.03}}))
    return env


def marker() -> str:
    """A word only this module's processes carry in their command lines."""
    MARKERS.append(f"ptwatchtest{uuid.uuid4().hex[:12]}")
    return MARKERS[-1]


def orphan_spinner(mark: str) -> tuple[int, int]:
    """A runaway spinner whose launching shell exited (an orphan), carrying ``mark``."""
    code = "while True: pass"
    out = subprocess.run(["setsid", "sh", "-c", f"{sys.executable} -c '{code}' {mark} >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    return pid, start_ticks(pid)


@pytest.fixture
def served(tmp_path):
    """A server with a live client, both children of this test (in use)."""
    mark = marker()
    server = subprocess.Popen([sys.executable, "-c", SERVER, mark], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    port = int(server.stdout.readline())
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"hello")
    client.recv(16)
    yield mark, server
    client.close()
    server.kill()
    server.wait()
    server.stdout.close()


def watch(args: list[str], env: dict, cwd: Path, timeout: float = 300) -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "pt", "watch", "--json", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, steps, proc.stderr


def state_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def undo_all(steps: list[dict], env: dict, cwd: Path) -> None:
    """Undo every plan the watcher made (newest first), and check it worked."""
    plans = [s["data"]["status"]["last"]["plan_id"] for s in steps]
    for plan_id in reversed([p for p in dict.fromkeys(plans) if p]):
        undone = subprocess.run([sys.executable, "-m", "pt", "undo", plan_id], env=env, cwd=cwd,
                                capture_output=True, text=True, timeout=60)
        assert undone.returncode == 0, undone.stderr


def test_observe_never_acts(tmp_path, served):
    mark, server = served
    pid, start = orphan_spinner(mark)
    env = acting_env(tmp_path)
    try:
        code, steps, err = watch(["--mode", "observe", "--interval", "1", "--count", "2", "--match", mark],
                                 env, tmp_path)
        assert code == 0, err
        assert len(steps) == 2                                       # --count: that many intervals
        for s in steps:
            status = s["data"]["status"]
            assert s["status"] == "ok" and status["mode"] == "observe"
            assert status["last"]["acted"] == [] and status["last"]["plan_id"] is None
        assert state_of(pid) in "RS" and state_of(server.pid) in "RS"
        assert not (tmp_path / "state/pt/plans").exists() or not list((tmp_path / "state/pt/plans").iterdir())
    finally:
        kill_if_same(pid, start)


def test_observe_deep_scans_canarys_candidates_and_shows_what_canary_would_do(tmp_path, served):
    """Observe deep-scans what canary would act on (once per process and
    quick verdict) and reports the deep verdict beside the quick one;
    nothing is signalled and no plan is made."""
    mark, server = served
    pid, start = orphan_spinner(mark)
    env = mechanics_env(tmp_path)
    try:
        code, steps, err = watch(["--mode", "observe", "--interval", "1", "--count", "3", "--match", mark],
                                 env, tmp_path)
        assert code == 0, err
        previews = [s["data"]["status"]["last"]["preview"] for s in steps]
        assert all(p is not None for p in previews) and len(steps) >= 2
        seen = [c for p in previews for c in p["candidates"] if c["pid"] == pid]
        assert seen, f"the spinner was never canary's candidate: {previews}"
        assert all(c["quick"] in REVERSIBLE for c in seen) and seen[-1]["deep"] != "not yet watched"
        deep_runs = [p["deep_seconds"] for p in previews if p["deep_seconds"] > 0]
        keys = {(c["pid"], c["quick"]) for p in previews for c in p["candidates"]}
        assert 1 <= len(deep_runs) <= len(keys)                   # once per (process, quick verdict)
        for p in previews:
            assert all(c["deep"] in REVERSIBLE for c in p["would_do"])
            assert server.pid not in {c["pid"] for c in p["would_do"]}
        assert all(s["data"]["status"]["last"]["acted"] == [] for s in steps)
        assert state_of(pid) in "RS" and state_of(server.pid) in "RS"
        assert not (tmp_path / "state/pt/plans").exists() or not list((tmp_path / "state/pt/plans").iterdir())
    finally:
        kill_if_same(pid, start)


def test_canary_throttles_an_orphaned_spinner_and_leaves_a_served_server_alone(tmp_path, served):
    mark, server = served
    pid, start = orphan_spinner(mark)
    env = mechanics_env(tmp_path)
    steps = []
    try:
        code, steps, err = watch(["--mode", "canary", "--no-deep-check", "--interval", "1", "--for", "6",
                                  "--match", mark], env, tmp_path)
        assert code == 0, err
        acted = [(i, a) for i, s in enumerate(steps) for a in s["data"]["status"]["last"]["acted"]]
        on_spinner = [(i, a) for i, a in acted if a["pid"] == pid]
        assert on_spinner, f"nothing done to the spinner: {[s['data']['status']['last'] for s in steps]}"
        first, action = on_spinner[0]
        assert first <= 1                                     # within two intervals
        assert action["action"] in REVERSIBLE and action["result"] == "done"
        assert all(a["pid"] != server.pid for _, a in acted)
        assert state_of(server.pid) in "RS"
        plan_id = steps[first]["data"]["status"]["last"]["plan_id"]
        shown = subprocess.run([sys.executable, "-m", "pt", "explain", "--plan", plan_id], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and str(pid) in shown.stdout
    finally:
        undo_all(steps, env, tmp_path)
        kill_if_same(pid, start)


def test_canary_acts_once_per_process(tmp_path):
    """A process the watcher acted on is not acted on again in later
    intervals (the budget is not burnt on it, actions do not stack)."""
    mark = marker()
    pid, start = orphan_spinner(mark)
    env = mechanics_env(tmp_path)
    steps = []
    try:
        code, steps, err = watch(["--mode", "canary", "--no-deep-check", "--interval", "1", "--count", "4",
                                  "--match", mark], env, tmp_path)
        assert code == 0, err
        acted = [a for s in steps for a in s["data"]["status"]["last"]["acted"]]
        assert len(steps) == 4 and [a["pid"] for a in acted] == [pid]
    finally:
        undo_all(steps, env, tmp_path)
        kill_if_same(pid, start)


def test_the_budget_and_whom_it_acted_on_survive_a_restart(tmp_path):
    mark = marker()
    spinners = [orphan_spinner(mark) for _ in range(2)]
    env = mechanics_env(tmp_path)
    first, second = [], []
    try:
        args = ["--mode", "canary", "--no-deep-check", "--budget", "1", "--interval", "1", "--for", "2",
                "--match", mark]
        code, first, err = watch(args, env, tmp_path)
        assert code == 0, err
        assert len([a for s in first for a in s["data"]["status"]["last"]["acted"]]) == 1
        code, second, err = watch(args, env, tmp_path)
        assert code == 0, err
        assert all(s["data"]["status"]["last"]["acted"] == [] for s in second)
        assert second[0]["data"]["status"]["budget_left"] in (0, None)
    finally:
        undo_all(first + second, env, tmp_path)
        for pid, start in spinners:
            kill_if_same(pid, start)


def test_canary_budget_demotes_to_observe(tmp_path):
    mark = marker()
    spinners = [orphan_spinner(mark) for _ in range(2)]
    env = mechanics_env(tmp_path)
    steps = []
    try:
        code, steps, err = watch(["--mode", "canary", "--no-deep-check", "--budget", "1", "--interval", "1",
                                  "--for", "5", "--match", mark], env, tmp_path)
        assert code == 0, err
        acted = [a for s in steps for a in s["data"]["status"]["last"]["acted"]]
        assert len(acted) == 1
        final = steps[-1]["data"]["status"]
        assert final["mode"] == "observe" and "budget" in final["demoted_because"]
    finally:
        undo_all(steps, env, tmp_path)
        for pid, start in spinners:
            kill_if_same(pid, start)


BURSTY = "import time\nwhile True:\n    end = time.time() + 0.3\n    while time.time() < end: pass\n    time.sleep(3)"


def test_canary_acts_only_where_the_deep_scan_confirms(tmp_path):
    """With the deep check (the default), everything acted on was confirmed
    by the deep scan, and nothing it overturned was touched: an orphaned
    spinner and an orphaned bursty worker (0.3 s of CPU every 3 s)."""
    mark = marker()
    spinner = orphan_spinner(mark)
    out = subprocess.run(["setsid", "sh", "-c", f"{sys.executable} -c '{BURSTY}' {mark} >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    bursty = (int(out.stdout), start_ticks(int(out.stdout)))
    env = acting_env(tmp_path)
    steps = []
    try:
        code, steps, err = watch(["--mode", "canary", "--interval", "1", "--for", "6", "--match", mark],
                                 env, tmp_path, timeout=300)
        assert code == 0, err
        for s in steps:
            last = s["data"]["status"]["last"]
            acted = {a["pid"] for a in last["acted"]}
            if last["deep"] is None:
                assert not acted                      # nothing acted on without the gate
                continue
            assert acted.isdisjoint(last["deep"]["overturned"])
            for pid in acted:
                assert last["deep"]["verdicts"][str(pid)] in REVERSIBLE
    finally:
        undo_all(steps, env, tmp_path)
        for pid, start in (spinner, bursty):
            kill_if_same(pid, start)


def test_an_action_is_announced_on_the_desktop(tmp_path):
    """Where notify-send exists and a desktop session is set, an action is
    announced with how to revert it. (notify-send is a recording stand-in:
    this machine has no desktop session.)"""
    mark = marker()
    pid, start = orphan_spinner(mark)
    bin_dir, log = tmp_path / "bin", tmp_path / "notified"
    bin_dir.mkdir()
    (bin_dir / "notify-send").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\n')
    (bin_dir / "notify-send").chmod(0o755)
    env = {**mechanics_env(tmp_path), "PATH": f"{bin_dir}:{os.environ['PATH']}", "DISPLAY": ":99"}
    steps = []
    try:
        code, steps, err = watch(["--mode", "canary", "--no-deep-check", "--interval", "1", "--for", "3",
                                  "--match", mark], env, tmp_path)
        assert code == 0, err
        assert any(a["pid"] == pid for s in steps for a in s["data"]["status"]["last"]["acted"])
        text = log.read_text()
        assert "--app-name=pt" in text and "pt watch acted" in text
        assert f"pid {pid}" in text and "pt undo" in text
    finally:
        undo_all(steps, env, tmp_path)
        kill_if_same(pid, start)


def test_kill_switch_file_stops_acting(tmp_path):
    mark = marker()
    pid, start = orphan_spinner(mark)
    env = acting_env(tmp_path)
    switch = tmp_path / "state/pt/watch"
    switch.mkdir(parents=True, mode=0o700)
    (tmp_path / "state/pt").chmod(0o700)
    (switch / "kill-switch").touch()
    try:
        code, steps, err = watch(["--mode", "canary", "--interval", "1", "--for", "3", "--match", mark],
                                 env, tmp_path)
        assert code == 0, err
        assert all(s["data"]["status"]["last"]["acted"] == [] for s in steps)
        assert "kill switch" in steps[-1]["data"]["status"]["demoted_because"]
        assert state_of(pid) in "RS"
    finally:
        kill_if_same(pid, start)


def test_one_watcher_per_state_dir_status_and_clean_sigterm(tmp_path):
    env = isolated_env(tmp_path)
    metrics = tmp_path / "pt.prom"
    first = subprocess.Popen([sys.executable, "-m", "pt", "watch", "--interval", "1", "--match", marker(),
                              "--metrics", str(metrics), "--no-telemetry"],
                             env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(metrics.exists, timeout=60, interval=0.1)
        second = subprocess.run([sys.executable, "-m", "pt", "watch", "--for", "1", "--json"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and "another pt watch" in second.stderr
        assert json.loads(second.stdout)["errors"][0]["code"] == "already_watching"
        status = subprocess.run([sys.executable, "-m", "pt", "watch", "--status", "--json"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=60)
        assert status.returncode == 0
        doc = json.loads(status.stdout)["data"]["status"]
        assert doc["pid"] == first.pid and doc["mode"] == "observe"
        assert "pt_watch_scans_total" in metrics.read_text()
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        assert first.returncode == 0
        after = subprocess.run([sys.executable, "-m", "pt", "watch", "--status"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert after.returncode == 3 and "has stopped" in after.stdout
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()


def test_metrics_port_serves_on_loopback(tmp_path):
    import urllib.error
    import urllib.request
    with socket.socket() as probe:                      # a free port, given back for the watcher
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pt", "watch", "--interval", "1", "--match", marker(),
                             "--no-telemetry", "--metrics-port", str(port)], env=isolated_env(tmp_path),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()                          # one interval done: metrics are there
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain")
        assert "pt_watch_scans_total" in body and 'pt_watch_mode{mode="observe"} 1' in body
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=30)
        refused.value.close()
        assert refused.value.code == 404
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"]
        assert listening and all(line.split()[1].startswith("0100007F:") for line in listening)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sighup_with_a_bad_policy_keeps_the_old_one(tmp_path):
    env = {**isolated_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen([sys.executable, "-m", "pt", "watch", "--interval", "1", "--match", marker(),
                             "--no-telemetry"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()                          # the first interval is done: handlers are in place
        (tmp_path / "config/pt").mkdir(parents=True)
        (tmp_path / "config/pt/policy.json").write_text('{"version": 1, "window_s": "soon"}')
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0
        assert "new policy refused, keeping the old one" in err and "window_s" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_print_unit_is_a_systemd_unit_with_every_option(tmp_path):
    import configparser
    import shlex
    args = ["--mode", "enforce", "--allow-kill", "--match", "py(test|thon) 100%", "--user", "nobody",
            "--budget", "2", "--metrics", str(tmp_path / "pt.prom"), "--no-deep-check", "--interval", "20"]
    out = subprocess.run([sys.executable, "-m", "pt", "watch", "--print-unit", "system", *args],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=isolated_env(tmp_path))
    unit = configparser.ConfigParser(interpolation=None)
    unit.read_string(out.stdout)
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    words = shlex.split(unit["Service"]["ExecStart"].replace("%%", "%").replace("$$", "$"))
    tail = words[words.index("watch") + 1:]
    for option, value in (("--mode", "enforce"), ("--match", "py(test|thon) 100%"), ("--user", "nobody"),
                          ("--budget", "2"), ("--metrics", str(tmp_path / "pt.prom")), ("--interval", "20")):
        assert tail[tail.index(option) + 1] == value
    assert "--allow-kill" in tail and "--no-deep-check" in tail


def test_status_of_a_forged_status_file_is_no_traceback(tmp_path):
    env = isolated_env(tmp_path)
    folder = Path(env["XDG_STATE_HOME"]) / "pt" / "watch"
    folder.mkdir(parents=True, mode=0o700)
    folder.parent.chmod(0o700)
    (folder / "status.json").write_text('{"pid": 1, "mode": "enforce", "guardrail": "\u001b[31m"}')
    out = subprocess.run([sys.executable, "-m", "pt", "watch", "--status"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 3 and "no pt watch is running" in out.stdout
    assert "Traceback" not in out.stderr and "\x1b" not in out.stdout


@pytest.mark.parametrize("args,needle", [(["--allow-kill"], "--allow-kill needs --mode enforce"),
                                         (["--metrics", "/nonexistent-dir/pt.prom"], "not a directory"),
                                         (["--mode", "yolo"], "invalid choice"),
                                         (["--interval", "0"], "--interval"),
                                         (["--metrics-port", "70000"], "not a TCP port")])
def test_bad_usage_is_exit_2_and_named(tmp_path, args, needle):
    out = subprocess.run([sys.executable, "-m", "pt", "watch", *args], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=isolated_env(tmp_path))
    assert out.returncode == 2 and needle in out.stderr


def test_no_leftover_processes(tmp_path):
    """The tests above stop what they start: no process with one of their markers survives."""
    assert MARKERS
    alive = [p for p in os.listdir("/proc") if p.isdigit() and _has_marker(p)]
    assert alive == []


def _has_marker(pid: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            line = f.read()
    except OSError:
        return False
    return any(m.encode() in line for m in MARKERS)
