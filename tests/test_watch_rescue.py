"""pt watch under memory pressure: which processes it would free memory
from, on real processes this test starts (an abandoned idle hog and a
served process in use), judged by the default model, and the loop's
reaction to a recorded MemAvailable series falling toward the floor."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
import uuid

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.testing import kill_if_same, start_ticks, wait_for
from pt.watch.pressure import MemoryForecast
from pt.watch.rescue import rescue, shortfall

MB = 1 << 20

HOG = "import time; x = b'x' * ({mb} << 20); time.sleep(3600)"
SERVED_HOG = """
import socket, sys
x = b'x' * ({mb} << 20)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
conn, _ = s.accept()
while conn.recv(64):
    pass
"""


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(b"VmRSS:"))


@pytest.fixture(scope="module")
def hogs(tmp_path_factory):
    """An orphaned idle hog (80 MB) and a served hog in use (120 MB, live client)."""
    mark = f"ptrescue{uuid.uuid4().hex[:10]}"
    work = tmp_path_factory.mktemp("rescue")
    out = subprocess.run(["setsid", "sh", "-c",
                          f"{sys.executable} -c \"{HOG.format(mb=80)}\" {mark} >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, cwd=work, stdin=subprocess.DEVNULL)
    orphan = int(out.stdout)
    orphan_start = start_ticks(orphan)
    served = subprocess.Popen([sys.executable, "-c", SERVED_HOG.format(mb=120), mark], stdout=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL)
    client = socket.create_connection(("127.0.0.1", int(served.stdout.readline())))
    wait_for(lambda: rss_of(orphan) > 70 * MB and rss_of(served.pid) > 110 * MB, timeout=30)
    try:
        yield mark, orphan, served.pid
    finally:
        client.close()
        served.kill()
        served.wait()
        served.stdout.close()
        kill_if_same(orphan, orphan_start)


@pytest.fixture(scope="module")
def later(hogs):
    """The default model's verdicts on the machine as if 6 hours passed like this."""
    from pt.triage import triage
    return triage(at_s=6 * 3600)


def rows_of(t, *pids):
    return np.isin(t.snapshot["pid"], pids)


def test_rescue_frees_memory_from_the_abandoned_hog_not_the_process_in_use(hogs, later):
    _, orphan, served = hogs
    mine = rows_of(later, orphan, served)
    r = rescue(later, 50 * MB, eligible=mine, oom_candidates=mine)
    assert r is not None and r.worth_it
    assert later.snapshot["pid"][r.rows].tolist() == [orphan]
    assert r.oom_pid == served                         # the kernel would have taken the bigger one
    assert r.freed_bytes >= 50 * MB and r.cost < r.oom_cost


def test_rescue_takes_enough_to_cover_the_need(hogs, later):
    _, orphan, served = hogs
    mine = rows_of(later, orphan, served)
    r = rescue(later, 150 * MB, eligible=mine, oom_candidates=mine)
    assert sorted(later.snapshot["pid"][r.rows].tolist()) == sorted([orphan, served])
    assert r.freed_bytes >= 150 * MB
    # Killing the process in use as well costs no less than letting the OOM killer take it.
    assert not r.worth_it and r.cost >= r.oom_cost


def test_no_need_no_rescue_and_no_candidates_no_rescue(hogs, later):
    _, orphan, served = hogs
    mine = rows_of(later, orphan, served)
    assert rescue(later, 0.0, eligible=mine) is None
    assert rescue(later, 10 * MB, eligible=mine, oom_candidates=np.zeros(len(later), dtype=bool)) is None
    r = rescue(later, 10 * MB, eligible=np.zeros(len(later), dtype=bool), oom_candidates=mine)
    assert r is not None and not r.worth_it and len(r.rows) == 0


def test_shortfall_follows_the_forecast():
    falling = MemoryForecast(floor_bytes=100 * MB)
    for t in range(0, 360, 30):
        falling.update(float(t), 4000 * MB - 10 * MB * t)
    # At 10 MB/s from 700 MB, the floor (100 MB) is 60 s away; in 600 s it is 5,400 MB short.
    assert shortfall(falling, 600.0) == pytest.approx(5400 * MB, rel=1e-6)
    assert shortfall(falling, 10.0) == 0.0             # not within this horizon
    steady = MemoryForecast(floor_bytes=100 * MB)
    for t in range(0, 360, 30):
        steady.update(float(t), 1000 * MB)
    assert shortfall(steady, 600.0) == 0.0


