"""Decision quality on real process trees (issue 12), under the DEFAULT policy, as whoever runs it.

One module-scoped fixture starts every tree at once, each started here and
stopped here (nothing else is signalled), and pt judges them as a user
would, once each — no retries, no policy or prior override, whether pytest
runs as root or as a regular user (CI runs it both ways):

- ``pt incidents --window 10`` (one watch: long enough for several reads of
  the table even where one read takes a second or two) and its quick scan, now;
- the quick scan as if an hour had passed like this (``--at +1h``);
- one deep scan of the leaker, judged at +1h as in the memory suite, over
  the default watch (30 s: its live parent, this test, pulls it toward
  useful, and 8 s of growth left it a coin flip; see that suite).

Useful work (must be kept, and no incident raised on it): a fake build (sh
named ``make``, a live parent: this test) whose two compilers (``cc1``)
spin, writing their output — a build at work, its parent not blamed; a
quiet parent with two sleeping children.

Leftovers and trouble (each must get its remedy on the right process):

- an orphaned test runner with four idle workers: one tree decision
  (``kill tree (5 processes)`` or pause) at +1h, not five;
- a fork loop: an incident on the parent, whose tree is paused or
  throttled, not each child killed. Which kind depends on how often the
  table could be read: a flood when its 0.3 s children are seen born and
  gone, a respawn loop when a loaded machine reads the table about once a
  second and sees them one at a time — the same remedy on the same process;
- a respawn loop under a supervisor (``sh -c 'while true; do sleep 0.5;
  done'``): a respawn_loop incident whose recommendation lands on the
  supervisor;
- a zombie under a sleeping parent that never reaps: the zombie's action
  goes to its parent (``kill → PPID``), and the parent's says ``reap 1``;
- a leaker growing 10 MB/s: useful_bad with a remedy, neither keep nor kill.

The bar (issue 12, as issue 11's): false kills (a kill on useful work) 0,
false alarms (any action but keep, or an incident, on useful work) 0,
capture (trouble given its remedy) >= 95%. The table and rates are printed.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.config import ACTIONS, CLASSES, load_policy, load_priors
from pt.testing import FORK_LOOP, children, named_process, orphaned_runner, python_child, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

HOUR = 3600.0
WATCH_S = 10.0                                   # "pt incidents --window 10: slower loops show too"

#: A compiler: busy, writing its output over and over (comm and argv0 ``cc1``: category build).
CC1 = ("import os, sys\nwhile True:\n    x = sum(i * i for i in range(200_000))\n"
       "    with open(f'{sys.argv[1]}.{os.getpid()}.o', 'w') as f:\n        f.write(str(x))\n")
BUILD = "for i in 1 2; do {cc1} unit$i.c & done; echo ready; wait"
QUIET = ("import subprocess, time\nkids = [subprocess.Popen(['sleep', '3600']) for _ in range(2)]\n"
         "print('ready', flush=True)\ntime.sleep(3600)\n")
#: 1 MB every 0.1 s from SIGUSR1 on (up to 300 MB), as in the memory suite.
LEAKER = ("import signal, sys, time\ngo = []\nsignal.signal(signal.SIGUSR1, lambda *a: go.append(time.monotonic()))\n"
          "print('ready', flush=True)\nwhile not go: signal.pause()\n"
          "chunks = []\nwhile len(chunks) < 300:\n"
          "    due = min(int((time.monotonic() - go[0]) * 10) + 1, 300)\n"
          "    while len(chunks) < due: chunks.append(b'x' * (1 << 20))\n"
          "    time.sleep(0.02)\ntime.sleep(600)\n")


@dataclass
class Case:
    """One judged process: its truth, what pt said, and whether that is the remedy."""

    name: str
    pid: int
    useful: bool
    said: str = "not judged"
    remedy: bool = False          # trouble: its remedy on the right process
    kill: bool = False            # useful: a kill recommended
    alarm: bool = False           # useful: anything but keep, or an incident


@contextlib.contextmanager
def _group(argv, ready=True, **kw):
    """``argv`` in a session of its own; its whole group killed at the end."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)
    try:
        if ready:
            assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)          # our own group; the root is not reaped yet
        proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    """Start every tree, judge them all as a user would, once; the cases."""
    from pt.act.trees import recommend
    from pt.incidents import watch
    from pt.deep import deep_scan
    from pt.fields import VERDICT_FIELDS
    from pt.triage import triage

    tmp = tmp_path_factory.mktemp("trees")
    (tmp / "build").mkdir()
    (tmp / "bin").mkdir()
    cc1 = tmp / "bin" / "cc1"
    cc1.write_text(f"#!{sys.executable}\n{CC1}")
    cc1.chmod(0o755)
    with contextlib.ExitStack() as stack:
        runner, workers = stack.enter_context(orphaned_runner(tmp))
        make = stack.enter_context(_group(["make", "-c", BUILD.format(cc1=cc1)], executable="/bin/sh",
                                                 cwd=tmp / "build"))
        quiet = stack.enter_context(_group([sys.executable, "-c", QUIET]))
        loop = stack.enter_context(_group([sys.executable, "-c", FORK_LOOP]))
        supervisor = stack.enter_context(_group(["sh", "-c", "while true; do sleep 0.5; done"], ready=False))
        zparent, zombie = stack.enter_context(named_process(b"pt-zparent", zombie_child=True))
        leaker = stack.enter_context(python_child(LEAKER))
        wait_for(lambda: len(children(make.pid)) == 2 and len(children(quiet.pid)) == 2)
        builders, sleepers = children(make.pid), children(quiet.pid)

        t, incidents = watch(WATCH_S)
        by_root = {}
        for inc in incidents:
            by_root.setdefault(inc.pid, []).append(inc)
        row = {int(p): i for i, p in enumerate(t.snapshot["pid"].tolist())}
        recommendation = next(f for f in VERDICT_FIELDS if f.name == "recommendation").compute(t)

        def verdict(pid):
            i = row[pid]
            return CLASSES[int(t.inference.posterior[i].argmax())], ACTIONS[int(t.decision.action[i])]

        cases = []
        for name, pid in ([("build: make", make.pid)] + [(f"build: worker {p}", p) for p in builders]
                          + [("quiet parent", quiet.pid)] + [(f"quiet child {p}", p) for p in sleepers]):
            cls, action = verdict(pid)
            raised = [i.kind for i in by_root.get(pid, [])]
            cases.append(Case(name, pid, True, f"{cls} {action}" + "".join(f", {k}" for k in raised),
                              kill=action == "kill", alarm=action != "keep" or bool(raised)))

        def incident(name, pid, kinds, remedies):
            found = [i for i in by_root.get(pid, []) if i.kind in kinds]
            said = ", ".join(f"{i.kind} -> {i.action} tree" for i in found) or "no incident"
            cases.append(Case(name, pid, False, said,
                              remedy=any(i.action in remedies and i.veto is None for i in found)))
        incident("fork loop parent", loop.pid, ("short_job_flood", "fork_storm", "respawn_loop"),
                 ("pause", "throttle"))
        incident("respawn supervisor", supervisor.pid, ("respawn_loop",), ("pause",))

        zcls, zaction = verdict(zombie)
        cases.append(Case("zombie's sleeping parent", zparent.pid, False,
                          f"zombie: {zcls} {recommendation[row[zombie]]}; parent: {recommendation[row[zparent.pid]]}",
                          remedy=zcls == "zombie" and recommendation[row[zombie]] == f"{zaction} → {zparent.pid}"
                          and zaction != "keep" and recommendation[row[zparent.pid]].endswith("· reap 1")))

        later = triage(at_s=HOUR)
        tree_action, tree_size = recommend(later)
        r = int(np.flatnonzero(later.snapshot["pid"] == runner)[0])
        cases.append(Case("orphaned runner + 4 idle workers", runner, False,
                          f"{ACTIONS[int(tree_action[r])]} tree ({tree_size[r]} processes)" if tree_size[r]
                          else f"no tree decision ({ACTIONS[int(later.decision.action[r])]})",
                          remedy=tree_size[r] == len(workers) and ACTIONS[int(tree_action[r])] in ("kill", "pause")))

        def start_leaking(open_, settled, samples, elapsed_s, max_time_s):
            if samples >= 1 and not getattr(leaker, "leaking", False):
                leaker.send_signal(signal.SIGUSR1)
                leaker.leaking = True
        d = deep_scan(Selection(pids=(leaker.pid,)), policy=load_policy(), priors=load_priors(),
                      on_progress=start_leaking, at_s=HOUR)
        lcls, laction = (CLASSES[int(d.inference.posterior[0].argmax())], ACTIONS[int(d.decision.action[0])]) \
            if len(d) == 1 else ("not watched", "-")
        cases.append(Case("leaker 10 MB/s (deep, +1h)", leaker.pid, False, f"{lcls} {laction}",
                          remedy=lcls == "useful_bad" and laction not in ("keep", "kill")))
    return cases


def test_tree_scenarios_meet_the_bar(judged, capsys):
    useful = [c for c in judged if c.useful]
    trouble = [c for c in judged if not c.useful]
    kills, alarms = [c for c in useful if c.kill], [c for c in useful if c.alarm]
    captured = [c for c in trouble if c.remedy]
    with capsys.disabled():
        print(f"\ntree scenario suite as uid {os.geteuid()}, default policy")
        print(f"{'scenario':<36}{'truth':<10}{'ok':<4}what pt said")
        for c in judged:
            ok = (not c.alarm) if c.useful else c.remedy
            print(f"{c.name:<36}{'useful' if c.useful else 'trouble':<10}{'yes' if ok else 'NO':<4}{c.said}")
        print(f"false kills {len(kills)}/{len(useful)}; false alarms {len(alarms)}/{len(useful)}; "
              f"capture {len(captured)}/{len(trouble)} = {len(captured) / len(trouble):.0%}")
    assert len(useful) == 6 and len(trouble) == 5
    assert not kills, kills
    assert not alarms, alarms
    assert len(captured) >= 0.95 * len(trouble), [c for c in trouble if not c.remedy]
