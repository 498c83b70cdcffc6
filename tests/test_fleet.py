"""The fleet lake: many hosts write to one lake through the real writer
(``host=<name>/date=<d>/`` partitions), DuckDB reads it (one host by
default, every host with ``--fleet``), hostile host names are refused, old
single-host files still read, and calibration across hosts shrinks each
host's class prior toward the fleet's (checked against scipy).

Lakes live under ``tmp_path``; no process is signalled.
"""
import json
import os
import time

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from scipy import optimize, stats

from pt.config import CLASSES, shipped_priors
from pt.learn import calibrate as cal
from pt.learn import model
from pt.telemetry import duck, schemas, writer
from pt.telemetry import lake as lakes
from pt.telemetry.redact import Redactor
from pt.testing import run_pt as pt
from pt.triage import triage

KEY = bytes(range(32))


pytestmark = pytest.mark.usefixtures("private_homes")


@pytest.fixture(scope="module")
def scan():
    return triage(window_s=0.05)


def test_many_hosts_write_one_lake_and_duckdb_reads_it(tmp_path, monkeypatch, scan):
    root = tmp_path / "fleet"
    old = writer.write_scan(scan, lake=root, red=Redactor(KEY))      # before it was a fleet lake
    assert old.written and all("host=" not in f for f in old.files)
    lakes.make_fleet(root)
    runs = {}
    for host in ("alpha", "beta-2", "gamma.lab"):
        monkeypatch.setenv(lakes.HOST_ENV, host)
        res = writer.write_scan(scan, lake=root, red=Redactor(KEY))
        assert res.written, res.reason
        assert all(f"/host={host}/date=" in f for f in res.files)
        runs[host] = res.run_id
    # Plain DuckDB, hive partitioning, as any engine would read it.
    got = duckdb.sql(f"SELECT host, run_id FROM read_parquet('{root}/runs/host=*/*/*/*.parquet', "
                     "hive_partitioning=true) ORDER BY host").fetchall()
    assert got == sorted(runs.items())
    n = scan.snapshot.__len__()
    per_host = duckdb.sql(f"SELECT host, count(*) FROM read_parquet('{root}/decisions/host=*/*/*/*.parquet', "
                          "hive_partitioning=true) GROUP BY host ORDER BY host").fetchall()
    assert per_host == [(h, n) for h in sorted(runs)]
    # pt's views: this host only by default (and the files without a host), every host with fleet.
    monkeypatch.setenv(lakes.HOST_ENV, "beta-2")
    mine = duck.open_lake(root, tables=("runs",), macros=False)
    assert sorted(r[0] for r in mine.query("SELECT run_id FROM runs")[1]) == sorted([old.run_id, runs["beta-2"]])
    fleet = duck.open_lake(root, tables=("runs", "decisions"), macros=False, fleet=True)
    assert fleet.query("SELECT host, count(*) FROM runs GROUP BY host ORDER BY host NULLS FIRST")[1] == \
        [(None, 1), ("alpha", 1), ("beta-2", 1), ("gamma.lab", 1)]
    assert fleet.query("SELECT count(DISTINCT host) FROM decisions")[1] == [(3,)]
    # The command line: pt duck --fleet, and pt lake info names the hosts.
    out = pt("duck", "--fleet", "--json", "--lake", str(root), "--sql",
             "SELECT host, count(*) AS n FROM runs WHERE host IS NOT NULL GROUP BY host ORDER BY host", cwd=tmp_path)
    assert [r["host"] for r in json.loads(out.stdout)["data"]["rows"]] == sorted(runs)
    info = json.loads(pt("lake", "info", "--json", "--lake", str(root), cwd=tmp_path).stdout)["data"]
    assert info["fleet"] and info["hosts"] == sorted(runs)