def write_meminfo(root, available_kb: int) -> None:
    (root / "meminfo").write_text(f"MemTotal: 4000000 kB\nMemAvailable: {available_kb} kB\n")


def test_the_loop_forecasts_and_reports_a_rescue_from_a_recorded_series(tmp_path, hogs, monkeypatch):
    """A recorded MemAvailable series, already low, falling toward the floor: the
    watcher's forecast and urgency react, the interval shortens, and the
    rescue is reported; in observe mode nothing is done."""
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController
    mark, orphan, served = hogs
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    proc = tmp_path / "proc"
    (proc / "pressure").mkdir(parents=True)            # no PSI files: degrades to the load average
    (proc / "loadavg").write_text("0.1 0.1 0.1 1/1 1")
    watcher = Watcher(controller=ModeController("observe"), selection=Selection(match=re.compile(mark)),
                      interval_s=30.0, telemetry=False, procfs=str(proc))
    ticks = iter(range(0, 100_000, 30))
    watcher.clock = lambda: float(next(ticks))           # the series' own clock: a sample every 30 s
    available = 590_000                                 # kB, of 4,000,000: already below the 15 % target
    for _ in range(6):
        write_meminfo(proc, available)
        step = watcher.step()
        available -= 40_000                             # 40 MB per 30 s
    status = watcher.status()
    assert status["forecast"]["reliable"] and status["forecast"]["seconds_to_floor"] < 1800
    assert status["urgency"] >= 0.7 and status["next_interval_s"] < 30.0
    assert step.rescue is not None and step.rescue["need_bytes"] > 0
    assert set(step.rescue["pids"]) <= {orphan, served}
    assert step.acted == [] and status["mode"] == "observe"
    assert "PSI unavailable" in watcher.pressure.note


def test_a_rescue_plan_says_who_chose_the_action(hogs, later):
    """A kill chosen by the watcher's rescue is recorded as its reason, never
    as the user's explicit request."""
    from pt.act.plan import make_plan
    _, orphan, _ = hogs
    plan = make_plan(later, Selection(pids=(orphan,)), do="kill", chosen_by="pt watch memory rescue: test")
    (entry,) = plan["actions"]
    assert entry["requested"] is False and entry["reason"] == "pt watch memory rescue: test"
    user = make_plan(later, Selection(pids=(orphan,)), do="kill")
    assert user["actions"][0]["requested"] is True and "reason" not in user["actions"][0]


def test_kill_is_withheld_while_the_learned_false_kill_bound_is_above_target(tmp_path, monkeypatch):
    """enforce + --allow-kill kills only while pt calibrate's false-kill
    bound, where there is one, is not above its target."""
    from pt.learn.store import write_learned
    from pt.watch.loop import Step, Watcher
    from pt.watch.modes import ModeController
    monkeypatch.setenv("PT_LEARNED_PRIORS", str(tmp_path / "learned" / "learned-priors.json"))
    watcher = Watcher(controller=ModeController("enforce"), selection=Selection(), allow_kill=True, telemetry=False)
    step = Step(time=0.0, scan_s=0.0, processes=0, by_class={}, recommended={})
    assert watcher.may_kill(step)                                  # no learned file: no bound to obey
    bound = {"false_kill_bound": 0.21, "target": 0.05, "below_target": False, "n": 12}
    write_learned({}, {"generation": 1, "pac_bayes": bound})
    assert not watcher.may_kill(step) and "0.21" in step.note
    write_learned({}, {"generation": 2, "pac_bayes": {**bound, "false_kill_bound": 0.03, "below_target": True}})
    assert watcher.may_kill(Step(time=0.0, scan_s=0.0, processes=0, by_class={}, recommended={}))
    assert not Watcher(controller=ModeController("enforce"), selection=Selection(),
                       telemetry=False).may_kill(step)             # and never without --allow-kill
