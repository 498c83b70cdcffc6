"""pt never acts on the wrong process: a plan is bound to its id, read only
from a bounded regular file, made and applied in one pid namespace, and its
target is still the process approved (same program, same command line) at
every signal. Bad comm bytes and bad journal lines are no reason to crash.

Every process signalled here was started by the test itself.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pt.act.apply import apply_plan, undo_plan, verify_plan
from pt.act.journal import Journal
from pt.act.plan import MAX_PLAN_BYTES, PlanError, load_plan, plan_id, read_plan_file
from pt.collect.host import pid_namespace, procfs_is_own_pidns
from pt.testing import (
    _state,
    acting_env,
    acting_policy,
    plan_for,
    python_child,
    run_pt,
    sleepers,
    wait_for,
)

SLEEP = shutil.which("sleep")


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path)


@pytest.fixture
def env(tmp_path):
    """Private config, state and telemetry dirs, and a policy that may act on
    the test's own fresh processes (:func:`pt.testing.acting_env`)."""
    return acting_env(tmp_path)


def pt_json(*args, cwd, env, code=0):
    proc = run_pt(*args, "--json", cwd=cwd, env=env, check=False)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def save(tmp_path: Path, plan: dict, name: str | None = None) -> Path:
    """Store ``plan`` where `pt apply ID` looks for it (under the env fixture's state dir)."""
    plans = tmp_path / "state/pt/plans"
    plans.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = plans / f"{name or plan['plan_id']}.json"
    path.write_text(json.dumps(plan))
    path.chmod(0o600)
    return path


def journal_lines(tmp_path):
    path = tmp_path / "state/pt/journal.jsonl"
    return path.read_text().splitlines() if path.exists() else []


# --- 1. the id the user names is the id of the file's content ----------------------

def test_a_plan_file_swapped_for_another_valid_plan_is_refused(tmp_path, env):
    with sleepers(2) as (a, b):
        plan_a, plan_b = plan_for([a.pid], "kill"), plan_for([b.pid], "kill")
        save(tmp_path, plan_b)
        save(tmp_path, plan_b, name=plan_a["plan_id"])          # B's file under A's name
        for command in (["apply", plan_a["plan_id"], "--yes"], ["verify", plan_a["plan_id"]],
                        ["undo", plan_a["plan_id"]], ["explain", "--plan", plan_a["plan_id"]]):
            out = pt_json(*command, cwd=tmp_path, env=env, code=4)
            message = out["errors"][0]["message"]
            assert f"holds plan {plan_b['plan_id']}, not plan {plan_a['plan_id']}" in message, command
        assert _state(a.pid) == "S" and _state(b.pid) == "S"     # nobody was signalled
        assert journal_lines(tmp_path) == []


# --- 2. plan files are regular files of bounded size -------------------------------

def test_devices_fifos_symlinks_and_huge_files_are_not_plans(tmp_path, env):
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.json"
    with sleepers(1) as (proc,):
        real = tmp_path / "real.json"
        real.write_text(json.dumps(plan_for([proc.pid], "kill")))
        link.symlink_to(real)
        for ref, why in (("/dev/zero", "not a regular file"), (str(fifo), "not a regular file"),
                         (str(link), "symbolic link")):
            # A hang or a read to MemoryError would time out here instead of answering.
            proc_pt = subprocess.run([sys.executable, "-m", "pt", "apply", ref, "--yes", "--json"],
                                     capture_output=True, text=True, cwd=tmp_path, timeout=120,
                                     env={**os.environ, **env})
            assert proc_pt.returncode == 4, proc_pt.stderr
            assert why in json.loads(proc_pt.stdout)["errors"][0]["message"]
            assert "Traceback" not in proc_pt.stderr
        assert _state(proc.pid) == "S"
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as f:
        f.truncate(MAX_PLAN_BYTES + 1)
    with pytest.raises(PlanError, match="at most"):
        read_plan_file(huge)


# --- 3. pid namespaces ---------------------------------------------------------------

def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-p", "-f", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_unshare = pytest.mark.skipif(not shutil.which("unshare") or not _unshare_works(),
                                   reason="needs `unshare -p` (root or user namespaces)")


def test_this_process_reads_its_own_pid_namespace():
    assert procfs_is_own_pidns() and pid_namespace().startswith("pid:[")