def test_a_lake_becomes_a_fleet_lake_from_the_command_line(tmp_path):
    root = tmp_path / "shared"
    data = json.loads(pt("lake", "fleet", "--json", "--lake", str(root), cwd=tmp_path,
                         env={lakes.HOST_ENV: "node7"}).stdout)["data"]
    assert data["host"] == "node7" and lakes.is_fleet(root)
    assert oct(os.stat(root / lakes.FLEET_MARKER).st_mode & 0o777) == "0o600"
    bad = pt("lake", "fleet", "--lake", str(root), cwd=tmp_path, env={lakes.HOST_ENV: "../etc"}, check=False)
    assert bad.returncode != 0 and "host name must be" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("name", ["../up", "a/b", ".hidden", "x" * 64, "host=y", "evil\x1b[31m", "naïve", " "])
def test_hostile_host_names_are_refused_and_nothing_is_written_outside(tmp_path, monkeypatch, scan, name):
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    monkeypatch.setenv(lakes.HOST_ENV, name)
    res = writer.write_scan(scan, lake=root, red=Redactor(KEY))
    assert not res.written and "host name must be" in res.reason and "\x1b" not in res.reason
    assert {p.name for p in tmp_path.iterdir()} <= {"fleet", "xdg-data"}
    assert not any(p.suffix == ".parquet" for p in root.rglob("*"))
    with pytest.raises(lakes.LakeError, match="host name must be"):
        lakes.check_host(name)


def test_a_host_name_that_is_a_valid_partition_reads_back_unchanged():
    for name in ("a", "web-01", "db.eu-west", "Z9_x"):
        assert lakes.check_host(name) == name


def _table(name: str, columns: dict) -> pa.Table:
    sch = schemas.schema(name)
    n = len(next(iter(columns.values())))
    return pa.Table.from_arrays([pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
                                 for f in sch], schema=sch)


