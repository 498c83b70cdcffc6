"""Nothing pt writes can be lost, leaked or turned against its user: private
directories verified before use (pt.safefs), the `pt duck --sql` sandbox,
quarantine of only what pt itself cannot read, runs that were never
committed, and `pt lake check` reading every page.

Real Parquet, real DuckDB, lakes and state under ``tmp_path``. "Another
user" is a directory chowned to an unused uid: root may chown, and pt must
refuse it whoever it belongs to.
"""
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pt import safefs
from pt.act.journal import Journal
from pt.telemetry import duck, writer
from pt.telemetry import lake as lakes
from pt.telemetry.redact import Redactor, load_key
from pt.testing import add_proc, isolated_env, make_tree
from pt.testing import run_pt as pt
from pt.triage import triage

KEY = bytes(range(32))
OTHER_UID = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="making another user's directory needs root (chown)")


@pytest.fixture(autouse=True)
def private_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.delenv("PT_LAKE", raising=False)
    monkeypatch.delenv("PT_TELEMETRY_KEY", raising=False)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = tmp_path_factory.mktemp("procfs") / "proc"
    make_tree(root)
    for i in range(30):
        argv = [b"python3", b"-m", b"worker", f"--id={i % 5}".encode()]
        add_proc(root, 100 + i, b"python3", ppid=1, cmdline=b"\x00".join(argv) + b"\x00", start=50_000 + i,
                 utime=10 * i)
    return triage(root=root, window_s=0.01), root


