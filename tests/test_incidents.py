"""Lifecycle incidents (pt.infer.incidents): the Galton–Watson estimator against
simulation, hostile forests of lives, and real spawned trees watched by ``pt
incidents`` — a fork loop, a respawning supervisor, a runaway tree, a bounded
fork storm and a quiet tree that must raise nothing."""
import contextlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pt.collect.snapshot import HostInfo, Snapshot
from pt.infer.incidents import detect, gw_probability, lives
from pt.testing import FORK_LOOP, cpu_ticks, wait_for

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")


# --- the Galton–Watson estimator ------------------------------------------------------

def simulate(mean: float, generations: int, rng, founders: int = 5) -> tuple[int, int]:
    """A Poisson(mean) branching process: (offspring past generation 0, parents exposed)."""
    z = [founders]
    for _ in range(generations):
        z.append(int(rng.poisson(mean, size=z[-1]).sum()) if z[-1] else 0)
    return sum(z[1:]), sum(z[:-1])


def test_gw_posterior_is_the_gamma_survival_function():
    from scipy import stats
    offspring, exposed = np.array([0, 3, 40, 200]), np.array([0, 5, 20, 210])
    a, b = 2.0, 2.0
    expected = stats.gamma.sf(1.0, a + offspring, scale=1 / (b + exposed))
    np.testing.assert_allclose(gw_probability(offspring, exposed, (a, b)), expected, rtol=1e-12)


@pytest.mark.parametrize("mean", [0.5, 0.8, 1.5, 2.0])
def test_gw_estimator_recovers_the_simulated_offspring_mean(mean):
    """Over simulated trees with a known mean, the posterior calls m > 1 when
    it is and not when it is not, and its mean is close to the truth."""
    rng = np.random.default_rng(12)
    calls, means = [], []
    for _ in range(200):
        offspring, exposed = simulate(mean, 4, rng, founders=20)
        calls.append(gw_probability(offspring, exposed, (2.0, 2.0)) >= 0.95)
        means.append((2.0 + offspring) / (2.0 + exposed))
    calls = np.array(calls)
    if mean > 1:
        assert calls.mean() > 0.9
    else:
        assert calls.mean() < 0.05
    assert abs(np.median(means) - mean) < 0.15 * mean


def test_gw_probability_is_calibrated_under_its_prior():
    """m drawn from the prior, one tree each: among trees called P(m > 1) in a
    bin, the share with m > 1 matches the bin (the posterior is exact)."""
    rng = np.random.default_rng(3)
    m = rng.gamma(2.0, 1 / 2.0, size=4000)
    data = np.array([simulate(mi, 3, rng, founders=3) for mi in m])
    p = gw_probability(data[:, 0], data[:, 1], (2.0, 2.0))
    for low, high in ((0.0, 0.2), (0.4, 0.6), (0.8, 1.0)):
        inside = (p >= low) & (p < high)
        assert inside.sum() > 100
        assert abs((m[inside] > 1).mean() - p[inside].mean()) < 0.05


# --- lives from hostile tables ----------------------------------------------------------

def host(t: float) -> HostInfo:
    return HostInfo("h", "linux", "k", "boot", 1000.0, 100.0 + t, 2000.0 + t, 50.0 + t, 100, 4096, 2)


def table(t: float, rows: list[tuple]) -> Snapshot:
    """A read at ``t`` seconds: rows of (pid, ppid, start_s, argv)."""
    pid, ppid, start, argv = zip(*rows) if rows else ((), (), (), ())
    cmd = np.empty(len(rows), dtype=object)
    cmd[:] = [tuple(a) for a in argv]
    return Snapshot(host(t), {
        "pid": np.array(pid, dtype=np.int32), "ppid": np.array(ppid, dtype=np.int32),
        "start_ticks": (np.array(start, dtype=float) * 100).astype(np.uint64),
        "kernel_thread": np.zeros(len(rows), dtype=bool),
        "comm": np.array([a[0] if a else "" for a in argv], dtype=object), "cmdline": cmd})


