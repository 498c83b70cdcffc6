"""pt watch under a cgroup memory limit: the cgroup's own headroom, forecast
and OOM pick. Parsers on recorded cgroup trees (v2 and v1, hostile files);
the loop on a recorded series of a limited cgroup holding real processes;
and, as root where a memory cgroup can be made, end to end: a real hog
growing toward a real limit, acted on before its cgroup's OOM killer runs."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pt.act.plan import Selection
from pt.testing import acting_env, kill_if_same, start_ticks, wait_for
from pt.watch.cgroup import limited_cgroups

MB = 1 << 20


def v2_group(root: Path, rel: str, limit="max", current=0, pids=(), events="oom 0\noom_kill 0\n",
             stat="inactive_file 0\n", pressure="some avg10=1.50 avg60=0 avg300=0 total=1\n"
                                             "full avg10=0.50 avg60=0 avg300=0 total=1\n") -> Path:
    d = root / rel
    d.mkdir(parents=True, exist_ok=True)
    (d / "memory.max").write_text(f"{limit}\n")
    (d / "memory.current").write_text(f"{current}\n")
    (d / "memory.events").write_text(events)
    (d / "memory.stat").write_text(stat)
    (d / "memory.pressure").write_text(pressure)
    (d / "cgroup.procs").write_text("".join(f"{p}\n" for p in pids))
    return d


def v2_tree(tmp_path: Path) -> Path:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    return root


def test_a_v2_limit_gives_its_own_headroom_oom_counters_pressure_and_processes(tmp_path):
    root = v2_tree(tmp_path)
    v2_group(root, "system.slice", pids=(1,))                                   # no limit of its own
    v2_group(root, "system.slice/app.service", limit=256 * MB, current=200 * MB, pids=(10, 11),
             stat="anon 1\ninactive_file 16777216\n", events="low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n")
    v2_group(root, "system.slice/app.service/worker", pids=(12,))               # below it: its processes too
    (group,) = limited_cgroups(str(root))
    assert group.path == "/system.slice/app.service" and group.version == 2
    assert group.limit == 256 * MB and group.available == 72 * MB              # 256 - 200 + 16 reclaimable
    assert (group.oom, group.oom_kill) == (2, 1)
    assert group.psi == {"some": 1.5, "full": 0.5}
    assert sorted(group.pids) == [10, 11, 12]


def test_a_v1_memory_hierarchy_is_read_too(tmp_path):
    root = tmp_path / "cg"
    mem = root / "memory"
    mem.mkdir(parents=True)
    (mem / "memory.usage_in_bytes").write_text("1\n")
    d = mem / "docker" / "abc"
    d.mkdir(parents=True)
    (d / "memory.limit_in_bytes").write_text(f"{128 * MB}\n")
    (d / "memory.usage_in_bytes").write_text(f"{100 * MB}\n")
    (d / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {4 * MB}\n")
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
    (d / "cgroup.procs").write_text("77\n")
    (mem / "docker" / "memory.limit_in_bytes").write_text("9223372036854771712\n")    # unlimited
    (group,) = limited_cgroups(str(root))
    assert (group.path, group.version, group.available, group.oom_kill, group.pids) == \
        ("/docker/abc", 1, 32 * MB, 4, (77,))
    assert limited_cgroups(str(root), below_bytes=64 * MB) == []               # a limit above RAM never binds first


@pytest.mark.parametrize("limit,current", [("garbage", "1"), ("", "1"), (str(64 * MB), "-\x1b[31m"),
                                           (str(64 * MB), "")])
def test_hostile_or_truncated_cgroup_files_skip_the_group(tmp_path, limit, current):
    root = v2_tree(tmp_path)
    d = v2_group(root, "bad", events="oom \x00\x01 x\n", stat="\xff\xfe", pressure="nonsense")
    (d / "memory.max").write_text(limit)
    (d / "memory.current").write_text(current)
    assert limited_cgroups(str(root)) == []


def test_garbled_counters_are_zero_and_no_cgroup_fs_is_no_group(tmp_path):
    root = v2_tree(tmp_path)
    v2_group(root, "g", limit=64 * MB, current=MB, pids=(5,), events="oom x\n\x1b[2J\n", stat="\x00",
             pressure="some avg10=999 total=1\n")
    (group,) = limited_cgroups(str(root))
    assert (group.oom, group.oom_kill, group.reclaimable, group.psi) == (0, 0, 0, {})
    assert limited_cgroups(str(tmp_path / "nowhere")) == []


def test_a_user_subtree_of_thousands_of_cgroups_cannot_hide_a_container(tmp_path):
    """Was: one 2,000-directory budget, spent depth first, so a user who made
    more than 2,000 cgroups in a subtree listed first (any user can, under a
    delegated user@UID.service) hid the limited containers listed after it."""
    from pt.watch import cgroup
    root = v2_tree(tmp_path)
    base = root / "a-user.slice" / "user@1000.service"
    for i in range(cgroup.MAX_DIRS + 500):
        (base / f"g{i}" / "leaf").mkdir(parents=True)
    v2_group(root, "a-user.slice/user@1000.service/limited", limit=32 * MB, current=MB,
             pids=(5,))                                                         # the user's own limit: found too
    v2_group(root, "z-system.slice/docker-1.scope", limit=256 * MB, current=100 * MB, pids=(40, 41))
    v2_group(root, "z-system.slice/docker-1.scope/init", pids=(42,))
    groups = {g.path: g for g in cgroup.limited_cgroups(str(root))}
    assert sorted(groups["/z-system.slice/docker-1.scope"].pids) == [40, 41, 42]
    assert groups["/a-user.slice/user@1000.service/limited"].pids == (5,)


HOG = "import time; x = b'x' * ({mb} << 20); time.sleep(600)"


def detached(code: str, mark: str) -> tuple[int, int]:
    """A python process running ``code`` whose launching shell exited (an orphan), carrying ``mark``."""
    out = subprocess.run(["setsid", "sh", "-c", f"{sys.executable} -c \"{code}\" {mark} >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    return pid, start_ticks(pid)


def test_the_loop_forecasts_a_limited_cgroup_and_proposes_a_rescue_within_it(tmp_path, monkeypatch):
    """A recorded series: the host is calm, a 256 MB cgroup holding two real
    processes of this test fills at 10 MB per 2 s sample. The cgroup gets a
    forecast of its own, the urgency rises, and once its floor is nearer
    than the watcher's next-but-one look, a rescue among its own processes
    is proposed (observe: reported, never done)."""
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController
    mark = f"ptcgsim{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    a, a_start = detached(HOG.format(mb=30), mark)
    b, b_start = detached(HOG.format(mb=1), mark)
    try:
        proc = tmp_path / "proc"
        (proc / "pressure").mkdir(parents=True)
        (proc / "loadavg").write_text("0.1 0.1 0.1 1/1 1")
        (proc / "meminfo").write_text("MemTotal: 16000000 kB\nMemAvailable: 12000000 kB\n")
        root = v2_tree(tmp_path)
        watcher = Watcher(controller=ModeController("observe"), selection=Selection(match=re.compile(mark)),
                          interval_s=2.0, telemetry=False, procfs=str(proc), cgroup_root=str(root))
        ticks = iter(range(0, 100_000, 2))
        watcher.clock = lambda: float(next(ticks))
        forecast_seen = rescue = None
        for i in range(25):
            v2_group(root, "box", limit=256 * MB, current=60 * MB + i * 10 * MB, pids=(a, b))
            step = watcher.step()
            (entry,) = step.cgroups
            if forecast_seen is None and entry["forecast"]["seconds_to_floor"] is not None:
                forecast_seen = i
                assert watcher.urgency.value >= 0.7 and watcher.next_interval() < 2.0 + 1e-9
            if entry["rescue"] is not None:
                rescue = entry["rescue"]
                break
        assert forecast_seen is not None and rescue is not None and i > forecast_seen
        assert set(rescue["pids"]) <= {a, b} and rescue["oom_pid"] in (a, b) and rescue["need_bytes"] > 0
        assert step.acted == [] and step.rescue is None                   # the host is calm; observe acts never
        assert watcher.status()["cgroups"][0]["path"] == "/box"
    finally:
        kill_if_same(a, a_start)
        kill_if_same(b, b_start)


# ---------------------------------------------------------------- end to end, as root


def own_cgroup(controller: str | None) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller is None and names == "") or (controller and controller in names.split(",")):
            return path
    return None


def make_limited_cgroup(limit: int) -> tuple[Path, Path]:
    """A new memory cgroup limited to ``limit``: (its directory, its oom-kill counter file), or skip."""
    if os.geteuid() != 0:
        pytest.skip("making a memory cgroup needs root")
    name = f"pt-test-{uuid.uuid4().hex[:8]}"
    v2 = Path("/sys/fs/cgroup")
    if "memory" in (v2 / "cgroup.subtree_control").read_text().split() if (v2 / "cgroup.subtree_control").exists() \
            else False:
        d = v2 / name                                     # the root may hold processes and children both
        d.mkdir()
        (d / "memory.max").write_text(str(limit))
        (d / "memory.swap.max").exists() and (d / "memory.swap.max").write_text("0")
        return d, d / "memory.events"
    v1 = Path("/sys/fs/cgroup/memory")
    mine = own_cgroup("memory")
    if (v1 / "memory.limit_in_bytes").exists() and mine is not None and os.access(v1, os.W_OK):
        d = v1 / mine.lstrip("/") / name                  # under this test's own group: its accounting holds
        d.mkdir()
        (d / "memory.limit_in_bytes").write_text(str(limit))
        return d, d / "memory.oom_control"
    pytest.skip("no writable memory cgroup (cgroup v2 without the memory controller in "
                "/sys/fs/cgroup/cgroup.subtree_control, and no cgroup v1 memory hierarchy)")


def oom_kills(events: Path) -> int:
    return next((int(line.split()[1]) for line in events.read_text().splitlines()
                 if line.startswith("oom_kill ")), 0)


GROWER = """
import sys, time
chunks = []
while True:
    chunks.append(b'x' * (2 << 20))                   # 2 MB/s toward the limit: ~45 s to its OOM,
    time.sleep(1.0)                                   # time for 5 samples even when a scan takes 5 s
