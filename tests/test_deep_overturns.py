"""The deep scan earns its keep: where a 0.3 s window is wrong, time tells the
truth and the deep scan overturns the quick verdict.

* a worker that wakes every 3 s for 0.3 s of CPU looks idle in the window
  (judged ``--at +1h``, as a leftover would be by then: quick says
  abandoned); watching shows it waking, so deep says useful, keep — and it
  is watched until a wake-up could have shown (it does not settle first);
* a spinner that stops mid-watch looks busy to the quick scan (useful_bad);
  deep sees the stop and says abandoned.

Both are orphaned the common way (``setsid`` from a shell that exits) and
scanned by pt under the shipped default policy as whoever runs the tests
(CI: root, and a regular user in ``.ci/user-suite``). The assertions are about which way the decision
moved, never about timings or CPU shares.
"""
from __future__ import annotations

import os
import select
import shlex
import subprocess

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.config import ACTIONS, CLASSES, load_policy, load_priors
from pt.deep import deep_scan
from pt.testing import (as_regular_user, cpu_ticks, kill_if_same, regular_user, start_ticks, user_python,
                        user_workspace, wait_for)

#: Spins ~0.3 s every ~3 s; after each burst writes a beat to the FIFO argv[1] while someone reads it.
WORKER = ("import os, sys, time\nbeat = os.open(sys.argv[1], os.O_WRONLY)\nwhile True:\n"
          "    end = time.monotonic() + 0.3\n    while time.monotonic() < end: pass\n"
          "    try: os.write(beat, b'.')\n    except OSError: pass\n    time.sleep(2.7)\n")
SPIN_UNTIL = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): pass\ntime.sleep(600)\n"
HOUR = 3600.0

pytestmark = pytest.mark.skipif(regular_user() is None or user_python() is None,
                                reason="needs a regular user account and a Python it can run")


@pytest.fixture
def workspace():
    with user_workspace() as path:
        yield path


def detached(workspace, code: str, *args: str) -> tuple[int, int]:
    """``python -c code args`` started as the regular user by ``setsid sh -c '... &'``
    and left behind by the shell (reparented, no terminal, session gone)."""
    uid, gid = regular_user()
    ids = {"user": uid, "group": gid, "extra_groups": []} if os.geteuid() == 0 else {}
    line = " ".join(shlex.quote(a) for a in (user_python(), "-c", code, *args))
    out = subprocess.run(["setsid", "sh", "-c", f"{line} >/dev/null 2>&1 & echo $!"], capture_output=True,
                         text=True, check=True, cwd=workspace, stdin=subprocess.DEVNULL, **ids)
    pid = int(out.stdout)
    return pid, start_ticks(pid)


def verdicts(pid: int, at_s: float = 0.0, on_progress=None) -> dict:
    """Quick and deep verdicts of ``pid`` under the shipped default policy."""
    d = deep_scan(Selection(pids=(pid,)), policy=load_policy(), priors=load_priors(), at_s=at_s,
                  on_progress=on_progress)
    assert len(d) == 1, d.skipped
    row = int(d.rows[0])
    q = d.quick
    return {"quick": ACTIONS[q.decision.action[row]], "quick_class": CLASSES[int(q.inference.posterior[row].argmax())],
            "deep": ACTIONS[d.decision.action[0]], "deep_class": CLASSES[int(d.inference.posterior[0].argmax())],
            "protected_by": q.protected_by[row], "wakeups": int(d.wakes.onsets[0]),
            "settled_early": bool(np.isfinite(d.settled_at_s[0]))}


def test_a_periodic_worker_that_looks_idle_is_kept_after_watching(workspace):
    fifo = workspace / "beat"
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    beats = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    pid, start = detached(workspace, WORKER, str(fifo))
    try:
        ready, _, _ = select.select([beats], [], [], 120)
        assert ready and os.read(beats, 1) == b"."   # a burst just ended: the quick window falls in the gap
        os.close(beats)
        v = as_regular_user(lambda: verdicts(pid, at_s=HOUR), workspace)
    finally:
        kill_if_same(pid, start)
    assert v["protected_by"] is None
    assert v["quick_class"] == "abandoned" and v["quick"] != "keep", v
    assert v["deep_class"] == "useful" and v["deep"] == "keep", v
    assert v["wakeups"] >= 1, v                   # it did not settle before a wake-up could show


def test_a_spinner_that_stops_mid_watch_is_no_longer_called_busy(workspace):
    stop = workspace / "stop"
    pid, start = detached(workspace, SPIN_UNTIL, str(stop))
    # A spinner by the time the quick scan looks: past the interpreter's
    # start-up, whose file reads would count as progress in the window.
    wait_for(lambda: cpu_ticks(pid) >= 30, timeout=60)

    def watch():
        def on_progress(open_, settled, samples, elapsed, max_time):
            if samples == 5:                      # mid-watch, before the first VOI step
                stop.touch()
        return verdicts(pid, at_s=HOUR, on_progress=on_progress)
    try:
        v = as_regular_user(watch, workspace)
    finally:
        kill_if_same(pid, start)
    assert v["protected_by"] is None
    assert v["quick_class"] == "useful_bad", v
    assert v["deep_class"] == "abandoned" and v["deep"] != v["quick"], v
