"""The telemetry lake with real pyarrow and DuckDB: schemas, the writer,
redaction, concurrency and crashes, reports against hand computations,
compaction, retention, export and broken lakes.

Every test writes to a lake under ``tmp_path`` (never the user's).
"""
import json
import math
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pt.config import ACTIONS, CLASSES
from pt.fields import FIELDS, VERDICT_FIELDS
from pt.infer.posterior import FEATURES
from pt.telemetry import duck, schemas, writer
from pt.telemetry import lake as lakes
from pt.telemetry.redact import SECRET, Redactor, key_id, load_key, looks_secret
from pt.testing import add_proc, isolated_env, make_tree, running
from pt.testing import run_pt as pt
from pt.triage import triage

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")
KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def private_data_home(tmp_path, monkeypatch):
    """In-process code that falls back to the default key or lake finds them
    under tmp_path, never in the user's home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("PT_LAKE", raising=False)
    monkeypatch.delenv("PT_TELEMETRY_KEY", raising=False)


def fake_tree(root: Path, n: int = 40) -> Path:
    """A fake procfs with ``n`` processes of a few kinds (distinct and repeated argv)."""
    make_tree(root)
    for i in range(n):
        argv = [b"python3", b"-m", b"worker", f"--id={i % 7}".encode(), f"/home/u/p{i % 3}/x.py".encode()]
        add_proc(root, 100 + i, b"python3", ppid=1 if i % 5 == 0 else 100 + i // 2,
                 cmdline=b"\x00".join(argv) + b"\x00", start=50_000 + i, utime=10 * i)
    return root


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = fake_tree(tmp_path_factory.mktemp("procfs") / "proc")
    return triage(root=root, window_s=0.01), root


def read_all(root: Path, table: str) -> pa.Table:
    raw, compacted = lakes.table_files(root, table)
    return pa.concat_tables([pq.read_table(f).replace_schema_metadata(None) for f in raw + compacted],
                            promote_options="permissive")


# --- schemas ------------------------------------------------------------------------

def test_every_field_has_a_telemetry_treatment():
    schemas.check_treatment()
    assert set(schemas.TREATMENT) == {f.name for f in FIELDS + VERDICT_FIELDS}


def test_schemas_are_generated_from_the_field_table():
    samples = schemas.schema("proc_samples")
    for f in FIELDS:
        where, how = schemas.TREATMENT[f.name]
        if how == "keep":
            assert samples.field(f.name).type == schemas.ARROW_TYPES[f.dtype]
            assert samples.field(f.name).metadata[b"description"] == f.description.encode()
    assert "cmdline" not in samples.names and "command" not in samples.names and "user" not in samples.names
    assert samples.field("user_hash").metadata[b"redaction"] == b"hash"
    inference = schemas.schema("proc_inference")
    assert {f"ll__{f}__{c}" for f in FEATURES for c in CLASSES} <= set(inference.names)
    assert {f"loss__{a}" for a in ACTIONS} <= set(schemas.schema("decisions").names)
    assert schemas.schema("runs").metadata[b"pt.schema_version"] == str(schemas.SCHEMA_VERSION).encode()


def test_schema_round_trip_through_parquet(scan, tmp_path):
    t, root = scan
    result = writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root)
    assert result.written, result.reason
    for table in ("runs", "system_samples", "proc_samples", "proc_features", "proc_inference", "decisions"):
        files = lakes.table_files(tmp_path / "lake", table)[0]
        assert len(files) == 1 and files[0].name == "part-0.parquet"
        assert f"run_id={result.run_id}" in str(files[0])
        back = pq.read_table(files[0])
        # pt's writer stores no ARROW:schema: field metadata stays in schemas.py, types and
        # nullability are what pyarrow reads from the Parquet schema itself.
        assert back.schema.equals(schemas.schema(table), check_metadata=False)
        assert all(f.nullable for f in back.schema)
        assert back.schema.metadata == schemas.schema(table).metadata
        group = pq.ParquetFile(files[0]).metadata.row_group(0)
        codecs = {group.column(i).compression for i in range(group.num_columns)}
        assert codecs <= {"GZIP", "UNCOMPRESSED"} and ("GZIP" in codecs or table in ("runs", "system_samples"))
    inf = pq.read_table(lakes.table_files(tmp_path / "lake", "proc_inference")[0][0])
    order = np.argsort(t.snapshot["pid"])
    got = inf.sort_by("pid")
    for j, feature in enumerate(FEATURES):
        for k, c in enumerate(CLASSES):
            np.testing.assert_array_equal(got.column(f"ll__{feature}__{c}").to_numpy(),
                                          t.inference.terms[order, j, k])
    np.testing.assert_array_equal(got.column("post__abandoned").to_numpy(), t.inference.posterior[order, 2])
    np.testing.assert_array_equal(got.column("lfdr").to_numpy(), t.decision.lfdr[order])
    samples = read_all(tmp_path / "lake", "proc_samples").sort_by("pid")
    np.testing.assert_array_equal(samples.column("start_ticks").to_numpy(), t.snapshot["start_ticks"][order])
    assert set(samples.column("exe").to_pylist()) == {"python3"}
    assert samples.column("args").to_pylist()[0][:3] == ["python3", "-m", Redactor(KEY).hash("worker")]


def test_raw_scan_writes_runs_and_samples_only(scan, tmp_path):
    t, root = scan
    result = writer.write_scan(None, snapshot=t.snapshot, lake=tmp_path, red=Redactor(KEY), procfs=root)
    assert result.written and set(result.rows) == {"runs", "system_samples", "proc_samples"}
    assert read_all(tmp_path, "runs").column("mode").to_pylist() == ["raw"]
    assert read_all(tmp_path, "proc_samples").column("fd_count").null_count == len(t.snapshot)


# --- redaction ---------------------------------------------------------------------------

SECRETS = {
    "github": "ghp_R4nd0mT0k3nV4lu3xyzABCDEFGHIJ0123456",
    "openai": "sk-proj-Zq8vN3kLm5pQr7sTu9wXy2Ab4Cd6Ef",
    "aws_id": "AKIAQ3EXAMPLE7ZZTOPQ",
    "aws_secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    "password": "hunter2-correct-horse",
    "bearer": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "entropy": "Q7f9Lk2Vx8Rt4Mz6Nw3Bp5Hj",
    "url_password": "s3cr3tpassw0rd",
}
PRIVATE_PATH = "/home/secretuser/clients/acme-merger"


def planted_argv() -> list[str]:
    return [sys.executable, "-c", "import sys; sys.stdin.read()",
            f"--token={SECRETS['github']}", "--api-key", SECRETS["openai"], SECRETS["aws_id"],
            SECRETS["aws_secret"], f"password={SECRETS['password']}",
            f"Authorization: Bearer {SECRETS['bearer']}", SECRETS["entropy"],
            f"postgres://admin:{SECRETS['url_password']}@db.internal:5432/app", PRIVATE_PATH]


def test_argv_redaction_keeps_safe_tokens_and_drops_secrets():
    red = Redactor(KEY)
    out = red.argv(planted_argv())
    assert out.exe == os.path.basename(sys.executable)
    text = json.dumps(out.args)
    for value in SECRETS.values():
        assert value not in text
    assert "--token" in out.flags and "--api-key" in out.flags
    assert f"--token={SECRET}" in out.args and out.args[out.args.index("--api-key") + 1] == SECRET
    assert out.secrets_dropped >= 7
    assert red.hash(PRIVATE_PATH) in out.args and red.hash(PRIVATE_PATH).startswith("p:")
    # A rotated token does not change the command's identity.
    rotated = [a.replace(SECRETS["github"], "ghp_An0th3rR4nd0mT0k3nV4lu3xyz0987654321") for a in planted_argv()]
    assert red.argv(rotated).cmd_hash == out.cmd_hash


REDACTED_TOKEN = re.compile(r"(<secret>|[puh]:[0-9a-f]{16})")
STRUCTURAL = re.compile(r"-{1,2}[A-Za-z][A-Za-z0-9_.-]*|[A-Za-z_][A-Za-z0-9_.-]*=|[puh]:[0-9a-f]{16}(?==)")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=40), min_size=1, max_size=8))
@example(["x", f"--{SECRETS['github']}=v", f"--{SECRETS['github']}", "-pX", "a=b", "--k=", "--token", "t"])
def test_no_argument_survives_redaction_except_names(argv):
    """Whatever the arguments, after argv[0] every stored token is a hash, <secret>,
    a flag name, or a name= followed by a hash or <secret>: no value is ever kept."""
    out = Redactor(KEY).argv(argv)
    for token in out.args[1:]:
        if REDACTED_TOKEN.fullmatch(token):
            continue
        head = STRUCTURAL.match(token)
        assert head, token
        rest = token[head.end():]
        if head.group().endswith("="):
            assert REDACTED_TOKEN.fullmatch(rest), token
        else:
            assert rest == "" or (rest.startswith("=") and REDACTED_TOKEN.fullmatch(rest[1:])), token
    assert len(out.args) == len(argv)


@pytest.mark.parametrize("value", [*(v for k, v in SECRETS.items() if k not in ("password", "url_password")),
                                   "xoxb-1234567890-abcdefghij",
                                   "AIzaSyA1234567890abcdefghijklmnopqrstuv", "0123456789abcdef0123456789abcdef",
                                   "-----BEGIN RSA PRIVATE KEY-----"])
def test_secret_formats_are_detected(value):
    # Low-entropy passwords are caught by their name (password=, user:pw@), not alone.
    assert looks_secret(value)


@pytest.mark.parametrize("value", ["python3", "pytest-xdist-worker-gw12", "node_modules/.bin/vite",
                                   "org.gradle.launcher.daemon.bootstrap.GradleDaemon", "--max-old-space-size=4096",
                                   "550e8400-e29b-41d4-a716-446655440000", "/usr/lib/jvm/java-17/bin/java"])
def test_ordinary_arguments_are_not_secrets(value):
    assert not looks_secret(value)


def test_a_protected_pattern_naming_a_path_is_redacted(tmp_path):
    import dataclasses
    import re

    from pt.config import load_policy

    root = make_tree(tmp_path / "proc")
    for pid in (100, 101):
        add_proc(root, pid, b"tool", uid=os.getuid(), cmdline=b"tool\x00")
    pattern = f"^tool$|{PRIVATE_PATH}"                 # a user's pattern that names a path
    policy = dataclasses.replace(load_policy(), protected_patterns=(re.compile(pattern),),
                                 allow_other_users=True, allow_system_services=True, min_user_uid=0)
    t = triage(root=root, window_s=0.01, policy=policy)
    assert all(PRIVATE_PATH in p for p in t.protected_by)
    writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root)
    assert PRIVATE_PATH.encode() not in _lake_text(tmp_path / "lake")
    stored = set(read_all(tmp_path / "lake", "decisions").column("protected_by").to_pylist())
    assert any(p and p.startswith("protected pattern p:") for p in stored)


def test_environment_values_are_redacted():
    env = {"HOME": PRIVATE_PATH, "GITHUB_TOKEN": SECRETS["github"], "DB_PASSWORD": "plain",
           "CUSTOM": f"Bearer {SECRETS['bearer']}", "LANG": "C.UTF-8"}
    out = Redactor(KEY).environ(env)
    assert set(out) == set(env)
    assert out["GITHUB_TOKEN"] == out["DB_PASSWORD"] == out["CUSTOM"] == SECRET
    assert out["HOME"].startswith("p:") and PRIVATE_PATH not in json.dumps(out)


def test_free_text_redaction():
    red = Redactor(KEY)
    text = red.text(f"kill failed on {PRIVATE_PATH}: token: {SECRETS['entropy']} api_key=abc 10.0.0.1:80")
    assert PRIVATE_PATH not in text and SECRETS["entropy"] not in text and "abc" not in text
    assert text.startswith("kill failed on p:") and "10.0.0.1" not in text


def _lake_text(root: Path) -> bytes:
    """Every byte of every file under the lake, plus every value decoded as text."""
    blob = b""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            blob += path.read_bytes()
            if path.suffix == ".parquet":
                blob += json.dumps(pq.read_table(path).to_pylist(), default=str).encode()
                blob += str(pq.read_metadata(path).schema).encode()
    return blob


@linux_only
def test_planted_secrets_never_reach_the_lake(tmp_path):
    env = {**os.environ, **{f"PLANTED_{k.upper()}": v for k, v in SECRETS.items()},
           "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret"], "PRIVATE_DIR": PRIVATE_PATH}
    work = tmp_path / "work"
    work.mkdir()
    with running(planted_argv(), cwd=work, env=env) as proc:
        result = json.loads(pt("scan", "--json", cwd=tmp_path).stdout)
        raw = pt("scan", "--raw", "--json", cwd=tmp_path)
    assert result["data"]["telemetry"]["written"], result["data"]["telemetry"]
    assert json.loads(raw.stdout)["data"]["telemetry"]["written"]
    lake = Path(result["data"]["telemetry"]["lake"])
    blob = _lake_text(lake)
    for name, value in SECRETS.items():
        assert value.encode() not in blob, f"{name} secret reached the lake"
    for value in (PRIVATE_PATH, str(work), "secretuser"):
        assert value.encode() not in blob
    samples = read_all(lake, "proc_samples")
    rows = [r for r in samples.to_pylist() if r["pid"] == proc.pid]
    assert len(rows) == 2 and rows[0]["secrets_dropped"] >= 7
    assert sorted(r["cwd_hash"] is None for r in rows) == [False, True]      # --raw has no cwd
    assert next(r["cwd_hash"] for r in rows if r["cwd_hash"]).startswith("p:")
    assert "--token" in rows[0]["arg_flags"]


@linux_only
def test_hashes_are_stable_across_runs_with_the_same_key(tmp_path):
    with running(planted_argv(), cwd=tmp_path) as proc:
        for _ in range(2):
            pt("scan", "--raw", "--json", cwd=tmp_path)
        pt("scan", "--raw", "--json", cwd=tmp_path,
           env={"PT_TELEMETRY_KEY": str(tmp_path / "other.key")})
    runs = read_all(tmp_path / ".local/share/pt/lake", "runs")
    samples = read_all(tmp_path / ".local/share/pt/lake", "proc_samples").to_pylist()
    mine = {}
    for r in samples:
        if r["pid"] == proc.pid:
            mine.setdefault(r["run_id"], r)
    by_key = {}
    for run in runs.to_pylist():
        by_key.setdefault(run["key_id"], []).append(mine[run["run_id"]])
    assert len(by_key) == 2
    same, other = sorted(by_key.values(), key=len, reverse=True)
    assert len(same) == 2 and len(other) == 1
    for col in ("cmd_hash", "user_hash", "cwd_hash", "args"):
        assert same[0][col] == same[1][col]
    assert other[0]["cmd_hash"] != same[0]["cmd_hash"] and other[0]["args"] != same[0]["args"]


def test_key_is_created_once_0600_and_agreed_under_a_race(tmp_path):
    path = tmp_path / "k" / "telemetry.key"
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(load_key(path))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(keys)) == 1 and len(keys[0]) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == keys[0]
    assert [p.name for p in path.parent.iterdir()] == ["telemetry.key"]
    assert key_id(keys[0]) != keys[0].hex()[:16]


# --- concurrency and crashes ---------------------------------------------------------------

@linux_only
def test_two_scans_at_once_write_one_lake_without_loss(tmp_path):
    root = fake_tree(tmp_path / "proc", n=300)
    env = {**isolated_env(tmp_path), "PT_PROCFS_PATH": str(root), "PT_LAKE": str(tmp_path / "lake")}
    procs = [subprocess.Popen([sys.executable, "-m", "pt", "scan", "--json", "--window", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
             for _ in range(2)]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    run_ids = {o["data"]["telemetry"]["run_id"] for o in outs}
    assert len(run_ids) == 2 and all(o["data"]["telemetry"]["written"] for o in outs)
    lake = duck.open_lake(tmp_path / "lake")
    for table in ("proc_samples", "decisions", "proc_inference"):
        counts = dict(lake.query(f"SELECT run_id, count(*) FROM {table} GROUP BY 1")[1])
        assert counts == {r: 300 for r in run_ids}
    assert not list((tmp_path / "lake").rglob(".tmp-*"))


def test_concurrent_writers_to_one_partition_never_collide(tmp_path):
    table = pa.table({"x": list(range(1000))})
    paths = []

    def worker():
        for _ in range(10):
            paths.append(lakes.publish(tmp_path, tmp_path / "t", lambda tmp: pq.write_table(table, tmp)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(paths)) == 40
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(f"part-{i}.parquet" for i in range(40))


SLOW_WRITER = """
import sys, time
import pyarrow as pa, pyarrow.parquet as pq
from pathlib import Path
from pt.telemetry import lake
table = pa.table({"run_id": ["r"] * 10000, "x": list(range(10000))})
def write(tmp):
    with pq.ParquetWriter(tmp, table.schema) as w:
        w.write_table(table)
        print("writing", flush=True)
        time.sleep(600)
