"""pt's own Parquet writer (pt/telemetry/parquet.py), read back by the two
real readers, pyarrow and DuckDB: every column type the lake uses, nulls,
empty and huge strings, unicode, lists with null and empty elements, empty
tables, statistics; the scan's real tables against the schemas pyarrow
wrote before; old pyarrow files and new files in one lake; and a default
``pt scan`` whose telemetry child never imports pyarrow.
"""
import dataclasses
import io
import json
import sys

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pt.collect import collect
from pt.telemetry import duck, parquet, schemas, writer
from pt.telemetry import lake as lakes
from pt.telemetry.redact import Redactor
from pt.testing import add_proc, make_tree
from pt.testing import run_pt as pt
from pt.triage import triage

KEY = bytes(range(32))
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


@pytest.fixture(autouse=True)
def private_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("PT_LAKE", raising=False)
    monkeypatch.delenv("PT_TELEMETRY_KEY", raising=False)


def generated(n: int, seed: int = 0) -> list[tuple[str, str, list]]:
    """Columns of every lake type as Python lists (None: null), nulls at random."""
    rng = np.random.default_rng(seed)
    null = lambda: rng.random(n) < 0.3          # noqa: E731
    ints = lambda lo, hi: rng.integers(lo, hi, n, endpoint=True)   # noqa: E731
    words = ["", "a", "ü✓ naïve", "日本語", "emoji 🐍", "tab\tand\nnewline", "x" * 300]

    def maybe(values):
        return [None if m else v for v, m in zip(values, null())]

    def a_list(i):
        k = int(rng.integers(0, 5))
        return [None if rng.random() < 0.2 else words[int(rng.integers(0, len(words)))] + str(i % 3)
                for _ in range(k)]

    return [
        ("b", "bool", maybe(rng.random(n) < 0.5)),
        ("i8", "int8", maybe(ints(-128, 127))),
        ("i16", "int16", maybe(ints(-2**15, 2**15 - 1))),
        ("i32", "int32", maybe(ints(-2**31, 2**31 - 1))),
        ("i64", "int64", maybe(ints(-2**63, 2**63 - 1))),
        ("u64", "uint64", maybe(rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True))),
        ("f", "float64", maybe(np.concatenate([rng.normal(size=n - 4) * 1e300, [np.inf, -np.inf, -0.0, 5e-324]])
                               if n >= 4 else rng.normal(size=n))),
        ("s", "string", maybe([words[i % len(words)] + ("" if i % 2 else str(i)) for i in range(n)])),
        ("l", "list<string>", maybe([a_list(i) for i in range(n)])),
    ]


def python(values) -> list:
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def write(columns, codec=parquet.GZIP, **kwargs) -> bytes:
    out = io.BytesIO()
    parquet.write_table(out, columns, codec=codec, **kwargs)
    return out.getvalue()


def read_both(tmp_path, data: bytes) -> tuple[pa.Table, list[tuple], list[tuple]]:
    """The file read by pyarrow (every page's CRC verified) and by DuckDB (rows and DESCRIBE)."""
    path = tmp_path / "t.parquet"
    path.write_bytes(data)
    table = pq.ParquetFile(path, page_checksum_verification=True).read()
    con = duckdb.connect()
    rows = con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    con.close()
    return table, rows, described


def same(got, expected) -> bool:
    """Equal, NaN equal to NaN (floats compare as floats)."""
    return len(got) == len(expected) and all(
        g == e or (isinstance(g, float) and isinstance(e, float) and g != g and e != e)
        for g, e in zip(got, expected))


# --- generated columns ---------------------------------------------------------------------

@pytest.mark.parametrize("codec", [parquet.GZIP, parquet.UNCOMPRESSED])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 505, 3000])
def test_every_type_round_trips_through_pyarrow_and_duckdb(tmp_path, codec, n):
    columns = generated(n, seed=n)
    table, rows, described = read_both(tmp_path, write(columns, codec, metadata={"pt.table": "t", "k": "v"}))
    assert table.schema.metadata == {b"pt.table": b"t", b"k": b"v"}
    assert [str(f.type) for f in table.schema] == ["bool", "int8", "int16", "int32", "int64", "uint64", "double",
                                                   "string", "list<element: string>"]
    assert all(f.nullable for f in table.schema)
    assert [d[1] for d in described] == [schemas.DUCKDB_TYPES[dtype] for _, dtype, _ in columns]
    for j, (name, _, values) in enumerate(columns):
        expected = python(values)
        assert same(table.column(name).to_pylist(), expected), name
        assert same([r[j] for r in rows], expected), name


