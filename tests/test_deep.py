"""The deep scan: change points, IO stopping, VOI stopping, with real processes the test started."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import time

import numpy as np
import pytest
from scipy import special

from pt.act.plan import Selection
from pt.config import ACTIONS, load_priors
from pt.deep import DEMOTED_TIMEOUT, deep_scan, time_bound
from pt.infer import timeseries as ts
from pt.testing import acting_policy, cpu_ticks, python_child, run_pt, sleepers, zombie

# Children that work (spin; write) until the test sends SIGUSR1, then sleep: the
# change happens at a sample the test chose, whatever the machine's load.
UNTIL_SIGNAL = ("import signal, sys, time\nstop = []\n"
                "signal.signal(signal.SIGUSR1, lambda *a: stop.append(1))\nprint('ready', flush=True)\n")
SPIN_THEN_SLEEP = UNTIL_SIGNAL + "while not stop: pass\ntime.sleep(600)\n"
IO_THEN_IDLE = (UNTIL_SIGNAL + "import os\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)\n"
                "while not stop:\n    os.pwrite(fd, b'x', 0); time.sleep(0.005)\ntime.sleep(600)\n")


def watching_policy(**deep):
    """Acting-policy guards (the suite's processes are root's in CI) and a
    deep scan that never stops early unless asked."""
    policy = acting_policy()
    settings = {"voi_every_s": 1000.0, **deep}
    return dataclasses.replace(policy, deep_scan=dataclasses.replace(policy.deep_scan, **settings))


def stop_after(proc, samples: int, min_ticks: int = 0):
    """An ``on_progress`` callback that sends ``proc`` (our child) SIGUSR1 once
    ``samples`` samples are taken and it has used ``min_ticks`` CPU ticks
    since the first; ``stopped`` holds (samples taken, monotonic time) of the signal."""
    stopped, first = [], []

    def on_progress(open_, settled, taken, elapsed_s, max_time_s):
        if not first:
            first.append(cpu_ticks(proc.pid))
        if not stopped and taken >= samples and cpu_ticks(proc.pid) - first[0] >= min_ticks:
            proc.send_signal(signal.SIGUSR1)
            stopped.append((taken, time.monotonic()))
    return on_progress, stopped


def test_a_spinner_that_stops_is_caught_within_a_few_samples():
    with python_child(SPIN_THEN_SLEEP) as proc:
        # Stopped at sample 15, once it has had 0.3 s of CPU while watched: on a loaded
        # machine it gets less than a core and takes longer to show busy-then-idle.
        on_progress, stopped = stop_after(proc, 15, min_ticks=30)
        d = deep_scan(Selection(pids=(proc.pid,)), max_time_s=4.0, interval_s=0.1, policy=watching_policy(),
                      on_progress=on_progress)
        assert len(d) == 1 and stopped
        assert d.regime.p_change[0] > 0.99
        # The first interval after the change is the one after the signal's sample.
        assert abs(d.regime.tau[0] - (stopped[0][0] - 1)) <= 1, (d.regime.tau[0], stopped)
        assert d.regime.share_before[0] > d.regime.share_after[0]     # busy, then idle
        assert d.regime.lr_stopped[0] > 1e3 and d.regime.lr_started[0] < 1
        term = d.regime.terms[0]
        assert term[2] > term[0]                                     # evidence toward abandoned over useful


def test_io_that_stops_is_annotated(tmp_path):
    with python_child(IO_THEN_IDLE, str(tmp_path / "f")) as proc:
        on_progress, stopped = stop_after(proc, 10)
        d = deep_scan(Selection(pids=(proc.pid,)), max_time_s=2.5, interval_s=0.1, policy=watching_policy(),
                      on_progress=on_progress)
        assert stopped
        signalled_s = stopped[0][1] - d.series.times[0]
        assert abs(d.notes.io_stopped_s[0] - signalled_s) < 0.5, (d.notes.io_stopped_s[0], signalled_s)
        assert d.counts.io_syscalls[0] > 10


def test_a_steady_process_stops_being_watched_early():
    with sleepers(1) as (proc,):
        d = deep_scan(Selection(pids=(proc.pid,)), max_time_s=20, interval_s=0.1,
                      policy=watching_policy(voi_every_s=0.5))
        # It settles and the scan ends well before its 20 s limit (how soon is load-dependent).
        assert np.isfinite(d.settled_at_s[0]) and d.settled_at_s[0] < 10
        assert d.elapsed_s < 10 and not d.timed_out[0]
        assert ACTIONS[d.decision.action[0]] == "keep"


def test_named_processes_that_are_not_watched_say_why():
    with zombie() as z:
        d = deep_scan(Selection(pids=(z.pid, 999_999_999)), max_time_s=1, policy=acting_policy())
    reasons = {s["pid"]: s["reason"] for s in d.skipped}
    assert "zombie" in reasons[z.pid] and "no such process" in reasons[999_999_999]
    assert len(d) == 0


def test_a_named_protected_process_is_watched_with_its_action_pinned():
    d = deep_scan(Selection(pids=(1,)), max_time_s=1, policy=acting_policy())
    assert d.skipped == [] and len(d) == 1 and d.counts.samples[0] > 0
    assert d.quick.protected_by[d.rows[0]] == "pid 1 (init)" and ACTIONS[d.decision.action[0]] == "keep"


def test_time_bound_turns_an_undecided_kill_into_pause():
    from pt.decide.loss import Decision
    n = 3
    kill, pause, keep = (ACTIONS.index(a) for a in ("kill", "pause", "keep"))
    decision = Decision(np.array([kill, kill, keep]), np.zeros((n, 7)), np.zeros((n, 4)), np.zeros((n, 4)),
                        np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, None, object), 0, 0.0)
    available = np.ones((n, 7), dtype=bool)
    out = time_bound(decision, np.array([True, False, True]), available)
    assert out.action.tolist() == [pause, kill, keep]
    assert out.demoted.tolist() == [DEMOTED_TIMEOUT, None, None]


class FakeSeries:
    """Just what :func:`pt.infer.timeseries.regime` reads: CPU ticks per sample."""

    def __init__(self, k, n=10):
        k = np.asarray(k)
        k = k[:, None] if k.ndim == 1 else k
        self.cum = np.vstack([np.zeros((1, k.shape[1]), np.int64), np.cumsum(k, axis=0)])
        self.times = np.arange(len(self.cum)) * n / 100.0
        self.clock_ticks = 100

    def delta(self, name):
        assert name == "cpu_ticks"
        return np.diff(self.cum, axis=0)


def log_bb(k, n):
    """log of the Beta(1,1)-Binomial likelihood of a segment, without the binomial coefficients."""
    return special.betaln(1 + k.sum(), 1 + (n - k).sum()) - special.betaln(1, 1)


@pytest.mark.parametrize("k", [[10, 10, 9, 10, 1, 0, 0, 0], [0, 1, 0, 0, 8, 10, 10, 9], [5, 5, 4, 5, 6, 5, 5, 5]])
def test_regime_likelihood_ratios_match_a_direct_sum(k):
    k = np.array(k)
    n = np.full(len(k), 10)
    priors = load_priors()
    rho = priors.changepoint_rate
    r = ts.regime(FakeSeries(k), priors)
    T = len(k)
    none = log_bb(k, n)
    for direction, got in (("down", r.lr_stopped[0]), ("up", r.lr_started[0])):
        num = den = 0.0
        for s in range(1, T):
            before, after = k[:s].sum() / n[:s].sum(), k[s:].sum() / n[s:].sum()
            if (after < before) if direction == "down" else (after > before):
                p = rho * (1 - rho) ** s
                num += p * math.exp(log_bb(k[:s], n[:s]) + log_bb(k[s:], n[s:]) - none)
                den += p
        want = num / den if den else 0.0
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300)
    pi = np.array([priors.regime[c] for c in ("useful", "useful_bad", "abandoned", "zombie")])
    want_terms = np.log(pi[:, 0] + pi[:, 1] * r.lr_stopped[0] + pi[:, 2] * r.lr_started[0])
    np.testing.assert_allclose(r.terms[0], want_terms, rtol=1e-12)


def test_sparkline_marks_the_change():
    line = ts.sparkline(np.r_[np.ones(10), np.zeros(10)], marks=(10,), width=20)
    assert line == "█" * 10 + "|" + "▁" * 9


def test_cli_json(tmp_path):
    (tmp_path / "config/pt").mkdir(parents=True)
    if os.geteuid() == 0:
        (tmp_path / "config/pt/policy.json").write_text(json.dumps(
            {"version": 1, "guards": {"allow_system_services": True}}))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    with sleepers(1) as (proc,):
        out = run_pt("deep-scan", "--pid", str(proc.pid), "--pid", "999999999", "--max-time", "2", "--json",
                     cwd=tmp_path, env=env)
    data = json.loads(out.stdout)["data"]
    assert data["telemetry"]["written"], data["telemetry"]
    assert data["telemetry"]["rows"]["deep_series"] == 1
    (c,) = data["candidates"]
    assert c["pid"] == proc.pid and c["deep"]["action"] == "keep"
    assert [e["feature"] for e in c["evidence"][-2:]] == ["cpu_regime", "wakeups"]
    assert len(c["series"]["cpu_share"]) == c["samples"]
    assert data["skipped"][0]["pid"] == 999999999
    rows = json.loads(run_pt("duck", "--sql", "select pid, samples, deep_action from deep_series", "--json",
                             cwd=tmp_path, env=env).stdout)["data"]
    rows = rows.get("rows", rows)
    assert [(r["pid"], r["samples"], r["deep_action"]) for r in rows] == [(proc.pid, c["samples"], "keep")]
    assert run_pt("deep-scan", "--interval", "0", cwd=tmp_path, check=False).returncode == 2


def test_explain_deep_shows_the_series(tmp_path):
    (tmp_path / "config/pt").mkdir(parents=True)
    if os.geteuid() == 0:
        (tmp_path / "config/pt/policy.json").write_text(json.dumps(
            {"version": 1, "guards": {"allow_system_services": True}}))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    with sleepers(1) as (proc,):
        text = run_pt("explain", str(proc.pid), "--deep", "--max-time", "2", cwd=tmp_path, env=env).stdout
        data = json.loads(run_pt("explain", str(proc.pid), "--deep", "--max-time", "1", "--json",
                                 cwd=tmp_path, env=env).stdout)["data"]
    assert "posterior: quick scan → deep" in text and "CPU regime" in text and "CPU  ▁" in text
    assert data["process"]["pid"] == proc.pid
    assert [e["feature"] for e in data["deep"]["evidence"][-2:]] == ["cpu_regime", "wakeups"]
    # The sleeper's parent is this test: the deep verdict has its tree line, and the table shows it.
    assert [e for e in data["deep"]["evidence"] if e["feature"] == "tree" and not e["missing"]]
    assert "tree" in text.split("deep evidence")[1]


def test_regime_block_matches_the_change_point_kernel():
    """All candidates at once (the deep-scan loop's path) against
    kernels.beta_changepoint one series at a time."""
    from pt import kernels
    rng = np.random.default_rng(3)
    T, m = 40, 6
    k = rng.binomial(10, rng.uniform(0, 1, m), size=(T, m))
    k[:25, :3] = rng.binomial(10, 0.8, size=(25, 3))
    k[25:, :3] = rng.binomial(10, 0.02, size=(T - 25, 3))           # three busy ones stop
    priors = load_priors()
    r = ts.regime(FakeSeries(k), priors)
    for i in range(m):
        cp = kernels.beta_changepoint(k[:, i], 10, rho=priors.changepoint_rate)
        assert r.p_change[i] == pytest.approx(cp.tau_posterior[1:T].sum(), rel=1e-9, abs=1e-12)
        assert r.tau[i] == int(np.argmax(cp.tau_posterior[1:T])) + 1
    assert (r.p_change[:3] > 0.99).all() and (r.lr_stopped[:3] > 1e3).all()