def _modes(top: Path) -> tuple[set[int], set[int]]:
    dirs, files = set(), set()
    for p in [top, *top.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        (dirs if p.is_dir() else files).add(mode)
    return dirs, files


def _victim(tmp_path: Path) -> Path:
    """A root-owned 0600 file outside pt's directories that an attacker wants overwritten."""
    victim = tmp_path / "victim" / "secret"
    victim.parent.mkdir()
    victim.write_bytes(b"root's own data\n")
    victim.chmod(0o600)
    return victim


def _hostile_dir(path: Path, *, uid: int = OTHER_UID, mode: int = 0o777) -> Path:
    path.mkdir(parents=True)
    os.chown(path, uid, uid)
    path.chmod(mode)
    return path


# --- private directories ------------------------------------------------------------------

def test_lake_key_and_state_are_private(scan, tmp_path):
    t, root = scan
    result = writer.write_scan(t, procfs=root)              # the default lake and key under XDG_DATA_HOME
    assert result.written, result.reason
    data = tmp_path / "xdg-data"
    dirs, files = _modes(data / "pt")
    assert dirs == {0o700} and files == {0o600}
    assert stat.S_IMODE((data).stat().st_mode) == 0o700     # a parent pt created
    journal = Journal()
    journal.append([{"kind": "intent", "plan_id": "p", "action_id": "p:0"}])
    with journal.locked():
        pass
    assert _modes(tmp_path / "xdg-state" / "pt") == ({0o700}, {0o600})


@needs_root
@pytest.mark.parametrize("owner, mode", [(OTHER_UID, 0o777), (OTHER_UID, 0o700), (0, 0o777), (0, 0o775)])
def test_a_lake_someone_else_controls_is_refused_and_nothing_is_written_through_it(scan, tmp_path, owner,
                                                                                    mode):
    """The reproduction: another user pre-creates the lake (or a root-owned one
    is left writable by others) with planted symlinks; pt refuses it, and the
    root-owned file the links point at is untouched."""
    t, root = scan
    victim = _victim(tmp_path)
    lake = _hostile_dir(tmp_path / "lake", uid=owner, mode=mode)
    (lake / ".maintenance.lock").symlink_to(victim)
    (lake / "runs").symlink_to(victim.parent)
    (lake / "_quarantine").symlink_to(victim.parent)
    before = victim.read_bytes()
    result = writer.write_scan(t, lake=lake, red=Redactor(KEY), procfs=root)
    assert not result.written and str(lake) in result.reason
    assert ("belongs to uid 54321" if owner else "can be written by") in result.reason
    scanned = pt("scan", "--top", "1", "--lake", str(lake), cwd=tmp_path)           # the scan itself goes on
    assert "telemetry skipped" in scanned.stderr and str(lake) in scanned.stderr
    for command in (["duck", "runs"], ["lake", "compact"], ["lake", "check"], ["lake", "prune", "--keep", "1d"]):
        proc = pt(*command, "--lake", str(lake), cwd=tmp_path, check=False)
        assert proc.returncode == 1 and str(lake) in proc.stderr and "Traceback" not in proc.stderr, command
    assert victim.read_bytes() == before and sorted(os.listdir(victim.parent)) == ["secret"]


@needs_root
def test_a_hostile_state_dir_is_refused_before_the_journal_or_a_plan_is_written(tmp_path, monkeypatch):
    victim = _victim(tmp_path)
    state = _hostile_dir(tmp_path / "shared-state" / "pt")
    (state / "journal.jsonl").symlink_to(victim)
    (state / "journal.lock").symlink_to(victim)
    (state / "plans").symlink_to(victim.parent)
    monkeypatch.setenv("XDG_STATE_HOME", str(state.parent))
    before = victim.read_bytes()
    from pt.act.plan import save_plan
    with pytest.raises(safefs.UnsafeDirectory, match="belongs to uid 54321"):
        Journal().append([{"kind": "intent", "plan_id": "p", "action_id": "p:0"}])
    with pytest.raises(safefs.UnsafeDirectory, match="belongs to uid 54321"):
        save_plan({"plan_id": "0123456789abcdef"})
    os.chown(state, 0, 0)                     # root's own, but others may write: refused as well
    with pytest.raises(safefs.UnsafeDirectory, match=r"can be written by group and others \(mode 0777\)"):
        Journal(state).append([{"kind": "intent", "plan_id": "p", "action_id": "p:0"}])
    assert victim.read_bytes() == before and sorted(os.listdir(victim.parent)) == ["secret"]


def test_symbolic_links_inside_pt_directories_are_never_followed(tmp_path):
    victim = _victim(tmp_path)
    before = victim.read_bytes()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "journal.jsonl").symlink_to(victim)
    with pytest.raises(safefs.UnsafeDirectory, match="symbolic link"):
        Journal(state).append([{"kind": "intent", "plan_id": "p", "action_id": "p:0"}])
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    (key_dir / "telemetry.key").symlink_to(victim)
    with pytest.raises(safefs.UnsafeDirectory, match="symbolic link"):
        load_key(key_dir / "telemetry.key")
    linked = tmp_path / "linked-lake"
    linked.symlink_to(victim.parent, target_is_directory=True)
    with pytest.raises(safefs.UnsafeDirectory, match="symbolic link"):
        safefs.private_dir(linked)
    assert victim.read_bytes() == before and sorted(os.listdir(victim.parent)) == ["secret"]


def test_a_table_directory_linked_outside_the_lake_is_skipped_by_readers_refused_by_writers(scan, tmp_path):
    t, root = scan
    lake = tmp_path / "lake"
    first = writer.write_scan(t, lake=lake, red=Redactor(KEY), procfs=root)
    outside = tmp_path / "outside"
    shutil.move(str(lake / "decisions"), outside)
    (lake / "decisions").symlink_to(outside, target_is_directory=True)
    proc = pt("duck", "--sql", "SELECT count(*) AS n FROM decisions", "--json", "--lake", str(lake), cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert out["data"]["rows"] == [{"n": 0}] and "Traceback" not in proc.stderr
    assert "skipped" in proc.stderr and "symbolic link" in proc.stderr
    assert [e["code"] for e in out["errors"]] == ["skipped"] and out["errors"][0]["file"] == str(lake / "decisions")
    runs = json.loads(pt("duck", "runs", "--json", "--lake", str(lake), cwd=tmp_path).stdout)
    assert [r["run_id"] for r in runs["data"]["rows"]] == [first.run_id]
    compact = pt("lake", "compact", "--lake", str(lake), cwd=tmp_path, check=False)
    assert compact.returncode == 1 and "symbolic link" in compact.stderr and "Traceback" not in compact.stderr
    again = writer.write_scan(t, lake=lake, red=Redactor(KEY), procfs=root)
    assert not again.written and "symbolic link" in again.reason
    assert sorted(p.name for p in outside.rglob("*.parquet")) == ["part-0.parquet"]


# --- the pt duck --sql sandbox --------------------------------------------------------------

@pytest.fixture
def lake_with_a_scan(scan, tmp_path):
    t, root = scan
    result = writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root)
    assert result.written
    return tmp_path / "lake", result


