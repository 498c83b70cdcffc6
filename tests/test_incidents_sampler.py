"""The lifecycle sampler of ``pt incidents`` (pt.collect._lifecycle, pt.collect.lifecycle)
and the births it counts from the kernel's fork counter (pt.infer.incidents.unseen_births):
hostile fixture trees, recorded lives, and a real flood of children living ~50 ms each."""
import contextlib
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from pt.collect.snapshot import HostInfo, Snapshot
from pt.infer.incidents import Thresholds, detect, lives_of_ticks, unseen_births
from pt.testing import add_proc, fork_loop, make_tree

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")


def seeded(root):
    from pt.collect import collect
    from pt.collect._lifecycle import LifeSampler
    first = collect(root)
    sampler = LifeSampler(str(root))
    sampler.seed(first["pid"], first["ppid"], first["start_ticks"], first["kernel_thread"], first["comm"],
                 first["cmdline"], first.host.monotonic)
    return first, sampler


@linux
def test_births_exits_reuse_and_hostile_entries_of_a_fixture_tree(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 1, b"init", ppid=0, start=1)
    add_proc(root, 10, b"sup", start=100)
    add_proc(root, 11, b"old", ppid=10, start=200)
    first, sampler = seeded(root)
    assert sampler.forks() == 10
    add_proc(root, 12, b"a\x1b[2J(x) y", ppid=10, start=300, cmdline=b"job\x00--x\x00")
    add_proc(root, 13, b"bad", ppid=10, stat=b"13 (bad) Q 10 garbage")       # malformed: not a life
    (root / "0123").mkdir()                                                  # not a pid
    (root / "99999999").mkdir()                                              # above PID_MAX_LIMIT
    sampler.tick()
    shutil.rmtree(root / "11")
    sampler.tick()
    shutil.rmtree(root / "12")
    add_proc(root, 12, b"reborn", ppid=10, start=400)                        # pid 12 reused between ticks
    sampler.tick(verify=True)
    cols = sampler.lives()
    key = {(int(p), int(s)): k for k, (p, s) in enumerate(zip(cols["pid"], cols["start_ticks"]))}
    assert set(key) == {(1, 1), (10, 100), (11, 200), (12, 300), (12, 400)}
    assert sampler.missed == 3                           # pid 13, at each of the three ticks
    old, first_12, second_12 = key[(11, 200)], key[(12, 300)], key[(12, 400)]
    assert cols["row0"][old] >= 0 and cols["row0"][first_12] == -1
    assert (cols["first"][first_12], cols["last"][first_12], cols["gone"][first_12]) == (1, 2, 3)
    assert cols["gone"][old] == 2 and cols["gone"][key[(10, 100)]] == -1
    assert cols["first"][second_12] == 3 and cols["comm"][second_12] == "reborn"
    assert cols["comm"][first_12] == "a\x1b[2J(x) y" and cols["cmdline"][first_12] == ("job", "--x")
    assert len(cols["times"]) == 4 and np.all(np.diff(cols["times"]) >= 0)
    lv = lives_of_ticks(first, cols)
    assert lv.gone_s[first_12] == cols["times"][3] - first.host.monotonic
    assert lv.pid[lv.parent[second_12]] == 10


@linux
def test_a_sampler_needs_a_seed_and_a_root(tmp_path):
    from pt.collect._lifecycle import LifeSampler
    with pytest.raises(OSError, match="cannot open procfs root"):
        LifeSampler(str(tmp_path / "missing"))
    sampler = LifeSampler(str(make_tree(tmp_path / "proc")))
    with pytest.raises(ValueError, match="seed"):
        sampler.tick()
    with pytest.raises(ValueError, match="differ in length"):
        sampler.seed(np.array([1, 2]), np.array([0]), np.array([1]), np.array([False]), ["a"], [()], 0.0)
    (tmp_path / "proc" / "stat").write_text("processes x\n")
    assert sampler.forks() == -1


# --- births no tick saw ----------------------------------------------------------------

def host() -> HostInfo:
    return HostInfo("h", "linux", "k", "boot", 1000.0, 100.0, 2000.0, 50.0, 100, 4096, 2)