def test_nulls_empty_lists_and_null_elements_are_told_apart(tmp_path):
    lists = [None, [], [None], [""], ["a", None, ""], None, ["ü"] * 20, []]
    strings = [None, "", "a", None, "", "日本", None, ""]
    table, rows, _ = read_both(tmp_path, write([("l", "list<string>", lists), ("s", "string", strings)]))
    assert table.column("l").to_pylist() == lists and [r[0] for r in rows] == lists
    assert table.column("s").to_pylist() == strings and [r[1] for r in rows] == strings


def test_all_null_and_constant_columns(tmp_path):
    n = 600
    columns = [(f"c_{dtype}", dtype, parquet.const(None, n, dtype)) for dtype in schemas.DUCKDB_TYPES] + \
              [("k", "string", parquet.const("run", n, "string")), ("t", "float64", parquet.const(1.5, n, "float64")),
               ("l1", "list<string>", parquet.const(["a", "b"], n, "list<string>"))]
    table, rows, _ = read_both(tmp_path, write(columns))
    for j, (name, dtype, _) in enumerate(columns[:len(schemas.DUCKDB_TYPES)]):
        assert table.column(name).null_count == n and {r[j] for r in rows} == {None}
    assert set(table.column("k").to_pylist()) == {"run"} and set(table.column("t").to_pylist()) == {1.5}
    assert {tuple(r[-1]) for r in rows} == {("a", "b")}


def test_huge_strings_and_many_distinct_values(tmp_path):
    huge = "é" * 3_000_000 + "end"
    distinct = [f"value-{i}" for i in range(70_000)]                 # a 17-bit dictionary index
    strings = [huge, None] + distinct
    table, rows, _ = read_both(tmp_path, write([("s", "string", strings), ("l", "list<string>",
                                                                           [[huge, "x"], None] + [[v] for v in distinct])]))
    assert table.column("s").to_pylist() == strings
    assert [r[0] for r in rows] == strings
    assert rows[0][1] == [huge, "x"] and rows[70_001][1] == ["value-69999"]


def test_an_empty_table_keeps_its_schema(tmp_path):
    columns = [(name, dtype, []) for name, dtype, _ in generated(0)]
    table, rows, described = read_both(tmp_path, write(columns, metadata={"pt.table": "t"}))
    assert table.num_rows == 0 and rows == []
    assert [str(f.type) for f in table.schema][-1] == "list<element: string>"
    assert [d[1] for d in described] == [schemas.DUCKDB_TYPES[dtype] for _, dtype, _ in columns]


def test_statistics_are_the_min_and_max_of_the_values(tmp_path):
    columns = generated(1000, seed=3)
    table, _, _ = read_both(tmp_path, write(columns, statistics=("i32", "u64", "f", "s")))
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0)
    names = [c[0] for c in columns]
    for name in ("i32", "u64", "s"):
        values = [v for v in table.column(name).to_pylist() if v is not None]
        stats = meta.column(names.index(name)).statistics
        assert stats.has_min_max and (stats.min, stats.max) == (min(values), max(values)), name
        assert stats.null_count == table.column(name).null_count
    assert not meta.column(names.index("i8")).is_stats_set
    # DuckDB prunes with them: a filter outside the range reads nothing and still answers.
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 't.parquet'}') "
                       f"WHERE i32 > 2147483647").fetchone() == (0,)
    con.close()


def test_chunks_encoded_ahead_make_the_same_file():
    """A column encoded before the others (:func:`parquet.encode`, as a scan's
    telemetry child encodes the snapshot's columns during the CPU window) is
    placed at its offset in the file: byte for byte the file written at once."""
    columns = generated(505, seed=5)
    stats = ("i32", "s")
    ahead = [(name, dtype, parquet.encode(name, dtype, values, stats=name in stats) if j % 2 else values)
             for j, (name, dtype, values) in enumerate(columns)]
    assert write(ahead, statistics=stats) == write(columns, statistics=stats)
    assert sum(isinstance(c, parquet.Encoded) for _, _, c in ahead) == len(columns) // 2