def test_pid_reuse_and_cycles_never_make_a_parent_born_after_its_child():
    reads = [table(0.0, [(10, 1, 50.0, ["sup"]), (11, 10, 99.0, ["job"]),
                         (20, 21, 90.0, ["a"]), (21, 20, 90.0, ["b"]),        # a cycle, same tick
                         (30, 31, 95.0, ["orphan"])]),                         # parent never seen
             table(1.0, [(10, 1, 50.0, ["sup"]), (11, 40, 100.5, ["reused"]),  # pid 11 reused
                         (40, 1, 100.8, ["late"])])]                           # born after its "child"
    lv = lives(reads)
    parent_pid = {(int(p), int(s)): (int(lv.pid[q]) if q >= 0 else None)
                  for p, s, q in zip(lv.pid, lv.start_ticks, lv.parent)}
    assert parent_pid[(11, 9900)] == 10
    assert parent_pid[(11, 10050)] is None                 # pid 40 was born later: not its parent
    assert parent_pid[(30, 9500)] is None
    assert [parent_pid[(20, 9000)], parent_pid[(21, 9000)]].count(None) >= 1    # the cycle is cut
    gone = dict(zip(zip(lv.pid.tolist(), lv.start_ticks.tolist()), lv.gone_s.tolist()))
    assert gone[(11, 9900)] == 1.0 and gone[(10, 5000)] == np.inf
    assert detect(reads) == []


def test_a_respawn_loop_and_a_flood_from_recorded_reads():
    """A supervisor whose child is reborn after each exit (respawn_loop, on the
    supervisor) and a parent with many concurrent short children (flood)."""
    reads = []
    for k in range(12):
        t = k * 0.25
        rows = [(10, 1, 50.0, ["sup"]), (20, 1, 60.0, ["loop"])]
        rows.append((100 + k, 10, 100.0 + t - 0.05, ["sleep", "0.2"]))        # one at a time
        rows += [(500 + 2 * k + j, 20, 100.0 + t - 0.1 * j, ["work"]) for j in range(2)]
        reads.append(table(t, rows))
    found = {(i.kind, i.pid): i for i in detect(reads)}
    assert set(found) == {("respawn_loop", 10), ("short_job_flood", 20)}
    assert found[("respawn_loop", 10)].evidence["respawns"] >= 10
    assert found[("respawn_loop", 10)].action == "pause"
    assert found[("short_job_flood", 20)].action == "throttle"
    protected = np.array(["protected pattern 'sup'", None], dtype=object)
    vetoed = {i.pid: i for i in detect(reads, protected=protected)}
    assert vetoed[10].kind == "respawn_loop" and vetoed[10].action == "keep"
    assert vetoed[10].veto == "protected pattern 'sup'"


def test_no_reads_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one snapshot"):
        lives([])


# --- real trees -------------------------------------------------------------------------

# Bursts of a bounded binary tree (depth 3: 15 processes each living 1.5 s),
# one every 0.5 s: each process past the first generation has 2 children.
#: Binary trees 3 generations deep, one every 0.5 s, whose members live 6 s:
#: longer than a watch, so the last generation is alive and may yet fork (a
#: tree whose members have all exited is extinct, not a storm).
FORK_STORM = """
import os, time
def node(depth):
    for _ in range(2 if depth else 0):
        if os.fork() == 0:
            node(depth - 1)
    time.sleep(6)
    os._exit(0)
print("ready", flush=True)
while True:
    if os.fork() == 0:
        node(3)
    time.sleep(0.5)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""

RUNAWAY = """
import os, time
for _ in range(2):
    if os.fork() == 0:
        while True:
            pass
print("ready", flush=True)
time.sleep(600)
"""

QUIET = """
import os, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(600)
        os._exit(0)
