"""Killing a 100-member tree as one decision (``apply_plan`` of a ``pt plan
--tree`` plan: guards, one pidfd and identity check per member, deepest
first, one journal) against 100 single-target kills of 100 orphans in one
plan, in the same run. Both kill 100 of the bench's own sleepers.

    pytest bench/test_bench_tree_actions.py --benchmark-enable
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from pt.testing import acting_policy, kill_if_same, plan_for, start_ticks, wait_for

N = 100
MARK = "987655"
UNLIMITED = {"minute": 10**6, "hour": 10**6, "day": 10**6}
GROUP = f"apply kill of {N} processes: one tree vs single targets"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def spawn_tree() -> list[tuple[int, int]]:
    """An orphaned shell with N - 1 sleeping children; ``(pid, start_ticks)`` each, the root first."""
    out = subprocess.run(["setsid", "sh", "-c", f"sh -c 'for i in $(seq {N - 1}); do sleep {MARK} & done; "
                          "wait' >/dev/null 2>&1 & echo $!"], capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    root = int(out.stdout)
    wait_for(lambda: len(_children(root)) == N - 1, timeout=30)
    kids = _children(root)
    wait_for(lambda: all(Path(f"/proc/{p}/comm").read_text().strip() == "sleep" for p in kids), timeout=30)
    return [(p, start_ticks(p)) for p in [root, *kids]]


def spawn_orphans() -> list[tuple[int, int]]:
    out = subprocess.run(["setsid", "sh", "-c", f"for i in $(seq {N}); do sleep {MARK} "
                          ">/dev/null 2>&1 & echo $!; done"], capture_output=True, text=True, check=True,
                         stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    return [(p, start_ticks(p)) for p in map(int, out.stdout.split())]


@pytest.fixture
def spawned():
    batches: list[list[tuple[int, int]]] = []
    yield batches
    ours = [(pid, start) for batch in batches for pid, start in batch]
    for pid, start in ours:
        kill_if_same(pid, start)
    wait_for(lambda: all(start_ticks(pid) != start for pid, start in ours), timeout=30)


def _policy():
    return acting_policy(kill_grace_s=5, max_actions_per_run=1000, respawn_cooldown_s=0,
                         rate_limits={"kill": UNLIMITED, "any": UNLIMITED})


def test_apply_tree_kill_100(benchmark, tmp_path, spawned):
    from pt.act.apply import apply_plan
    from pt.act.journal import Journal
    from pt.act.plan import Selection, make_plan
    from pt.triage import triage

    policy = _policy()

    def setup():
        batch = spawn_tree()
        spawned.append(batch)
        plan = make_plan(triage(window_s=0.1, policy=policy), Selection(), do="kill", tree=batch[0][0])
        assert len(plan["actions"]) == N, plan["refused"]
        return (plan,), {}

    def apply(plan):
        out = apply_plan(plan, journal=Journal(tmp_path), policy=policy)
        assert all(o["result"] == "exited" for o in out), {o["detail"] for o in out}

    benchmark.group = GROUP
    benchmark.extra_info["role"] = "pt"
    benchmark.pedantic(apply, setup=setup, rounds=3)


def test_apply_single_kills_100(benchmark, tmp_path, spawned):
    from pt.act.apply import apply_plan
    from pt.act.journal import Journal

    policy = _policy()

    def setup():
        batch = spawn_orphans()
        spawned.append(batch)
        return (plan_for([p for p, _ in batch], "kill", policy=policy),), {}

    def apply(plan):
        out = apply_plan(plan, journal=Journal(tmp_path), policy=policy)
        assert all(o["result"] == "exited" for o in out), {o["detail"] for o in out}

    benchmark.group = GROUP
    benchmark.extra_info["role"] = "100 single targets"
    benchmark.pedantic(apply, setup=setup, rounds=3)