def write_host(root, host: str, labels: list[str], monkeypatch, base_pid: int) -> None:
    """One scan of ``host`` with a verdict per process, and a label each, through the real writers."""
    monkeypatch.setenv(lakes.HOST_ENV, host)
    n, ts = len(labels), 1_800_000_000.0
    run_id = writer.new_run_id(ts)
    pids = list(range(base_pid, base_pid + n))
    key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": [f"boot-{host}"] * n, "pid": pids,
           "start_ticks": [p * 3 for p in pids]}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["keep"] * n, "class": ["useful"] * n,
                                          "lfdr": [0.5] * n, "command_category": ["unknown"] * n}),
        "proc_features": _table("proc_features", {**key, "cpu_ticks": [0] * n, "window_ticks": [30] * n}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    rows = [{"ts": ts + 60 + i, "boot_id": f"boot-{host}", "pid": p, "start_ticks": p * 3, "uid": 1000,
             "action": "keep", "result": "idle", "observed_by": "feedback", "label": lab, "verdict_run_id": run_id,
             "after_s": 60.0, "note": None} for i, (p, lab) in enumerate(zip(pids, labels))]
    assert writer.write_labels(rows, lake=root, red=Redactor(KEY)).written


def test_fleet_calibration_shrinks_each_host_toward_the_fleet(tmp_path, monkeypatch):
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    rng = np.random.default_rng(3)
    mix = {"h1": [0.8, 0.05, 0.1, 0.05], "h2": [0.5, 0.1, 0.35, 0.05], "h3": [0.6, 0.1, 0.25, 0.05],
           "h4": [0.7, 0.1, 0.15, 0.05]}
    sizes = {"h1": 12, "h2": 200, "h3": 150, "h4": 120}
    counts = {}
    for i, (host, p) in enumerate(mix.items()):
        labels = [CLASSES[c] for c in rng.choice(4, size=sizes[host], p=p)]
        counts[host] = np.array([labels.count(c) for c in CLASSES], dtype=float)
        write_host(root, host, labels, monkeypatch, 1000 + 1000 * i)
    monkeypatch.setenv(lakes.HOST_ENV, "h1")
    record = cal.read_record(duck.open_lake(root, tables=("decisions", "proc_features", "outcomes"),
                                            macros=False, fleet=True))
    assert len(record) == sum(sizes.values()) and set(record.host) == set(mix)
    result = cal.calibrate(record, shipped_priors())
    f = result["fleet"]
    assert f["this_host"] == "h1" and {h: v["n"] for h, v in f["hosts"].items()} == sizes
    # The fleet prior: the conjugate update with every host's labels.
    total = sum(counts.values())
    fleet, _ = model.class_prior_update(total, np.asarray(shipped_priors().class_prior))
    assert [f["fleet_prior"][c] for c in CLASSES] == pytest.approx(fleet)
    # The across-host strength: type-II ML, against scipy's Dirichlet-multinomial and optimiser.
    C = np.array([counts[h] for h in sorted(counts)])

    def nll(log_s):
        return -sum(stats.dirichlet_multinomial.logpmf(c, np.exp(log_s) * fleet, c.sum()) for c in C)
    ref = optimize.minimize_scalar(nll, bounds=(0.0, np.log(1e6)), method="bounded", options={"xatol": 1e-6})
    assert np.log(f["strength_toward_fleet"]) == pytest.approx(ref.x, abs=0.02)
    s = f["strength_toward_fleet"]
    for host, c in counts.items():
        want = (s * fleet + c) / (s + c.sum())
        assert [f["hosts"][host]["learned"][k] for k in CLASSES] == pytest.approx(want, rel=1e-9)
    # h1, with 12 labels, stays near the fleet; its learned prior is the one written.
    own = counts["h1"] / counts["h1"].sum()
    learned = np.array([result["class_prior"]["learned"][c] for c in CLASSES])
    assert np.abs(learned - fleet).sum() < np.abs(own - fleet).sum()
    assert result["overlay"]["class_prior"] == result["class_prior"]["learned"]
    # The command line says the same.
    data = json.loads(pt("calibrate", "--fleet", "--json", "--dry-run", "--lake", str(root), cwd=tmp_path,
                         env={lakes.HOST_ENV: "h1"}).stdout)["data"]
    assert data["fleet"]["hosts"]["h2"]["n"] == 200 and data["written"] is None
    # Without --fleet: h1's own labels only.
    alone = json.loads(pt("calibrate", "--json", "--dry-run", "--lake", str(root), cwd=tmp_path,
                          env={lakes.HOST_ENV: "h1"}).stdout)["data"]
    assert alone["labels"]["n"] == 12 and "fleet" not in alone


def test_fleet_strength_recovers_known_between_host_spread():
    rng = np.random.default_rng(11)
    mean = np.array([0.6, 0.1, 0.25, 0.05])
    for true_s in (3.0, 30.0):        # identifiable: the spread between hosts exceeds the multinomial noise
        c = np.array([rng.multinomial(200, rng.dirichlet(true_s * mean)) for _ in range(60)])
        s = model.fleet_strength(c, mean)
        assert true_s / 3 < s < true_s * 3, (true_s, s)


def test_spark_reads_the_fleet_lake(tmp_path, monkeypatch, scan):
    pyspark = pytest.importorskip("pyspark.sql")
    root = tmp_path / "fleet"
    lakes.make_fleet(root)
    for host in ("alpha", "beta"):
        monkeypatch.setenv(lakes.HOST_ENV, host)
        assert writer.write_scan(scan, lake=root, red=Redactor(KEY)).written
    spark = pyspark.SparkSession.builder.master("local[1]").appName("pt-fleet").getOrCreate()
    try:
        df = spark.read.option("basePath", str(root / "runs")).parquet(str(root / "runs" / "host=*"))
        assert sorted(r["host"] for r in df.select("host").collect()) == ["alpha", "beta"]
    finally:
        spark.stop()


def _scan_of(root, host: str, ts: float, monkeypatch, n: int = 3) -> str:
    """One committed scan of ``host`` at ``ts`` (decisions and runs) through the real writer."""
    monkeypatch.setenv(lakes.HOST_ENV, host)
    run_id = writer.new_run_id(ts)
    key = {"run_id": [run_id] * n, "ts": [ts] * n, "boot_id": [f"boot-{host}"] * n, "pid": list(range(10, 10 + n)),
           "start_ticks": [1] * n}
    writer.write_tables(root, {
        "decisions": _table("decisions", {**key, "action": ["keep"] * n, "class": ["useful"] * n}),
        "runs": _table("runs", {"run_id": [run_id], "ts": [ts], "mode": ["quick"]})}, run_id, ts)
    return run_id


def _rows_per_host(root) -> dict:
    got = duck.open_lake(root, tables=("decisions",), macros=False, fleet=True).query(
        "SELECT coalesce(host, ''), count(*) FROM decisions GROUP BY ALL")[1]
    return dict(got)


def test_compact_and_prune_keep_to_this_hosts_partition_unless_all_hosts(tmp_path, monkeypatch):
    """Each host compacts and prunes its own partition (and the files written
    before the lake was a fleet lake); another host's files stay until
    --all-hosts; DuckDB reads every host's month files with their host."""
    root = tmp_path / "fleet"
    now = time.time()
    _scan_of(root, "pre", now - 50 * 86400, monkeypatch)
    for f in root.rglob("*.parquet"):          # the pre-fleet scan: no host partition
        assert "host=" not in str(f)
    lakes.make_fleet(root)
    for host in ("alpha", "beta"):
        for days in (45, 44, 2, 1):
            _scan_of(root, host, now - days * 86400, monkeypatch)
    before = _rows_per_host(root)
    assert before == {"": 3, "alpha": 12, "beta": 12}
    env = {lakes.HOST_ENV: "alpha"}

    out = json.loads(pt("lake", "compact", "--json", "--lake", str(root), cwd=tmp_path, env=env).stdout)["data"]
    assert out["hosts"] == ["alpha"] and out["tables"]["decisions"]["files_in"] == 4   # the pre-fleet file alone in its month stays
    alpha_raw, alpha_months = lakes.table_files(root, "decisions", host="alpha")
    beta_raw, beta_months = lakes.table_files(root, "decisions", host="beta")
    assert not alpha_raw and len(alpha_months) >= 2 and all("/host=alpha/month=" in str(f) for f in alpha_months)
    assert len(beta_raw) == 4 and not beta_months                     # another host's files: untouched
    assert _rows_per_host(root) == before
    # Plain DuckDB over the compacted host partitions, as Spark or Trino would read them.
    assert duckdb.sql(f"SELECT host, count(*) FROM read_parquet('{root}/decisions/host=*/month=*/*.parquet', "
                      "hive_partitioning=true) GROUP BY host").fetchall() == [("alpha", 12)]

    # prune: alpha's old month goes (the whole month ended before the cutoff, or its rows do); beta's stays.
    dry = json.loads(pt("lake", "prune", "--keep", "30d", "--dry-run", "--json", "--lake", str(root),
                        cwd=tmp_path, env=env).stdout)["data"]
    assert dry["partitions_removed"] and not any("host=beta" in p for p in dry["partitions_removed"])
    assert "host partitions: alpha" in pt("lake", "prune", "--keep", "30d", "--dry-run", "--lake", str(root),
                                          cwd=tmp_path, env=env).stdout
    assert _rows_per_host(root) == before
    done = json.loads(pt("lake", "prune", "--keep", "30d", "--json", "--lake", str(root), cwd=tmp_path,
                         env=env).stdout)["data"]
    assert done["hosts"] == ["alpha"]
    after = _rows_per_host(root)
    assert after["alpha"] == 6 and after["beta"] == 12 and "" not in after
    lakes.prune(root, 30 * 86400, now=now, hosts=lakes.maintained(root, all_hosts=True))
    assert _rows_per_host(root) == {"alpha": 6, "beta": 6}
    assert json.loads(pt("lake", "compact", "--all-hosts", "--json", "--lake", str(root), cwd=tmp_path,
                         env=env).stdout)["data"]["hosts"] == ["alpha", "beta"]
    assert _rows_per_host(root) == {"alpha": 6, "beta": 6}
    assert not lakes.table_files(root, "decisions", host="beta")[0]