def test_a_plan_from_another_pid_namespace_is_refused(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
        plan["host"]["pid_ns"] = "pid:[1]"
        plan["plan_id"] = plan_id(plan)
        for act in (apply_plan, undo_plan, verify_plan):
            with pytest.raises(PlanError, match="another pid namespace"):
                act(plan, journal=journal, **({"policy": acting_policy()} if act is apply_plan else {}))
        assert _state(proc.pid) == "S" and journal.records() == []


@needs_unshare
def test_inside_a_pid_namespace_without_its_own_proc_pt_does_not_act(tmp_path, env):
    """`unshare -p -f` without --mount-proc: /proc lists the host's pids, but
    a pidfd or kill() would take them as this namespace's. pt refuses."""
    with sleepers(1) as (proc,):
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan_for([proc.pid], "kill")))
        for command in (["apply", str(path), "--yes"], ["undo", str(path)], ["verify", str(path)]):
            out = subprocess.run(["unshare", "-p", "-f", sys.executable, "-m", "pt", *command, "--json"],
                                 capture_output=True, text=True, cwd=tmp_path, timeout=120,
                                 env={**os.environ, **env})
            assert out.returncode == 4, out.stderr
            assert "not this pid namespace's" in json.loads(out.stdout)["errors"][0]["message"]
        assert _state(proc.pid) == "S" and journal_lines(tmp_path) == []


