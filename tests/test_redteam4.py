"""Red-team findings on what landed last session, each a regression test:
fixed ones pass, open ones are ``xfail(strict=True)`` naming the fix.

Lakes and state live under ``tmp_path``; no process is signalled.
"""
import json
import os
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

from pt import safefs
from pt.learn import store
from pt.telemetry import followup, history
from pt.telemetry import lake as lakes
from pt.telemetry import schemas, writer
from pt.testing import isolated_env

pytestmark = pytest.mark.usefixtures("private_homes")

#: A scan that has not finished by then hangs (it takes seconds even on a loaded machine).
HANG_S = 120


def _scan_json(tmp_path, env: dict | None = None) -> dict:
    """``pt scan --json`` in ``tmp_path`` (state and lake under it), failing, not hanging, if it blocks."""
    proc = subprocess.run([sys.executable, "-m", "pt", "scan", "--json", "--top", "3", "--window", "0.05"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=HANG_S,
                          env={**isolated_env(tmp_path), "COLUMNS": "200", **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_fifo_for_the_learned_priors_withholds_kills_instead_of_hanging_every_scan(tmp_path):
    """Every scan reads the learned priors for the kill gate; the file was
    opened blocking, so a FIFO there (mkfifo, a restore gone wrong) hung
    every ``pt scan`` forever. Now it is a file pt cannot use: kills withheld."""
    learned = tmp_path / "learned" / "learned-priors.json"
    learned.parent.mkdir(mode=0o700)
    os.mkfifo(learned, 0o600)
    out = _scan_json(tmp_path, {store.LEARNED_ENV: str(learned)})
    withheld = out["data"]["summary"]["kill_withheld"]["why"]
    assert "not a regular file" in withheld and str(learned) in withheld


def test_a_fifo_for_the_follow_up_watch_list_does_not_hang_the_scan(tmp_path):
    """The telemetry writer reads ``<lake>/_followup/pending.npz``; a FIFO
    there blocked the forked writer, and the scan waiting for its result, forever."""
    _scan_json(tmp_path)                                  # makes the lake
    lake = tmp_path / ".local" / "share" / "pt" / "lake"
    (lake / "_followup").mkdir(mode=0o700, exist_ok=True)
    pending = lake / "_followup" / followup.PENDING_FILE
    pending.unlink(missing_ok=True)
    os.mkfifo(pending, 0o600)
    out = _scan_json(tmp_path)
    assert out["data"]["processes"]


def test_safefs_reads_only_regular_files_of_bounded_size(tmp_path):
    d = tmp_path / "d"
    with safefs.private_dir(d) as directory:
        os.mkfifo(d / "fifo", 0o600)
        with pytest.raises(OSError, match="not a regular file"):
            directory.read_bytes("fifo")
        directory.replace("big", b"x" * 11)
        assert directory.read_bytes("big", limit=11) == b"x" * 11
        with pytest.raises(OSError, match="larger than 10 bytes"):
            directory.read_bytes("big", limit=10)


def _samples(root, host: str, ts: float, boot_id: str, rss: int, monkeypatch) -> None:
    """One committed run of ``host``: a ``proc_samples`` row of pid 4242 and its ``runs`` row."""
    run_id = writer.new_run_id(ts)

    def table(name, columns):
        sch = schemas.schema(name)
        return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(1, f.type)
                                     for f in sch], schema=sch)
    monkeypatch.setenv(lakes.HOST_ENV, host)
    writer.write_tables(root, {
        "proc_samples": table("proc_samples", {"run_id": [run_id], "ts": [ts], "boot_id": [boot_id], "pid": [4242],
                                               "ppid": [1], "start_ticks": [7], "rss_bytes": [rss]}),
        "runs": table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)


def test_a_fleet_lakes_earlier_runs_are_read_for_this_host(tmp_path, monkeypatch):
    """history.read added a (raw, compacted) tuple to the list of files in a
    fleet lake, so every read failed ("AttributeError: 'list' object has no
    attribute 'parent'"): no memory growth across runs for the deep scan, no
    respawn loops for ``pt incidents --lake``. It also took the last 48 runs
    of every host, so busier hosts crowded this host's own out, and never
    read its compacted months."""
    monkeypatch.setenv(lakes.HOST_ENV, "alpha")
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    t0 = 1_800_000_000.0
    for i in range(12):
        _samples(root, "alpha", t0 + 600 * i, "boot-alpha", (100 + 10 * i) << 20, monkeypatch)
    for i in range(60):                                  # a busier host, scanning since
        _samples(root, "beta", t0 + 7200 + 60 * i, "boot-beta", 1 << 20, monkeypatch)
    monkeypatch.setenv(lakes.HOST_ENV, "alpha")
    h = history.read(root, "boot-alpha")
    assert h.note is None and h.runs == 12 and len(h) == 12
    assert h.rss_bytes.tolist() == [(100 + 10 * i) << 20 for i in range(12)]
    lakes.compact(root, hosts=frozenset({"alpha"}))
    assert not lakes.table_files(root, "proc_samples", host="alpha")[0]
    h = history.read(root, "boot-alpha")
    assert h.note is None and h.runs == 12 and len(h) == 12


def _kill_verdicts(root, kills: int, false: int, boot: str) -> None:
    """One recorded scan whose verdict is kill for ``kills`` processes and a
    feedback label each: ``false`` of them useful, the rest abandoned."""
    from pt.telemetry.redact import Redactor

    def table(name, columns):
        sch = schemas.schema(name)
        n = len(next(iter(columns.values())))
        return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                     for f in sch], schema=sch)
    run_id, ts = "20270201T000000Z-00000001", 1_800_000_000.0
    pids = list(range(2000, 2000 + kills))
    key = {"run_id": [run_id] * kills, "ts": [ts] * kills, "boot_id": [boot] * kills, "pid": pids,
           "start_ticks": [p * 3 for p in pids]}
    writer.write_tables(root, {
        "decisions": table("decisions", {**key, "action": ["kill"] * kills, "class": ["abandoned"] * kills,
                                         "lfdr": [0.01] * kills, "command_category": ["test_runner"] * kills}),
        "proc_features": table("proc_features", {**key, "cpu_ticks": [0] * kills, "window_ticks": [30] * kills}),
        "runs": table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    rows = [{"ts": ts + 86400 + i, "boot_id": boot, "pid": p, "start_ticks": p * 3, "uid": 1000, "action": "kill",
             "result": "idle", "observed_by": "feedback", "label": "useful" if i < false else "abandoned",
             "verdict_run_id": run_id, "after_s": 86400.0, "note": None} for i, p in enumerate(pids)]
    assert writer.write_labels(rows, lake=root, red=Redactor(bytes(range(32)))).written


@pytest.mark.parametrize("false,withheld", [(7, True), (0, False)])
def test_other_hosts_right_kills_do_not_open_the_gate_of_a_host_whose_few_kills_were_all_wrong(
        tmp_path, monkeypatch, false, withheld):
    """Was: seven kill verdicts on this host, all seven wrong, are too few for
    its own PAC-Bayes bound; 600 right kills on another host put the fleet's
    bound (0.036, pooled) under fdr_alpha 0.05, so this host's gate opened.
    Seven right ones on this host still borrow the fleet's bound."""
    from pt.config import load_policy
    from pt.learn.gate import kill_gate
    from pt.testing import run_pt
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    for host, kills, wrong in (("good", 600, 0), ("here", 7, false)):
        monkeypatch.setenv(lakes.HOST_ENV, host)
        _kill_verdicts(root, kills, wrong, f"b-{host}")
    env = {lakes.HOST_ENV: "here", "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    pb = json.loads(run_pt("calibrate", "--fleet", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout
                    )["data"]["pac_bayes"]
    assert pb["this_host"]["false_kills"] == false and pb["this_host"]["n"] == 7
    assert pb["scope"] == ("this host" if withheld else "fleet")
    assert bool(kill_gate(load_policy())) == withheld


def test_a_telemetry_writer_that_hangs_is_stopped_and_the_scan_goes_on(tmp_path, monkeypatch):
    """The scan waited for its forked telemetry writer without a bound: a
    writer stuck (a lake on a hung mount, a FIFO) hung ``pt scan`` forever.
    Now it waits ``WAIT_S``, stops the writer (its own child) and says so."""
    import time

    from pt.collect import collect
    from pt.telemetry import recorder
    if not recorder._can_fork():
        pytest.skip("other threads run here: the recorder would write on a thread, not fork")
    monkeypatch.setattr(writer, "write_scan", lambda *a, **k: time.sleep(3600))
    monkeypatch.setattr(recorder, "WAIT_S", 1.0)
    rec = recorder.Recorder(tmp_path / "lake")
    rec.start(snapshot=collect())
    child = rec._child[0]
    result = rec.result()
    assert not result.written and "did not finish within 1 s" in result.reason
    with pytest.raises(ChildProcessError):                # stopped and reaped
        os.waitpid(child, os.WNOHANG)


def test_a_plan_the_watcher_cannot_save_is_a_failed_step_not_the_end_of_the_watch(tmp_path):
    """``pt watch`` saved each plan with nothing around it: a plan over 16 MiB
    (a tree of ~2,700 idle members under an abandoned root) or a plans
    directory it will not use ended the whole watch (exit 1) at the first
    interval that acted. Now that interval acts on nothing, says why, and
    counts a failure (repeated ones step the watcher back); the watch goes on."""
    import uuid

    from pt.testing import acting_env, kill_if_same, start_ticks
    mark = f"ptredteam4{uuid.uuid4().hex[:12]}"
    env = acting_env(tmp_path)                   # and, as tests/test_watch.py's mechanics: the spinner is useful_bad
    (tmp_path / "config/pt/priors.json").write_text(json.dumps(
        {"version": 1, "class_prior": {"useful": 0.4, "useful_bad": 0.4, "abandoned": 0.17, "zombie": 0.03}}))
    plans = tmp_path / "state" / "pt" / "plans"
    # An orphaned spinner (its shell exited): canary quarantines it when it can plan.
    out = subprocess.run(["setsid", "sh", "-c", f"{sys.executable} -c 'while True: pass' {mark} >/dev/null 2>&1 "
                          "& echo $!"], capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    start = start_ticks(pid)
    try:
        plans.mkdir(parents=True, exist_ok=True)
        plans.chmod(0o777)
        proc = subprocess.run([sys.executable, "-m", "pt", "watch", "--json", "--mode", "canary", "--no-deep-check",
                               "--interval", "1", "--count", "2", "--match", mark], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        steps = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        last = [s["data"]["status"]["last"] for s in steps]
        assert len(last) == 2 and not any(s["acted"] for s in last)
        assert all("plan not saved, nothing done" in s["note"] and "mode 0777" in s["note"] for s in last)
        assert last[0]["failed"] == 1
    finally:
        kill_if_same(pid, start)



@pytest.mark.parametrize("age_s,loops", [(1200.0, 0), (5.0, 1)])
def test_a_dev_server_reloading_on_saves_is_not_a_respawn_loop(tmp_path, age_s, loops):
    """Was: a dev server's autoreloader (runserver, uvicorn --reload, flask,
    nodemon) restarts its app, same command line, each time a file is saved.
    Four hourly scans, each seeing a new app life 20 minutes old (it had
    served for 20 minutes, nothing crashed), were called a respawn loop
    across runs, and ``pt incidents --lake`` recommended pausing the server
    (reproduced end to end with a reloader that reloaded between scans).
    The same lives seen 5 s old are a crash loop: still found."""
    boot, clk, root = 1_800_000_000.0, 100, tmp_path / "lake"
    for k in range(4):
        ts = boot + 3600.0 * (k + 1)
        run_id = writer.new_run_id(ts)

        def table(name, columns):
            sch = schemas.schema(name)
            n = len(next(iter(columns.values())))
            return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns
                                         else pa.nulls(n, f.type) for f in sch], schema=sch)
        writer.write_tables(root, {
            "proc_samples": table("proc_samples", {
                "run_id": [run_id] * 2, "ts": [ts] * 2, "boot_id": ["b"] * 2, "pid": [500, 600 + k],
                "ppid": [1, 500], "start_ticks": [1000, int((ts - age_s - boot) * clk)],
                "rss_bytes": [50 << 20] * 2, "cmd_hash": ["c:0123456789abcdef"] * 2}),
            "runs": table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"], "boot_id": ["b"],
                                   "boot_time": [boot], "clock_ticks": [clk]})}, run_id, ts)
    h = history.read(root, "b")
    assert h.note is None and h.runs == 4
    assert h.age_s[h.pid != 500] == pytest.approx(age_s, abs=0.02)
    assert [loop.ppid for loop in history.respawns(h)] == [500] * loops



