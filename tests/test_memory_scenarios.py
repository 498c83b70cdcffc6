"""Memory as evidence on real processes, under the shipped default policy and
priors, as whoever runs the tests (CI: root, and a regular user).

Three children of this test (a live parent), watched by one deep scan:

* a leaker that starts growing ~10 MB/s at the first sample (capped at
  300 MB): deep says useful_bad, its ledger names the growth, and the action
  is a remedy — neither keep nor kill;
* a process that allocates 200 MB once, a few samples into the watch, and
  then idles: one allocation is not a leak (not useful_bad);
* a steady 200 MB process: big is not harm (keep).

The children start growing or allocating when the test signals them from
the deep scan's progress callback, so what the watch sees does not depend
on the machine's load. They are judged ``--at +1h``, as if they had been
doing this for an hour: a process seconds old that grows is starting up
(the age term says so, rightly, and keeps it useful), while the leak a
person scans for has been going on for a while. They are watched for the
default time (``deep_scan.max_time_s``, 30 s; the leaker is watched on while
it grows): their live parent (this test) pulls them toward useful by up to
1.44 bits (the tree line), and 8 s of growth (8.1 bits) left the leaker at
useful_bad 0.50, a coin flip, where 20 s (9.8 bits) make it 0.77 and 30 s
(11.2 bits) 0.90. The assertions are about classes, actions and the ledger,
never about timings.

The children work in a directory of their own that is a VCS work tree
(``project``): their cwd is evidence too, and inherited it would be
wherever pytest was started. Started from ``/tmp`` (cwd ``temp``: 0.79 nat
towards abandoned over useful under the default priors) the steady process
was judged abandoned (posterior 0.47 useful, 0.52 abandoned), in the
release and the kernel-debug build alike, while the deep scan judged it
without its live parent (this test); coupled in the forest it is kept
(useful 0.84: tests/scenarios/test_deep_tree.py), and from a checkout it
is a keep either way.
A ``repo`` cwd has the same pseudo-count under useful, useful_bad and
abandoned (0.1 nat between them, from the categories' totals): it leaves
the verdicts to the evidence these tests are about.
"""
from __future__ import annotations

import signal
import sys

import jsonschema
import pytest

from pt.act.plan import Selection
from pt.config import ACTIONS, CLASSES, load_policy, load_priors
from pt.deep import deep_scan
from pt.features.cwd import REPO
from pt.schemas import result_schema
from pt.telemetry.duck import open_lake
from pt.telemetry.writer import write_deep
from pt.testing import python_child
from pt.ui.deep_view import deep_json, memory_row

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

ON_SIGNAL = ("import signal, sys, time\ngo = []\nsignal.signal(signal.SIGUSR1, lambda *a: go.append(time.monotonic()))\n"
             "print('ready', flush=True)\nwhile not go: signal.pause()\n")
#: 1 MB every 0.1 s from the signal on, caught up if it was not scheduled, up to 300 MB.
LEAKER = ON_SIGNAL + ("chunks = []\nwhile len(chunks) < 300:\n"
                      "    due = min(int((time.monotonic() - go[0]) * 10) + 1, 300)\n"
                      "    while len(chunks) < due: chunks.append(b'x' * (1 << 20))\n"
                      "    time.sleep(0.02)\ntime.sleep(600)\n")
ONE_ALLOCATION = ON_SIGNAL + "block = b'x' * (200 << 20)\ntime.sleep(600)\n"
STEADY = ("import signal, time\nblock = b'x' * (200 << 20)\nprint('ready', flush=True)\ntime.sleep(600)\n")
#: Samples after which the one-time allocation happens: early, so it lands in the watch's
#: first half even if the deep scan settles it at its first look (1 s).
ALLOCATE_AT = 4
HOUR = 3600.0


@pytest.fixture
def project(tmp_path):
    """The children's working directory: a VCS work tree (cwd ``repo``), wherever pytest runs."""
    work = tmp_path / "project"
    (work / ".git").mkdir(parents=True)
    return work