def test_a_chunk_encoded_for_another_column_is_refused():
    chunk = parquet.encode("a", "int32", [1, 2])
    with pytest.raises(ValueError, match="column 'b' of int32 given a chunk encoded as 'a' of int32"):
        write([("b", "int32", chunk)])
    with pytest.raises(ValueError, match="column 'a' of int64 given a chunk encoded as 'a' of int32"):
        write([("a", "int64", chunk)])
    with pytest.raises(ValueError, match="different lengths"):
        write([("a", "int32", chunk), ("c", "int32", [1, 2, 3])])


def test_invalid_input_raises_a_clear_error():
    with pytest.raises(ValueError, match="different lengths"):
        write([("a", "int32", [1, 2]), ("b", "int32", [1])])
    with pytest.raises(ValueError, match="unsupported column type 'int128'"):
        write([("a", "int128", [1])])
    with pytest.raises(ValueError, match="one-dimensional"):
        write([("a", "int32", np.zeros((2, 2)))])


def test_thrift_varints_and_zigzag_against_hand_values():
    assert parquet._varint(0) == b"\x00" and parquet._varint(127) == b"\x7f"
    assert parquet._varint(300) == b"\xac\x02"
    assert [parquet._zigzag(v) for v in (0, -1, 1, -2, 2**31 - 1)] == \
        [b"\x00", b"\x01", b"\x02", b"\x03", b"\xfe\xff\xff\xff\x0f"]


def test_thrift_structs_against_hand_values():
    """The compact protocol by hand: short and long field headers (a delta
    beyond 15), bools in the header, a skipped null, a list of 15 (the long
    list header), a nested struct, negative and multi-byte integers."""
    T = parquet._Thrift
    fields = [(1, parquet._I32, 5), (2, None, True), (3, parquet._I64, None), (20, parquet._BINARY, "ab"),
              (21, parquet._LIST_T, (parquet._I32, list(range(15)))), (22, parquet._STRUCT, [(1, None, False)]),
              (23, parquet._I16, -3), (24, parquet._I64, 300), (25, parquet._BYTE, 64),
              (26, parquet._LIST_T, (parquet._BINARY, ["x"]))]
    expected = (b"\x15\x0a" + b"\x11" + b"\x08\x28\x02ab" + b"\x19\xf5\x0f" + bytes(range(0, 30, 2))
                + b"\x1c\x12\x00" + b"\x14\x05" + b"\x16\xd8\x04" + b"\x13\x40" + b"\x19\x18\x01x" + b"\x00")
    assert T.struct(fields) == expected
    assert T.struct([]) == b"\x00"


# --- the scan's real tables ------------------------------------------------------------------

def fake_tree(root, n: int = 60):
    make_tree(root)
    for i in range(n):
        argv = [b"python3", b"-m", b"worker", f"--id={i % 7}".encode(), "/home/ü/p/x.py".encode(),
                b"--token=ghp_" + b"A1b2C3d4" * 5]
        add_proc(root, 100 + i, b"python3", ppid=1, cmdline=b"\x00".join(argv) + b"\x00",
                 start=50_000 + i, utime=10 * i)
    add_proc(root, 99, b"kworker/0", ppid=2, cmdline=b"", start=10)
    return root


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    root = fake_tree(tmp_path_factory.mktemp("procfs") / "proc")
    return triage(root=root, window_s=0.01), root


SCAN_TABLES = ("runs", "system_samples", "proc_samples", "proc_features", "proc_inference", "decisions")


def test_scan_tables_read_as_pyarrow_wrote_them(scan, tmp_path):
    """Types and nullability as pyarrow and DuckDB see them equal those of a file
    pyarrow writes with the schema (what the lake held before); values equal in both readers."""
    t, root = scan
    result = writer.write_scan(t, lake=tmp_path / "lake", red=Redactor(KEY), procfs=root)
    assert result.written, result.reason
    con = duckdb.connect()
    for table in SCAN_TABLES:
        (path,), _ = lakes.table_files(tmp_path / "lake", table)
        assert lakes.parquet_problem(path) is None
        ours = pq.read_table(path)
        before = tmp_path / f"{table}-pyarrow.parquet"
        pq.write_table(ours.cast(schemas.schema(table)), before, compression="zstd")
        theirs = pq.read_table(before)
        assert ours.schema.equals(theirs.schema, check_metadata=False), table
        assert [f.nullable for f in ours.schema] == [f.nullable for f in theirs.schema]
        assert all(same(ours.column(c).to_pylist(), theirs.column(c).to_pylist()) for c in ours.column_names)
        read = [f"read_parquet('{p}', hive_partitioning = false)" for p in (path, before)]
        described = [con.execute(f"DESCRIBE SELECT * FROM {r}").fetchall() for r in read]
        assert described[0] == described[1], table
        assert con.execute(f"SELECT * FROM {read[0]} EXCEPT ALL SELECT * FROM {read[1]}").fetchall() == []
        assert len(ours) == result.rows[table]
    con.close()
    samples = pq.read_table(lakes.table_files(tmp_path / "lake", "proc_samples")[0][0]).to_pylist()
    kworker = next(r for r in samples if r["pid"] == 99)
    assert kworker["args"] is None and kworker["cmdline_readable"] is False or kworker["args"] == []
    worker = next(r for r in samples if r["pid"] == 100)
    assert worker["args"][-1].startswith("--token=") and "ghp_" not in json.dumps(samples)