"""


def test_a_hog_growing_toward_its_cgroup_limit_gets_a_forecast_and_an_action_before_its_oom(tmp_path,
                                                                                             monkeypatch):
    """A real 192 MB memory cgroup holds a hog growing 2 MB/s and an idle,
    orphaned 64 MB sibling. The watcher (enforce, --allow-kill, limited to
    this test's processes, the acting policy) forecasts the cgroup's own
    headroom and acts within the cgroup before its OOM killer has killed
    anything."""
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController
    directory, events = make_limited_cgroup(192 * MB)
    mark = f"ptcgreal{uuid.uuid4().hex[:10]}"
    for key, value in acting_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    procs = directory / "cgroup.procs"
    started = []
    try:
        # The shell moves itself in first: what it starts after is born in the cgroup.
        out = subprocess.run(["setsid", "sh", "-c", f"echo $$ > {procs} && {{ {sys.executable} -c "
                              f"\"{HOG.format(mb=64)}\" {mark} >/dev/null 2>&1 & echo $!; }}"],
                             capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
        sibling = int(out.stdout)
        started.append((sibling, start_ticks(sibling)))
        wait_for(lambda: sibling in limited_pids(directory), timeout=10)
        hog = subprocess.Popen(["sh", "-c", f"echo $$ > {procs} && exec {sys.executable} -c \"$0\" {mark}",
                                GROWER], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        started.append((hog.pid, start_ticks(hog.pid)))
        wait_for(lambda: hog.pid in limited_pids(directory), timeout=10)
        watcher = Watcher(controller=ModeController("enforce"), selection=Selection(match=re.compile(mark)),
                          interval_s=1.0, allow_kill=True, telemetry=False, deep_check=False)
        forecast_seen = acted = None
        others = []                                       # enforce acts by policy too (e.g. renice)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and hog.poll() is None and acted is None:
            step = watcher.step()
            entry = next((e for e in step.cgroups if directory.name in e["path"]), None)
            assert entry is not None, step.cgroups
            if entry["forecast"]["seconds_to_floor"] is not None and forecast_seen is None:
                forecast_seen = entry["forecast"]["seconds_to_floor"]
            others += [a for a in step.acted if a["action"] != "kill"]
            kills = [a for a in step.acted if a["action"] == "kill"]
            if kills:
                acted = (kills, oom_kills(events), entry["rescue"])
            time.sleep(0.5)
        assert forecast_seen is not None, (f"no forecast of the cgroup's headroom (hog exit {hog.poll()}, "
                                           f"oom kills {oom_kills(events)}, last {entry}, other actions {others})")
        assert acted is not None, f"{others}: no kill before the hog {'was OOM-killed' if hog.poll() else 'stopped'}"
        done, kills_then, rescue = acted
        assert kills_then == 0, "the cgroup's OOM killer ran before the watcher acted"
        assert all(a["result"] in ("done", "exited") for a in done) and rescue["worth_it"], (done, rescue)
        assert {a["pid"] for a in done} == set(rescue["pids"]) <= {sibling, hog.pid}
        print(f"forecast {forecast_seen:.0f} s to the floor; killed {done} (sibling {sibling}, hog {hog.pid}); "
              f"rescue {rescue}; other actions {others}")
    finally:
        for pid, start in started:
            kill_if_same(pid, start)
        for pid, _ in started:
            wait_for(lambda: pid not in limited_pids(directory), timeout=10)
        if "hog" in locals():
            hog.wait()
        directory.rmdir()


def limited_pids(directory: Path) -> list:
    return [int(x) for x in (directory / "cgroup.procs").read_text().split()]


def test_no_leftover_processes():
    marks = subprocess.run(["pgrep", "-f", "ptcg(sim|real)"], capture_output=True, text=True).stdout.split()
    assert [p for p in marks if int(p) != os.getpid()] == []


def test_cgroups_in_the_status_file_and_metrics_are_checked_and_escaped(tmp_path, monkeypatch):
    """The status file's cgroups and forecast guardrail are read back only
    when well formed; a cgroup path (outside text) is escaped in the metrics."""
    from pt.watch import state
    from pt.watch.loop import Watcher
    from pt.watch.metrics import render
    from pt.watch.modes import ModeController
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    watcher = Watcher(controller=ModeController("observe"), selection=Selection(), telemetry=False, cgroup_root=None)
    status = watcher.status()
    group = {"path": '/evil"\n\x1b[31m', "limit_bytes": 64 * MB, "available_bytes": MB, "oom_kill": 0,
             "forecast": {"seconds_to_floor": 12.5}}
    status["cgroups"] = [group]
    lines = render(status).splitlines()
    assert 'pt_watch_cgroup_memory_seconds_to_floor{cgroup="/evil\\"\\n\x1b[31m"} 12.5' in lines
    assert all("\n" not in line for line in lines)
    with state.watch_dir() as d:
        state.write_status(d, status)
        assert state.read_status(d)["cgroups"][0]["path"] == group["path"]
        for bad in ({**status, "cgroups": [{"path": 3}]}, {**status, "cgroups": "x"},
                    {**status, "forecast_guardrail": {"value": "high"}}):
            state.write_status(d, bad)
            assert state.read_status(d) is None
