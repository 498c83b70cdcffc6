"""The learning loop: outcomes followed up by later scans (real processes,
real /proc, real lake), labels from people and from `pt apply`, and the
calibration formulas against independent references (scipy, brute force,
simulations with known truth written through the real lake).

Every test writes to a lake under ``tmp_path`` and signals only processes it
started.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import optimize, stats

from pt.config import CLASSES, load_priors, shipped_priors
from pt.learn import calibrate as cal
from pt.learn import drift, model
from pt.telemetry import duck, followup, schemas, writer
from pt.telemetry import lake as lakes
from pt.telemetry.redact import Redactor
from pt.testing import kill_if_same, spawn_detached, wait_for, zombie
from pt.testing import run_pt as pt
from pt.triage import triage

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")
KEY = bytes(range(32))


pytestmark = pytest.mark.usefixtures("private_homes")


# --- 1. outcomes without asking --------------------------------------------------------

RESUMER = """\
import os, sys, time
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
start = time.process_time()
while time.process_time() - start < 1.5:
    pass
time.sleep(600)
"""


def _row(t, pid: int) -> int:
    rows = np.flatnonzero(t.snapshot["pid"] == pid)
    assert len(rows) == 1, f"pid {pid} not in the scan"
    return int(rows[0])


def _watch(root: Path, t, run_id: str, ts: float, pids: dict[int, float]) -> None:
    """Put our processes on the watch list as the scan ``t`` saw them, with
    verdict times ``ts - age`` (what a scan that flagged them would have written)."""
    rows = [_row(t, pid) for pid in pids]
    followup.write_pending(root, followup.pending_table(**{
        "boot_id": [t.snapshot.host.boot_id] * len(rows),
        "pid": [int(t.snapshot["pid"][r]) for r in rows],
        "start_ticks": [int(t.snapshot["start_ticks"][r]) for r in rows],
        "verdict_run_id": [run_id] * len(rows),
        "verdict_ts": [ts - age for age in pids.values()],
        "action": ["kill"] * len(rows), "class": ["abandoned"] * len(rows),
        "cpu_time_s": [float(t.snapshot["cpu_time_s"][r]) for r in rows],
        "last_seen_ts": [ts] * len(rows),
    }))


@linux_only
def test_later_scans_follow_up_exits_resumptions_idling_and_zombies(tmp_path):
    red = Redactor(KEY)
    trigger = tmp_path / "go"
    resumer = subprocess.Popen([sys.executable, "-c", RESUMER, str(trigger)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, text=True)
    leaver = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL)
    idler, idle_start = spawn_detached()
    old, old_start = spawn_detached()
    try:
        assert resumer.stdout.readline().strip() == "ready"
        with zombie() as z:
            first = triage(window_s=0.05)
            res = writer.write_scan(first, lake=tmp_path, red=red, follow=True)
            assert res.written, res.reason
            # What the first scan flagged is on the watch list.
            pending = followup.read_pending(tmp_path)
            flagged = {(int(p), int(s)) for p, s in zip(pending["pid"], pending["start_ticks"])}
            actions = np.asarray(first.decision.action)
            cls = first.inference.log_posterior.argmax(axis=1)
            expect = (actions != 0) | (cls != 0)
            assert flagged == {(int(p), int(s)) for p, s in zip(first.snapshot["pid"][expect],
                                                                first.snapshot["start_ticks"][expect])}
            # Our five, as that scan saw them: one verdict two days old.
            ts = first.snapshot.host.taken_at
            _watch(tmp_path, first, res.run_id, ts, {resumer.pid: 0.0, leaver.pid: 0.0, idler: 0.0,
                                                       old: 2 * followup.IDLE_HORIZON_S, z.pid: 0.0})
            leaver.kill()
            leaver.wait()
            trigger.touch()
            wait_for(lambda: _cpu_s(resumer.pid) >= 1.2, timeout=120)
            second = triage(window_s=0.05)
            res2 = writer.write_scan(second, lake=tmp_path, red=red, follow=True)
            assert res2.written, res2.reason
        lake = duck.open_lake(tmp_path)
        _, rows = lake.query("SELECT pid, result, label, observed_by, verdict_run_id, after_s, cpu_s_since "
                             "FROM outcomes")
        got = {r[0]: r[1:] for r in rows}
        assert got[resumer.pid][:4] == ("resumed", "useful", "rescan", res.run_id)
        assert got[resumer.pid][5] >= followup.RESUME_CPU_S
        assert got[leaver.pid][:3] == ("exited", None, "rescan")
        assert got[idler][:3] == ("idle", None, "rescan")
        assert got[old][:3] == ("idle", "abandoned", "rescan")
        assert got[old][4] >= 2 * followup.IDLE_HORIZON_S
        assert got[z.pid][:3] == ("zombie", "zombie", "rescan")
        # Final results leave the watch list; the recent idler stays, once.
        left = followup.read_pending(tmp_path)["pid"].tolist()
        assert idler in left and left.count(idler) == 1
        assert not {resumer.pid, leaver.pid, old, z.pid} & set(left)
    finally:
        for proc in (resumer, leaver):
            proc.kill()
            proc.wait()
        resumer.stdout.close()
        kill_if_same(idler, idle_start)
        kill_if_same(old, old_start)


@linux_only
def test_a_busy_verdict_that_stays_busy_is_not_a_label(tmp_path):
    from pt.testing import spinner
    with spinner() as proc:
        wait_for(lambda: _cpu_s(proc.pid) >= 1.2, timeout=120)
        t = triage(window_s=0.01)
        r = _row(t, proc.pid)
        pending = followup.pending_table(**{
            "boot_id": [t.snapshot.host.boot_id] * 2, "pid": [proc.pid] * 2,
            "start_ticks": [int(t.snapshot["start_ticks"][r])] * 2,
            "verdict_run_id": ["v"] * 2, "verdict_ts": [1.0] * 2, "action": ["renice", "kill"],
            "class": ["useful_bad", "abandoned"], "cpu_time_s": [0.0, 0.0], "last_seen_ts": [1.0] * 2,
        })
        outcomes, _ = followup.follow_up(pending, t, "r", 2.0)
    assert list(outcomes["result"]) == ["resumed", "resumed"]
    assert list(outcomes["label"]) == [None, "useful"]


def _cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_corrupt_watch_list_is_rebuilt_not_fatal(tmp_path):
    followup.write_pending(tmp_path, followup.empty())
    (tmp_path / followup.FOLLOWUP_DIR / followup.PENDING_FILE).write_bytes(b"PK\x03\x04 not a zip")
    assert len(followup.read_pending(tmp_path)["pid"]) == 0


@linux_only
def test_a_failing_follow_up_loses_the_follow_up_not_the_scan(tmp_path, monkeypatch):
    t = triage(window_s=0.01)

    def broken(*args):
        raise RuntimeError("boom")
    monkeypatch.setattr(followup, "follow_up", broken)
    res = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), follow=True)
    assert res.written and "decisions" in res.rows and "boom" in res.as_dict()["followup_error"]


def test_identity_keys_are_distinct_for_distinct_processes():
    pid = np.array([1, 2, 1, 4_194_303], dtype=np.int64)
    start = np.array([5, 5, 6, 2**40], dtype=np.uint64)
    keys = followup.identity_key(pid, start)
    assert len(set(keys.tolist())) == 4


# --- 2. feedback -----------------------------------------------------------------------

@linux_only
def test_feedback_labels_a_scanned_process_and_refuses_unknown_ones(tmp_path):
    pid, start = spawn_detached()
    try:
        pt("scan", "--json", "--top", "1", cwd=tmp_path)
        lake_dir = tmp_path / ".local" / "share" / "pt" / "lake"
        out = pt("feedback", str(pid), "abandoned", "--note", "left over from /home/alice/secret-proj",
                 "--json", cwd=tmp_path)
        data = json.loads(out.stdout)["data"]
        assert data["pid"] == pid and data["label"] == "abandoned" and data["replaces"] == []
        again = pt("feedback", f"{pid}:{start}", "useful", cwd=tmp_path)
        assert "replaces the earlier label abandoned" in again.stderr
        lake = duck.open_lake(lake_dir)
        _, rows = lake.query("SELECT label, observed_by, start_ticks, note, verdict_run_id FROM outcomes "
                             "WHERE pid = ? ORDER BY ts", [pid])
        assert [r[:3] for r in rows] == [("abandoned", "feedback", start), ("useful", "feedback", start)]
        assert "alice" not in rows[0][3] and "secret-proj" not in rows[0][3]
        assert rows[0][4] is not None
        _, one = lake.query(f"SELECT label, conflict FROM ({cal.ONE_LABEL_SQL}) WHERE pid = ?", [pid])
        assert one == [("useful", True)]
    finally:
        kill_if_same(pid, start)
    # A pid pt never saw (and nothing runs at): exit 3, a clear message, one JSON object.
    gone = pt("feedback", "4194302", "useful", "--json", cwd=tmp_path, check=False)
    assert gone.returncode == 3
    assert json.loads(gone.stdout)["errors"][0]["code"] == "not_found"
    assert "no recorded verdict" in gone.stderr
    bad = pt("feedback", "12:x:y:z", "useful", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "feedback wants" in bad.stderr
    assert pt("feedback", "1", "evil", cwd=tmp_path, check=False).returncode == 2


def test_apply_choices_become_labels(tmp_path):
    from pt.learn.labels import apply_labels
    plan = {"actions": [{"action": "kill", "target": {"boot_id": "b", "pid": 7, "start_ticks": 9, "uid": 1}},
                        {"action": "pause", "target": {"boot_id": "b", "pid": 8, "start_ticks": 9, "uid": 1}}]}
    confirmed = apply_labels(plan, True, now=1.0)
    declined = apply_labels(plan, False, now=1.0)
    assert [r["label"] for r in confirmed] == ["abandoned", None]
    assert [r["label"] for r in declined] == ["useful", "useful"]
    res = writer.write_labels(confirmed + declined, lake=tmp_path, red=Redactor(KEY))
    assert res.written and res.rows == {"outcomes": 4}, res.reason
    _, rows = duck.open_lake(tmp_path).query("SELECT result, label FROM outcomes ORDER BY pid, result")
    assert rows == [("confirmed", "abandoned"), ("declined", "useful"), ("confirmed", None), ("declined", "useful")]


def test_labels_the_lake_should_not_hold_are_not_counted(tmp_path):
    """A lake edited by hand (or by another tool): labels that are not
    classes, unknown sources and labels of processes with no verdict are
    left out (the last ones counted as such), never a crash."""
    simulate_machine(tmp_path, np.random.default_rng(8), processes=20, runs=1)
    base = {"ts": 1_900_000_000.0, "boot_id": "b", "start_ticks": 7000, "uid": 0, "action": "kill",
            "result": "labelled", "verdict_run_id": None, "after_s": None, "note": None}
    rows = [{**base, "pid": 1000, "start_ticks": 7000, "observed_by": "feedback", "label": "[red]evil\x1b[2J"},
            {**base, "pid": 1001, "start_ticks": 7007, "observed_by": "someone", "label": "useful"},
            {**base, "pid": 999_999, "start_ticks": 1, "observed_by": "feedback", "label": "useful"}]
    assert writer.write_labels(rows, lake=tmp_path, red=Redactor(KEY)).written
    record = cal.read_record(duck.open_lake(tmp_path, tables=("decisions", "proc_features", "outcomes"),
                                            macros=False))
    assert len(record) == 20 and record.unmatched == 1
    assert set(record.label) <= set(CLASSES)


@linux_only
def test_pt_apply_records_what_the_user_declined_and_confirmed(tmp_path):
    from pt.testing import acting_env, plan_for, pt_at_terminal, sleepers
    env = acting_env(tmp_path)
    with sleepers(1) as procs:
        pid = procs[0].pid
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps(plan_for([pid], "renice")))
        code, _ = pt_at_terminal(["apply", str(plan)], env, b"n\n", tmp_path)
        assert code == 4
        out = pt("apply", str(plan), "--yes", "--json", cwd=tmp_path, env=env)
        assert [o["result"] for o in json.loads(out.stdout)["data"]["outcomes"]] == ["done"]
        lake = duck.open_lake(tmp_path / ".local" / "share" / "pt" / "lake")
        _, rows = lake.query("SELECT result, label, observed_by, action FROM outcomes WHERE pid = ? "
                             "AND observed_by = 'apply' ORDER BY ts", [pid])
        assert rows == [("declined", "useful", "apply", "renice"), ("confirmed", "useful_bad", "apply", "renice")]


# --- 3. the formulas against independent references -----------------------------------

def test_dirichlet_multinomial_matches_scipy():
    rng = np.random.default_rng(1)
    for _ in range(20):
        alpha = rng.uniform(0.1, 20, 4)
        counts = rng.integers(0, 30, 4)
        want = stats.dirichlet_multinomial.logpmf(counts, alpha, counts.sum())
        assert model.dirichlet_multinomial_logpmf(counts, alpha) == pytest.approx(want, rel=1e-12)


def test_eb_strength_is_the_marginal_likelihood_maximum():
    prior = np.array([0.78, 0.05, 0.14, 0.03])
    for counts in ([300, 20, 60, 10], [100, 100, 100, 100], [5, 0, 30, 0]):
        s = model.eb_strength(np.array(counts), prior)
        grid = np.exp(np.linspace(np.log(model.STRENGTH[0]), np.log(model.STRENGTH[1]), 20001))
        ref = grid[np.argmax([model.dirichlet_multinomial_logpmf(counts, g * prior) for g in grid])]
        assert math.log(s) == pytest.approx(math.log(ref), abs=2e-3)
    # Labels in the shipped proportions: trust the shipped prior (the largest strength).
    assert model.eb_strength(np.array([780, 50, 140, 30]), prior) > 1e4
    assert model.eb_strength(np.zeros(4), prior) == model.STRENGTH[1]


def test_a_few_concentrated_labels_move_the_class_prior_little():
    """Two ``useful`` labels, or ten ``abandoned`` ones, are what people give
    about processes pt flagged: the prior moves toward them by at most
    n / (n + 20) of the way, whatever the marginal likelihood prefers."""
    prior = np.array([0.78, 0.05, 0.14, 0.03])
    for counts in ([2, 0, 0, 0], [0, 0, 10, 0], [0, 3, 0, 0]):
        counts = np.array(counts, dtype=float)
        learned, s = model.class_prior_update(counts, prior)
        assert s >= model.STRENGTH[0] == 20.0
        share = counts / counts.sum()
        moved = np.abs(learned - prior).max() / np.abs(share - prior).max()
        assert moved <= counts.sum() / (counts.sum() + 20) + 1e-12
    # Many labels that disagree still win.
    learned, _ = model.class_prior_update(np.array([100.0, 100, 600, 200]), prior)
    assert learned[2] > 0.5


def test_beta_binomial_loglik_matches_scipy():
    rng = np.random.default_rng(2)
    n = rng.integers(1, 60, 50)
    k = rng.integers(0, n + 1)
    for a, b in ((0.5, 2.5), (3.0, 1.0), (0.02, 50.0)):
        assert model.beta_binomial_loglik(k, n, a, b) == pytest.approx(stats.betabinom.logpmf(k, n, a, b).sum(),
                                                                       rel=1e-10)


def test_beta_binomial_map_recovers_known_parameters_and_shrinks_small_groups():
    rng = np.random.default_rng(3)
    truth = (2.0, 6.0)
    n = np.full(4000, 30)
    k = rng.binomial(n, rng.beta(*truth, size=n.size))
    a, b = model.beta_binomial_map(k, n, parent=(0.5, 2.5))
    assert a / (a + b) == pytest.approx(0.25, abs=0.01)
    assert math.log(a + b) == pytest.approx(math.log(8.0), abs=0.15)
    # The same optimum scipy.optimize finds for the same objective.
    for sub in (slice(0, 40), slice(0, 400)):
        def objective(x, k=k[sub], n=n[sub]):
            return -model.beta_binomial_loglik(k, n, *np.exp(x)) + 0.5 * np.sum((x - np.log([0.5, 2.5])) ** 2)
        ref = optimize.minimize(objective, np.log([0.5, 2.5]), method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 10_000}).x
        got = np.log(model.beta_binomial_map(k[sub], n[sub], parent=(0.5, 2.5)))
        assert got == pytest.approx(ref, abs=1e-4)
    # Three processes: shrunk toward the parent, compared with their own maximum likelihood.
    parent = np.log([0.5, 2.5])
    shrunk = np.log(model.beta_binomial_map(k[:3], n[:3], parent=(0.5, 2.5)))
    alone = np.log(model.beta_binomial_map(k[:3], n[:3], parent=(0.5, 2.5), tau=1e6))
    assert np.linalg.norm(shrunk - parent) < np.linalg.norm(alone - parent)


def test_kl_inverse_matches_a_root_finder():
    for q in (0.0, 0.01, 0.2, 0.5, 0.9):
        for c in (1e-4, 0.01, 0.3, 2.0):
            got = model.kl_inverse_upper(q, c)
            f = lambda p: model.kl_bernoulli(q, p) - c   # noqa: E731
            want = 1.0 if f(1 - 1e-15) <= 0 else optimize.brentq(f, q + 1e-15 if q < 1 else q, 1 - 1e-15,
                                                                  xtol=1e-14)
            assert got == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("errors,n", [(0, 1), (0, 7), (3, 7), (6, 7), (7, 7), (1, 100)])
def test_the_exact_bound_is_the_clopper_pearson_one(errors, n):
    bound = model.exact_upper(errors, n, confidence=0.95)
    assert bound == pytest.approx(1.0 if errors == n else stats.beta.ppf(0.95, errors + 1, n - errors), rel=1e-10)
    if errors < n:                                       # the rate at which seeing <= errors has probability 5%
        assert stats.binom.cdf(errors, n, bound) == pytest.approx(0.05, rel=1e-8)
    with pytest.raises(ValueError, match="errors=8"):
        model.exact_upper(8, 7)


def test_pac_bayes_bound_covers_the_true_rate():
    """Simulated shadow records with a known false-kill rate: the bound at
    95 % must be below the truth in at most 5 % of them (it is conservative:
    far fewer), and never exists below n = 8."""
    rng = np.random.default_rng(4)
    for rate, n in ((0.02, 40), (0.1, 100), (0.3, 20)):
        errors = rng.binomial(n, rate, size=4000)
        bounds = np.array([model.pac_bayes_bound(int(e), n, confidence=0.95) for e in np.unique(errors)])
        by_errors = dict(zip(np.unique(errors).tolist(), bounds))
        misses = np.mean([by_errors[int(e)] < rate for e in errors])
        assert misses <= 0.05
    assert model.pac_bayes_bound(0, 7) is None
    needed = model.needed_n(0.05)
    assert model.pac_bayes_bound(0, needed) <= 0.05 < model.pac_bayes_bound(0, needed - 1)
    # Never tighter than the exact binomial (Clopper-Pearson) bound it relaxes.
    for e, n in ((0, 50), (3, 50), (20, 100)):
        cp = stats.beta.ppf(0.95, e + 1, n - e) if e < n else 1.0
        assert model.pac_bayes_bound(e, n) >= cp


def test_gamma_hazard_update_recovers_a_known_hazard():
    """Exponential lifetimes at a known hazard, censored at random times:
    the posterior mean (a + ended) / (b + lived) finds the hazard, and its
    predictive survival (b / (b + t))^a is the Lomax (scipy) survival."""
    rng = np.random.default_rng(11)
    hazard = 1 / 3600
    life = rng.exponential(1 / hazard, 20_000)
    censor = rng.uniform(0, 4 * 3600, life.size)
    a, b = model.gamma_hazard_update((2.0, 86_400.0), int((life <= censor).sum()), float(np.minimum(life, censor).sum()))
    assert a / b == pytest.approx(hazard, rel=0.03)
    for t in (60.0, 3600.0, 86_400.0):
        assert (b / (b + t)) ** a == pytest.approx(stats.lomax.sf(t, a, scale=b), rel=1e-12)


def test_lifetimes_come_from_exits_and_last_sightings(tmp_path):
    """Through the lake: a process found gone has lived from its start to the
    middle of the interval it vanished in; one still running, to its last
    sighting; the update adds exactly those."""
    ts, run = 1_800_000_000.0, "20270115T000000Z-00000000"
    n = MIN = 6
    key = {"run_id": [run] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": list(range(10, 10 + n)),
           "start_ticks": [1] * n}
    writer.write_tables(tmp_path, {
        "decisions": _table("decisions", {**key, "action": ["kill"] * n, "class": ["abandoned"] * n,
                                          "lfdr": [0.2] * n, "command_category": ["test_runner"] * n}),
        "proc_features": _table("proc_features", {**key, "cpu_ticks": [0] * n, "window_ticks": [30] * n,
                                                  "age_s": [100.0 * (i + 1) for i in range(n)]}),
        "runs": _table("runs", {"run_id": [run], "ts": [ts], "mode": ["quick"]})}, run, ts)
    base = {"boot_id": "b", "start_ticks": 1, "uid": 0, "action": "kill", "verdict_run_id": run, "note": None}
    rows = [{**base, "pid": 10 + i, "ts": ts + 600, "result": "idle", "observed_by": "rescan",
             "label": "useful", "after_s": 600.0} for i in range(n)]
    # Pids 10 and 11 were then found gone at ts + 1800, last seen at ts + 1200.
    rows += [{**base, "pid": p, "ts": ts + 1800, "result": "exited", "observed_by": "rescan", "label": None,
              "after_s": 1800.0, "seen_until_s": 1200.0} for p in (10, 11)]
    # Pid 12 was killed by pt apply at ts + 900 (then found gone): cut short, not ended.
    rows += [{**base, "pid": 12, "ts": ts + 900, "result": "done", "observed_by": "journal", "label": None},
             {**base, "pid": 12, "ts": ts + 1800, "result": "exited", "observed_by": "rescan", "label": None,
              "after_s": 1800.0, "seen_until_s": 1200.0}]
    table = writer.outcome_table({k: [r.get(k) for r in rows] for k in
                                  ("boot_id", "pid", "start_ticks", "uid", "action", "verdict_run_id", "ts",
                                   "result", "observed_by", "label", "after_s", "seen_until_s")} |
                                 {"run_id": ["20270115T010000Z-00000001"] * len(rows)})
    lakes.publish(tmp_path, lakes.partition(tmp_path, "outcomes", ts, "20270115T010000Z-00000001"),
                  lambda f: writer.write_parquet(table, f))
    record = cal.read_record(duck.open_lake(tmp_path, tables=("decisions", "proc_features", "outcomes"),
                                            macros=False))
    order = np.argsort(record.lived_s)
    want = sorted([100.0 * (i + 1) + {0: 1500.0, 1: 1500.0, 2: 900.0}.get(i, 600.0) for i in range(n)])
    assert record.lived_s[order] == pytest.approx(want)
    assert record.ended.sum() == 2
    overlay, rows_out = cal.survival_update(record, shipped_priors())
    parent = shipped_priors().by_category["survival"]["test_runner"]["useful"]
    assert overlay["test_runner"]["useful"] == pytest.approx([parent[0] + 2, parent[1] + sum(want)])
    assert rows_out[0]["n"] == MIN and rows_out[0]["ended"] == 2


# --- simulated machines through the real lake ---------------------------------------

TRUE_PRIOR = np.array([0.6, 0.1, 0.25, 0.05])
TRUE_CPU = {"useful": (1.0, 3.0), "useful_bad": (4.0, 1.0), "abandoned": (0.2, 8.0), "zombie": (0.05, 60.0)}
KILL_P = np.array([0.02, 0.05, 0.7, 0.6])        # P(the shadow policy says kill | class)


def _table(name: str, columns: dict) -> pa.Table:
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type) for f in sch]
    return pa.Table.from_arrays(arrays, schema=sch)


def simulate_machine(root: Path, rng, *, processes: int, runs: int = 4, categories=("test_runner", "dev_server"),
                     label_share: float = 1.0) -> dict:
    """A machine's processes drawn from known truth, recorded as scans
    (decisions, proc_features, runs) and rescan labels through the real
    writers; returns the truth."""
    cls = rng.choice(4, size=processes, p=TRUE_PRIOR)
    cat = np.asarray(categories, dtype=object)[rng.integers(len(categories), size=processes)]
    window = np.full(processes, 30)
    busy = np.array([rng.beta(*TRUE_CPU[CLASSES[c]]) for c in cls])
    ticks = rng.binomial(window, busy)
    kill = rng.random(processes) < KILL_P[cls]
    lfdr = np.clip(0.5 + 0.4 * (cls == 0) - 0.4 * (cls >= 2) + rng.normal(0, 0.05, processes), 0, 1)
    run_of = rng.integers(runs, size=processes)
    pids = np.arange(processes) + 1000
    for r in range(runs):
        ts, run_id = 1_800_000_000.0 + 3600 * r, f"20270115T0{r}0000Z-0000000{r}"
        sel = run_of == r
        key = {"run_id": [run_id] * int(sel.sum()), "ts": [ts] * int(sel.sum()), "boot_id": ["b"] * int(sel.sum()),
               "pid": pids[sel].tolist(), "start_ticks": (pids[sel] * 7).tolist()}
        tables = {
            "decisions": _table("decisions", {**key, "action": np.where(kill[sel], "kill", "keep").tolist(),
                                              "class": [CLASSES[c] for c in cls[sel]], "lfdr": lfdr[sel].tolist(),
                                              "command_category": cat[sel].tolist()}),
            "proc_features": _table("proc_features", {**key, "cpu_ticks": ticks[sel].tolist(),
                                                      "window_ticks": window[sel].tolist()}),
            "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]}),
        }
        writer.write_tables(root, tables, run_id, ts)
    labelled = rng.random(processes) < label_share
    rows = [{"ts": 1_800_000_000.0 + 3600 * runs + i, "boot_id": "b", "pid": int(pids[i]),
             "start_ticks": int(pids[i] * 7), "uid": 1000, "action": "kill" if kill[i] else "keep",
             "result": "idle", "observed_by": "rescan", "label": CLASSES[cls[i]],
             "verdict_run_id": f"20270115T0{run_of[i]}0000Z-0000000{run_of[i]}", "after_s": 60.0, "note": None}
            for i in np.flatnonzero(labelled)]
    res = writer.write_labels(rows, lake=root, red=Redactor(KEY))
    assert res.written, res.reason
    false = np.isin(cls[kill & labelled], (0, 1))
    return {"classes": cls[labelled], "false_kill_rate": float((KILL_P[:2] * TRUE_PRIOR[:2]).sum()
                                                                / (KILL_P * TRUE_PRIOR).sum()),
            "kills": int((kill & labelled).sum()), "false_kills": int(false.sum())}


def test_calibration_recovers_known_priors_through_the_lake(tmp_path):
    rng = np.random.default_rng(5)
    truth = simulate_machine(tmp_path, rng, processes=6000)
    lake = duck.open_lake(tmp_path, tables=("decisions", "proc_features", "outcomes"), macros=False)
    record = cal.read_record(lake)
    assert len(record) == 6000 and record.unmatched == 0
    result = cal.calibrate(record, shipped_priors(), confidence=0.95, target=0.05)
    learned = np.array([result["class_prior"]["learned"][c] for c in CLASSES])
    assert learned == pytest.approx(TRUE_PRIOR, abs=0.02)
    assert {(g["category"], g["class"]) for g in result["cpu_window"]} == \
        {(c, k) for c in ("test_runner", "dev_server") for k in CLASSES}
    for g in result["cpu_window"]:
        a, b = g["learned"]
        ta, tb = TRUE_CPU[g["class"]]
        m, kappa = ta / (ta + tb), ta + tb
        se = math.sqrt(m * (1 - m) / (kappa + 1) + m * (1 - m) / 30) / math.sqrt(g["n"])
        assert a / (a + b) == pytest.approx(m, abs=4 * se), g
        pa_, pb_ = g["shipped"]
        assert abs(a / (a + b) - m) <= abs(pa_ / (pa_ + pb_) - m) + 2 * se, g     # moved toward the truth
    pb = result["pac_bayes"]
    assert pb["n"] == truth["kills"] and pb["false_kills"] == truth["false_kills"]
    assert pb["false_kill_bound"] >= truth["false_kill_rate"]
    assert result["overlay"]["class_prior"] == result["class_prior"]["learned"]
    # Reliability: the bins hold every labelled process, and the observed rate follows the truth.
    assert sum(b["n"] for b in result["reliability"]) == 6000


def test_calibration_bound_covers_over_repeated_simulated_machines(tmp_path):
    """Coverage through the lake, over repeated machines: the 80 % bound is
    below the true false-kill rate in at most about 20 % of them."""
    misses = 0
    reps = 12
    for rep in range(reps):
        rng = np.random.default_rng(100 + rep)
        root = tmp_path / f"m{rep}"
        truth = simulate_machine(root, rng, processes=300, runs=1)
        record = cal.read_record(duck.open_lake(root, tables=("decisions", "proc_features", "outcomes"),
                                                macros=False))
        pb = cal.false_kill(record, confidence=0.8, target=0.05)
        misses += pb["false_kill_bound"] < truth["false_kill_rate"]
    assert misses <= 0.2 * reps + 2       # binomial slack: P(> 4.4 of 12 | p = 0.2) < 0.1


def test_too_few_outcomes_give_no_bound_but_say_how_many(tmp_path):
    rng = np.random.default_rng(6)
    simulate_machine(tmp_path, rng, processes=8, runs=1)
    record = cal.read_record(duck.open_lake(tmp_path, tables=("decisions", "proc_features", "outcomes"),
                                            macros=False))
    pb = cal.false_kill(record, confidence=0.95, target=0.05)
    if pb["n"] < model.MIN_N:
        assert pb["false_kill_bound"] is None and str(pb["needed"]) in pb["note"]
    empty = cal.calibrate(cal.read_record(duck.open_lake(tmp_path / "none", tables=("decisions", "proc_features",
                                                                                    "outcomes"), macros=False)),
                          shipped_priors())
    assert empty["overlay"] is None and "no labelled outcomes" in empty["note"]
    assert empty["pac_bayes"]["false_kill_bound"] is None


# --- the learned priors file ------------------------------------------------------------

def test_calibrate_writes_learned_priors_the_model_uses_and_reset_reverts(tmp_path):
    simulate_machine(tmp_path / "lake", np.random.default_rng(7), processes=400, runs=2)
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    shipped = pt("config", "show", "--json", cwd=tmp_path, env=env)
    out = pt("calibrate", "--json", "--lake", str(tmp_path / "lake"), cwd=tmp_path, env=env)
    data = json.loads(out.stdout)["data"]
    path = Path(data["written"]["path"])
    assert path == tmp_path / "data" / "pt" / "learned-priors.json"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert set(data["pac_bayes"]) >= {"false_kill_bound", "confidence", "n"}
    shown = json.loads(pt("config", "show", "--json", cwd=tmp_path, env=env).stdout)["data"]
    assert "learned-priors.json" in shown["priors"]["source"]
    assert shown["priors"]["digest"] != json.loads(shipped.stdout)["data"]["priors"]["digest"]
    # The model uses it (in process too).
    os.environ["XDG_DATA_HOME"] = str(tmp_path / "data")
    learned = load_priors()
    assert learned.class_prior == pytest.approx([data["class_prior"]["learned"][c] for c in CLASSES])
    # Again: generation 2.
    out = pt("calibrate", "--json", "--lake", str(tmp_path / "lake"), cwd=tmp_path, env=env)
    assert json.loads(out.stdout)["data"]["written"]["generation"] == 2
    # Corrupt: the shipped priors, with one warning naming the file.
    path.write_text('{"learned": {"format": 1}, "class_prior": {"useful": 2}}')
    shown = pt("config", "show", "--json", cwd=tmp_path, env=env)
    assert "ignoring the learned priors" in shown.stderr and "using the shipped priors" in shown.stderr
    assert json.loads(shown.stdout)["data"]["priors"]["digest"] == json.loads(shipped.stdout)["data"]["priors"]["digest"]
    path.write_bytes(b"\x00\xff not json")
    assert "ignoring the learned priors" in pt("config", "show", cwd=tmp_path, env=env).stderr
    # Reset: back to the shipped priors.
    reset = json.loads(pt("calibrate", "--reset", "--json", cwd=tmp_path, env=env).stdout)["data"]
    assert reset["removed"] and not path.exists()
    again = json.loads(pt("config", "show", "--json", cwd=tmp_path, env=env).stdout)["data"]
    assert again["priors"]["digest"] == json.loads(shipped.stdout)["data"]["priors"]["digest"]


def test_an_lfdr_that_is_not_a_probability_is_unknown_not_a_warning_or_a_test(tmp_path):
    """Was: a lake row with lfdr = 1e308 made ``pt calibrate`` print numpy
    RuntimeWarnings (an overflow in the reliability bins), and a negative
    one entered alpha-investing as a p-value of 0, a test always admitted."""
    simulate_machine(tmp_path / "lake", np.random.default_rng(7), processes=400, runs=2)
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    before = json.loads(pt("calibrate", "--json", "--lake", str(tmp_path / "lake"), cwd=tmp_path,
                           env=env).stdout)["data"]["alpha_investing"]
    hostile = [1e308, -1e308, float("nan"), float("inf"), 5.0, -3.0, -1e-300]
    n = len(hostile)
    key = {"run_id": ["20270116T000000Z-00000009"] * n, "ts": [1_900_000_000.0] * n, "boot_id": ["b"] * n,
           "pid": list(range(90_000, 90_000 + n)), "start_ticks": [7] * n}
    writer.write_tables(tmp_path / "lake", {
        "decisions": _table("decisions", {**key, "action": ["kill"] * n, "class": ["abandoned"] * n,
                                          "lfdr": hostile, "command_category": ["test_runner"] * n}),
        "runs": _table("runs", {"run_id": key["run_id"][:1], "ts": key["ts"][:1], "mode": ["quick"]})},
        key["run_id"][0], key["ts"][0])
    rows = [{"ts": 1_900_000_100.0, "boot_id": "b", "pid": pid, "start_ticks": 7, "uid": 1000, "action": "kill",
             "result": "idle", "observed_by": "rescan", "label": "abandoned", "verdict_run_id": key["run_id"][0],
             "after_s": 60.0, "note": None} for pid in key["pid"]]
    assert writer.write_labels(rows, lake=tmp_path / "lake", red=Redactor(KEY)).written
    out = pt("calibrate", "--json", "--lake", str(tmp_path / "lake"), cwd=tmp_path, env=env)
    assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["data"]["alpha_investing"]["tests"] == before["tests"]
    lake = duck.open_lake(tmp_path / "lake", tables=("decisions", "proc_features", "outcomes"), macros=False)
    lfdr = cal.read_record(lake).lfdr
    assert np.isnan(lfdr).sum() == n and ((lfdr[~np.isnan(lfdr)] >= 0) & (lfdr[~np.isnan(lfdr)] <= 1)).all()


def test_calibrate_on_an_empty_lake_says_so_and_writes_nothing(tmp_path):
    out = pt("calibrate", "--lake", str(tmp_path / "lake"), cwd=tmp_path)
    assert "no labelled outcomes yet" in out.stdout and "none (too few" in out.stdout
    assert not (tmp_path / ".local" / "share" / "pt" / "learned-priors.json").exists()


# --- 4. drift -----------------------------------------------------------------------------

def _features(root: Path, rng, ts: float, n: int, busy: tuple[float, float], log_age: float, run: str) -> None:
    key = {"run_id": [run] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": list(range(50_000, 50_000 + n)),
           "start_ticks": list(range(n))}
    ticks = rng.binomial(30, rng.beta(*busy, size=n))
    tables = {"proc_features": _table("proc_features", {**key, "cpu_ticks": ticks.tolist(),
                                                        "window_ticks": [30] * n,
                                                        "age_s": (10 ** rng.normal(log_age, 0.5, n)).tolist()}),
              "runs": _table("runs", {"run_id": [run], "ts": [ts], "mode": ["quick"]})}
    writer.write_tables(root, tables, run, ts)


def test_drift_statistics_match_scipy():
    rng = np.random.default_rng(9)
    for shift, n, m in ((0.3, 500, 700), (0.0, 40, 25), (2.0, 2000, 2000)):
        a, b = rng.normal(0, 1, n), np.round(rng.normal(shift, 1, m), 1)      # ties too
        out = drift.compare({"cpu_share": a.tolist()}, {"cpu_share": b.tolist()})["features"]["cpu_share"]
        ks = stats.ks_2samp(a, b, method="asymp")
        assert out["ks"] == pytest.approx(ks.statistic, abs=1e-12)
        # The asymptotic Kolmogorov distribution of sqrt(nm/(n+m)) D (scipy's ks_2samp
        # "asymp" uses the finite-n distribution at round(nm/(n+m)) instead).
        en = math.sqrt(n * m / (n + m))
        assert out["p_value"] == pytest.approx(stats.kstwobign.sf(ks.statistic * en), rel=1e-9, abs=1e-300)
        assert out["wasserstein"] == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)
    assert not drift.compare({"cpu_share": [0.1] * 5}, {"cpu_share": [0.9] * 5})["alarm"]   # too few to compare


def test_drift_alarm_reverts_to_the_shipped_priors(tmp_path):
    rng = np.random.default_rng(10)
    lake = tmp_path / "lake"
    t0 = 1_800_000_000.0
    simulate_machine(lake, rng, processes=300, runs=1)                      # labels, at t0
    for h in range(6):                                                      # the calibration week
        _features(lake, rng, t0 + 3600 * h, 300, (0.5, 5.0), 4.0, f"20270115T1{h}0000Z-a000000{h}")
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    pt("calibrate", "--lake", str(lake), cwd=tmp_path, env=env)
    path = tmp_path / "data" / "pt" / "learned-priors.json"
    assert len(json.loads(path.read_text())["learned"]["reference"]["cpu_share"]) >= 1000
    # A day later, the same behaviour: no alarm, the learned priors stay.
    for h in range(3):
        _features(lake, rng, t0 + 86400 + 3600 * h, 300, (0.5, 5.0), 4.0, f"20270116T1{h}0000Z-b000000{h}")
    same = json.loads(pt("calibrate", "--drift", "--json", "--lake", str(lake), cwd=tmp_path, env=env).stdout)
    assert same["data"]["drift"]["alarm"] is False and path.exists()
    assert all(f["compared"] for f in same["data"]["drift"]["features"].values())
    # Then the machine changes (busy, young processes): alarm, reverted.
    for h in range(3):
        _features(lake, rng, t0 + 3 * 86400 + 3600 * h, 300, (5.0, 2.0), 2.0, f"20270118T1{h}0000Z-c000000{h}")
    dry = json.loads(pt("calibrate", "--drift", "--dry-run", "--json", "--lake", str(lake), cwd=tmp_path,
                        env=env).stdout)["data"]["drift"]
    assert dry["alarm"] and not dry["reverted"] and path.exists()
    out = pt("calibrate", "--drift", "--lake", str(lake), cwd=tmp_path, env=env)
    assert "removed them" in out.stdout and not path.exists()
    none = json.loads(pt("calibrate", "--drift", "--json", "--lake", str(lake), cwd=tmp_path, env=env).stdout)
    assert none["data"]["drift"]["learned"] is False and not none["data"]["drift"]["alarm"]