print("ready", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def tree(argv: list[str], ready: bool = True):
    """``argv`` in a session of its own (so its whole tree is one process
    group we made); the group is killed, the root reaped, on exit."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        if ready:
            assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)      # our own group: the root is not reaped yet
        proc.wait()
        proc.stdout.close()


def incident_on(pid: int, kinds: tuple[str, ...], window: float = 1.5, timeout: float = 60.0):
    """Watch (pt incidents' way) until an incident of one of ``kinds`` has its
    root at ``pid``; the incident found."""
    from pt.incidents import watch
    hit = []

    def seen():
        _, found = watch(window)
        hit[:] = [i for i in found if i.pid == pid and i.kind in kinds]
        return bool(hit)
    wait_for(seen, timeout=timeout, interval=0)
    return hit[0]


@linux
def test_a_fork_loop_is_a_flood_and_its_parent_gets_the_remedy():
    with tree([sys.executable, "-c", FORK_LOOP]) as parent:
        inc = incident_on(parent.pid, ("short_job_flood", "fork_storm"))
        assert inc.veto is None and inc.action in ("throttle", "pause")
        assert inc.as_dict()["recommendation"] == {"action": inc.action, "pid": parent.pid, "scope": "tree",
                                                   "members": inc.members, "veto": None}
        assert inc.evidence.get("short_jobs", inc.evidence.get("births")) >= 5


@linux
def test_a_respawn_loop_is_blamed_on_its_supervisor():
    # A child outliving one read of the table (0.1-0.4 s on a loaded machine
    # with 2,000 processes): shorter lives may fall between reads.
    with tree(["sh", "-c", "while true; do sleep 0.5; done"], ready=False) as supervisor:
        inc = incident_on(supervisor.pid, ("respawn_loop",), window=2.0)
        assert inc.action == "pause" and inc.veto is None
        assert inc.evidence["respawns"] >= 3
        assert "reborn" in inc.words


@linux
def test_a_runaway_tree_under_a_calm_parent():
    with tree([sys.executable, "-c", RUNAWAY]) as parent:
        inc = incident_on(parent.pid, ("runaway_tree",))
        assert inc.action == "throttle" and inc.members == 3
        assert inc.evidence["busy_descendants"] == 2 and inc.evidence["tree_cores"] >= 1.5


@linux
def test_a_bounded_fork_storm_is_supercritical():
    with tree([sys.executable, "-c", FORK_STORM]) as parent:
        inc = incident_on(parent.pid, ("fork_storm",))
        assert inc.action == "pause"
        assert inc.evidence["p_supercritical"] >= 0.95 and inc.evidence["offspring_mean"] > 1
        assert inc.evidence["generations"] >= 2


@linux
def test_a_quiet_tree_raises_nothing():
    from pt.incidents import watch
    from pt.testing import start_ticks
    with tree([sys.executable, "-c", QUIET]) as parent:
        wait_for(lambda: len(children(parent.pid)) == 2)
        ours = {parent.pid, *children(parent.pid)}
        starts = {p: start_ticks(p) for p in ours}
        t, found = watch(1.5)
        assert {p for p in ours if p in set(t.snapshot["pid"].tolist())} == ours
        assert not [i for i in found if i.pid in ours], found
        assert {p: start_ticks(p) for p in ours} == starts          # nothing was touched


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


# --- the scan summary -------------------------------------------------------------------

@linux
def test_scan_names_a_runaway_tree_its_window_showed(tmp_path):
    """`pt scan --json` judges incidents from its own window: a calm parent
    over two spinners shows in ``data.summary.incidents``."""
    import json

    from pt.testing import run_pt
    with tree([sys.executable, "-c", RUNAWAY]) as parent:
        summaries = []

        def named():
            out = run_pt("scan", "--json", "--top", "1", "--no-telemetry", cwd=tmp_path)
            summaries[:] = [json.loads(out.stdout)["data"]["summary"]]
            return any(i["pid"] == parent.pid for i in summaries[0]["incidents"])
        wait_for(named, timeout=60, interval=0)
        mine = next(i for i in summaries[0]["incidents"] if i["pid"] == parent.pid)
        assert mine["kind"] == "runaway_tree" and mine["recommendation"]["action"] == "throttle"


def test_the_summary_line_names_incidents_or_says_how_to_see_more():
    import io

    from pt.infer.incidents import Incident
    from pt.ui.scan_view import incidents_note
    from pt.ui.text import SafeConsole

    def shown(incidents):
        buf = io.StringIO()
        SafeConsole(file=buf, width=200, color_system=None).print(incidents_note(tuple(incidents), 0.3))
        return buf.getvalue()
    assert "run pt incidents --window 5 for more" in shown([])
    flood = Incident("short_job_flood", 0, 4242, 1, "x\x1b[2J", ("x",), {}, "w", 2.5, "medium", "throttle")
    vetoed = Incident("respawn_loop", 1, 1, 1, "systemd", (), {}, "w", 1.0, "low", "keep", "pid 1 (init)")
    text = shown([flood, vetoed])
    assert "short_job_flood at 4242 (throttle tree)" in text and "respawn_loop at 1 (keep)" in text
    assert "\x1b" not in text


# --- thresholds from priors.json --------------------------------------------------------

@pytest.mark.parametrize("section, key", [
    ({"flood_min": 0}, "incidents.flood_min"),
    ({"flood_min": 2.5}, "incidents.flood_min"),
    ({"storm_probability": 1.5}, "incidents.storm_probability"),
    ({"lookback_s": -1}, "incidents.lookback_s"),
    ({"offspring_prior": [1.0]}, "incidents.offspring_prior"),
    ({"offspring_prior": [1.0, 0]}, "incidents.offspring_prior[1]"),
    ({"storm_rate": 3}, "incidents.storm_rate"),
])
def test_bad_incident_thresholds_are_rejected_naming_the_key(tmp_path, section, key):
    import json

    from pt.config import ConfigError, load_priors, shipped_priors
    from importlib import resources
    doc = json.loads(resources.files("pt.data").joinpath("priors.json").read_text())
    doc["incidents"] = section
    path = tmp_path / "priors.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_priors(path)
    assert info.value.key == key
    from pt.infer.incidents import Thresholds
    assert Thresholds.of(shipped_priors()) == Thresholds()      # the shipped file states the defaults


@linux
def test_pt_incidents_on_a_hostile_procfs_tree(tmp_path):
    """A recorded tree with a parent cycle, a missing parent, a child started
    before its parent and control characters in names: a result, no traceback."""
    import json

    from pt.testing import add_proc, make_tree, run_pt
    root = make_tree(tmp_path / "proc")
    add_proc(root, 1, b"init", ppid=0, start=1)
    add_proc(root, 20, b"a\x1b[2J", ppid=21, start=70_000)
    add_proc(root, 21, b"b[/x]", ppid=20, start=70_000)
    add_proc(root, 30, b"orphan", ppid=999, start=80_000)
    add_proc(root, 40, b"early", ppid=41, start=60_000)
    add_proc(root, 41, b"late", ppid=1, start=90_000)
    env = {**os.environ, "PT_PROCFS_PATH": str(root)}
    out = run_pt("incidents", "--window", "0.3", "--json", cwd=tmp_path, env=env)
    assert json.loads(out.stdout)["data"]["incidents"] == []
    shown = run_pt("incidents", "--window", "0.3", cwd=tmp_path, env=env)
    assert "Traceback" not in shown.stderr and "\x1b" not in shown.stdout


def test_the_report_page_lists_incidents_escaped():
    from pt.infer.incidents import Incident
    from pt.report import incidents_section
    hostile = Incident("runaway_tree", 0, 4242, 1, "x", ("<script>alert(1)</script>", "--password=hunter2"),
                       {}, "2 descendants busy", 1.4, "low", "throttle", members=3)
    page = incidents_section([hostile])
    assert "runaway_tree" in page and "throttle tree (3 processes)" in page
    assert "<script>" not in page and "hunter2" not in page
    assert "pt incidents --window 5" in incidents_section([])


WRAPPED = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import os\\nif os.fork() == 0:\\n    pass\\nwhile True: pass"])
print("ready", flush=True)
time.sleep(600)
"""


@linux
def test_a_wrapper_over_one_busy_branch_is_no_runaway_tree():
    """A calm wrapper over one child that spins with its own spinning child:
    busy, but one branch: no runaway tree on the wrapper (the spinning child
    is not calm, so it is no root either)."""
    from pt.incidents import watch
    with tree([sys.executable, "-c", WRAPPED]) as wrapper:
        wait_for(lambda: len(children(wrapper.pid)) == 1 and len(children(children(wrapper.pid)[0])) == 1)
        ours = {wrapper.pid, children(wrapper.pid)[0]}
        t, found = watch(1.5)
        assert not [i for i in found if i.pid in ours and i.kind == "runaway_tree"], found


def fake_build(tmp_path, worker: str):
    """A fake ``make`` (sh named make, so its category is build) that starts
    two workers running ``worker`` in ``tmp_path``, then waits for them."""
    script = f"cd {tmp_path} && for i in 1 2; do sh -c '{worker}' & done; echo ready; wait"
    return subprocess.Popen(["make", "-c", script], executable="/bin/sh", stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)


@linux
@pytest.mark.parametrize("worker, runaway", [
    # compiles: mostly computing, writing its output every few thousand steps (a loop that only
    # writes spends half its time blocked on the file system, too little demand for the plain test)
    ("while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo x > out.$$; done", False),
    ("while :; do :; done", True),                      # spins: no IO at all
])
def test_a_build_at_work_is_no_runaway_tree(tmp_path, worker, runaway):
    """A build tool whose two busy workers write files is a build compiling:
    the very window in which the plain definition finds a runaway tree under
    it raises nothing once pt knows it is a build; with workers that only
    spin it still does (a detached build: tests/test_redteam4.py)."""
    from pt.incidents import judge
    from pt.config import CATEGORICAL_LEVELS
    from pt.infer.incidents import detect
    from pt.triage import triage
    proc = fake_build(tmp_path, worker)
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_for(lambda: len(children(proc.pid)) == 2)
        # Both workers into their loops (past their start-up reads, which are IO a window could see).
        wait_for(lambda: all(cpu_ticks(c) >= 5 for c in children(proc.pid)))
        hits = []

        def plain_runaway():
            t = triage(window_s=1.0)
            hits[:] = [t]
            return any(i.pid == proc.pid and i.kind == "runaway_tree" for i in detect([t.snapshot], t.window))
        wait_for(plain_runaway, timeout=60, interval=0)
        t = hits[0]
        row = int(np.flatnonzero(t.snapshot["pid"] == proc.pid)[0])
        assert CATEGORICAL_LEVELS["command"][t.context.command_category[row]] == "build"
        judged = [i for i in judge(t) if i.pid == proc.pid and i.kind == "runaway_tree"]
        assert bool(judged) == runaway, judged
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