def test_a_detached_build_at_work_is_no_runaway_tree(tmp_path):
    """Was: the live-build test's compiling workers under a ``make`` whose
    launching shell exited (as after ``nohup make -j2 &`` and logging out):
    pt named a runaway tree on the build and recommended throttling it."""
    import psutil

    from pt.incidents import judge
    from pt.infer.incidents import detect
    from pt.testing import cpu_ticks, wait_for
    from pt.triage import triage
    worker = "while :; do i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo x > out.$$; done"
    script = f"cd {tmp_path} && for i in 1 2; do sh -c '{worker}' & done; wait"
    make = f"{sys.executable} -c 'import os, sys; os.execv(\"/bin/sh\", [\"make\", \"-c\", sys.argv[1]])' \"$0\""
    out = subprocess.run(["setsid", "sh", "-c", f"{make} >/dev/null 2>&1 & echo $!", script],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    pgid = os.getpgid(pid)
    try:
        build = psutil.Process(pid)
        wait_for(lambda: build.cmdline()[:1] == ["make"] and len(build.children()) == 2, timeout=30)
        wait_for(lambda: all(cpu_ticks(c.pid) >= 5 for c in build.children()), timeout=60)
        assert build.ppid() != os.getpid()                       # adopted: its launching shell is gone
        hits = []

        def plain_runaway():
            t = triage(window_s=1.0)
            hits[:] = [t]
            return any(i.pid == pid and i.kind == "runaway_tree" for i in detect([t.snapshot], t.window))
        wait_for(plain_runaway, timeout=60, interval=0)
        judged = [i for i in judge(hits[0]) if i.pid == pid and i.kind == "runaway_tree"]
        assert not judged, judged
    finally:
        if os.getpgid(pid) == pgid and pgid != os.getpgid(0):
            os.killpg(pgid, signal.SIGKILL)                      # the group setsid made for this build alone


def test_a_fifo_for_the_journal_is_an_error_not_a_hang(tmp_path):
    """``pt history`` (and verify, undo, explain --plan) read the journal
    with a plain blocking read that also followed a link: a FIFO there hung
    them forever. Now it is read through pt's private directory: a clear error."""
    state = tmp_path / "state"
    (state / "pt").mkdir(parents=True, mode=0o700)
    state.chmod(0o700)
    os.mkfifo(state / "pt" / "journal.jsonl", 0o600)
    proc = subprocess.run([sys.executable, "-m", "pt", "history", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=HANG_S, env={**isolated_env(tmp_path), "XDG_STATE_HOME": str(state)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not a regular file" in json.loads(proc.stdout)["errors"][0]["message"]