@pytest.mark.parametrize("posteriors", [False, True])
def test_a_prepared_write_makes_the_files_an_unprepared_one_makes(scan, tmp_path, posteriors):
    """``prepare`` (run while the window runs) encodes the snapshot's columns and
    picks the run id ahead, ``prepare_posteriors`` (run while the scan
    decides) the columns its posteriors decide: the files written with them
    are those of a write that prepares nothing, with its run id."""
    t, root = scan
    red = Redactor(KEY)
    parquet._schema_bytes.cache_clear()                # earlier tests' writes filled it
    prepared = writer.prepare(t.snapshot, red)
    assert {"pid", "start_ticks", "run_id", "exe", "args", "comm", "user_hash"} <= set(prepared.columns)
    if posteriors:
        prepared = writer.prepare_posteriors(prepared, t.window, t.evidence, t.context, t.inference)
        assert {"post__abandoned", "ll__cpu_window__useful"} <= set(prepared.early_columns(t, "proc_inference"))
        assert {"cwd_hash", "window_cpu_ticks"} <= set(prepared.early_columns(t, "proc_samples"))
        other = dataclasses.replace(t.inference, posterior=t.inference.posterior.copy())
        assert prepared.early_columns(dataclasses.replace(t, inference=other), "proc_features") is None
    misses = parquet._schema_bytes.cache_info().misses
    with_prep = writer.write_scan(t, lake=tmp_path / "a", red=red, procfs=root, prepared=prepared)
    assert parquet._schema_bytes.cache_info().misses == misses     # prepare() encoded every schema element
    without = writer.write_scan(t, lake=tmp_path / "b", red=red, procfs=root, ts=prepared.ts,
                                run_id=prepared.run_id)
    assert with_prep.written and without.written and with_prep.run_id == prepared.run_id == without.run_id
    for table in SCAN_TABLES:
        (a,), _ = lakes.table_files(tmp_path / "a", table)
        (b,), _ = lakes.table_files(tmp_path / "b", table)
        ours, theirs = pq.read_table(a), pq.read_table(b)
        if table == "system_samples":                   # read from the live system at each write
            ours, theirs = ours.select(["run_id", "ts"]), theirs.select(["run_id", "ts"])
        if table == "runs":
            ours, theirs = ours.drop(["scan_s"]), theirs.drop(["scan_s"])
        assert ours.schema.equals(theirs.schema), table
        assert all(same(ours.column(c).to_pylist(), theirs.column(c).to_pylist()) for c in ours.column_names), table
        if table not in ("system_samples", "runs"):
            assert a.read_bytes() == b.read_bytes(), table
    # Prepared for another snapshot, nothing of it is used; for another run, all but the run's own columns.
    other = writer.prepare(collect(root), red)
    assert other.ready(t.snapshot, other.run_id) == {}
    assert set(prepared.ready(t.snapshot, "x")) == set(prepared.columns) - {"run_id", "ts"}
    # Written again (a retry, another lake), the same chunks make another run, not a second copy of this one.
    again = writer.write_scan(t, lake=tmp_path / "a", red=red, procfs=root, prepared=prepared)
    assert again.written and again.run_id != prepared.run_id
    views = duck.open_lake(tmp_path / "a")
    assert views.query("SELECT run_id, count(*) FROM runs GROUP BY 1 ORDER BY 1")[1] == \
        sorted([(prepared.run_id, 1), (again.run_id, 1)])
    assert views.query("SELECT count(DISTINCT run_id), count(*) FROM decisions")[1] == [(2, 2 * len(t))]


