"""Whole-tree plans on real spawned trees: pt plan --tree, apply, verify, undo.

Every process signalled here is one the test started (a detached runner and
its workers); each is killed at the end only if its start time still matches.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pt.act.plan import plan_id
from pt.act.trees import MAX_TREE_MEMBERS
from pt.testing import _state, acting_env, children, kill_if_same, run_pt, start_ticks, wait_for

#: The runner: three workers (two sleeps and a shell with a sleep of its
#: own, so the tree is three levels deep), one more child on SIGUSR1.
RUNNER = """\
import signal, subprocess, sys, time
kids = [subprocess.Popen(["sleep", "3600"]) for _ in range(2)]
kids.append(subprocess.Popen(["sh", "-c", "sleep 3600 & wait"]))
signal.signal(signal.SIGUSR1, lambda *a: kids.append(subprocess.Popen(["sleep", "3601"])))
if len(sys.argv) > 2:                  # a worker that becomes another program on SIGUSR1
    kids.append(subprocess.Popen([sys.executable, "-c", "import os, signal, time\\n"
        "signal.signal(signal.SIGUSR1, lambda *a: os.execv('/bin/sleep', ['sleep', '3602']))\\n"
        "time.sleep(3600)"]))
while True:
    time.sleep(3600)
"""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


@pytest.fixture
def env(tmp_path):
    return acting_env(tmp_path)


@contextlib.contextmanager
def runner(tmp_path: Path, *extra: str, size: int = 5):
    """A detached test runner (its shell exited: an orphan) and its idle
    workers; yields ``(root pid, {pid: start ticks} of the tree)``. Everything
    it started (and any process born under it) is killed on the way out."""
    script = tmp_path / "bin" / "pytest"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\n{RUNNER}")
    script.chmod(0o755)
    line = f"{script} tests/ {' '.join(extra)} </dev/null >/dev/null 2>&1"
    out = subprocess.run(["setsid", "sh", "-c", f"{line} & echo $!"], capture_output=True, text=True,
                         check=True, stdin=subprocess.DEVNULL)
    root = int(out.stdout)
    known = {root: start_ticks(root)}
    try:
        wait_for(lambda: len(_tree(root)) == size and all(_state(p) == "S" for p in _tree(root))
                 and not any(str(script) in _cmdline(p) for p in _tree(root)[1:]), timeout=30)
        known.update((p, start_ticks(p)) for p in _tree(root))
        yield root, known
    finally:
        known.update((p, start_ticks(p)) for p in _tree(root))
        for pid, start in known.items():
            kill_if_same(pid, start)


def pt_json(*args, cwd, env, code=0):
    proc = run_pt(*args, "--json", cwd=cwd, env=env, check=False)
    assert proc.returncode == code, proc.stderr
    return json.loads(proc.stdout)


def journal(tmp_path):
    path = tmp_path / "state/pt/journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_tree_pause_apply_verify_undo(tmp_path, env):
    """One tree decision; apply stops every member deepest first; verify lists
    every member; undo continues them all, the root first."""
    with runner(tmp_path) as (root, known):
        plan = pt_json("plan", "--tree", str(root), "--do", "pause", cwd=tmp_path, env=env)["data"]["plan"]
        members = [a["target"]["pid"] for a in plan["actions"]]
        assert sorted(members) == sorted(known) and plan["refused"] == []
        assert {a["tree"]["id"] for a in plan["actions"]} == {0}
        assert all(a["tree"]["root"] == root and a["tree"]["size"] == 5 for a in plan["actions"])
        depths = [a["tree"]["depth"] for a in plan["actions"]]
        assert depths == sorted(depths, reverse=True) and depths[-1] == 0 and max(depths) == 2
        shown = run_pt("plan", "--tree", str(root), "--do", "pause", cwd=tmp_path, env=env).stdout
        assert "pause tree (5 processes)" in shown

        applied = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)["data"]
        assert [o["result"] for o in applied["outcomes"]] == ["done"] * 5 and applied["not_signalled"] == []
        assert all(_state(p) == "T" for p in known)
        stops = [r for r in journal(tmp_path) if r["kind"] == "outcome"]
        assert [r["tree"]["depth"] for r in stops] == sorted(depths, reverse=True)   # leaves first

        verified = pt_json("verify", plan["plan_id"], cwd=tmp_path, env=env)["data"]["targets"]
        assert sorted(r["pid"] for r in verified) == sorted(known)
        assert all(r["state"] == "T" and r["tree"]["root"] == root for r in verified)

        undone = pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)["data"]["outcomes"]
        assert [o["result"] for o in undone] == ["done"] * 5
        assert undone[0]["pid"] == root                              # the root resumes first
        wait_for(lambda: all(_state(p) == "S" for p in known))


def test_a_member_that_execs_or_exits_is_skipped_and_the_rest_is_done(tmp_path, env):
    with runner(tmp_path, "exec-worker", size=6) as (root, known):
        plan = pt_json("plan", "--tree", str(root), "--do", "pause", cwd=tmp_path, env=env)["data"]["plan"]
        assert len(plan["actions"]) == 6
        execer = next(p for p in children(root) if "python" in _cmdline(p))
        leaver = next(p for p in children(root) if _cmdline(p) == "sleep\x003600\x00")
        os.kill(execer, signal.SIGUSR1)           # our grandchild becomes /bin/sleep 3602
        wait_for(lambda: Path(f"/proc/{execer}/cmdline").read_text().startswith("sleep"))
        kill_if_same(leaver, known[leaver])
        wait_for(lambda: _state(leaver) in (None, "Z"))

        outcomes = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env, code=5)["data"]["outcomes"]
        by_pid = {o["pid"]: o for o in outcomes}
        assert by_pid[execer]["result"] == "aborted" and "identity" in by_pid[execer]["detail"]
        assert by_pid[leaver]["result"] == "aborted" and "exited" in by_pid[leaver]["detail"]
        assert _state(execer) == "S"                  # the program it became was not signalled
        others = set(known) - {execer, leaver}
        assert all(by_pid[p]["result"] == "done" for p in others) and all(_state(p) == "T" for p in others)
        rows = pt_json("verify", plan["plan_id"], cwd=tmp_path, env=env)["data"]["targets"]
        assert {r["pid"] for r in rows} == set(known)
        pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)
        wait_for(lambda: all(_state(p) == "S" for p in others))


def test_a_child_born_after_planning_is_not_signalled(tmp_path, env):
    with runner(tmp_path) as (root, known):
        plan = pt_json("plan", "--tree", str(root), "--do", "pause", cwd=tmp_path, env=env)["data"]["plan"]
        os.kill(root, signal.SIGUSR1)             # the runner starts one more worker
        wait_for(lambda: len(children(root)) == 4)
        born = (set(children(root)) - set(known)).pop()
        known[born] = start_ticks(born)
        wait_for(lambda: Path(f"/proc/{born}/comm").read_text().strip() == "sleep")
        applied = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)["data"]
        assert [b["pid"] for b in applied["not_signalled"]] == [born]
        assert _state(born) == "S" and all(_state(p) == "T" for p in known if p != born)
        shown = run_pt("verify", plan["plan_id"], cwd=tmp_path, env=env).stdout
        assert str(root) in shown
        pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)


def _protect(tmp_path, pattern: str) -> None:
    policy = tmp_path / "config/pt/policy.json"
    doc = json.loads(policy.read_text())
    doc["guards"] = {**doc.get("guards", {}), "protected_patterns": [pattern]}
    policy.write_text(json.dumps(doc))


def test_a_protected_member_stops_the_tree_and_the_rest_is_planned(tmp_path, env):
    """The worker shell is protected: the whole tree is refused naming it and
    its rule, and what is safe is planned instead: the two sleeps beside it,
    each its own tree decision; the shell, its sleep and their ancestor the
    root are kept. Applied, only those two are killed."""
    _protect(tmp_path, "^sh$")
    with runner(tmp_path) as (root, known):
        shell = next(p for p in children(root) if _cmdline(p).startswith("sh\x00"))
        plan = pt_json("plan", "--tree", str(root), "--do", "kill", cwd=tmp_path, env=env)["data"]["plan"]
        [refusal] = plan["refused"]
        assert refusal["pid"] == root and f"member {shell} (sh) is protected" in refusal["reason"]
        assert "^sh$" in refusal["reason"] and "2 unprotected subtree(s)" in refusal["reason"]
        safe = set(children(root)) - {shell}
        assert {a["target"]["pid"] for a in plan["actions"]} == safe
        assert sorted(a["tree"]["id"] for a in plan["actions"]) == [0, 1]
        assert all(a["tree"]["size"] == 1 and a["tree"]["depth"] == 0 for a in plan["actions"])
        applied = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)["data"]
        assert [o["result"] for o in applied["outcomes"]] == ["exited"] * 2
        assert all(_state(p) in (None, "Z") for p in safe)           # the runner does not reap them
        assert all(_state(p) == "S" for p in set(known) - safe)


def test_a_protected_root_keeps_the_whole_tree(tmp_path, env):
    _protect(tmp_path, "^pytest$")
    with runner(tmp_path) as (root, known):
        plan = pt_json("plan", "--tree", str(root), "--do", "kill", cwd=tmp_path, env=env)["data"]["plan"]
        assert plan["actions"] == []
        [refusal] = plan["refused"]
        assert refusal["pid"] == root and "protected" in refusal["reason"] and "^pytest$" in refusal["reason"]
        assert "the whole tree is kept" in refusal["reason"]
        assert all(_state(p) == "S" for p in known)


def _forge(plan: dict, actions: list[dict]) -> dict:
    body = {k: v for k, v in plan.items() if k != "plan_id"}
    body["actions"] = [{**a, "index": i} for i, a in enumerate(actions)]
    return {"plan_id": plan_id(body), **body}


def test_hostile_tree_plans_are_refused_and_nothing_is_signalled(tmp_path, env):
    with runner(tmp_path) as (root, known):
        plan = pt_json("plan", "--tree", str(root), "--do", "kill", cwd=tmp_path, env=env)["data"]["plan"]
        acts = plan["actions"]
        leaf = next(a for a in acts if a["tree"]["depth"] == 2)
        me = {**leaf, "target": {**leaf["target"], "pid": os.getpid()}, "ppid": root,
              "tree": {**leaf["tree"], "depth": 1}}
        slim = {**leaf, "ledger": [], "why": "", "expected_loss": {}, "write_files": [], "command": "x"}
        many = [{**slim, "target": {**leaf["target"], "pid": 3_000_000 + i}, "ppid": root,
                 "tree": {**leaf["tree"], "depth": 1, "size": MAX_TREE_MEMBERS + 1}}
                for i in range(MAX_TREE_MEMBERS)] + [{**acts[-1], "tree": {**acts[-1]["tree"],
                                                                            "size": MAX_TREE_MEMBERS + 1}}]
        forged = {                                # what is forged -> what the refusal says
            "is not in the tree of": [{**a, "ppid": 1} if a is leaf else a for a in acts],
            "appears more than once": acts + [{**acts[0]}],
            f"at most {MAX_TREE_MEMBERS}": many,
            "pt itself or one of its ancestors": [a if a is not leaf else me for a in acts],
        }
        for i, (said, actions) in enumerate(forged.items()):
            path = tmp_path / f"forged{i}.json"
            path.write_text(json.dumps(_forge(plan, actions)))
            path.chmod(0o600)
            out = pt_json("apply", str(path), "--yes", cwd=tmp_path, env=env, code=4)
            assert out["errors"][0]["code"] == "plan_invalid" and said in out["errors"][0]["message"], out
        assert journal(tmp_path) == [] and all(_state(p) == "S" for p in known)


def test_plan_tree_of_a_missing_pid_exits_3_and_saves_nothing(tmp_path, env):
    out = pt_json("plan", "--tree", "4194303", cwd=tmp_path, env=env, code=3)
    assert out["errors"][0]["code"] == "not_found"
    assert not list((tmp_path / "state").rglob("*.json"))


def test_an_orphaned_runner_with_idle_workers_is_one_tree_decision(tmp_path, env):
    """The scan recommends the runner's whole tree, and plain `pt plan` (here
    narrowed to the runner's command line) plans it as one decision: the
    workers do not appear separately."""
    with runner(tmp_path) as (root, known):
        time.sleep(0.5)                             # the workers' start-up is out of the window
        rows = pt_json("scan", "--top", "0", "--at", "1h", "--fields", "pid,recommendation,tree_action,tree_size",
                       cwd=tmp_path, env=env)["data"]["processes"]
        runner_row = next(r for r in rows if r["pid"] == root)
        assert runner_row["tree_size"] == 5 and runner_row["tree_action"] in ("kill", "pause"), runner_row
        assert runner_row["recommendation"] == f"{runner_row['tree_action']} tree (5 processes)"
        plan = pt_json("plan", "--match", str(tmp_path / "bin"), "--at", "1h", cwd=tmp_path,
                       env=env)["data"]["plan"]
        assert sorted(a["target"]["pid"] for a in plan["actions"]) == sorted(known)
        assert {a["tree"]["root"] for a in plan["actions"]} == {root}
        assert all(_state(p) == "S" for p in known)


def test_tree_results_match_their_schemas(tmp_path, env):
    """plan, apply, verify and undo of a tree validate against `pt schema`
    (whose ``tree`` object is closed: a member's tree has exactly its four keys)."""
    jsonschema = pytest.importorskip("jsonschema")
    schemas = {name: json.loads(run_pt("schema", name, cwd=tmp_path).stdout)
               for name in ("plan", "apply", "verify", "undo")}

    def checked(*args, code=0):
        result = pt_json(*args, cwd=tmp_path, env=env, code=code)
        jsonschema.validate(result, schemas[result["command"]], cls=jsonschema.Draft202012Validator)
        return result["data"]

    assert schemas["plan"]["properties"]["data"]  # the envelope's data is described
    with runner(tmp_path) as (root, known):
        plan = checked("plan", "--tree", str(root), "--do", "pause")["plan"]
        os.kill(root, signal.SIGUSR1)             # a newborn, so not_signalled is not empty
        wait_for(lambda: len(children(root)) == 4)
        known.update((p, start_ticks(p)) for p in children(root))
        assert len(checked("apply", plan["plan_id"], "--yes")["not_signalled"]) == 1
        assert len(checked("verify", plan["plan_id"])["targets"]) == 5
        assert len(checked("undo", plan["plan_id"])["outcomes"]) == 5
    checked("plan", "--tree", "4194303", code=3)


def test_a_process_group_is_one_decision_member_by_member(tmp_path, env):
    """--group plans the members of a process group, even one whose parent is
    outside it; a sibling outside the group is not a member and not signalled."""
    leader = subprocess.Popen(["sleep", "3600"], process_group=0, stdin=subprocess.DEVNULL)
    procs = [leader, subprocess.Popen(["sleep", "3601"], process_group=leader.pid, stdin=subprocess.DEVNULL),
             subprocess.Popen(["sleep", "3602"], stdin=subprocess.DEVNULL)]
    try:
        wait_for(lambda: all(_cmdline(p.pid).startswith("sleep") and _state(p.pid) == "S" for p in procs))
        plan = pt_json("plan", "--group", str(leader.pid), "--do", "pause", cwd=tmp_path, env=env)["data"]["plan"]
        assert [(a["target"]["pid"], a["tree"]["depth"]) for a in plan["actions"]] == \
            [(procs[1].pid, 1), (leader.pid, 0)]
        assert all(a["tree"]["pgid"] == leader.pid for a in plan["actions"])
        shown = run_pt("plan", "--group", str(leader.pid), "--do", "pause", cwd=tmp_path, env=env).stdout
        assert "pause process group (2 processes)" in shown
        pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)
        assert [_state(p.pid) for p in procs] == ["T", "T", "S"]
        pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)
        wait_for(lambda: all(_state(p.pid) == "S" for p in procs))
        out = pt_json("plan", "--group", str(procs[1].pid), cwd=tmp_path, env=env, code=3)   # not a leader
        assert "no process group" in out["errors"][0]["message"]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _cgroup_writable(controller: str) -> bool:
    from pt.act import cgroups
    try:
        return os.access(cgroups.find(controller).mount, os.W_OK)
    except cgroups.CgroupUnavailable:
        return False