@pytest.fixture(scope="module")
def sandboxed(scan, tmp_path_factory):
    t, root = scan
    lake_dir = tmp_path_factory.mktemp("sandbox") / "lake"
    assert writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root).written
    return duck.open_lake(lake_dir)


@pytest.mark.parametrize("sql, refused", [
    ("COPY (SELECT 1) TO '{tmp}/copied'", "COPY"),
    ("COPY (SELECT * FROM runs) TO '{lake}/runs/stolen.parquet'", "COPY"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH"),
    ("SELECT * FROM read_text('/etc/shadow')", "/etc/shadow"),
    ("SELECT * FROM read_csv('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM read_blob('{tmp}/xdg-data/pt/telemetry.key')", "telemetry.key"),
    ("SELECT * FROM glob('/root/*')", "/root/*"),
    ("SELECT * FROM read_parquet('{lake}/**/*.parquet')", "**"),
    ("INSTALL httpfs", "LOAD"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("SELECT 1; COPY (SELECT 1) TO '{tmp}/copied'", "2 statements"),
    ("SELECT * FROM query('COPY (SELECT 1) TO ''{tmp}/copied''')", "SELECT"),
])
def test_user_sql_can_read_only_the_lakes_views(lake_with_a_scan, tmp_path, sql, refused):
    lake_dir, _ = lake_with_a_scan
    load_key()                                   # a key to steal
    lake = duck.open_lake(lake_dir)
    with pytest.raises((duck.SqlRefused, duckdb.ParserException), match=refused.replace("*", r"\*")):
        lake.user_query(sql.format(tmp=tmp_path, lake=lake_dir))
    assert not (tmp_path / "copied").exists() and not (tmp_path / "other.duckdb").exists()
    assert not list(lake_dir.rglob("stolen*"))
    assert lake.user_query("SELECT current_setting('enable_external_access')")[1] == [(False,)]


def test_the_sandbox_still_answers_every_report(lake_with_a_scan, tmp_path):
    lake_dir, result = lake_with_a_scan
    for report in ("runs", "top", "calibration", "actions"):
        out = json.loads(pt("duck", report, "--json", "--lake", str(lake_dir), cwd=tmp_path).stdout)
        assert out["status"] == "ok", report
    ledger = pt("duck", "--sql", f"FROM pt_ledger('{result.run_id}', 100, 50000)", "--json", "--lake",
                str(lake_dir), cwd=tmp_path)
    assert len(json.loads(ledger.stdout)["data"]["rows"]) > 5
    why = json.loads(pt("duck", "why", "100", "--json", "--lake", str(lake_dir), cwd=tmp_path).stdout)
    assert why["data"]["why"]["run_id"] == result.run_id
    for sql in ("DESCRIBE decisions", "SHOW TABLES", "SUMMARIZE runs",
                "WITH d AS (FROM decisions) SELECT count(*) FROM d"):
        assert pt("duck", "--sql", sql, "--lake", str(lake_dir), cwd=tmp_path).returncode == 0, sql


def test_refused_sql_is_a_clear_error_from_the_command(lake_with_a_scan, tmp_path):
    lake_dir, _ = lake_with_a_scan
    for sql, says in (("COPY (SELECT 1) TO '/tmp/x'", "refused a COPY statement"),
                      ("SELECT * FROM read_text('/etc/shadow')", "/etc/shadow")):
        proc = pt("duck", "--sql", sql, "--json", "--lake", str(lake_dir), cwd=tmp_path, check=False)
        assert proc.returncode == 4 and says in proc.stderr and "Traceback" not in proc.stderr
        assert json.loads(proc.stdout)["errors"][0]["code"] == "refused"
    help_text = pt("duck", "--help", cwd=tmp_path).stdout
    assert "sandbox" in help_text and "read_text('/etc/shadow')" in help_text


def test_user_sql_is_stopped_at_its_time_limit_with_a_clear_error(sandboxed):
    with pytest.raises(duckdb.InterruptException, match="stopped after 1 s, the time limit of pt duck --sql"):
        sandboxed.user_query("select count(*) from range(100000000000)", time_limit_s=1)
    assert sandboxed.user_query("SELECT 1")[1] == [(1,)]          # the connection still answers
    setting = "SELECT current_setting('memory_limit'), current_setting('threads')"
    memory, threads = sandboxed.user_query(setting)[1][0]
    default_memory, _ = duckdb.connect().execute(setting).fetchall()[0]
    assert threads == max(1, (os.cpu_count() or 2) // 2) and memory != default_memory


def test_the_time_limit_is_a_query_error_from_the_command(lake_with_a_scan, tmp_path, monkeypatch, capsys):
    from pt.cli import main
    lake_dir, _ = lake_with_a_scan
    monkeypatch.setattr(duck, "SQL_TIME_LIMIT_S", 1.0)
    code = main(["duck", "--sql", "select count(*) from range(100000000000)", "--json", "--lake", str(lake_dir)])
    out, err = capsys.readouterr()
    assert code == 1 and "time limit of pt duck --sql" in err and "Traceback" not in err
    assert json.loads(out)["errors"][0]["code"] == "query_error"


# --- quarantine: only what pt itself cannot read -------------------------------------------

@pytest.mark.parametrize("function", ["read_json", "read_csv", "read_text", "read_json_objects"])
def test_a_query_quoting_a_healthy_lake_file_never_moves_it(lake_with_a_scan, tmp_path, function):
    lake_dir, _ = lake_with_a_scan
    healthy = lakes.table_files(lake_dir, "runs")[0][0]
    proc = pt("duck", "--sql", f"SELECT * FROM {function}('{healthy}')", "--lake", str(lake_dir), cwd=tmp_path,
              check=False)
    assert healthy.exists() and lakes.quarantined(lake_dir) == [] and "quarantined" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_file_pt_cannot_read_is_quarantined_and_pt_says_so(lake_with_a_scan, tmp_path):
    lake_dir, result = lake_with_a_scan
    bad = lakes.table_files(lake_dir, "proc_samples")[0][0]
    data = bytearray(bad.read_bytes())
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little") // 2
    data[footer:footer + 64] = b"\0" * 64          # the metadata's middle, magic intact: only DuckDB notices
    bad.write_bytes(bytes(data))
    proc = pt("duck", "--sql", "SELECT count(*) AS n FROM proc_samples", "--json", "--lake", str(lake_dir),
              cwd=tmp_path)
    out = json.loads(proc.stdout)
    assert out["data"]["rows"] == [{"n": 0}] and not bad.exists()
    assert "pt could not read it as Parquet" in proc.stderr and f"quarantined {bad}" in proc.stderr
    assert [e["code"] for e in out["errors"]] == ["quarantined"]


def _unshare_works() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -m to mount the lake read-only")
def test_a_read_only_lake_with_a_corrupt_file_still_answers(lake_with_a_scan, scan, tmp_path):
    t, root = scan
    lake_dir, first = lake_with_a_scan
    second = writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root, ts=first_ts(lake_dir) + 60)
    bad = next(f for f in lakes.table_files(lake_dir, "runs")[0] if second.run_id in str(f))
    bad.write_bytes(b"PAR1" + os.urandom(300) + b"PAR1")
    script = (f"mount --bind {lake_dir} {lake_dir} && mount -o remount,bind,ro {lake_dir} && "
              f"{sys.executable} -m pt duck runs --json --lake {lake_dir}")
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=tmp_path,
                          capture_output=True, text=True, env=isolated_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["run_id"] for r in out["data"]["rows"]] == [first.run_id]
    assert f"skipped {bad}" in proc.stderr and "Read-only file system" in proc.stderr
    assert [e["code"] for e in out["errors"]] == ["skipped"] and bad.exists()


def first_ts(lake_dir: Path) -> float:
    return pq.read_table(lakes.table_files(lake_dir, "runs")[0][0]).column("ts")[0].as_py()


# --- runs that were never committed ------------------------------------------------------------

@pytest.mark.parametrize("how", ["killed", "disk full"])
def test_a_run_without_its_runs_row_is_invisible(scan, tmp_path, monkeypatch, how):
    t, root = scan
    committed = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0)
    tables = writer.scan_tables(triage=t, red=Redactor(KEY), run_id="20270115T090000Z-deadbeef",
                                ts=1_800_003_600.0, procfs=root)
    if how == "killed":                       # kill -9 after the other tables, before `runs`
        for name, table in tables.items():
            if name != "runs":
                lakes.publish(tmp_path, lakes.partition(tmp_path, name, 1_800_003_600.0, "20270115T090000Z-deadbeef"),
                              lambda f, table=table: writer.write_parquet(table, f))
    else:
        real = writer.write_parquet

        def enospc(table, f):
            if "mode" in table.column_names:              # the runs table: the disk is full by now
                raise OSError(28, "No space left on device")
            real(table, f)

        monkeypatch.setattr(writer, "write_parquet", enospc)
        partial = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_003_600.0,
                                    run_id="20270115T090000Z-deadbeef")
        assert not partial.written and "No space left" in partial.reason
    assert len(lakes.table_files(tmp_path, "decisions")[0]) == 2          # the rows are on disk...
    lake = duck.open_lake(tmp_path)
    for table in ("decisions", "proc_samples", "proc_inference", "proc_features", "system_samples"):
        assert lake.query(f"SELECT DISTINCT run_id FROM {table}")[1] == [(committed.run_id,)], table
    assert duck.why(lake, "100")["run_id"] == committed.run_id                # ...but no reader sees them
    assert duck.report(lake, "runs")[1][0][0] == committed.run_id
    lakes.compact(tmp_path, min_files=1)                 # compaction merges committed runs only
    raw = lakes.table_files(tmp_path, "decisions")[0]
    assert len(raw) == 1 and "deadbeef" in str(raw[0])
    assert duck.open_lake(tmp_path).query("SELECT DISTINCT run_id FROM decisions")[1] == [(committed.run_id,)]