def followed(children: list[tuple[int, float, float]], gap: float, forks: int, span: float):
    """Lives of a supervisor (pid 10) and its children ``(pid, born_s, life_s)``
    as a sampler ticking every ``gap`` seconds over ``span`` would see them;
    ``forks``: the fork counter's rise over the span."""
    first = Snapshot(host(), {"pid": np.array([1, 10], dtype=np.int32), "ppid": np.array([0, 1], dtype=np.int32),
                              "start_ticks": np.array([100, 5000], dtype=np.uint64),
                              "kernel_thread": np.zeros(2, dtype=bool),
                              "comm": np.array(["init", "sup"], dtype=object),
                              "cmdline": np.array([("init",), ("sup",)] + [None], dtype=object)[:2]})
    times = np.arange(0.0, span + gap / 2, gap)
    rows = [(1, 0, 100, 0, len(times) - 1, -1, 0), (10, 1, 5000, 0, len(times) - 1, -1, 1)]
    for pid, born, life in children:
        at = np.flatnonzero((times >= born) & (times < born + life))
        if len(at):
            start = int(round((born + 100.0) * 100))            # uptime 100 s at the first read
            rows.append((pid, 10, start, at[0], at[-1], at[-1] + 1 if at[-1] + 1 < len(times) else -1, -1))
    cols = {name: np.array([r[k] for r in rows], dtype=np.int64)
            for k, name in enumerate(("pid", "ppid", "start_ticks", "first", "last", "gone", "row0"))}
    cols["kernel_thread"] = np.zeros(len(rows), dtype=bool)
    cols["comm"] = np.array(["x"] * len(rows), dtype=object)
    cols["cmdline"] = np.empty(len(rows), dtype=object)
    for k in range(len(rows)):
        cols["cmdline"][k] = ("job", str(k))
    cols["times"] = times + 50.0
    return first, lives_of_ticks(first, cols, forks=forks, forks_span=(0.0, span))


def test_a_flood_of_5_ms_jobs_is_counted_from_the_fork_counter():
    """Jobs living 5 ms, 40 a second, ticks every 25 ms (the sampler's pace,
    LifeWatch: 0.02 s apart plus the listing): about one in five is seen,
    enough to make the flood (seen children decide); with the fork counter
    the count is within a factor of the truth."""
    rng = np.random.default_rng(7)
    born = np.sort(rng.uniform(0.0, 3.0, 120))
    first, lv = followed([(1000 + k, b, 0.005) for k, b in enumerate(born)], 0.025, 120 + 30, 3.05)
    found = [i for i in detect([first], lv=lv) if i.kind == "short_job_flood"]
    seen = int((lv.parent >= 0).sum()) - 1
    # The ticks alone miss most of them, but see enough for a flood (fixed seed: the draw is the same each run).
    assert Thresholds().flood_min <= seen < 60
    assert seen / 3.05 >= Thresholds().flood_per_s
    assert found and found[0].pid == 10
    est = found[0].evidence["short_jobs_estimated"]
    assert 120 / 2 <= est <= 120 * 2 + 30, est


def test_other_programs_thread_births_never_make_a_flood():
    """Found by review: a shell with five 20 ms children over 5 s, each seen
    once at its start, and 600 births on the counter (threads of a busy
    program elsewhere, which no tick lists): the estimate drew all of them
    to the shell and called it a flood (throttle). Only seen children decide."""
    first, lv = followed([(1000 + k, 1.0 * k, 0.02) for k in range(5)], 0.05, 600, 5.0)
    assert int((lv.parent >= 0).sum()) - 1 == 5                 # all five seen
    assert not [i for i in detect([first], lv=lv) if i.kind == "short_job_flood"]


def test_the_counter_adds_nothing_where_children_outlive_the_ticks():
    """Children living 200 ms with ticks every 50 ms are all seen: thousands
    of forks elsewhere (a thread pool) are not theirs, and no flood is made."""
    born = np.arange(0.0, 3.0, 0.6)
    first, lv = followed([(1000 + k, b, 0.2) for k, b in enumerate(born)], 0.05, 5000, 3.05)
    short = (lv.parent >= 0) & np.isfinite(lv.gone_s)
    assert unseen_births(lv, short, Thresholds())[np.flatnonzero(lv.pid == 10)[0]] == 0
    assert not detect([first], lv=lv)


# --- a real flood ------------------------------------------------------------------------

#: A child every ~20 ms, each living ~50 ms.
FLOOD = fork_loop(0.05, 0.02, report=True)


@linux
def test_a_flood_of_50_ms_children_is_counted_within_a_factor_of_the_truth():
    """`pt incidents`' watch over a parent forking a child every ~20 ms that
    lives ~50 ms: a short-job flood on the parent, and its count (seen plus
    the fork counter's unseen share) is within a factor 2 of the children the
    parent says it forked while the counter was read."""
    import os
    import signal

    from pt.incidents import watch
    proc = subprocess.Popen([sys.executable, "-c", FLOOD], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        seen: list = []
        _, found = watch(1.5, followed=seen)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGSTOP)
        lo, hi = seen[0].forks_span
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        births = [float(line.split()[1]) for line in out.splitlines() if len(line.split()) == 2]
        truth = sum(lo <= b <= hi - 0.1 for b in births)            # born, lived and gone in the span
        flood = [i for i in found if i.pid == proc.pid and i.kind == "short_job_flood"]
        assert flood, found
        est = flood[0].evidence["short_jobs_estimated"]
        assert flood[0].evidence["short_jobs"] <= est
        assert truth / 2 <= est <= 2 * (truth + 10), (est, truth, flood[0].evidence)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
