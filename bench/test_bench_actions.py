"""Acting on 100 abandoned processes: ``pt plan`` → ``pt apply --yes`` →
``pt verify``, each a fresh ``python -m pt`` as a user or agent runs them,
against the bare floor of signalling the same 100 pids and waiting for them
to die (no scan, no identity checks, no journal).

Each round spawns 100 fresh orphaned sleepers (``setsid sh -c 'sleep &...'``,
the shell exits), which pt judges abandoned at ``--at +1d``. Also timed:
``apply_plan`` alone in-process (guards + pidfds + journal + signals).

    pytest bench/test_bench_actions.py --benchmark-enable
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pt.testing import acting_policy, isolated_env, kill_if_same, start_ticks, wait_for

N = 100
MARK = "987654"
UNLIMITED = {"minute": 10**6, "hour": 10**6, "day": 10**6}


def spawn_orphans() -> list[tuple[int, int]]:
    """N sleepers whose parent shell has exited; ``(pid, start_ticks)`` each."""
    out = subprocess.run(["setsid", "sh", "-c", f"for i in $(seq {N}); do sleep {MARK} "
                          ">/dev/null 2>&1 & echo $!; done"], capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    pids = [int(p) for p in out.stdout.split()]
    return [(p, start_ticks(p)) for p in pids]


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] in (b"Z", b"X")


@pytest.fixture
def spawned():
    """The batches of :func:`spawn_orphans` a benchmark made; whatever is left
    of them is killed at the end (through a pidfd, start time checked), and
    the end waits until init has reaped them, so the next benchmark's process
    count does not include our zombies."""
    batches: list[list[tuple[int, int]]] = []
    yield batches
    for batch in batches:
        for pid, start in batch:
            kill_if_same(pid, start)
    ours = [(pid, start) for batch in batches for pid, start in batch]
    wait_for(lambda: all(start_ticks(pid) != start for pid, start in ours), timeout=30)


@pytest.fixture
def env(tmp_path):
    (tmp_path / "config/pt").mkdir(parents=True)
    policy = {"version": 1, "actions": {"min_age_s": 0, "kill_grace_s": 5, "max_actions_per_run": 1000, "respawn_cooldown_s": 0,
                                        "rate_limits": {"kill": UNLIMITED, "any": UNLIMITED}}}
    if os.geteuid() == 0:
        policy["guards"] = {"allow_system_services": True}
    (tmp_path / "config/pt/policy.json").write_text(json.dumps(policy))
    return {**isolated_env(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "160"}


def _pt(env, *args) -> dict:
    proc = subprocess.run([sys.executable, "-m", "pt", *args, "--json"], capture_output=True, text=True,
                          env=env, cwd=env["XDG_STATE_HOME"].rsplit("/", 1)[0])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_plan_apply_verify_100(benchmark, env, tmp_path, spawned):
    def setup():
        spawned.append(spawn_orphans())
        return (), {}

    def round_trip():
        plan = _pt(env, "plan", "--match", f"sleep {MARK}$", "--at", "+1d")["data"]["plan"]
        applied = _pt(env, "apply", plan["plan_id"], "--yes")["data"]["outcomes"]
        verified = _pt(env, "verify", plan["plan_id"])["data"]["targets"]
        assert len(applied) == N and all(o["result"] == "exited" for o in applied), {o["detail"] for o in applied}
        assert not any(t["alive"] for t in verified)

    benchmark.group = f"plan+apply+verify {N} kills"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(round_trip, setup=setup, rounds=3)
    records = [json.loads(line) for line in (tmp_path / "state/pt/journal.jsonl").read_text().splitlines()]
    ours = {pid for batch in spawned for pid, _ in batch}
    assert {r["pid"] for r in records} <= ours                      # zero actions on any other process
    assert sum(r["kind"] == "intent" for r in records) == sum(r["kind"] == "outcome" for r in records) \
        == N * len(spawned)


def test_apply_plan_in_process_100(benchmark, tmp_path, spawned):
    from pt.act.apply import apply_plan
    from pt.act.journal import Journal
    from pt.testing import plan_for

    policy = acting_policy(kill_grace_s=5, max_actions_per_run=1000, respawn_cooldown_s=0,
                           rate_limits={"kill": UNLIMITED, "any": UNLIMITED})

    def setup():
        batch = spawn_orphans()
        spawned.append(batch)
        return (plan_for([p for p, _ in batch], "kill", policy=policy),), {}

    def apply(plan):
        out = apply_plan(plan, journal=Journal(tmp_path), policy=policy)
        assert all(o["result"] == "exited" for o in out), {o["detail"] for o in out}

    benchmark.group = f"apply {N} kills"
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(apply, setup=setup, rounds=5)


@pytest.mark.parametrize("group", [f"plan+apply+verify {N} kills", f"apply {N} kills"])
def test_bare_kill_100(benchmark, group, spawned):
    """The floor: SIGTERM by pid number to each (the bench's own orphans,
    microseconds after spawning them), then poll until all are gone."""

    def setup():
        spawned.append(spawn_orphans())
        return ([p for p, _ in spawned[-1]],), {}

    def kill_all(pids):
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        while not all(gone(p) for p in pids):
            time.sleep(0.001)

    benchmark.group = group
    benchmark.extra_info["role"] = "bare os.kill"
    benchmark.pedantic(kill_all, setup=setup, rounds=5)
