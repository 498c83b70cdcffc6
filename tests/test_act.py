"""Acting on plans, with real processes this test started (and only those)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pt.act import cgroups, identity
from pt.act.apply import apply_plan, undo_plan, verify_plan
from pt.act.journal import Journal
from pt.act.plan import PlanError, load_plan, plan_id, schema_problem
from pt.testing import (
    _state,
    acting_policy,
    cpu_share,
    cpu_ticks,
    kill_if_same,
    plan_for,
    python_child,
    sleepers,
    spinner,
    start_ticks,
    wait_for,
)

IGNORES_TERM = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(600)"


@pytest.fixture
def journal(tmp_path):
    return Journal(tmp_path)


def results(records):
    return [r["result"] for r in records]


def nice_of(pid):
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat[stat.rfind(b")") + 2:].split()[16])


def test_kill_sends_sigterm_and_reads_the_exit_status(journal):
    with sleepers(2) as procs:
        plan = plan_for([p.pid for p in procs], "kill")
        out = apply_plan(plan, journal=journal, policy=acting_policy())
        assert results(out) == ["exited", "exited"]
        # Our own children stay zombies until reaped: pt reads their wait status.
        assert [r["exit_status"] for r in out] == [signal.SIGTERM, signal.SIGTERM]
        assert all(p.wait(timeout=5) == -signal.SIGTERM for p in procs)
    records = journal.records(plan["plan_id"])
    assert [r["kind"] for r in records] == ["intent", "intent", "outcome", "outcome"]
    assert records[0]["justification"]["why"] == "test"


def test_a_process_ignoring_sigterm_gets_sigkill_after_the_grace_period(journal):
    with python_child(IGNORES_TERM) as proc:
        plan = plan_for([proc.pid], "kill", {"signal": "SIGTERM", "grace_s": 0.3, "then": "SIGKILL"})
        start = time.monotonic()
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "exited" and "SIGKILL" in out["detail"]
        assert out["exit_status"] == signal.SIGKILL
        assert time.monotonic() - start >= 0.3


def test_a_stopped_process_is_killed(journal):
    with sleepers(1) as (proc,):
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T")
        (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy())
        assert out["result"] == "exited"


def test_pause_then_undo_resumes_once(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done" and _state(proc.pid) == "T"
        assert out["params"]["undo"] == {"action": "resume"}
        (undone,) = undo_plan(plan, journal=journal)
        assert undone["result"] == "done"
        wait_for(lambda: _state(proc.pid) == "S")
        assert undo_plan(plan, journal=journal) == []          # done once
        (row,) = verify_plan(plan, journal=journal)
        assert row["alive"] and row["undone"] and row["result"] == "done"


def test_renice_all_threads_and_back(journal):
    with python_child("import threading,time\n"
                      "threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
                      "print('ready', flush=True); time.sleep(600)") as proc:
        plan = plan_for([proc.pid], "renice", {"nice": 7})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done"
        tids = os.listdir(f"/proc/{proc.pid}/task")
        assert len(tids) == 2
        assert all(os.getpriority(os.PRIO_PROCESS, int(t)) == 7 for t in tids)
        (undone,) = undo_plan(plan, journal=journal)
        if out["params"].get("undo"):               # reversible when allowed to lower nice
            assert undone["result"] == "done" and nice_of(proc.pid) == 0
        else:
            assert "not reversible" in out["detail"]


def test_a_changed_identity_aborts_and_is_never_retried(journal):
    """A pid whose start time differs from the plan's is another process (the
    planned one exited and its pid was reused): abort, and leave it alone."""
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "kill")
        plan["actions"][0]["target"]["start_ticks"] -= 1         # as if the pid had been reused
        plan["plan_id"] = plan_id(plan)
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "aborted" and "belongs to another process" in out["detail"]
        (again,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert again["earlier"] and again["result"] == "aborted"
        assert proc.poll() is None and _state(proc.pid) == "S"
        assert len(journal.records(plan["plan_id"])) == 1          # one outcome, no intent, no signal


def test_an_exited_target_is_aborted(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "kill")
    (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
    assert out["result"] == "aborted" and "exited" in out["detail"]


@pytest.mark.parametrize("pidfd", [True, False])
def test_the_executable_is_compared_before_kill(journal, monkeypatch, pidfd):
    monkeypatch.setattr(identity, "HAVE_PIDFD", pidfd and identity.HAVE_PIDFD)
    with sleepers(2) as procs:
        plan = plan_for([p.pid for p in procs], "kill")
        plan["actions"][1]["target"]["exe"] = "/usr/bin/something-else"
        plan["plan_id"] = plan_id(plan)
        out = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out[0]["result"] == "exited"
        assert out[1]["result"] == "aborted" and "exe was '/usr/bin/something-else'" in out[1]["detail"]
        assert procs[1].poll() is None


def test_replaying_a_plan_acts_once(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
        apply_plan(plan, journal=journal, policy=acting_policy())
        os.kill(proc.pid, signal.SIGCONT)                     # if replay acted, it would stop again
        wait_for(lambda: _state(proc.pid) == "S")
        (again,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert again["earlier"]
        time.sleep(0.05)
        assert _state(proc.pid) == "S"
        assert [r["kind"] for r in journal.records(plan["plan_id"])] == ["intent", "outcome"]


def test_expired_plan_is_refused(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "kill", created_at=time.time() - 3600, ttl_s=60)
        with pytest.raises(PlanError, match="expired"):
            apply_plan(plan, journal=journal, policy=acting_policy())
        assert proc.poll() is None and journal.records() == []


def test_protected_targets_in_a_hand_edited_plan_are_refused(journal, tmp_path):
    """An agent's hand-written plan naming pt itself and an sshd: the live
    vetoes refuse both, the one ordinary target is acted on."""
    from pt.testing import renamed_sleeper
    with renamed_sleeper(tmp_path, "sshd-fake") as sshd, sleepers(1) as (plain,):
        plan = plan_for([sshd.pid, plain.pid], "pause")
        me = plan_for([os.getpid()], "renice", {"nice": 5})["actions"][0]
        plan["actions"].append({**me, "index": 2})
        plan["plan_id"] = plan_id(plan)
        out = apply_plan(plan, journal=journal, policy=acting_policy())
        assert results(out) == ["refused", "done", "refused"]
        assert "protected pattern" in out[0]["detail"] and out[2]["detail"] == "protected: pt itself"
        assert _state(sshd.pid) == "S" and nice_of(os.getpid()) == 0
        os.kill(plain.pid, signal.SIGCONT)


def test_an_edited_plan_no_longer_matches_its_id(tmp_path):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause")
    plan["actions"][0]["action"] = "kill"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(PlanError, match="does not match its content"):
        load_plan(str(path))


def test_rate_limits_fill_from_the_journal_across_applies(journal):
    policy = acting_policy(rate_limits={"kill": {"minute": 2}})
    with sleepers(4) as procs:
        out = apply_plan(plan_for([p.pid for p in procs[:3]], "kill"), journal=journal, policy=policy)
        assert results(out) == ["exited", "exited", "refused"]
        assert "rate limit: 2 kill actions in the last minute" in out[2]["detail"]
        (later,) = apply_plan(plan_for([procs[3].pid], "kill"), journal=journal, policy=policy)
        assert later["result"] == "refused"
        assert procs[2].poll() is None and procs[3].poll() is None


def test_per_run_cap(journal):
    with sleepers(2) as procs:
        out = apply_plan(plan_for([p.pid for p in procs], "pause"), journal=journal,
                         policy=acting_policy(max_actions_per_run=1))
        assert results(out) == ["done", "refused"] and "per-run cap" in out[1]["detail"]
        os.kill(procs[0].pid, signal.SIGCONT)


def test_minimum_age(journal):
    with sleepers(1) as (proc,):
        (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy(min_age_s=3600))
        assert out["result"] == "refused" and "too young" in out["detail"]


@pytest.mark.parametrize("code, refused", [
    ("f = open(sys.argv[1], 'w')", "open for writing"),
    ("f = open(sys.argv[1], 'a')", None),                                     # a log: not gated
    ("import fcntl; f = open(sys.argv[1], 'r'); fcntl.flock(f, fcntl.LOCK_EX)", "file lock"),
    ("f = open(sys.argv[1] + '.lock', 'r')", "lock file"),
])
def test_data_loss_gate(journal, tmp_path, code, refused):
    data = tmp_path / "work.db"
    data.write_text("x")
    (tmp_path / "work.db.lock").write_text("")
    with python_child(f"import sys, time\n{code}\nprint('ready', flush=True)\ntime.sleep(600)",
                      str(data)) as proc:
        (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy())
        if refused:
            assert out["result"] == "refused" and refused in out["detail"]
            assert proc.poll() is None
        else:
            assert out["result"] == "exited"


def test_recent_writes_gate(journal, tmp_path):
    """A process that keeps writing to storage (here an append-only file, which
    alone would pass as a log) is not killed: it is doing work."""
    with python_child("import os, sys, time\n"
                      "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)\n"
                      "print('ready', flush=True)\n"
                      "while True:\n    os.write(fd, b'x' * 4096); os.fsync(fd); time.sleep(0.02)\n",
                      str(tmp_path / "out.log")) as proc:
        plan = plan_for([proc.pid], "kill")
        time.sleep(0.2)
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "refused" and "since the plan was made" in out["detail"]
        assert proc.poll() is None


@pytest.fixture(params=["/dev/shm", "/var/tmp"], ids=["tmpfs", "disk"])
def scratch(request):
    """A private directory on tmpfs (/dev/shm) or on the real disk (/var/tmp)."""
    import shutil
    import tempfile
    if not os.path.isdir(request.param):
        pytest.skip(f"no {request.param}")
    path = Path(tempfile.mkdtemp(prefix="pt-test-", dir=request.param))
    yield path
    shutil.rmtree(path)


def test_a_shell_that_opens_appends_and_closes_is_not_killed(journal, scratch):
    """`while :; do echo data >> FILE; sleep 0.2; done` holds nothing open
    and, on tmpfs, never reaches write_bytes: its write calls still show."""
    out_file = scratch / "x"
    writer = subprocess.Popen(["sh", "-c", 'while :; do echo data >> "$1"; sleep 0.2; done', "sh",
                               str(out_file)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: out_file.exists() and out_file.stat().st_size > 0)
        plan = plan_for([writer.pid], "kill")
        size = out_file.stat().st_size
        wait_for(lambda: out_file.stat().st_size > size)       # it wrote since the plan
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "refused" and "since the plan was made" in out["detail"], out["detail"]
        assert writer.poll() is None
    finally:
        writer.kill()
        writer.wait()


SAYS_X_ON_SIGUSR1 = ("import signal, time\n"
                     "signal.signal(signal.SIGUSR1, lambda *_: print('x', flush=True))\n"
                     "print('ready', flush=True)\nwhile True: time.sleep(600)\n")


def test_write_calls_since_the_plan_are_named(journal):
    """One write to a pipe after the plan (no file, no storage): the gate
    says what moved (wchar/syscw) and that pipes and terminals count too."""
    with python_child(SAYS_X_ON_SIGUSR1) as proc:
        plan = plan_for([proc.pid], "kill")
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout.readline() == "x\n"
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "refused", out["detail"]
        assert "write calls (2 bytes; wchar/syscw" in out["detail"] and "pipes" in out["detail"]
        assert proc.poll() is None


def test_an_idle_process_with_a_write_history_is_killable(journal):
    """Counters that moved before the plan and not since: killed."""
    with python_child(SAYS_X_ON_SIGUSR1) as proc:
        proc.send_signal(signal.SIGUSR1)
        assert proc.stdout.readline() == "x\n"
        (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy())
        assert out["result"] == "exited", out["detail"]


def test_a_plan_without_the_write_call_baseline_refuses_a_kill(journal):
    """A plan from before write_calls existed (or hand-written without it) does
    not fall back to the weaker gates: the kill is refused; other actions are not gated."""
    with sleepers(2) as (a, b):
        plan = plan_for([a.pid, b.pid], "kill")
        plan["actions"][0].pop("write_calls")
        plan["actions"][1]["write_calls"] = None
        plan["plan_id"] = plan_id(plan)
        assert schema_problem(plan) is None
        outs = apply_plan(plan, journal=journal, policy=acting_policy())
        assert results(outs) == ["refused", "refused"]
        assert all("make a new plan" in o["detail"] for o in outs)
        assert a.poll() is None and b.poll() is None
        plan["actions"][0]["write_calls"] = [1, "2"]
        assert "write_calls" in schema_problem(plan)


def test_respawn_is_seen_by_verify_and_not_killed_again(journal):
    with sleepers(1, seconds=700) as (first,):
        plan = plan_for([first.pid], "kill")
        apply_plan(plan, journal=journal, policy=acting_policy())
    with sleepers(1, seconds=700) as (second,):          # same command line, started after the kill
        (row,) = verify_plan(plan, journal=journal)
        assert not row["alive"] and row["respawned_as"] == [second.pid]
        (out,) = apply_plan(plan_for([second.pid], "kill"), journal=journal, policy=acting_policy())
        assert out["result"] == "refused" and "respawn cooldown" in out["detail"]
        assert second.poll() is None


def test_zombie_is_dealt_with_through_its_parent(journal):
    # The parent reaps only on a second SIGCHLD: its child's own exit is ignored.
    code = ("import os, signal, time\nseen = []\n"
            "def on_chld(*_):\n    seen.append(1)\n    if len(seen) > 1: os.waitpid(-1, 0)\n"
            "signal.signal(signal.SIGCHLD, on_chld)\npid = os.fork()\n"
            "if pid == 0: os._exit(3)\nwhile not seen: time.sleep(0.01)\n"
            "print('ready', flush=True)\nprint(pid, flush=True)\nwhile True: time.sleep(1)\n")
    with python_child(code) as parent:
        child = int(parent.stdout.readline())
        wait_for(lambda: _state(child) == "Z")
        (out,) = apply_plan(plan_for([child], "kill"), journal=journal, policy=acting_policy())
        assert out["result"] == "exited" and f"reaped by its parent {parent.pid}" in out["detail"]
        assert parent.poll() is None


def test_a_zombie_whose_parent_never_reaps_names_the_parent(journal):
    from pt.testing import zombie
    with zombie() as proc:        # this test process is the parent and does not reap until the end
        (out,) = apply_plan(plan_for([proc.pid], "kill"), journal=journal, policy=acting_policy())
        assert out["result"] == "still_running"
        assert f"pt plan --pid {os.getpid()}" in out["detail"]


def _cgroups_writable(controller):
    try:
        h = cgroups.find(controller)
    except cgroups.CgroupUnavailable:
        return False
    return os.access(h.mount, os.W_OK)


@pytest.mark.skipif(not _cgroups_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_throttle_cuts_a_spinners_cpu_and_undo_restores_it(journal):
    with spinner() as proc:
        before = cpu_share(proc.pid)
        home = cgroups.current_cgroup(proc.pid, cgroups.find("cpu"))
        plan = plan_for([proc.pid], "throttle", {"cpu": 0.1})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done", out["detail"]
        group = Path(out["params"]["undo"]["group"])
        assert str(proc.pid) in (group / "cgroup.procs").read_text().split()
        after = cpu_share(proc.pid, 1.0)
        assert after < 0.2, (before, after)    # the 0.1-CPU cap holds at any load (load only lowers it)
        (undone,) = undo_plan(plan, journal=journal)
        # Undo lifts the cap: the spinner is back in its own cgroup and pt's is gone (how much CPU it
        # then gets depends on the machine's load, which a test must not assume).
        assert undone["result"] == "done" and not group.exists()
        assert cgroups.current_cgroup(proc.pid, cgroups.find("cpu")) == home


@pytest.mark.skipif(not _cgroups_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_cgroup_actions_do_not_stack_so_undo_works_in_any_order(journal):
    """A second throttle of a process already in pt's group is refused: its
    undo would point into the first one's group, which the first's undo
    removes (found by the red team of pt watch)."""
    with spinner() as proc:
        wait_for(lambda: cpu_ticks(proc.pid) > 0)      # exec'd: the plan names its real command line
        first = plan_for([proc.pid], "throttle", {"cpu": 0.5})
        (out,) = apply_plan(first, journal=journal, policy=acting_policy())
        assert out["result"] == "done", out["detail"]
        second = plan_for([proc.pid], "throttle", {"cpu": 0.2}, created_at=time.time() + 1)
        (again,) = apply_plan(second, journal=journal, policy=acting_policy())
        assert again["result"] == "refused" and "already in pt's cgroup" in again["detail"]
        (undone,) = undo_plan(first, journal=journal)
        assert undone["result"] == "done"
        assert not cgroups.current_cgroup(proc.pid, cgroups.find("cpu")).startswith("/pt/")


@contextlib.contextmanager
def forker():
    """A shell that forks a long-lived child every 0.2 s, in its own process
    group; yields it and a list to which the test adds ``(pid, start_ticks)``
    of children to kill once the shell is reaped. The shell and every child
    are killed on exit."""
    proc = subprocess.Popen(["sh", "-c", "while :; do sleep 1000 & sleep 0.2; done"], start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    children: list[tuple[int, int | None]] = []
    try:
        # Plan only once the shell has exec'd: mid-exec its command line reads empty, and the
        # plan would name a process whose command then changes (apply rightly refuses it).
        wait_for(lambda: Path(f"/proc/{proc.pid}/cmdline").read_bytes().startswith(b"sh\0-c\0"))
        yield proc, children
    finally:
        if proc.returncode is None:               # not reaped: its pid is still the group's id
            os.killpg(proc.pid, signal.SIGKILL)
        for pid, start in children + _session_of(proc.pid):
            kill_if_same(pid, start)
        proc.wait()


def _session_of(sid: int) -> list[tuple[int, int | None]]:
    """``(pid, start_ticks)`` of every process still in session ``sid`` (the
    forker's children, also those forked before a throttle and never listed:
    a session id is not reused while the session has members)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2:].split()
            if int(fields[3]) == sid:
                out.append((int(name), int(fields[19])))
    return out


