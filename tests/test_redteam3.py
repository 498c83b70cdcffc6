"""Red-team findings on the features merged last session, each a regression
test: fixed ones pass, open ones are ``xfail(strict=True)`` naming the fix.

Lakes live under ``tmp_path``; processes are ones these tests start.
"""
import json

import numpy as np
import pytest

from pt.learn import store
from pt.telemetry import lake as lakes
from pt.telemetry import writer
from pt.telemetry.redact import Redactor
from pt.testing import run_pt as pt

KEY = bytes(range(32))
OLD_TS = 1_600_000_000.0                 # 2020-09-13: far past any --keep below


pytestmark = pytest.mark.usefixtures("private_homes")


def _old_labels(root, monkeypatch, host: str | None) -> list:
    """One old outcomes file (a label from 2020), in ``host``'s partition when given."""
    if host is not None:
        monkeypatch.setenv(lakes.HOST_ENV, host)
    rows = [{"ts": OLD_TS, "boot_id": "b", "pid": 4242, "start_ticks": 7, "uid": 1000, "action": "kill",
             "result": "done", "observed_by": "feedback", "label": "useful", "verdict_run_id": None,
             "after_s": 60.0, "note": "old"}]
    res = writer.write_labels(rows, lake=root, red=Redactor(KEY))
    assert res.written, res.reason
    return res.files