# --- pt lake check reads every page -----------------------------------------------------------

def test_lake_check_finds_a_zeroed_page_in_the_middle_of_a_file(scan, tmp_path):
    t, root = scan
    lake_dir = tmp_path / "lake"
    for i in range(3):
        writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0 + i)
    lakes.compact(lake_dir)
    victim = max(lakes.table_files(lake_dir, "proc_inference")[1], key=lambda f: f.stat().st_size)
    size = victim.stat().st_size
    footer = int.from_bytes(victim.read_bytes()[-8:-4], "little") + 8
    data_end = size - footer                         # pages live in [4, data_end)
    assert data_end > 3 * 4096
    with open(victim, "r+b") as f:
        f.seek(data_end // 2 - 2048)
        f.write(b"\0" * 4096)
    assert lakes.looks_complete(victim) and pq.read_metadata(victim).num_rows == 3 * len(t)   # footer intact
    out = json.loads(pt("lake", "check", "--json", "--lake", str(lake_dir), cwd=tmp_path).stdout)["data"]
    assert [q["file"] for q in out["quarantined"]] == [str(victim)] and not victim.exists()
    assert "pt could not read it as Parquet" in out["quarantined"][0]["reason"]
    assert out["files_checked"] == 6 and len(out["quarantined"]) == 1


# --- one secret detector: the lake drops, plans and the journal mask ------------------------

SECRET_CASES = [
    (["mysql", "-pHunter2Mysql", "app"], "Hunter2Mysql"),
    (["mysql", "--password=Hunter2Mysql"], "Hunter2Mysql"),
    (["curl", "-u", "alice:S3cretCurl", "https://x.example/"], "S3cretCurl"),
    (["curl", "--user=alice:S3cretCurl", "https://x.example/"], "S3cretCurl"),
    (["curl", "-ualice:S3cretCurl", "https://x.example/"], "S3cretCurl"),
    (["redis-cli", "-a", "R3disPass", "ping"], "R3disPass"),
    (["/usr/bin/redis-cli", "-aR3disPass", "ping"], "R3disPass"),
    (["vpn", "--pw", "PwValue77"], "PwValue77"),
    (["vpn", "--pw=PwValue77"], "PwValue77"),
    (["tool", "--key", "KeyValue88"], "KeyValue88"),
    (["tool", "--otp", "Otp9911"], "Otp9911"),
    (["card", "--pin", "Pin0042"], "Pin0042"),
    (["app", "--token", "plain"], "plain"),
    (["app", "DB_PASSWORD=letmein"], "letmein"),
    (["app", "--api-key=abc"], "abc"),
]


@pytest.mark.parametrize("argv, secret", SECRET_CASES)
def test_the_lake_drops_and_plans_mask_the_same_secrets(argv, secret):
    from pt.telemetry.redact import SECRET, mask_secrets
    red = Redactor(KEY)
    out = red.argv(argv)
    stored = json.dumps([out.args, out.flags, out.exe])
    assert secret not in stored and red.hash(secret) not in stored and red.digest(secret) not in stored
    assert out.secrets_dropped == 1 and any(a.endswith(SECRET) for a in out.args)
    masked = " ".join(mask_secrets(argv))
    assert secret not in masked and SECRET in masked


@pytest.mark.parametrize("argv", [["ps", "-u", "root"], ["docker", "run", "-u", "1000:1000", "img"],
                                  ["ls", "-a", "/tmp"], ["redis-server", "--port", "6379"],
                                  ["curl", "-u", "alice", "https://x.example/"],
                                  ["/tmp/tmp.k3JdP8xQz1/venv/bin/python3", "-m", "pip", "install", "."]])
def test_ordinary_flags_are_not_masked(argv):
    from pt.telemetry.redact import mask_secrets
    assert mask_secrets(argv) == argv


def test_no_secret_reaches_a_plan_the_journal_or_the_lake(tmp_path):
    """A real process with secrets in its argv: planned, applied (paused: the test
    started it), and every file pt wrote is searched for the secrets and their hashes."""
    from pt.testing import kill_if_same, running, start_ticks
    (tmp_path / "config/pt").mkdir(parents=True)
    policy = {"version": 1, "actions": {"min_age_s": 0}, "guards": {"allow_system_services": True}}
    (tmp_path / "config/pt/policy.json").write_text(json.dumps(policy))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    secrets = ["R3disPass", "Hunter2Mysql", "S3cretCurl", "PwValue77", "KeyValue88", "Otp9911", "Pin0042"]
    argv = ["redis-cli", "-c", "read line", "x", "-a", "R3disPass", "-pHunter2Mysql", "-u", "alice:S3cretCurl",
            "--pw", "PwValue77", "--key=KeyValue88", "--otp", "Otp9911", "--pin", "Pin0042"]
    with running(argv, executable="/bin/sh", cwd=tmp_path) as proc:
        start = start_ticks(proc.pid)
        try:
            planned = pt("plan", "--pid", str(proc.pid), "--do", "pause", "--json", cwd=tmp_path, env=env)
            plan = json.loads(planned.stdout)["data"]["plan"]
            assert [a["target"]["pid"] for a in plan["actions"]] == [proc.pid]
            assert "-p<secret>" in plan["actions"][0]["command"]
            pt("apply", plan["plan_id"], "--yes", "--json", cwd=tmp_path, env=env)
        finally:
            kill_if_same(proc.pid, start)
    written = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    assert written.count(b"<secret>") >= 2 * len(secrets)
    lake = tmp_path / ".local/share/pt/lake"
    rows = json.dumps([pq.read_table(f).to_pylist() for f in lake.rglob("*.parquet")], default=str)
    red = Redactor(load_key(tmp_path / ".local/share/pt/telemetry.key"))
    for secret in secrets:
        assert secret.encode() not in written, secret
        assert secret not in rows and red.digest(secret) not in rows, secret


def test_export_rekeys_and_drops_the_hashes_of_comm_and_exe_too(tmp_path):
    root = make_tree(tmp_path / "proc")
    for i, (comm, argv0) in enumerate([(b"we ird", b"/opt/my tool"), (b"two words", b"/opt/other tool"),
                                       (b"we ird", b"/opt/my tool"), (b"python3", b"python3")]):
        add_proc(root, 200 + i, comm, ppid=1, cmdline=argv0 + b"\x00-m\x00x\x00", start=60_000 + i)
    t = triage(root=root, window_s=0.01)
    lake_dir = tmp_path / "lake"
    assert writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root).written
    original = pq.read_table(lakes.table_files(lake_dir, "proc_samples")[0][0]).sort_by("pid")
    hashed = {v for col in ("comm", "exe") for v in original.column(col).to_pylist() if v and v.startswith("h:")}
    assert len(hashed) >= 3                                    # not safe tokens: stored as keyed hashes
    for mode in ("rekey", "drop"):
        lakes.export(lake_dir, tmp_path / mode, mode=mode)
        files = [f for table in ("proc_samples", "decisions") for f in lakes.table_files(tmp_path / mode, table)[0]]
        text = json.dumps([pq.read_table(f).to_pylist() for f in files], default=str)
        assert not [h for h in hashed if h in text], mode
        out = pq.read_table(lakes.table_files(tmp_path / mode, "proc_samples")[0][0]).sort_by("pid")
        comm = out.column("comm").to_pylist()
        assert comm[3] == "python3"                           # safe tokens are kept as they were
        if mode == "rekey":                                   # grouping survives: rows 0 and 2 are one program
            assert comm[0] == comm[2] != comm[1] and comm[0].startswith("h:")
            assert out.column("exe").to_pylist()[0] == out.column("exe").to_pylist()[2]
        else:
            assert comm[:3] == ["h:", "h:", "h:"]


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=80), st.sampled_from(["COPY", "ATTACH", "INSTALL", "LOAD", "SET", "PRAGMA",
                                                         "CREATE", "EXPORT", "CALL", "DETACH", "CHECKPOINT"])
                 .map(lambda k: k + " x TO '/tmp/pt-sandbox-probe'")))
def test_any_user_sql_is_answered_or_refused_never_escapes(sandboxed, sql):
    """Whatever the text, user SQL is answered, refused or a DuckDB error: no
    other exception, no file written, the sandbox still locked."""
    try:
        sandboxed.user_query(sql)
    except (duck.SqlRefused, duckdb.Error):
        pass
    assert not os.path.exists("/tmp/pt-sandbox-probe")
    assert sandboxed.user_query("SELECT current_setting('lock_configuration')")[1] == [(True,)]
