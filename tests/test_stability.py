"""Stable verdicts: a process whose behaviour does not change keeps its
recommendation from scan to scan; one whose behaviour changes gets a new one.

Real spinners, scanned by pt under the shipped default policy as whoever
runs the tests (CI: root, and a regular user in ``.ci/user-suite``); the
remembered verdicts live in the test's own workspace. Nothing here asserts how busy anything was.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from pt.collect.snapshot import Totals, Window
from pt.config import ACTIONS, load_policy, load_priors
from pt.decide import stability
from pt.features.genealogy import rows_of
from pt.infer.ledger import observed_value
from pt.infer.posterior import ModelTables
from pt.testing import (_state, as_regular_user, kill_if_same, regular_user, start_ticks, user_python,
                        user_workspace, wait_for)
from pt.triage import triage

SPIN_UNTIL = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): pass\ntime.sleep(600)\n"
#: Spins ~0.3 s every ~3 s, appending a beat to argv[1] after each burst: a 0.3 s window mostly misses it.
BURSTY = ("import sys, time\nlog = open(sys.argv[1], 'a')\nwhile True:\n"
          "    end = time.monotonic() + 0.3\n    while time.monotonic() < end: pass\n"
          "    log.write('.'); log.flush(); time.sleep(2.7)\n")
SCANS = 10

pytestmark = pytest.mark.skipif(regular_user() is None or user_python() is None,
                                reason="needs a regular user account and a Python it can run")


def _ids() -> dict:
    uid, gid = regular_user()
    return {"user": uid, "group": gid, "extra_groups": []} if os.geteuid() == 0 else {}


def spawn(workspace, *args: str) -> subprocess.Popen:
    """A Python child running ``SPIN_UNTIL`` as the regular user (stop file ``workspace/args[0]``)."""
    return subprocess.Popen([user_python(), "-c", SPIN_UNTIL, str(workspace / args[0])], cwd=workspace,
                            stdin=subprocess.DEVNULL, **_ids())


def spawn_orphan(workspace, stop: str, code: str = SPIN_UNTIL) -> tuple[int, int]:
    """``code`` (default ``SPIN_UNTIL``) as the regular user, detached the way
    leftovers are (``setsid sh -c 'cmd &'``, and the shell exits): ``(pid, start_ticks)``."""
    script = f"{shlex.quote(user_python())} -c {shlex.quote(code)} {shlex.quote(str(workspace / stop))}"
    out = subprocess.run(["setsid", "sh", "-c", f"{script} >/dev/null 2>&1 & echo $!"], cwd=workspace,
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL, **_ids())
    pid = int(out.stdout)
    return pid, start_ticks(pid)


def scan_actions(pids, scans: int, memory):
    """The recommended action of each of ``pids`` over ``scans`` consecutive
    scans, remembering verdicts in ``memory`` (run as the regular user)."""
    policy, priors = load_policy(), load_priors()       # XDG_CONFIG_HOME is empty: the shipped defaults
    tables = ModelTables(priors)
    out = []
    for _ in range(scans):
        t = triage(policy=policy, priors=priors, tables=tables, memory=memory)
        rows = rows_of(t.snapshot, np.asarray(pids))
        out.append(tuple(ACTIONS[t.decision.action[r]] if r >= 0 else None for r in rows))
    return out


@pytest.fixture
def workspace():
    with user_workspace() as path:
        yield path


def reversals(actions: list[str]) -> list[str]:
    """Returns to an action the process had left (``A -> B -> A``): a flap.
    Moving on as harm accumulates with age (renice, then throttle, for a
    spinner that keeps spinning) is a change in the evidence, not a flap."""
    left, out, last = set(), [], None
    for a in actions:
        if a != last:
            if a in left:
                out.append(f"{last} -> {a}")
            if last is not None:
                left.add(last)
            last = a
    return out


def test_reversals_are_flaps_and_progressions_are_not():
    assert reversals(["renice", "renice", "throttle", "throttle"]) == []
    assert reversals(["throttle", "renice", "throttle"]) == ["renice -> throttle"]


def settle(pid: int, memory, limit: int = 30) -> None:
    """Scan until ``pid``'s recommendation is the same twice running. A young
    leftover's verdict moves as it ages (busy and seconds old is work in
    progress; busy for a minute is not), which is a change in its evidence,
    not a flap; the flip rate is measured once that has happened."""
    last = None
    for _ in range(limit):
        (now,) = scan_actions([pid], 1, memory)
        if now == last and now != ("keep",):
            return
        last = now
    raise AssertionError(f"no settled recommendation for pid {pid} after {limit} scans: last {last}")


@pytest.mark.parametrize("competitors", [0, 2])
def test_a_spinner_keeps_one_recommendation_over_ten_scans(workspace, competitors):
    """An orphaned runaway spinner, with competitors spinning beside it (load
    makes its CPU share in the window noisy), never returns to an action it
    left over ten scans (before the demand-based CPU evidence and hysteresis,
    it went throttle -> renice -> quarantine -> keep)."""
    pid, start = spawn_orphan(workspace, "never")
    procs = [spawn(workspace, "never") for _ in range(competitors)]
    try:
        wait_for(lambda: _state(pid) == "R")

        def scans():
            memory = workspace / "state-verdicts"
            settle(pid, memory)
            return scan_actions([pid], SCANS, memory)
        actions = as_regular_user(scans, workspace)
    finally:
        kill_if_same(pid, start)
        for p in procs:
            p.kill()
            p.wait()
    assert None not in {a for (a,) in actions}
    assert not reversals([a for (a,) in actions]), actions       # no flap


def test_a_spinner_that_stops_gets_a_new_recommendation(workspace):
    """An orphaned runaway spinner (a leftover, not work a live parent waits
    on) is acted on while it spins; once it stops, the recommendation moves
    (for the quick scan, once the stop outweighs the history of earlier scans)."""
    pid, start = spawn_orphan(workspace, "stop")
    try:
        wait_for(lambda: _state(pid) == "R")

        def scans():
            memory = workspace / "state-verdicts"
            settle(pid, memory)
            busy = scan_actions([pid], SCANS // 2, memory)
            (workspace / "stop").touch()
            wait_for(lambda: _state(pid) == "S")
            # The quick scan's history of earlier scans fades with time constant history_s:
            # the stop shows once the idle time outweighs it (the deep scan sees it at once).
            time.sleep(load_policy().stability.history_s)
            return busy, scan_actions([pid], SCANS // 2, memory)
        busy, idle = as_regular_user(scans, workspace)
    finally:
        kill_if_same(pid, start)
    assert not reversals([a for (a,) in busy]) and not reversals([a for (a,) in idle]), (busy, idle)
    assert busy[-1] != idle[-1], (busy, idle)


def test_a_bursty_worker_keeps_one_recommendation_once_pt_has_seen_it(workspace):
    """A detached worker that spins 0.3 s every 3 s: a 0.3 s window mostly
    falls in its gaps, so on the window alone consecutive scans called it
    idle or busy as the window happened to fall (keep <-> pause flaps). With
    earlier scans as evidence, once pt has seen it for a few scans its CPU
    and IO are counted over that history, and ten scans agree; the ledger
    says what was counted."""
    pid, start = spawn_orphan(workspace, "beats", BURSTY)
    try:
        wait_for(lambda: (workspace / "beats").exists() and len((workspace / "beats").read_bytes()) >= 2,
                 timeout=60)

        def scans():
            memory = workspace / "state-verdicts"
            scan_actions([pid], 4, memory)                          # pt sees it for a few scans first
            return scan_actions([pid], SCANS, memory), triage(memory=memory)
        actions, last = as_regular_user(scans, workspace)
    finally:
        kill_if_same(pid, start)
    assert None not in {a for (a,) in actions}
    assert not reversals([a for (a,) in actions]), actions
    (row,) = rows_of(last.snapshot, np.array([pid]))
    assert row >= 0 and np.isfinite(last.evidence.span_s[row])
    assert "of this and earlier scans" in observed_value(last.evidence, "cpu_window", row)
    assert "IO events" in observed_value(last.evidence, "io_window", row)


def test_the_memory_round_trips_and_hostile_files_are_ignored(tmp_path):
    path = tmp_path / "verdicts"
    pids, starts = np.array([7, 3, 5]), np.array([70, 30, 50], dtype=np.uint64)
    stability.save(path, "b-1", pids, starts, np.array([1, 2, 3]), now=100.0)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    m = stability.load(path, "b-1")
    assert m.note is None
    got = m.previous(np.array([3, 5, 7, 9, 5]), np.array([30, 51, 70, 90, 50], dtype=np.uint64), now=200.0)
    assert got.tolist() == [2, -1, 1, -1, 3]                      # same pid and start time only
    assert m.previous(pids, starts, now=200.0, memory_s=50).tolist() == [-1, -1, -1]
    assert stability.load(path, "b-2").note == "previous scan was on another boot"
    data = path.read_bytes()
    action_at = len(data) - stability.RECORD.itemsize + stability.RECORD.fields["action"][1]
    cases = {"missing": None, "garbage": b"\x00\x01junk\x1b[31m", "torn": data[:-3],
             "bad action": data[:action_at] + b"\x7f" + data[action_at + 1:],
             "version 2": data.replace(b"pt-verdicts " + stability.VERSION, b"pt-verdicts 2", 1)}
    for name, data in cases.items():
        bad = tmp_path / name
        if data is not None:
            bad.write_bytes(data)
        m = stability.load(bad, "b-1")
        assert m.previous(pids, starts, now=200.0).tolist() == ([1, 2, -1] if name == "bad action"
                                                                 else [-1, -1, -1]), name
    link = tmp_path / "link"
    link.symlink_to(path)
    assert "unreadable" in stability.load(link, "b-1").note        # never followed
    os.chmod(path, 0o666)
    assert "writable by others" in stability.load(path, "b-1").note
    os.chmod(path, 0o600)
    (tmp_path / "dir").mkdir()
    assert stability.load(tmp_path / "dir", "b-1").note
    assert stability.load(path, None).previous(pids, starts).tolist() == [-1, -1, -1]


def _window(closed_s, cpu, delay, calls, *, ticks=(0, 0), wait=(0, 0), io=(0, 0), window_ticks=30):
    return Window(duration_s=window_ticks / 100, window_ticks=window_ticks, ticks=np.array(ticks),
                  alive=np.ones(2, bool), io_read_bytes=np.zeros(2, np.int64), io_write_bytes=np.zeros(2, np.int64),
                  io_syscalls=np.array(io), wait_ticks=np.array(wait),
                  totals=Totals(closed_s, np.array(cpu), np.array(delay), np.array(calls)))


def test_earlier_scans_extend_the_window_with_a_discounted_history(tmp_path):
    """Two processes seen by a scan 10 s ago: the next scan counts what each
    did since (CPU used + waited, IO events: 0.3 s slices with read/write
    syscalls), the last scan's counts discounted by exp(-10/60), the new
    span weighted as if spread evenly over it; a process whose counters
    went backwards, or one not seen before, gets its window alone."""
    path = tmp_path / "verdicts"
    pids, starts = np.array([3, 5]), np.array([30, 50], dtype=np.uint64)
    first = _window(100.0, [1000, 50], [0, 0], [10, 7], ticks=(30, 0), io=(4, 0))
    stability.save(path, "b", pids, starts, np.array([0, 0]), first, first.activity())
    m = stability.load(path, "b")
    second = _window(110.0, [1300, 40], [2 * 10**9, 0], [12, 9], ticks=(30, 0), wait=(1, 0))
    got = m.activity(second, pids, starts, 100, history_s=60.0, gap_s=600.0)
    d, w = np.exp(-10 / 60), 60 * (1 - np.exp(-10 / 60)) / 10
    assert got.demand[0] == pytest.approx(30 * d + w * (300 + 200))      # 3 s used + 2 s waited, in ticks
    assert got.ticks[0] == pytest.approx(30 * d + w * 1000)
    assert got.io_events[0] == pytest.approx(1 * d + w * 2)            # 4 calls in a 0.3 s window: 1 event
    assert got.span_s[0] == pytest.approx(got.ticks[0] / 100)
    assert (got.demand[1], got.ticks[1], got.io_events[1]) == (0, 30, 0) and np.isnan(got.span_s[1])
    # a history never holds much more than history_s: steady state of frequent scans
    stability.save(path, "b", pids, starts, np.array([0, 0]), first, first.activity())
    for t in np.arange(101.0, 500.0):
        now = _window(t, [1000 + int((t - 100) * 100), 50], [0, 0], [10, 7])
        busy = stability.load(path, "b").activity(now, pids, starts, 100, history_s=60.0, gap_s=600.0)
        stability.save(path, "b", pids, starts, np.array([0, 0]), now, busy)
    assert busy.ticks[0] == pytest.approx(6000, rel=0.02) and busy.demand[0] == pytest.approx(busy.ticks[0])
    # a forged history (negative counts) is not believed: the window alone, never a crash
    forged = tmp_path / "forged"
    stability.save(forged, "b", pids, starts, np.array([0, 0]), first, first.activity())
    assert np.isfinite(stability.load(forged, "b").activity(second, pids, starts, 100, 60.0, 600.0).span_s[0])
    # nor one no process could have had: more ticks than the discounted history holds, more IO
    # events than its slices
    data = forged.read_bytes()
    for field, value in [("k_sum", -5.0), ("n_sum", 1e9), ("n_sum", 0.0), ("s_sum", 1e6), ("s_sum", -0.5)]:
        records = stability.load(forged, "b").records.copy()
        records[field] = value
        forged.write_bytes(data[:data.index(b"\n") + 1] + records.tobytes())
        assert np.isnan(stability.load(forged, "b").activity(second, pids, starts, 100, 60.0, 600.0).span_s).all()
        forged.write_bytes(data)
    # too long ago, overlapping scans, another process on the same pid: the window alone
    for closed, starts2 in [(100.0 + 601, starts), (100.0 + 0.1, starts), (110.0, starts + 1)]:
        alone = m.activity(_window(closed, [1300, 60], [0, 0], [12, 9]), pids, starts2, 100, 60.0, 600.0)
        assert np.isnan(alone.span_s).all()


def _steady(spacing_s: float, seconds: float, share, writes_every_s: float, history_s: float):
    """What the history says after ``seconds`` of scans ``spacing_s`` apart
    of a process using ``share(t)`` of a CPU and writing once every
    ``writes_every_s``: ``(CPU demand share, IO events per second)``."""
    memory = stability.NOTHING
    pids, starts = np.array([3, 5]), np.array([30, 50], dtype=np.uint64)
    cpu, t = 0.0, 0.0
    while t < seconds:
        t += spacing_s
        cpu += 100 * spacing_s * share(t)
        calls = int(t // writes_every_s)
        now = _window(t, [int(cpu), 0], [0, 0], [calls, 0])
        got = memory.activity(now, pids, starts, 100, history_s=history_s, gap_s=10 * history_s)
        r = np.zeros(2, dtype=stability.RECORD)        # what the scan remembers (stability.save's record)
        r["pid"], r["start_ticks"], r["closed_s"] = pids, starts, t
        r["cpu_ticks"], r["run_delay_ns"], r["syscalls"] = [int(cpu), 0], 0, [calls, 0]
        r["k_sum"], r["n_sum"], r["s_sum"] = got.demand, got.ticks, got.io_events
        memory = stability.Remembered(r)
    return got.demand[0] / got.ticks[0], got.io_events[0] / got.span_s[0]


def test_the_history_says_the_same_whether_scans_are_1_s_or_30_s_apart():
    """The evidence over earlier scans is a share and a rate with the
    history's discounted length as exposure, so a worker using 10% of a CPU
    and writing every 3 s looks the same to scans 1, 5 or 30 s apart; and a
    spinner that stops is idle (under half a CPU) after history_s ln 2 of
    scans, however many there were."""
    tau = load_policy().stability.history_s
    seen = [_steady(spacing, 6 * tau, lambda t: 0.1, 3.0, tau) for spacing in (1.0, 5.0, 30.0)]
    for share, rate in seen:
        assert share == pytest.approx(0.1, rel=0.05) and rate == pytest.approx(1 / 3, rel=0.1), seen
    for spacing in (1.0, 3.0):
        stopped = [_steady(spacing, 6 * tau + after, lambda t: 1.0 if t <= 6 * tau else 0.0, 1e9, tau)[0]
                   for after in (0.5 * tau, tau)]
        assert stopped[0] > 0.5 > stopped[1], (spacing, stopped)


def test_the_io_rate_term_is_a_negative_binomial():
    from pt.infer.posterior import gamma_poisson_logpmf
    a, b = np.array([0.3, 0.1]), np.array([3.0, 30.0])
    B = np.arange(0, 4000, dtype=np.float64)
    assert np.exp(gamma_poisson_logpmf(B, np.full(len(B), 20.0), a, b)).sum(axis=0) == pytest.approx(1, abs=1e-6)
    idle = gamma_poisson_logpmf(np.zeros(3), np.array([1.0, 30.0, 300.0]), a, b)
    assert (np.diff(idle[:, 0] - idle[:, 1]) < 0).all()      # idle for longer: less like work, never a cliff


def test_hysteresis_holds_within_the_margin_and_never_holds_kill():
    from pt.decide.loss import DEMOTED_HELD, decide
    from pt.infer.posterior import Inference
    policy = load_policy()
    keep, renice, throttle, quarantine, kill = (ACTIONS.index(a) for a in
                                                ("keep", "renice", "throttle", "quarantine", "kill"))
    # Between useful and useful_bad at P(useful_bad) 0.55, throttle (3.45) beats renice (3.75) by 0.3;
    # at 0.9, quarantine (2.85) beats renice (5.5) by 2.65; a clear leftover: kill wins (robustly).
    post = np.array([[0.45, 0.55, 0.0, 0.0], [0.1, 0.9, 0.0, 0.0], [0.001, 0.0, 0.999, 0.0]])
    terms = np.log(np.maximum(post, 1e-300))[:, None, :]        # a flat prior: the posterior is `post`
    inference = Inference.from_terms(terms, np.ones((3, 1), bool), np.zeros(4))
    n = len(post)

    def run(previous, protected=np.zeros(n, bool)):
        return decide(inference, policy, impact=np.zeros(n), available=np.ones((n, len(ACTIONS)), bool),
                      protected=protected, previous=np.array(previous))
    free = run([-1, -1, -1])
    assert free.action.tolist() == [throttle, quarantine, kill]
    held = run([renice, renice, keep])
    assert held.action.tolist() == [renice, quarantine, kill]    # held within 1.0; beyond it, or kill: changes
    assert held.demoted.tolist() == [DEMOTED_HELD, None, None]
    assert run([kill, kill, kill]).action.tolist()[:2] == [throttle, quarantine]   # kill is never held
    pinned = run([renice, renice, keep], protected=np.ones(n, bool))
    assert pinned.action.tolist() == [keep] * 3 and DEMOTED_HELD not in pinned.demoted.tolist()


def test_cli_scans_remember_and_at_scans_do_not(tmp_path):
    from pt.testing import run_pt
    run_pt("scan", "--json", "--no-telemetry", "--at", "+1h", cwd=tmp_path)
    memory = tmp_path / ".local" / "state" / "pt" / "verdicts"
    assert not memory.exists()
    first = json.loads(run_pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout)["data"]["model"]
    second = json.loads(run_pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout)["data"]["model"]
    assert first["stability"]["remembered"] == 0 and first["stability"]["note"] == "no previous scan remembered"
    assert second["stability"]["remembered"] > 0 and second["stability"]["note"] is None
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert memory.exists() and stability.load(memory, boot_id).note is None
    memory.write_bytes(b"\x1b]0;hostile\x07" * 1000)              # a broken memory never fails a scan
    assert run_pt("scan", "--json", "--no-telemetry", cwd=tmp_path).returncode == 0



@pytest.mark.parametrize("key, value", [("history_s", 0), ("history_s", -30), ("history_s", 1e9),
                                        ("history_s", "30"), ("history_gap_s", -1), ("history_gap_s", 1e9)])
def test_history_knobs_out_of_range_are_config_errors_naming_the_key(tmp_path, key, value):
    from pt.config import ConfigError
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"stability": {key: value}}))
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.key == f"stability.{key}"
    path.write_text(json.dumps({"stability": {"history_s": 5, "history_gap_s": 0}}))
    assert (load_policy(path).stability.history_s, load_policy(path).stability.history_gap_s) == (5, 0)