def test_fleet_lake_prune_check_and_export_reach_every_host_partition(tmp_path, monkeypatch):
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    files = _old_labels(root, monkeypatch, "alpha")
    assert all("/host=alpha/date=2020-09-13/" in f for f in files)
    env = {lakes.HOST_ENV: "alpha", "XDG_DATA_HOME": str(tmp_path / "xdg-data")}
    info = json.loads(pt("lake", "info", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout)["data"]
    check = json.loads(pt("lake", "check", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout)["data"]
    dest = tmp_path / "export"
    pt("lake", "export", str(dest), "--drop-hashes", "--lake", str(root), cwd=tmp_path, env=env)
    exported = sorted(p.name for p in dest.rglob("*.parquet"))
    pruned = json.loads(pt("lake", "prune", "--keep", "30d", "--json", "--lake", str(root),
                           cwd=tmp_path, env=env).stdout)["data"]
    left = sorted(str(p) for p in (root / "outcomes").rglob("*.parquet"))
    # What a user of a fleet lake is promised: prune deletes data older than --keep
    # (here: a 2020 label, which keeps a process identity and what was done to it),
    # check reads every file, export copies every file, info counts them.
    assert (info["tables"]["outcomes"]["run_files"], check["files_checked"], len(exported),
            pruned["files_removed"], left) == (1, 1, 1, 1, [])


class _CountingNumpy:
    """``numpy`` as pt.act.trees sees it, counting ``isin`` calls (one per level a tree walk visits)."""

    def __init__(self):
        import numpy
        self._np, self.isin_calls = numpy, 0

    def isin(self, *args, **kwargs):
        self.isin_calls += 1
        return self._np.isin(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._np, name)


def _chain_procfs(root, n: int):
    """A procfs with a chain of ``n`` old idle pytest processes, each the child
    of the one before, owned by the user running the tests (no other-user veto)."""
    import os

    from pt.testing import add_proc, make_tree
    make_tree(root)
    (root / "uptime").write_text("864000.00 1500000.00\n")
    me = os.geteuid()
    add_proc(root, 1, b"systemd", ppid=0, uid=0, cmdline=b"/sbin/init\x00", start=1, sid=1, pgid=1)
    add_proc(root, 100, b"sshd", ppid=1, uid=me, cmdline=b"sshd\x00", start=10, sid=100, pgid=100)
    for i in range(n):
        add_proc(root, 1000 + i, b"pytest", ppid=999 + i if i else 100, uid=me, cmdline=b"pytest\x00tests/\x00",
                 start=1000 + i, utime=0, stime=1, sid=1000, pgid=1000, tty_nr=0, tpgid=-1)
    return root


def test_whole_tree_recommendation_walks_a_deep_chain_a_bounded_number_of_times(tmp_path, monkeypatch):
    from pt.act import trees
    from pt.triage import triage
    n = 120
    monkeypatch.setenv("PT_PROCFS_PATH", str(_chain_procfs(tmp_path / "proc", n)))
    t = triage(window_s=0.01)
    counting = _CountingNumpy()
    monkeypatch.setattr(trees, "np", counting)
    action, size = trees.recommend(t)
    # Guard: the chain is what this is about (its head's tree holds it whole).
    assert size.max() == n
    assert counting.isin_calls <= 4 * n, f"{counting.isin_calls} tree levels walked for a chain of {n}"


def _table(name: str, columns: dict):
    import pyarrow as pa

    from pt.telemetry import schemas
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def _exits(root, age_s: float, remaining_s: float, category: str = "unknown", n: int = 12) -> None:
    """``n`` processes of ``category`` that a rescan found gone ``remaining_s``
    after a verdict given at age ``age_s`` (the conformal calibration pairs),
    through the real writer."""
    ts = 1_800_000_000.0
    run_id, later = writer.new_run_id(ts), writer.new_run_id(ts + 1)
    pids = list(range(5000, 5000 + n))
    key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": ["b"] * n, "pid": pids, "start_ticks": [7] * n}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["keep"] * n, "class": ["useful"] * n,
                                          "lfdr": [0.5] * n, "command_category": [category] * n}),
        "proc_features": _table("proc_features", {**key, "age_s": [age_s] * n, "cpu_ticks": [0] * n,
                                                  "window_ticks": [30] * n}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    writer.write_tables(root, {"outcomes": _table("outcomes", {
        "run_id": [later] * n, "ts": [ts + remaining_s] * n, "boot_id": ["b"] * n, "pid": pids,
        "start_ticks": [7] * n, "uid": [0] * n, "action": ["keep"] * n, "result": ["exited"] * n,
        "observed_by": ["rescan"] * n, "verdict_run_id": [run_id] * n, "after_s": [0.0] * n,
        "seen_until_s": [0.0] * n})}, later, ts + 1)


def test_a_hostile_lake_cannot_crash_explain_through_the_conformal_lifetime(tmp_path):
    """Was: exits recorded at age 1e-298 s made the bound inf, and pt explain
    crashed (OverflowError in format_duration; --json: not JSON compliant)."""
    from pt.testing import sleepers
    lake = tmp_path / "lake"
    _exits(lake, age_s=1e-298, remaining_s=1.7e10)
    with sleepers(1) as (proc,):
        table = pt("explain", str(proc.pid), cwd=tmp_path, env={"PT_LAKE": str(lake)}, check=False)
        as_json = pt("explain", str(proc.pid), "--json", cwd=tmp_path, env={"PT_LAKE": str(lake)}, check=False)
    for out in (table, as_json):
        assert out.returncode == 0 and "Traceback" not in out.stderr and "Warning" not in out.stderr, out.stderr
    life = json.loads(as_json.stdout)["data"]["remaining_lifetime"]
    assert life["within_s"] is None and "no finite bound" in life["note"], life
    assert "no finite bound" in " ".join(table.stdout.replace("\u2502", " ").split())   # the panel wraps lines


def test_conformal_bound_is_finite_or_none_for_any_recorded_lifetimes():
    """Was: bound() returned inf (age * exp(q) past the largest double) and
    scores() warned on overflow; pt explain then crashed on it."""
    import warnings

    import numpy as np

    from pt.learn import conformal
    tiny, huge = np.full(12, 1e-298), np.full(12, 1.7e10)
    cats = np.array(["unknown"] * 12, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        life = conformal.bound("unknown", 5.0, (cats, tiny, huge))
        overflowing = conformal.bound("unknown", 5.0, (cats, np.full(12, 1e-310), huge))
    assert life["within_s"] is None and life["n"] == 12 and "no finite bound" in life["note"]
    assert overflowing["n"] == 0 and overflowing["within_s"] is None      # ratio past a double: not a pair
    absurd = conformal.bound("unknown", 5.0, (cats, np.full(12, 1e-200), huge))
    assert absurd["within_s"] is None and "no finite bound" in absurd["note"]   # 10^200 years is no bound either
    sane = conformal.bound("unknown", 100.0, (cats, np.full(12, 100.0), np.full(12, 50.0)))
    assert sane["within_s"] == pytest.approx(50.0)                         # unchanged where numbers are real


def test_two_fleet_hosts_never_share_a_partition_or_a_watch_list(tmp_path, monkeypatch):
    import socket

    import pyarrow.parquet as pq

    from pt.telemetry import followup
    from pt.triage import triage
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    boots = {}
    for name, boot in (("web1.eu.example.com", "aaaaaaaa-0000-0000-0000-000000000001"),
                       ("web1.us.example.com", "bbbbbbbb-0000-0000-0000-000000000002")):
        proc = _chain_procfs(tmp_path / name, 5)
        (proc / "sys/kernel/random/boot_id").write_text(boot + "\n")
        monkeypatch.setenv("PT_PROCFS_PATH", str(proc))
        monkeypatch.setattr(socket, "gethostname", lambda name=name: name)
        t = triage(window_s=0.01)
        res = writer.write_scan(t, lake=root, red=Redactor(KEY), follow=True)
        assert res.written, res.reason
        boots[name] = (boot, lakes.host_name(), len(followup.read_pending(root)["pid"]))
    (boot_a, host_a, _), (_, host_b, _) = boots.values()
    assert boots["web1.eu.example.com"][2] > 0           # the first host watches its flagged processes
    lost = [r for f in (root / "outcomes").rglob("*.parquet") for r in pq.read_table(f).to_pylist()
            if r["boot_id"] == boot_a and r["result"] == "lost"]
    assert host_a != host_b and not lost, (host_a, host_b, len(lost))


def test_a_plan_pt_saves_for_the_largest_tree_is_one_pt_can_load(tmp_path, monkeypatch):
    from pt.act import plan as plans
    from pt.act.trees import MAX_TREE_MEMBERS
    from pt.testing import sleepers
    with sleepers(1) as (proc,):
        out = pt("plan", "--pid", str(proc.pid), "--do", "pause", "--json", "--no-telemetry", cwd=tmp_path)
    plan = json.loads(out.stdout)["data"]["plan"]
    entry = plan["actions"][0]
    assert entry["ledger"]                                    # a real entry, as pt plan writes it
    members = []
    for i in range(MAX_TREE_MEMBERS):                         # the largest tree pt plans as one decision
        member = json.loads(json.dumps(entry))
        member["index"], member["target"]["pid"] = i, 10_000 + i
        member["tree"] = {"id": 0, "root": 10_000, "depth": int(i > 0), "size": MAX_TREE_MEMBERS}
        members.append(member)
    plan["actions"] = members
    try:
        path = plans.save_plan(plan)
    except plans.PlanError as exc:                            # refused when made, with a reason: fine
        assert "bytes" in str(exc) and "fewer processes" in str(exc)
        return
    plans.read_plan_file(path)                                # never a plan pt saved and now refuses


def test_a_shared_export_of_a_fleet_lake_keeps_the_rows_and_not_the_host_names(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    _old_labels(root, monkeypatch, "payroll-db-7")
    dest = tmp_path / "export"
    for mode in ("--drop-hashes", "--rekey"):
        out = dest / mode.strip("-")
        pt("lake", "export", str(out), mode, "--lake", str(root), cwd=tmp_path,
           env={lakes.HOST_ENV: "payroll-db-7", "XDG_DATA_HOME": str(tmp_path / "xdg-data")})
        files = list(out.rglob("*.parquet"))
        assert sum(pq.read_metadata(f).num_rows for f in files if "outcomes" in f.parts) == 1
        assert not [p for p in out.rglob("*") if "payroll-db-7" in str(p) or
                    (p.is_file() and b"payroll-db-7" in p.read_bytes())]


def test_a_cgroup_name_that_is_not_utf8_cannot_stop_the_watchers_metrics(tmp_path, monkeypatch):
    """Was: a cgroup directory named with an undecodable byte (any user can
    make one in a delegated subtree, e.g. under user@UID.service) reached
    the metrics as a surrogate, and rendering them raised UnicodeEncodeError
    (not an OSError): ``pt watch --metrics``/``--metrics-port`` died."""
    import os

    from pt.act.plan import Selection
    from pt.watch.cgroup import limited_cgroups
    from pt.watch.loop import Watcher
    from pt.watch.metrics import render, write
    from pt.watch.modes import ModeController
    MB = 1 << 20
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    group_dir = root / "user.slice" / "user@1003.service" / os.fsdecode(b"ev\xff\xfeil")
    group_dir.mkdir(parents=True)
    for name, value in (("memory.max", 64 * MB), ("memory.current", 10 * MB), ("cgroup.procs", "")):
        (group_dir / name).write_text(f"{value}\n")
    (group,) = limited_cgroups(str(root))
    status = Watcher(controller=ModeController("observe"), selection=Selection(), telemetry=False,
                     cgroup_root=None).status()
    status["cgroups"] = [{**group.as_dict(), "forecast": {"seconds_to_floor": 12.5}},
                         {**group.as_dict(), "path": "/odd\ud800", "forecast": {"seconds_to_floor": 1.0}}]
    body = render(status).encode("utf-8")
    write(str(tmp_path / "pt.prom"), status)
    assert (tmp_path / "pt.prom").read_bytes() == body
    assert b'cgroup="/user.slice/user@1003.service/ev\\\\xff\\\\xfeil"} 12.5' in body
    assert b'cgroup="/odd\\\\ud800"} 1.0' in body


def test_a_damaged_learned_file_does_not_lift_a_binding_kill_gate():
    from pt.config import load_policy
    from pt.learn import gate
    policy = load_policy()
    path = store.write_learned({}, {"pac_bayes": {"false_kill_bound": 0.4, "n": 60}})
    assert gate.kill_gate(policy) is not None                 # the bound binds: kills withheld
    path.write_bytes(path.read_bytes()[:-20])                 # damaged (a bad edit, a bad sector)
    assert gate.kill_gate(policy) is not None


def test_covered_rows_are_the_members_of_the_roots_trees():
    """covered() (pointer doubling) against walking each root's subtree, on
    random forests with cycles and chains."""
    from types import SimpleNamespace

    from pt.act import trees
    rng = np.random.default_rng(5)
    for n in (1, 2, 7, 50, 400):
        parent = np.where(rng.random(n) < 0.2, -1, rng.integers(0, n, n))
        parent[: n // 3] = np.arange(-1, n // 3 - 1)                  # a chain at the front
        roots = np.flatnonzero(rng.random(n) < 0.1)
        t = SimpleNamespace(context=SimpleNamespace(genealogy=SimpleNamespace(parent_row=parent)))
        from pt import kernels
        _, sane = kernels.breadth_first(parent)
        want = np.zeros(n, dtype=bool)
        for r in roots.tolist():
            rows, _ = trees.subtree(sane, r, limit=n + 1)
            want[rows[1:]] = True
        assert np.array_equal(trees.covered(t, roots), want), n