def _throttled_forker(journal, proc):
    """Throttle ``proc``, wait until children it forked since are in pt's
    group with it; returns the plan, the group and the origin."""
    plan = plan_for([proc.pid], "throttle", {"cpu": 0.5})
    (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
    assert out["result"] == "done", out["detail"]
    undo = out["params"]["undo"]
    group = Path(undo["group"])
    wait_for(lambda: len(set(cgroups.members(group)) - {proc.pid}) >= 2)
    return plan, group, undo["origin"]


def _in_cgroup(pid, origin):
    try:
        return cgroups.current_cgroup(pid, cgroups.find("cpu")) == origin
    except cgroups.CgroupUnavailable:
        return True                                # exited: nothing of it is left in pt's group


@pytest.mark.skipif(not _cgroups_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_undo_moves_children_forked_after_the_throttle_back(journal):
    with forker() as (proc, _):
        plan, group, origin = _throttled_forker(journal, proc)
        seen = cgroups.members(group)
        (undone,) = undo_plan(plan, journal=journal)
        assert undone["result"] == "done", undone["detail"]
        assert not group.exists()
        assert all(_in_cgroup(pid, origin) for pid in seen)
        (row,) = verify_plan(plan, journal=journal)
        assert row["undone"]
        assert undo_plan(plan, journal=journal) == []


@pytest.mark.skipif(not _cgroups_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_undo_after_the_target_exited_still_moves_its_children_back(journal):
    with forker() as (proc, children):
        plan, group, origin = _throttled_forker(journal, proc)
        proc.kill()
        proc.wait()
        left = cgroups.members(group)
        children.extend((pid, start_ticks(pid)) for pid in left)
        assert left and proc.pid not in left
        (undone,) = undo_plan(plan, journal=journal)
        assert undone["result"] == "done", undone["detail"]
        assert not group.exists() and all(_in_cgroup(pid, origin) for pid in left)


@pytest.mark.skipif(not _cgroups_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_an_undo_that_cannot_remove_the_group_is_retried(journal):
    """A group that cannot be removed (here: it has a child group) leaves the
    undo failed, with the reason; verify does not call it undone, and the
    next undo tries again until it is done."""
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "throttle", {"cpu": 0.5})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done", out["detail"]
        group = Path(out["params"]["undo"]["group"])
        (group / "held").mkdir()
        try:
            for _ in range(2):
                (undone,) = undo_plan(plan, journal=journal)
                assert undone["result"] == "failed" and "remains" in undone["detail"], undone["detail"]
                assert not verify_plan(plan, journal=journal)[0]["undone"]
        finally:
            (group / "held").rmdir()
        (undone,) = undo_plan(plan, journal=journal)
        assert undone["result"] == "done" and not group.exists()
        assert _in_cgroup(proc.pid, out["params"]["undo"]["origin"])


@pytest.mark.skipif(not _cgroups_writable("cpuset"), reason="needs a writable cpuset cgroup")
def test_quarantine_pins_to_one_cpu(journal):
    def allowed(pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split()[1]
    with sleepers(1) as (proc,):
        original = allowed(proc.pid)
        plan = plan_for([proc.pid], "quarantine")
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done", out["detail"]
        assert allowed(proc.pid) == str(cgroups.parse_cpu_list(original)[-1])
        undo_plan(plan, journal=journal)
        assert allowed(proc.pid) == original


@pytest.mark.skipif(not _cgroups_writable("freezer"), reason="needs a writable freezer cgroup")
def test_freeze_pauses_without_sigstop(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "pause", {"method": "freeze"})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done", out["detail"]
        group = Path(out["params"]["undo"]["group"])
        state = group / ("freezer.state" if (group / "freezer.state").exists() else "cgroup.freeze")
        wait_for(lambda: state.read_text().strip() in ("FROZEN", "1"))
        undo_plan(plan, journal=journal)
        assert not group.exists() and _state(proc.pid) == "S"


def test_a_cgroup_root_that_does_not_exist_is_reported(journal, monkeypatch, tmp_path):
    monkeypatch.setenv("PT_CGROUP_ROOT", str(tmp_path / "no-such-cgroupfs"))
    with sleepers(1) as (proc,):
        (out,) = apply_plan(plan_for([proc.pid], "throttle", {"cpu": 0.1}), journal=journal,
                            policy=acting_policy())
        assert out["result"] == "unavailable" and "no-such-cgroupfs" in out["detail"]


def test_a_cgroup_write_the_kernel_ignores_is_reported_and_cleaned_up(journal, monkeypatch, tmp_path):
    """A directory that looks like a cgroup v2 root but is not one: every
    write 'succeeds', and only checking /proc/PID/cgroup afterwards shows the
    process never moved. Reported unavailable; pt's group is removed."""
    root = tmp_path / "fake-cgroupfs"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    (root / "pt").mkdir()
    (root / "pt/cgroup.subtree_control").write_text("cpu\n")
    monkeypatch.setenv("PT_CGROUP_ROOT", str(root))
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "throttle", {"cpu": 0.1})
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "unavailable" and "still in" in out["detail"], out["detail"]
        group = root / "pt" / f"{plan['plan_id']}-0"
        assert (group / "cgroup.procs").read_text() == str(proc.pid)       # the write went through...
        assert (group / "cpu.max").read_text() == "10000 100000"


def edited(plan: dict, index: int, **fields) -> dict:
    """``plan`` with fields of one action changed and the id recomputed, as an
    agent writing its own plan would."""
    plan["actions"][index].update(fields)
    plan["plan_id"] = plan_id(plan)
    return plan


def test_hand_edited_age_state_and_write_counter_are_not_trusted(journal, tmp_path):
    """Age comes from the verified start ticks, state from /proc, and a
    missing write-counter baseline blocks a kill instead of waving it through."""
    with python_child("import sys, time\nf = open(sys.argv[1], 'w')\nprint('ready', flush=True)\n"
                      "time.sleep(600)", str(tmp_path / "data")) as writer, sleepers(2) as (young, plain):
        (out,) = apply_plan(edited(plan_for([young.pid], "kill"), 0, start_time=0.0, age_s=1e9),
                            journal=journal, policy=acting_policy(min_age_s=3600))
        assert out["result"] == "refused" and "too young" in out["detail"]
        (out,) = apply_plan(edited(plan_for([writer.pid], "kill"), 0, state="Z"), journal=journal,
                            policy=acting_policy())
        assert out["result"] == "refused" and "open for writing" in out["detail"]
        (out,) = apply_plan(edited(plan_for([plain.pid], "kill"), 0, write_bytes=None), journal=journal,
                            policy=acting_policy())
        assert out["result"] == "refused" and "baseline" in out["detail"]
        assert writer.poll() is None and young.poll() is None and plain.poll() is None


def test_plan_expiry_is_capped_by_the_policy(journal):
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "kill", created_at=time.time() - 120, ttl_s=10**9)
        with pytest.raises(PlanError, match="expired"):
            apply_plan(plan, journal=journal, policy=acting_policy(plan_ttl_s=60))


def test_a_resumed_renice_keeps_what_to_restore(journal):
    """An apply that died after renicing but before journalling the outcome:
    the resume finds the process already reniced, and still records the
    original nice (from the intent) so undo restores it."""
    with sleepers(1) as (proc,):
        plan = plan_for([proc.pid], "renice", {"nice": 9})
        entry = {**plan["actions"][0], "action_id": f"{plan['plan_id']}:0"}
        from pt.act.apply import Step, _intent
        journal.append([_intent(plan, Step(entry, before={"nice": 0}))])
        os.setpriority(os.PRIO_PROCESS, proc.pid, 9)              # the interrupted apply's effect
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done" and out["params"]["undo"] == {"action": "renice", "nice": 0}
        if os.geteuid() == 0:
            undo_plan(plan, journal=journal)
            assert nice_of(proc.pid) == 0


RECORD = {"plan_id": "x", "action_id": "x:0", "action": "pause", "pid": 99, "start_ticks": 1, "uid": 0,
          "boot_id": None, "cmd_hash": "0" * 16}


def test_a_torn_journal_line_does_not_swallow_the_next_record(journal):
    journal.path.write_text(json.dumps({"kind": "intent", "ts": 1.0, **RECORD}) + '\n{"kind": "outc')
    journal.append([{"kind": "outcome", **RECORD, "result": "done", "detail": "", "exit_status": None}])
    records = journal.records("x")
    assert [r["kind"] for r in records] == ["intent", "outcome"]
    assert journal.skipped == 1


def test_pausing_a_process_someone_else_stopped_changes_nothing(journal):
    with sleepers(1) as (proc,):
        os.kill(proc.pid, signal.SIGSTOP)
        wait_for(lambda: _state(proc.pid) == "T")
        plan = plan_for([proc.pid], "pause")
        (out,) = apply_plan(plan, journal=journal, policy=acting_policy())
        assert out["result"] == "done" and "already stopped" in out["detail"]
        assert undo_plan(plan, journal=journal) == []
        assert _state(proc.pid) == "T"


def test_sigint_that_the_target_ignores_falls_back_to_sigterm(journal):
    with python_child("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "print('ready', flush=True)\ntime.sleep(600)") as proc:
        (out,) = apply_plan(plan_for([proc.pid], "kill", {"signal": "SIGINT", "grace_s": 2.0}),
                            journal=journal, policy=acting_policy())
        assert out["result"] == "exited" and out["detail"] == "exited after SIGTERM"


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/proc/sys/kernel/ns_last_pid", os.W_OK),
                    reason="steering pid allocation needs root")
def test_a_pid_reused_after_verification_is_not_reniced(journal):
    """The target is verified, then exits and is reaped, and its pid is handed
    to a new process (steered with ns_last_pid): the renice must not reach it."""
    import subprocess
    import sys

    from pt.act import remedies
    from pt.act.identity import IdentityMismatch, Target, read_identity
    with sleepers(1) as (first,):
        target = Target.open(read_identity(first.pid))
        pid = first.pid
        first.kill()
        first.wait()
    try:
        for _ in range(20):                              # another process may take the pid first
            Path("/proc/sys/kernel/ns_last_pid").write_text(str(pid - 1))
            second = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            if second.pid == pid:
                break
            second.kill()
            second.wait()
        else:
            pytest.skip("could not steer a new process onto the freed pid")
        try:
            with pytest.raises(IdentityMismatch):
                remedies.renice(target, {"nice": 9}, {"nice": 0})
            assert nice_of(pid) == 0
        finally:
            second.kill()
            second.wait()
    finally:
        target.close()


def test_restart_without_a_unit_or_systemd_is_unavailable(journal):
    with sleepers(1) as (proc,):
        out = apply_plan(plan_for([proc.pid, ], "restart", {"unit": None}), journal=journal,
                         policy=acting_policy())
        assert out[0]["result"] == "unavailable" and "not in a systemd unit" in out[0]["detail"]
        if not Path("/run/systemd/system").is_dir():
            (out,) = apply_plan(plan_for([proc.pid], "restart", {"unit": "nope.service", "user_unit": False}),
                                journal=journal, policy=acting_policy())
            assert out["result"] == "unavailable" and "systemd" in out["detail"]


def test_many_targets_are_journalled_once_each_and_nothing_else_is_touched(journal):
    with sleepers(20) as procs:
        pids = {p.pid for p in procs}
        plan = plan_for(sorted(pids), "kill")
        out = apply_plan(plan, journal=journal, policy=acting_policy(max_actions_per_run=100))
        assert results(out) == ["exited"] * 20
    records = journal.records()
    assert sum(r["kind"] == "intent" for r in records) == 20
    assert sum(r["kind"] == "outcome" for r in records) == 20
    assert {r["pid"] for r in records} == pids