lake.publish(Path(sys.argv[1]), Path(sys.argv[1]) / "runs" / "date=2026-01-01" / "run_id=r", write)
"""


def test_a_writer_killed_mid_write_leaves_no_visible_file(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(tmp_path)], stdout=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.kill()           # our own child, mid-write
        child.wait()
        child.stdout.close()
    run_dir = tmp_path / "runs" / "date=2026-01-01" / "run_id=r"
    leftovers = list(run_dir.iterdir())
    assert leftovers and all(p.name.startswith(lakes.TMP_PREFIX) for p in leftovers)
    assert lakes.table_files(tmp_path, "runs") == ([], [])
    lake = duck.open_lake(tmp_path)
    assert lake.query("SELECT count(*) FROM runs")[1] == [(0,)]
    assert lakes.clean_temporaries(tmp_path, older_than_s=0) == len(leftovers)


# --- broken lakes ---------------------------------------------------------------------------

@linux_only
def test_an_unusable_lake_never_breaks_a_scan(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    proc = pt("scan", "--json", "--lake", str(not_a_dir / "lake"), cwd=tmp_path)
    telemetry = json.loads(proc.stdout)["data"]["telemetry"]
    assert telemetry["written"] is False and f"{not_a_dir} is not a directory" in telemetry["reason"]
    assert "telemetry skipped" in proc.stderr and f"{not_a_dir} is not a directory" in proc.stderr
    table = pt("scan", "--top", "3", "--lake", str(not_a_dir / "lake"), cwd=tmp_path)
    assert "PID" in table.stdout and "telemetry skipped" in table.stderr


def test_a_full_disk_is_reported_not_raised(scan, tmp_path, monkeypatch):
    t, root = scan

    def full(f, columns, **kwargs):
        f.write(b"PAR1" + b"\0" * 100)
        raise OSError(28, "No space left on device", f.name)

    monkeypatch.setattr(writer.parquet, "write_table", full)
    result = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root)
    assert not result.written and "No space left on device" in result.reason
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_lake_is_reported(scan, tmp_path):
    t, root = scan
    tmp_path.chmod(0o500)
    try:
        result = writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root)
    finally:
        tmp_path.chmod(0o700)
    assert not result.written and "Permission denied" in result.reason


def test_corrupt_files_are_quarantined_not_read(scan, tmp_path):
    t, root = scan
    lake_dir = tmp_path / "lake"
    good = writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root)
    bad_dir = lake_dir / "runs" / "date=2026-01-01"
    (bad_dir / "run_id=truncated").mkdir(parents=True)
    (bad_dir / "run_id=truncated" / "part-0.parquet").write_bytes(b"PAR1garbage")
    (bad_dir / "run_id=mangled").mkdir()
    (bad_dir / "run_id=mangled" / "part-0.parquet").write_bytes(b"PAR1" + os.urandom(500) + b"PAR1")
    proc = pt("duck", "runs", "--json", "--lake", str(lake_dir), cwd=tmp_path)
    result = json.loads(proc.stdout)
    assert [r["run_id"] for r in result["data"]["rows"]] == [good.run_id]
    assert {e["code"] for e in result["errors"]} == {"quarantined"} and len(result["errors"]) == 2
    assert "quarantined" in proc.stderr
    moved = lakes.quarantined(lake_dir)
    assert len(moved) == 2 and not list(bad_dir.rglob("*.parquet"))
    again = json.loads(pt("duck", "runs", "--json", "--lake", str(lake_dir), cwd=tmp_path).stdout)
    assert again["errors"] == [] and len(again["data"]["rows"]) == 1


# --- reports against hand computations ------------------------------------------------------

def test_why_returns_the_stored_ledger(scan, tmp_path):
    t, root = scan
    first = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0)
    latest = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_003_600.0)
    lake = duck.open_lake(tmp_path)
    row = 7
    pid, start = int(t.snapshot["pid"][row]), int(t.snapshot["start_ticks"][row])
    w = duck.why(lake, str(pid))
    assert w["run_id"] == latest.run_id and w["start_ticks"] == start
    for j, feature in enumerate(FEATURES):
        item = w["ledger"][j]
        assert item["feature"] == feature and item["observed"] == bool(t.inference.observed[row, j])
        for k, c in enumerate(CLASSES):
            assert item["log_likelihood"][c] == t.inference.terms[row, j, k]
        assert item["bits"] == pytest.approx(t.inference.bits()[row, j], abs=1e-12)
    joint = t.inference.log_prior + t.inference.terms[row].sum(axis=0)
    by_hand = np.exp(joint - np.logaddexp.reduce(joint))
    for k, c in enumerate(CLASSES):
        assert w["posterior"][c] == pytest.approx(by_hand[k], rel=1e-12)
        assert w["rederived_posterior"][c] == pytest.approx(by_hand[k], rel=1e-12)
    assert w["rederivation_max_error"] < 1e-12
    assert w["action"] == ACTIONS[t.decision.action[row]] and w["lfdr"] == t.decision.lfdr[row]
    assert w["identity"] == f"{t.snapshot.host.boot_id}:{start}:{pid}"
    assert duck.why(lake, f"{pid}:{start}", run=first.run_id)["run_id"] == first.run_id
    assert duck.why(lake, f"{t.snapshot.host.boot_id}:{start}:{pid}")["run_id"] == latest.run_id
    assert duck.why(lake, f"{pid}:{start + 1}") is None
    ledger = dict((r[0], r[1:]) for r in lake.query(
        "FROM pt_ledger($r, $p, $s)", {"r": latest.run_id, "p": pid, "s": start})[1])
    for j, feature in enumerate(FEATURES):
        assert ledger[feature][0] == t.inference.terms[row, j, 0]
        assert ledger[feature][4] == pytest.approx((t.inference.terms[row, j, 2] - t.inference.terms[row, j, 0])
                                                   / math.log(2), abs=1e-12)


@pytest.mark.parametrize("boot", ["known", "unknown"])
def test_one_identity_string_in_the_field_the_lake_and_why(tmp_path, boot):
    """The scan's identity field, the lake's decisions.identity and `why`'s
    answer are one spelling (pt.act.identity.identity_string), and `why`
    finds the process by it, also when the boot id could not be read."""
    from pt.act.identity import identity_string
    from pt.fields import verdict_columns
    root = fake_tree(tmp_path / "proc", n=3)
    if boot == "unknown":
        (root / "sys/kernel/random/boot_id").unlink()
    t = triage(root=root, window_s=0.01)
    pid, start = int(t.snapshot["pid"][1]), int(t.snapshot["start_ticks"][1])
    spelled = identity_string(t.snapshot.host.boot_id, start, pid)
    assert verdict_columns(t, ["identity"])["identity"][1] == spelled
    writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root, ts=1_800_000_000.0)
    lake = duck.open_lake(tmp_path / "lake")
    assert duck.why(lake, spelled)["identity"] == spelled
    assert duck.why(lake, str(pid))["identity"] == spelled



def _decisions_table(rows: list[dict]) -> pa.Table:
    sch = schemas.schema("decisions")
    return pa.Table.from_pylist([{n: r.get(n) for n in sch.names} for r in rows], schema=sch)


def test_top_runs_and_calibration_match_hand_computation(tmp_path):
    rng = np.random.default_rng(7)
    exes = ["node", "python3", "java", "bash"]
    actions = ["keep", "kill", "pause", "renice"]
    decisions = []
    for run in range(6):
        ts = 1_800_000_000.0 + run * 3600
        run_id = f"run{run}"
        rows = [{"run_id": run_id, "ts": ts, "boot_id": "b", "pid": 1000 + i, "start_ticks": 5000 + i,
                 "exe": exes[rng.integers(4)], "cmd_hash": f"{rng.integers(3):016x}",
                 "command_category": "dev_server", "action": actions[rng.integers(4)],
                 "p_class": float(rng.random()), "lfdr": float(rng.random()), "class": "abandoned"}
                for i in range(50)]
        decisions += rows
        lakes.publish(tmp_path, lakes.partition(tmp_path, "decisions", ts, run_id),
                      lambda tmp, rows=rows: pq.write_table(_decisions_table(rows), tmp))
        run_row = pa.Table.from_pylist([{"run_id": run_id, "ts": ts, "mode": "quick", "n_procs": 50}],
                                       schema=schemas.schema("runs"))
        lakes.publish(tmp_path, lakes.partition(tmp_path, "runs", ts, run_id), lambda tmp, t=run_row: pq.write_table(t, tmp))
    lake = duck.open_lake(tmp_path)

    # top: per (exe, category, cmd_hash, action != keep), the count of verdicts.
    columns, rows = duck.report(lake, "top", limit=100)
    got = {(r[0], r[2], r[3]): (r[4], r[5]) for r in rows}
    hand: dict = {}
    for d in decisions:
        if d["action"] != "keep":
            key = (d["exe"], d["cmd_hash"], d["action"])
            hand.setdefault(key, [0, set()])
            hand[key][0] += 1
            hand[key][1].add(d["run_id"])
    assert got == {k: (v[0], len(v[1])) for k, v in hand.items()}
    assert [r[4] for r in rows] == sorted((r[4] for r in rows), reverse=True)

    columns, rows = duck.report(lake, "runs", limit=3)
    assert [r[0] for r in rows] == ["run5", "run4", "run3"]
    acting = {r[0]: r[columns.index("acting")] for r in rows}
    for run_id, n in acting.items():
        assert n == sum(1 for d in decisions if d["run_id"] == run_id and d["action"] != "keep")

    # No outcomes yet: calibration is empty, and the CLI says why.
    assert duck.report(lake, "calibration")[1] == []
    out = pt("duck", "calibration", "--json", "--lake", str(tmp_path), cwd=tmp_path)
    assert "no action outcomes" in json.loads(out.stdout)["data"]["notes"][0]

    # Outcomes for the first 30 processes: acted on in run 3 (some kept, some killed).
    records, hand_rows = [], []
    for i in range(30):
        act = "keep" if i % 3 == 0 else "kill"
        result = ["done", "exited", "failed"][i % 3] if act == "kill" else "done"
        ts = 1_800_000_000.0 + 3 * 3600 + 60
        base = {"plan_id": "plan1", "action_id": f"plan1:{i}", "ts": ts, "boot_id": "b", "pid": 1000 + i,
                "start_ticks": 5000 + i, "uid": 1000, "action": act, "params": {}, "cmd_hash": None}
        records += [{**base, "kind": "intent"},
                    {**base, "kind": "outcome", "ts": ts + 1, "result": result, "detail": "", "exit_status": None}]
        decision = next(d for d in decisions if d["run_id"] == "run3" and d["pid"] == 1000 + i)
        label = 0.0 if act == "keep" else (1.0 if result in ("done", "exited") else None)
        if label is not None:
            hand_rows.append((1 - decision["lfdr"], label))
    res = writer.write_action_records(records, lake=tmp_path, red=Redactor(KEY))
    assert res.written and res.rows == {"actions": 30, "outcomes": 30}, res.reason
    lake = duck.open_lake(tmp_path)
    columns, rows = duck.report(lake, "calibration", bins=4)
    by_bin: dict = {}
    for p, y in hand_rows:
        by_bin.setdefault(min(int(p * 4), 3), []).append((p, y))
    assert [r[0] for r in rows] == sorted(by_bin)
    for r in rows:
        pairs = by_bin[r[0]]
        assert r[columns.index("n")] == len(pairs)
        assert r[columns.index("predicted")] == pytest.approx(np.mean([p for p, _ in pairs]), abs=1e-4)
        assert r[columns.index("observed")] == pytest.approx(np.mean([y for _, y in pairs]), abs=1e-4)
        assert r[columns.index("brier")] == pytest.approx(np.mean([(p - y) ** 2 for p, y in pairs]), abs=1e-4)
    columns, rows = duck.report(lake, "actions", limit=100)
    assert len(rows) == 30 and {r[columns.index("result")] for r in rows} == {"done", "exited", "failed"}


def test_action_records_are_redacted_and_never_raise(tmp_path):
    red = Redactor(KEY)
    base = {"plan_id": "p-1", "action_id": "p-1:0", "ts": 1_800_000_000.0, "uptime_ticks": 123, "boot_id": "b",
            "pid": 5, "start_ticks": 9, "uid": 1000, "action": "throttle",
            "params": {"cgroup": f"{PRIVATE_PATH}/cg", "cpu_max": 0.5,
                       "undo": {"cgroup": f"{PRIVATE_PATH}/orig", "steps": [f"move {PRIVATE_PATH}/b"]}},
            "cmd_hash": "0123456789abcdef"}
    out = writer.write_action_records([{**base, "kind": "intent"},
                                       {**base, "kind": "outcome", "result": "failed",
                                        "detail": f"write {PRIVATE_PATH}/cpu.max: denied token: {SECRETS['entropy']}",
                                        "exit_status": None}], lake=tmp_path, red=red)
    assert out.written, out.reason
    blob = _lake_text(tmp_path)
    assert PRIVATE_PATH.encode() not in blob and SECRETS["entropy"].encode() not in blob
    assert b"0123456789abcdef" not in blob          # the journal's unkeyed hash is re-keyed
    action = read_all(tmp_path, "actions").to_pylist()[0]
    assert json.loads(action["params"])["cpu_max"] == 0.5 and action["cmd_hash"] == red.digest("0123456789abcdef")
    assert json.loads(action["params"])["undo"]["cgroup"].startswith("p:") and action["uptime_ticks"] == 123
    refused = writer.write_action_records([{**base, "kind": "outcome", "result": "refused", "detail": "no"}],
                                          lake=tmp_path, red=red)
    assert refused.written and "refused" in read_all(tmp_path, "outcomes").column("result").to_pylist()
    # As pt.act.apply._intent builds it, before Journal.append adds ts: the
    # justification quotes the raw command line, which must not be stored.
    raw = {k: v for k, v in base.items() if k not in ("ts", "uptime_ticks")}
    intent = {**raw, "kind": "intent", "action_id": "p-1:1",
              "justification": {"command": f"deploy --token={SECRETS['github']} {PRIVATE_PATH}"}}
    assert writer.write_action_records([intent], lake=tmp_path, red=red).written
    blob = _lake_text(tmp_path)
    assert SECRETS["github"].encode() not in blob and PRIVATE_PATH.encode() not in blob
    bad = writer.write_action_records([{**base, "kind": "outcome"}], lake=tmp_path)
    assert not bad.written and "has no result" in bad.reason
    assert not writer.write_action_records([{**base, "kind": "nope"}], lake=tmp_path).written
    assert (tmp_path / "xdg-data" / "pt" / "telemetry.key").exists()     # the fallback key, not $HOME's
    file = tmp_path / "file"
    file.write_text("")
    assert "Not a directory" in writer.write_action_records([{**base, "kind": "intent"}], lake=file).reason


# --- retention, compaction, export -------------------------------------------------------------

def test_prune_removes_only_old_days(scan, tmp_path):
    t, root = scan
    now = 1_800_000_000.0
    for days_ago in (0, 10, 29, 31, 45):
        writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=now - days_ago * 86400)
    dry = lakes.prune(tmp_path, lakes.parse_age("30d"), now=now, dry_run=True)
    assert len(dry["partitions_removed"]) == 2 * 6 and len(list(tmp_path.rglob("*.parquet"))) == 30
    lakes.prune(tmp_path, lakes.parse_age("30d"), now=now)
    assert len(read_all(tmp_path, "runs")) == 3
    with pytest.raises(ValueError, match="'soon'"):
        lakes.parse_age("soon")


def test_prune_trims_a_compacted_month_at_the_cutoff(scan, tmp_path):
    t, root = scan
    day = 86400.0
    start = 1_800_000_000.0 - 14 * day                     # 2027-01-01 08:00 UTC
    for i in range(10):
        writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=start + i * day)
    lakes.compact(tmp_path)
    assert lakes.table_files(tmp_path, "runs") == ([], lakes.table_files(tmp_path, "runs")[1])
    now = start + 20 * day
    out = lakes.prune(tmp_path, lakes.parse_age("15d"), now=now)      # keeps the last 5 scans
    assert out["rows_removed_from_month_files"] == 5 * (2 + 4 * len(t))
    assert sorted(read_all(tmp_path, "runs").column("ts").to_pylist()) == [start + i * day for i in range(5, 10)]
    assert len(read_all(tmp_path, "decisions")) == 5 * len(t)


def test_compaction_keeps_every_row_and_every_answer(scan, tmp_path):
    t, root = scan
    for i in range(5):
        writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0 + 600 * i)
    writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0 + 40 * 86400)
    before = duck.open_lake(tmp_path)
    count_sql = "SELECT count(*), count(DISTINCT run_id), sum(pid), sum(post__abandoned) FROM proc_inference"
    counts = before.query(count_sql)[1]
    pid = str(int(t.snapshot["pid"][3]))
    why_before = duck.why(before, pid)
    report = lakes.compact(tmp_path)
    # The first month's five files become one; the next month's single file is left as it is.
    assert report["tables"]["proc_inference"] == {"files_in": 5, "files_out": 1, "rows": 5 * len(t),
                                                  "leftovers_removed": 0}
    raw, compacted = lakes.table_files(tmp_path, "proc_inference")
    assert len(raw) == 1 and len(compacted) == 1 and compacted[0].name.startswith("compacted-")
    assert compacted[0].parent.name == "month=2027-01" and not (tmp_path / "proc_inference/date=2027-01-15").exists()
    after = duck.open_lake(tmp_path)
    assert after.query(count_sql)[1] == counts
    assert duck.why(after, pid) == why_before
    # A crash between publishing and deleting leaves a per-run file the compacted one holds:
    # the next compaction removes it instead of counting its rows twice.
    merged = pq.read_table(compacted[0])
    run_id = merged.column("run_id")[0].as_py()
    leftover = tmp_path / "proc_inference" / "date=2027-01-15" / f"run_id={run_id}" / "part-0.parquet"
    leftover.parent.mkdir(parents=True)
    pq.write_table(merged.filter(pa.compute.equal(merged.column("run_id"), run_id)), leftover)
    assert duck.open_lake(tmp_path).query(count_sql)[1] != counts
    again = lakes.compact(tmp_path)
    assert again["tables"]["proc_inference"]["leftovers_removed"] == 1
    assert duck.open_lake(tmp_path).query(count_sql)[1] == counts
    assert lakes.table_files(tmp_path, "proc_inference")[1] == compacted


def test_a_bad_query_naming_a_lake_file_quarantines_nothing(scan, tmp_path):
    t, root = scan
    writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root)
    f = lakes.table_files(tmp_path, "runs")[0][0]
    lake = duck.open_lake(tmp_path)
    import duckdb
    with pytest.raises(duckdb.Error):
        lake.query(f"SELECT no_such_column FROM read_parquet('{f}')")
    assert lake.quarantined == [] and f.exists()


def test_maintenance_is_exclusive(tmp_path):
    with lakes.maintenance(tmp_path):
        with pytest.raises(lakes.LakeError, match="another pt lake"):
            with lakes.maintenance(tmp_path):
                pass
    with lakes.maintenance(tmp_path):       # released
        pass


def test_a_file_removed_under_a_reader_is_not_an_error(scan, tmp_path):
    t, root = scan
    for i in range(2):
        writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0 + i)
    lake = duck.open_lake(tmp_path)
    gone = lakes.table_files(tmp_path, "proc_samples")[0][0]
    gone.unlink()                            # as compaction or prune would, between listing and query
    assert lake.query("SELECT count(*) FROM proc_samples")[1] == [(len(t),)]
    assert lake.quarantined == []


def test_export_rekeys_or_drops_hashes(scan, tmp_path):
    t, root = scan
    lake_dir = tmp_path / "lake"
    writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root)
    writer.write_scan(t, lake=lake_dir, red=Redactor(KEY), procfs=root)
    original = read_all(lake_dir, "proc_samples").sort_by([("run_id", "ascending"), ("pid", "ascending")])
    out = lakes.export(lake_dir, tmp_path / "rekeyed", mode="rekey")
    assert out["files"] == 12 and out["key_id"] not in (key_id(KEY), "dropped")
    rekeyed = read_all(tmp_path / "rekeyed", "proc_samples").sort_by([("run_id", "ascending"),
                                                                     ("pid", "ascending")])
    for col in ("cmd_hash", "user_hash", "cwd_hash"):
        a, b = original.column(col).to_pylist(), rekeyed.column(col).to_pylist()
        assert not set(filter(None, a)) & set(filter(None, b))
        assert [x == y for x in a for y in a] == [x == y for x in b for y in b]    # grouping kept
    blob = _lake_text(tmp_path / "rekeyed")
    for h in set(original.column("cmd_hash").to_pylist()) | {a for r in original.column("args").to_pylist()
                                                              for a in r if ":" in a}:
        assert h.encode() not in blob
    assert set(read_all(tmp_path / "rekeyed", "runs").column("key_id").to_pylist()) == {out["key_id"]}
    dropped = lakes.export(lake_dir, tmp_path / "dropped", mode="drop")
    plain = read_all(tmp_path / "dropped", "proc_samples")
    assert dropped["files"] == 12 and plain.column("cmd_hash").null_count == len(plain)
    assert all(a in ("python3", "-m", "h:", "p:") or a.startswith("--id=h:") for r in plain.column("args").to_pylist()
               for a in r)
    with pytest.raises(OSError, match="not empty"):
        lakes.export(lake_dir, tmp_path / "dropped", mode="drop")
    lakes.compact(lake_dir)                      # month files export the same way
    again = lakes.export(lake_dir, tmp_path / "compacted", mode="rekey")
    assert again["files"] == 6 and again["rows"] == out["rows"]
    assert len(read_all(tmp_path / "compacted", "proc_samples")) == len(original)


# --- the commands -----------------------------------------------------------------------------

@linux_only
def test_scan_then_duck_why_and_sql_end_to_end(tmp_path):
    with running([sys.executable, "-c", "import sys; sys.stdin.read()"], cwd=tmp_path) as proc:
        scanned = json.loads(pt("scan", "--json", cwd=tmp_path).stdout)
    run_id = scanned["data"]["telemetry"]["run_id"]
    why = json.loads(pt("duck", "why", str(proc.pid), "--json", cwd=tmp_path).stdout)
    assert why["command"] == "duck" and why["data"]["why"]["run_id"] == run_id
    verdict = next(p for p in scanned["data"]["processes"] if p["pid"] == proc.pid)
    assert why["data"]["why"]["action"] == verdict["action"]
    assert why["data"]["why"]["posterior"] == pytest.approx(verdict["posterior"], abs=1e-6)
    table = pt("duck", "why", str(proc.pid), cwd=tmp_path).stdout
    assert "ledger" in table and "posterior" in table
    sql = json.loads(pt("duck", "--sql", "SELECT count(*) AS n FROM runs", "--json", cwd=tmp_path).stdout)
    assert sql["data"]["rows"] == [{"n": 1}]
    info = json.loads(pt("lake", "info", "--json", cwd=tmp_path).stdout)["data"]
    assert info["tables"]["decisions"]["run_files"] == 1 and info["key_id"]
    assert pt("scan", "--no-telemetry", "--json", cwd=tmp_path).returncode == 0
    at = json.loads(pt("scan", "--at", "+3h", "--json", cwd=tmp_path).stdout)["data"]["telemetry"]
    assert at["written"] is False and "hypothetical" in at["reason"]
    assert json.loads(pt("lake", "info", "--json", cwd=tmp_path).stdout)["data"]["tables"]["runs"]["run_files"] == 1


@pytest.mark.parametrize("args, code, message", [
    (["duck", "why"], 2, "why needs a PID"),
    (["duck", "why", "abc"], 2, "got 'abc'"),
    (["duck", "why", "4242"], 3, "no decision about '4242'"),
    (["duck", "--sql", "SELECT nope FROM runs"], 1, "nope"),
    (["duck", "top", "--limit", "0"], 2, "got '0'"),
    (["lake", "prune"], 2, "--keep"),
    (["lake", "prune", "--keep", "soon"], 2, "'soon'"),
    (["lake", "export"], 2, "DEST"),
    (["lake", "export", "out"], 2, "--rekey or --drop-hashes"),
])
def test_command_errors_name_the_bad_input(tmp_path, args, code, message):
    proc = pt(*args, cwd=tmp_path, check=False)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_error_envelope_with_json(tmp_path):
    proc = pt("duck", "why", "4242", "--json", cwd=tmp_path, check=False)
    result = json.loads(proc.stdout)
    assert proc.returncode == 3 and result["status"] == "error" and result["errors"][0]["code"] == "not_found"


def test_reports_sql_ships_as_package_data():
    """Read through importlib.resources from wherever pt is imported: in CI
    (.ci/run: pip install . then pytest) that is the installed wheel, so
    this fails if meson's install_subdir ever stops shipping the .sql."""
    import importlib.resources

    import pt.telemetry
    sql = importlib.resources.files("pt.telemetry").joinpath("reports.sql")
    assert sql.is_file() and Path(str(sql)).parent == Path(pt.telemetry.__file__).parent
    text = duck.reports_sql()
    for macro in ("pt_runs", "pt_why", "pt_ledger", "pt_top", "pt_calibration", "pt_actions"):
        assert f"MACRO {macro}(" in text


def test_help_has_examples_and_stays_light(tmp_path):
    for command in ("duck", "lake"):
        out = pt(command, "--help", cwd=tmp_path).stdout
        assert "examples:" in out
    code = "import sys, pt.cli; pt.cli.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'duckdb')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "[]"


def test_timing_of_a_write_is_recorded(scan, tmp_path):
    t, root = scan
    result = writer.write_scan(t, lake=tmp_path, red=Redactor(KEY), procfs=root, scan_s=0.25)
    assert result.seconds > 0 and read_all(tmp_path, "runs").column("scan_s").to_pylist() == [0.25]
    assert time.time() - read_all(tmp_path, "runs").column("ts")[0].as_py() < 3600