def test_a_leaker_is_useful_bad_one_allocation_and_a_big_steady_process_are_not(tmp_path, project):
    with python_child(LEAKER, cwd=project) as leaker, python_child(ONE_ALLOCATION, cwd=project) as once, \
            python_child(STEADY, cwd=project) as steady:
        signalled = set()

        def on_progress(open_, settled, samples, elapsed_s, max_time_s):
            for proc, at in ((leaker, 1), (once, ALLOCATE_AT)):
                if samples >= at and proc.pid not in signalled:
                    proc.send_signal(signal.SIGUSR1)
                    signalled.add(proc.pid)

        d = deep_scan(Selection(pids=(leaker.pid, once.pid, steady.pid)),
                      policy=load_policy(), priors=load_priors(), on_progress=on_progress, at_s=HOUR)
        result = deep_json(d)
    data = result["data"]
    assert len(d) == 3, d.skipped
    pids = d.quick.snapshot["pid"][d.rows].tolist()
    by_pid = {c["pid"]: c for c in data["candidates"]}
    verdict = {pid: (CLASSES[int(d.inference.posterior[i].argmax())], ACTIONS[int(d.decision.action[i])],
                     memory_row(d, i)) for i, pid in enumerate(pids)}
    assert all(d.quick.protected_by[r] is None for r in d.rows)
    assert (d.evidence.cwd == REPO).all(), d.evidence.cwd      # the children's cwd, not pytest's

    cls, action, row = verdict[leaker.pid]
    assert not row["missing"], row
    assert row["observed"].startswith("memory +") and "MB/min" in row["observed"], row
    assert row["bits_useful_bad_vs_useful"] > 0, row
    assert cls == "useful_bad" and action not in ("keep", "kill"), verdict[leaker.pid]
    memory = by_pid[leaker.pid]["memory"]
    assert memory["rss_slope_mb_min"] > 0 and memory["text"] == row["observed"]
    assert by_pid[leaker.pid]["evidence"][-3]["feature"] == "memory_growth"

    cls, action, row = verdict[once.pid]
    assert cls != "useful_bad", verdict[once.pid]
    assert row["missing"] or row["bits_useful_bad_vs_useful"] < 1.0, row     # a step is not growth

    cls, action, row = verdict[steady.pid]
    assert cls == "useful" and action == "keep", verdict[steady.pid]
    assert row["missing"] or row["bits_useful_bad_vs_useful"] < 1.0, row

    jsonschema.validate(result, result_schema("deep-scan"), cls=jsonschema.Draft202012Validator)

    lake = tmp_path / "lake"                         # the slope reaches the lake, queried with DuckDB
    assert write_deep(d, lake=lake).written
    columns, rows = open_lake(lake).query("select pid, rss_slope_mb_min, ll__memory_growth__useful_bad "
                                          "- ll__memory_growth__useful from deep_series order by pid")
    stored = {r[0]: r[1:] for r in rows}
    assert stored[leaker.pid][0] == pytest.approx(memory["rss_slope_mb_min"], rel=1e-4)
    assert stored[leaker.pid][1] > 0


#: Leaks 10 MB/s from birth (1 MB every 0.1 s, caught up if not scheduled), up to 400 MB.
YOUNG_LEAKER = ("import time\nchunks = []\nt0 = time.monotonic()\nprint('ready', flush=True)\n"
                "while len(chunks) < 400:\n    due = min(int((time.monotonic() - t0) * 10) + 1, 400)\n"
                "    while len(chunks) < due: chunks.append(b'x' * (1 << 20))\n    time.sleep(0.02)\n"
                "time.sleep(600)\n")
#: Grows 10 MB/s for its first 3 s (loading, linking), then holds what it has: a bounded episode.
EPISODE = YOUNG_LEAKER.replace("< 400", "< 30").replace(", 400)", ", 30)")
YOUNG_ONCE = "import time\nblock = b'x' * (200 << 20)\nprint('ready', flush=True)\ntime.sleep(600)\n"


def test_a_young_leaker_is_captured_a_young_allocation_or_bounded_episode_is_not(project):
    """Seconds old, judged as they are (no ``--at``), over the default watch:
    growth that lasts through it is a leak however young the process; one
    allocation, or growth that stops, is not (docs/model.md, Memory)."""
    kids = (YOUNG_LEAKER, EPISODE, YOUNG_ONCE, STEADY)
    with python_child(kids[0], cwd=project) as leaker, python_child(kids[1], cwd=project) as episode, \
            python_child(kids[2], cwd=project) as once, python_child(kids[3], cwd=project) as steady:
        d = deep_scan(Selection(pids=(leaker.pid, episode.pid, once.pid, steady.pid)),
                      policy=load_policy(), priors=load_priors())
    assert len(d) == 4, d.skipped
    pids = d.quick.snapshot["pid"][d.rows].tolist()
    verdict = {pid: (CLASSES[int(d.inference.posterior[i].argmax())], ACTIONS[int(d.decision.action[i])],
                     memory_row(d, i)) for i, pid in enumerate(pids)}
    cls, action, row = verdict[leaker.pid]
    assert row["observed"].startswith("memory +") and "MB/min" in row["observed"], row
    assert cls == "useful_bad" and action not in ("keep", "kill"), verdict[leaker.pid]
    for proc in (episode, once, steady):
        cls, action, row = verdict[proc.pid]
        assert cls != "useful_bad" and action == "keep", (proc.pid, verdict[proc.pid])
        assert row["missing"] or row["bits_useful_bad_vs_useful"] < 1.0, row


def test_growth_the_quick_scan_sees_makes_a_deep_scan_candidate_without_naming_it(project):
    """The value of information prices CPU only: a leaker that is a clear
    keep on its CPU is still chosen for a deep look, by its RSS over age."""
    from pt.deep import rank_candidates
    from pt.infer.posterior import ModelTables
    from pt.testing import wait_for
    from pt.triage import triage

    def rss_mb(pid):
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * 4096 / (1 << 20)
    with python_child(YOUNG_LEAKER, cwd=project) as leaker:
        wait_for(lambda: rss_mb(leaker.pid) >= 60, timeout=60)
        t = triage(policy=load_policy(), priors=load_priors())
        mask = t.snapshot["pid"] == leaker.pid
        rows, _ = rank_candidates(t, mask, ModelTables(t.priors), limit=50)
    assert t.snapshot["pid"][rows].tolist() == [leaker.pid]