@needs_unshare
def test_a_scan_there_still_works_and_says_whose_pids_it_shows(tmp_path, env):
    out = subprocess.run(["unshare", "-p", "-f", sys.executable, "-m", "pt", "scan", "--raw", "--json",
                          "--no-telemetry"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert "not this pid namespace's" in out.stderr and json.loads(out.stdout)["data"]["processes"]


@needs_unshare
def test_a_plan_made_inside_a_pid_namespace_is_refused_outside(tmp_path, env):
    """Made with its own /proc in a new pid namespace, the plan's pid is a
    small number that names some other process out here."""
    made = subprocess.run(
        ["unshare", "-p", "-f", "--mount-proc", "sh", "-c",
         f"{SLEEP} 600 & exec {sys.executable} -m pt plan --pid $! --do pause --no-telemetry --json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, **env})
    assert made.returncode == 0, made.stderr
    plan = json.loads(made.stdout)["data"]["plan"]
    assert plan["actions"] and plan["host"]["pid_ns"] != pid_namespace()
    out = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env, code=4)
    assert "made in another pid namespace" in out["errors"][0]["message"]
    assert journal_lines(tmp_path) == []


# --- 4. exec after planning ------------------------------------------------------------

EXECS = """import os, sys, time
flag = sys.argv[1]
print('ready', flush=True)
while not os.path.exists(flag):
    time.sleep(0.01)
os.execv(*{target})
"""


@pytest.mark.parametrize("target, changed", [
    (f"({SLEEP!r}, ['sleep', '600'])", "exe was"),                          # another program
    ("(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)'])", "command line changed"),
])
def test_a_process_that_execs_after_planning_is_not_signalled(journal, tmp_path, target, changed):
    flag = tmp_path / "go"
    with python_child(EXECS.format(target=target), str(flag)) as proc:
        plan = plan_for([proc.pid], "kill")
        before = os.readlink(f"/proc/{proc.pid}/exe")
        flag.touch()
        cmd = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        wait_for(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes() != cmd)
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "aborted" and changed in out["detail"], out["detail"]
        if changed == "exe was":
            assert f"exe was {before!r}, now {SLEEP!r}" in out["detail"]
        assert proc.poll() is None and _state(proc.pid) in ("R", "S")        # not stopped, not killed


EXECS_ON_TERM = """import os, signal, sys, time
def become_sleep(*_):
    os.execv({sleep!r}, ['sleep', '600'])
signal.signal(signal.SIGTERM, become_sleep)
print('ready', flush=True)
time.sleep(600)
""".format(sleep=SLEEP)


def test_a_process_that_execs_during_the_grace_period_gets_no_sigkill(journal):
    """Every step of a kill checks the identity again: the SIGKILL after the
    grace period is not sent to the program the target exec'd into."""
    with python_child(EXECS_ON_TERM) as proc:
        plan = plan_for([proc.pid], "kill", {"signal": "SIGTERM", "grace_s": 0.5, "then": "SIGKILL"})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "aborted", out
        assert "after SIGTERM" in out["detail"] and "SIGKILL not sent" in out["detail"]
        assert proc.poll() is None and os.readlink(f"/proc/{proc.pid}/exe") == SLEEP


# --- 5. the data-loss gate sees writes on every filesystem -------------------------

APPENDS = """import sys, time
f = open(sys.argv[1], 'a')
print('ready', flush=True)
while True:
    f.write('x' * 64 + '\\n'); f.flush(); time.sleep(0.2)
"""


@pytest.mark.parametrize("where", ["tmp_path", "/dev/shm"])
def test_a_process_appending_to_a_file_is_not_killed_on_any_filesystem(journal, tmp_path, where):
    base = tmp_path if where == "tmp_path" else Path(where)
    if not base.is_dir():
        pytest.skip(f"{where} does not exist here")
    path = base / f"pt-test-{uuid.uuid4().hex}.log"
    try:
        with python_child(APPENDS, str(path)) as proc:
            plan = plan_for([proc.pid], "kill")
            size = path.stat().st_size
            wait_for(lambda: path.stat().st_size > size)              # it wrote since the plan
            (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
            assert out["result"] == "refused" and "since the plan was made" in out["detail"], out
            assert proc.poll() is None
    finally:
        path.unlink(missing_ok=True)


def test_an_idle_append_only_log_does_not_block_a_kill(journal, tmp_path):
    path = Path("/dev/shm") / f"pt-test-{uuid.uuid4().hex}.log"
    try:
        with python_child("import sys, time\nf = open(sys.argv[1], 'a'); f.write('x'); f.flush()\n"
                          "print('ready', flush=True)\ntime.sleep(600)", str(path)) as proc:
            (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy())
            assert out["result"] == "exited", out
    finally:
        path.unlink(missing_ok=True)


# --- 6. bytes that are not UTF-8, lines that are not records ------------------------

BAD_COMM = """import ctypes, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(b'bad\\xff\\xfe'), 0, 0, 0)   # PR_SET_NAME
print('ready', flush=True)
time.sleep(600)
"""


def test_a_comm_that_is_not_utf8_does_not_stop_apply_or_undo(tmp_path, env):
    with python_child(BAD_COMM) as proc:
        assert Path(f"/proc/{proc.pid}/comm").read_bytes() == b"bad\xff\xfe\n"
        plan = pt_json("plan", "--pid", str(proc.pid), "--do", "pause", "--no-telemetry",
                       cwd=tmp_path, env=env)["data"]["plan"]
        assert plan["actions"][0]["comm"] == "bad\\xff\\xfe"
        applied = pt_json("apply", plan["plan_id"], "--yes", "--no-telemetry", cwd=tmp_path, env=env)
        assert [o["result"] for o in applied["data"]["outcomes"]] == ["done"]
        assert _state(proc.pid) == "T"
        verified = pt_json("verify", plan["plan_id"], cwd=tmp_path, env=env)["data"]["targets"]
        assert verified[0]["now"] == "stopped (paused)"
        undone = pt_json("undo", plan["plan_id"], "--no-telemetry", cwd=tmp_path, env=env)
        assert [o["result"] for o in undone["data"]["outcomes"]] == ["done"]
        wait_for(lambda: _state(proc.pid) == "S")


NOT_RECORDS = ['42', '{"kind":"outcome"}', '[]', '"x"', 'null', '{"kind":"intent","plan_id":7}',
               '[' * 100_000, '{"kind": "outc']


def test_journal_lines_that_are_not_records_are_skipped_and_reported(tmp_path, env):
    with sleepers(1) as (proc,):
        path = save(tmp_path, plan_for([proc.pid], "pause"))
        plan_id_ = path.stem
        pt_json("apply", plan_id_, "--yes", "--no-telemetry", cwd=tmp_path, env=env)
        journal = tmp_path / "state/pt/journal.jsonl"
        with open(journal, "a") as f:
            f.write("\n".join(NOT_RECORDS[:-1]) + "\n")
        # One with the right fields but an outcome no reader knows.
        record = json.loads(journal.read_text().splitlines()[-len(NOT_RECORDS)])
        with open(journal, "a") as f:
            f.write(json.dumps({**record, "kind": "outcome", "result": "nuked", "detail": 1}) + "\n")
            f.write(NOT_RECORDS[-1])
        skipped = len(NOT_RECORDS) + 1
        for command in (["history"], ["apply", plan_id_, "--yes", "--no-telemetry"], ["verify", plan_id_],
                        ["explain", "--plan", plan_id_], ["undo", plan_id_, "--no-telemetry"]):
            out = pt_json(*command, cwd=tmp_path, env=env)
            (error,) = out["errors"]
            assert error["code"] == "journal_lines_skipped" and error["count"] == skipped, command
        wait_for(lambda: _state(proc.pid) == "S")                   # the undo resumed it


# --- 7. outcomes that say what happened ---------------------------------------------

def test_verify_tells_a_zombie_and_a_paused_process_from_gone_and_running(journal):
    with sleepers(2) as (killed, paused):
        plan = plan_for([killed.pid], "kill")
        apply_plan(plan, journal=journal, policy=acting_policy())
        wait_for(lambda: _state(killed.pid) == "Z")                  # our child, not reaped yet
        (row,) = verify_plan(plan, journal=journal)
        assert row["now"] == f"zombie, not yet reaped by its parent {os.getpid()}" and not row["alive"]
        pause = plan_for([paused.pid], "pause")
        apply_plan(pause, journal=journal, policy=acting_policy())
        (row,) = verify_plan(pause, journal=journal)
        assert row["now"] == "stopped (paused)" and row["alive"]
        killed.wait()
        (row,) = verify_plan(plan, journal=journal)
        assert row["now"] == "gone"


def test_undoing_a_pause_of_a_process_that_became_a_zombie_sends_nothing(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done"
        os.kill(proc.pid, signal.SIGKILL)                            # our own child, killed while stopped
        wait_for(lambda: _state(proc.pid) == "Z")
        (undone,) = undo_plan(plan, journal=journal)
        assert undone["result"] == "aborted" and "continued" not in undone["detail"]
        assert f"zombie, not yet reaped by its parent {os.getpid()}" in undone["detail"]


def test_plan_for_a_pid_that_does_not_exist_exits_3_and_saves_nothing(tmp_path, env):
    with sleepers(1) as (proc,):
        gone = proc.pid
    proc.wait()
    out = pt_json("plan", "--pid", str(gone), "--no-telemetry", cwd=tmp_path, env=env, code=3)
    assert out["errors"][0]["message"] == f"no such process: {gone}"
    assert not list((tmp_path / "state").rglob("*.json"))


def test_a_plan_says_which_pid_namespace_its_pids_belong_to(tmp_path):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
    assert plan["host"]["pid_ns"] == pid_namespace()
    del plan["host"]["pid_ns"]
    plan["plan_id"] = plan_id(plan)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(PlanError, match="pid_ns"):
        load_plan(str(path))


def test_a_journalled_reversal_names_only_pts_own_group_for_its_plan(journal, tmp_path):
    """undo takes the reversal from the journal: a line naming any directory
    but pt's group of that plan is not a record, so undo never rmdirs it."""
    victim = tmp_path / "keep-me"
    victim.mkdir()
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "throttle", {"cpu": 0.5})
        pid_, aid = plan["plan_id"], f"{plan['plan_id']}:0"
        target = plan["actions"][0]["target"]
        base = {"kind": "outcome", "plan_id": pid_, "action_id": aid, "action": "throttle", "ts": time.time(),
                **{k: target[k] for k in ("pid", "start_ticks", "uid", "boot_id", "cmd_hash")},
                "result": "done", "detail": "", "exit_status": None}
        forged = {"action": "uncgroup", "version": 2, "mount": str(tmp_path), "origin": "/",
                  "group": str(victim)}
        mine = {**forged, "group": str(tmp_path / "pt" / f"{pid_}-0")}
        journal.append([{**base, "params": {"undo": forged}}])
        assert journal.records() == [] and journal.skipped == 1
        journal.append([{**base, "params": {"undo": mine}}])
        assert [r["params"]["undo"] for r in journal.records()] == [mine]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        (undone,) = undo_plan(plan, journal=journal)     # pt's group of the plan does not exist
        assert undone["result"] == "done" and "already gone" in undone["detail"] and victim.is_dir()