@pytest.mark.skipif(not _cgroup_writable("cpu"), reason="needs a writable cpu cgroup (root on this kind)")
def test_a_tree_throttle_is_one_cgroup_and_undo_moves_every_member_back(tmp_path, env):
    """Throttling a tree puts every member in one pt group with one CPU limit
    (not a group each); undo moves each member back to the cgroup it came
    from — here one worker was in a cgroup of its own — and removes the group."""
    from pt.act import cgroups
    h = cgroups.find("cpu")
    own = h.mount / f"pt-test-{os.getpid()}"
    with runner(tmp_path) as (root, known):
        worker = next(p for p in children(root) if _cmdline(p).startswith("sleep"))
        own.mkdir()
        try:
            (own / "cgroup.procs").write_text(str(worker))
            origins = {p: cgroups.current_cgroup(p, h) for p in known}
            assert origins[worker] == "/" + own.name and len(set(origins.values())) == 2
            plan = pt_json("plan", "--tree", str(root), "--do", "throttle", cwd=tmp_path, env=env)["data"]["plan"]
            assert sorted(a["target"]["pid"] for a in plan["actions"]) == sorted(known)
            outcomes = pt_json("apply", plan["plan_id"], "--yes", cwd=tmp_path, env=env)["data"]["outcomes"]
            assert [o["result"] for o in outcomes] == ["done"] * 5, outcomes
            groups = {cgroups.current_cgroup(p, h) for p in known}
            assert groups == {f"/pt/{plan['plan_id']}-tree0"}                # one group, every member
            group = h.mount / groups.pop().lstrip("/")
            assert sorted(cgroups.members(group)) == sorted(known)
            assert list((h.mount / "pt").glob(f"{plan['plan_id']}-*")) == [group]

            undone = pt_json("undo", plan["plan_id"], cwd=tmp_path, env=env)["data"]["outcomes"]
            assert [o["result"] for o in undone] == ["done"] * 5 and undone[-1]["pid"] == root
            assert {p: cgroups.current_cgroup(p, h) for p in known} == origins
            assert not group.exists()
        finally:
            for p in cgroups.members(own):
                (h.mount / "cgroup.procs").write_text(str(p))
            own.rmdir()