def test_old_pyarrow_files_and_new_files_in_one_lake(scan, tmp_path):
    """A lake with runs written by pyarrow (with ARROW:schema and zstd) and runs
    written by pt's writer: the views, reports, check and compaction take both."""
    t, root = scan
    lake = tmp_path / "lake"
    old = writer.write_scan(t, lake=lake, red=Redactor(KEY), procfs=root, ts=1_800_000_000.0)
    for table in SCAN_TABLES:               # rewrite the first run's files as pyarrow wrote them
        (path,), _ = lakes.table_files(lake, table)
        back = pq.read_table(path).cast(schemas.schema(table))
        pq.write_table(back, path, compression="zstd", write_page_checksum=True)
        assert b"ARROW:schema" in pq.read_metadata(path).metadata
    new = writer.write_scan(t, lake=lake, red=Redactor(KEY), procfs=root, ts=1_800_000_100.0)
    assert old.written and new.written
    views = duck.open_lake(lake)
    for table in SCAN_TABLES:
        counts = dict(views.query(f"SELECT run_id, count(*) FROM {table} GROUP BY 1")[1])
        assert counts == {old.run_id: old.rows[table], new.run_id: new.rows[table]}, table
    _, rows = views.query("SELECT run_id, list_count(args) AS k, cmd_hash FROM proc_samples WHERE pid = 100 "
                          "ORDER BY run_id")
    assert rows[0][1:] == rows[1][1:]
    assert [lakes.parquet_problem(p) for tbl in SCAN_TABLES for p in lakes.table_files(lake, tbl)[0]] == \
        [None] * 2 * len(SCAN_TABLES)
    report = lakes.compact(lake)
    assert report["tables"]["proc_samples"]["rows"] == 2 * new.rows["proc_samples"]
    (merged,) = lakes.table_files(lake, "proc_samples")[1]
    assert len(pq.read_table(merged)) == 2 * new.rows["proc_samples"]
    check = json.loads(pt("lake", "check", "--json", "--lake", str(lake), cwd=tmp_path).stdout)["data"]
    assert check["files_checked"] >= len(SCAN_TABLES) and check["quarantined"] == []


def test_action_records_and_labels_are_written_by_pts_writer(tmp_path):
    rec = {"kind": "outcome", "plan_id": "20270101T000000Z-0000abcd", "action_id": "p:0", "ts": 1.8e9,
           "boot_id": None, "pid": 7, "start_ticks": 2**63 + 5, "uid": None, "action": "kill",
           "params": {"note": "ü /home/x"}, "result": "done", "detail": "", "exit_status": None}
    res = writer.write_action_records([rec, {**rec, "kind": "intent"}], lake=tmp_path)
    assert res.written, res.reason
    views = duck.open_lake(tmp_path)
    assert views.query("SELECT pid, start_ticks, boot_id, result, detail FROM outcomes")[1] == \
        [(7, 2**63 + 5, None, "done", None)]
    assert views.query("SELECT count(*) FROM actions")[1] == [(1,)]
    for f in res.files:
        assert b"pt version" in (pq.read_metadata(f).created_by or "").encode()


# --- no pyarrow in a default scan ------------------------------------------------------------

@linux_only
def test_a_default_scan_and_its_telemetry_child_never_import_pyarrow(tmp_path):
    """``-X importtime`` (inherited by the forked writer, which shares stderr)
    lists every module the scan and its child import; the child's own
    imports (the writer, the Parquet module) are in the list, pyarrow is not."""
    proc = pt("scan", "--json", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
    telemetry = json.loads(proc.stdout)["data"]["telemetry"]
    assert telemetry["written"], telemetry
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert {"pt.telemetry.writer", "pt.telemetry.parquet"} <= imported     # the child's imports are seen
    assert not {m for m in imported if m.split(".")[0] in ("pyarrow", "duckdb")}


@linux_only
def test_a_scan_and_its_telemetry_child_never_import_numpy_ma(tmp_path):
    """numpy.ma costs ~20 ms to import (a plain ``np.unique`` imports it): not
    in a table scan, nor in its telemetry child, which the scan waits for,
    also when the child follows up the watch list an earlier scan left."""
    for _ in range(2):
        proc = pt("scan", cwd=tmp_path, env={"PYTHONPROFILEIMPORTTIME": "1"})
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                    if line.startswith("import time:")}
        assert {"pt.telemetry.writer", "pt.telemetry.parquet", "zipfile"} <= imported   # the child's, seen
        assert "numpy.ma" not in imported
    assert list(tmp_path.rglob("pending*")), "the second scan had a watch list to follow up"
