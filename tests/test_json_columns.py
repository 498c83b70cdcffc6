"""``pt scan --json`` writes its rows from columns (pt.json_columns): the text
must be exactly what ``json.dumps`` writes of the row dicts, hostile strings
and non-finite floats included."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from pt.json_columns import JSONText, as_text, column_pieces, float_pieces, parts_with, record_chunks, records
from pt.testing import add_proc, make_tree, run_pt

#: Strings json must escape: controls, ESC, DEL, U+2028/2029, lone surrogates, quotes, backslashes,
#: %-formatting, non-ASCII, the empty string.
HOSTILE = ["a\u2028b\u2029", "x\udcff\udc80y", "\ud800", "\x00\x01\x1b[31m\x7f", 'q"uo\\te', "%s%(x)d%%",
           "\u00e9\u65e5\U0001f600", "", "plain"]


def stdlib(columns: dict[str, np.ndarray]) -> str:
    """The reference: row dicts (floats rounded to 6 decimals, null where not
    finite) through the standard library's encoder, as pt wrote them before."""
    def plain(values):
        if values.dtype.kind == "f":
            return np.where(np.isfinite(values), np.round(values, 6), None).tolist()
        return values.tolist()
    names = list(columns)
    return json.dumps([dict(zip(names, row)) for row in zip(*(plain(columns[n]) for n in names))],
                      separators=(",", ":"), allow_nan=False)


def objects(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def hostile_columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pick = lambda: HOSTILE[rng.integers(len(HOSTILE))]          # noqa: E731
    return {
        "pid": rng.integers(0, 2**31, n).astype(np.int32),
        "start_ticks": rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2),
        "swap_bytes": rng.integers(-1, 2**40, n),
        "scaled": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n) * 10.0 ** rng.integers(-9, 20, n)),
        "share": np.select([rng.random(n) < 0.1, rng.random(n) < 0.1], [np.inf, -np.inf], rng.random(n)),
        "tiny": rng.random(n).astype(np.float32) * np.float32(1e-3),
        "negative_zero": np.full(n, -0.0),
        "repeated_and_signed_zeros": rng.choice([0.0, -0.0, -1e-8, 1e-8, 0.5, -0.5, 1e-4, -4e-7], n),
        "kernel_thread": rng.random(n) < 0.5,
        "state": np.array(list("RSDZTI") * n)[:n].astype("U1"),
        "text": objects([None if rng.random() < 0.1 else pick() for _ in range(n)]),
        "cmdline": objects([None if rng.random() < 0.1 else [pick() for _ in range(rng.integers(0, 4))]
                            for _ in range(n)]),
        "nested": objects([{"k\u2028": [1, None, pick()], "x": {"y": float(rng.random())}} for _ in range(n)]),
        "key with \"%s\" \u2028": objects([pick() for _ in range(n)]),
    }


@pytest.mark.parametrize("n", [0, 1, 7, 500])
def test_records_are_what_json_dumps_writes(n):
    for seed in range(3):
        columns = hostile_columns(n, seed)
        text = records(columns)
        assert text == stdlib(columns)
        assert text.isascii()
        assert [records({k: v}) for k, v in columns.items()] == [stdlib({k: v}) for k, v in columns.items()]


def test_no_columns_is_an_empty_array():
    assert records({}) == "[]" == stdlib({})


def test_floats_round_and_non_finite_become_null_or_raise_as_json_does():
    values = np.array([0.1234567, 1e-7, -2.5e-7, 1e16, 123456789.1234567, np.nan, np.inf, -np.inf, 2e305])
    assert float_pieces(values, 6) == ["0.123457", "0.0", "-0.0", "1e+16", "123456789.123457", "null", "null",
                                       "null", "2e+305"]          # rounding 2e305 would overflow: kept
    assert float_pieces(values[:5], 4, null=False) == [json.dumps(v) for v in np.round(values[:5], 4).tolist()]
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="not JSON compliant"):
            float_pieces(np.array([1.0, bad]), 6, null=False)
        with pytest.raises(ValueError, match="not JSON compliant"):
            json.dumps([bad], allow_nan=False)                    # as the standard library refuses it
    with pytest.raises(ValueError, match="not JSON compliant"):
        records({"nested": objects([[float("nan")]])})


def test_json_text_columns_pass_through_and_keep_their_type():
    column = as_text(['{"a":1}', "null", "[2]"])
    assert isinstance(column[np.array([2, 0])], JSONText) and isinstance(column[:1], JSONText)
    assert column_pieces(column[::-1]) == ["[2]", "null", '{"a":1}']
    assert records({"v": column}) == '[{"v":{"a":1}},{"v":null},{"v":[2]}]'


def test_parts_with_puts_the_chunks_in_their_place_among_the_keys():
    obj = {"a": 1, "data": {"processes": None, "summary": {"n": HOSTILE}}, "errors": []}
    text = "".join(parts_with(obj, ("data", "processes"), ['[{"pid":1}', "]"]))
    assert text == json.dumps({**obj, "data": {"processes": [{"pid": 1}], "summary": {"n": HOSTILE}}},
                              separators=(",", ":"))
    assert "".join(parts_with({"processes": None}, ("processes",), ["[]"])) == '{"processes":[]}'


@pytest.mark.parametrize("batch", [1, 2, 3, 512])
def test_chunks_of_any_batch_make_the_same_array(batch):
    columns = hostile_columns(7, 0)
    chunks = record_chunks(columns, batch=batch)
    assert "".join(chunks) == stdlib(columns) and len(chunks) == -(-7 // batch) + 1


def hostile_root(root: Path) -> Path:
    """A fixture procfs with command lines of invalid UTF-8, NUL-free binary
    bytes, U+2028 and a secret, a zombie, a kernel thread and a '(a) b' comm."""
    make_tree(root)
    add_proc(root, 100, b"sleep")
    add_proc(root, 101, b"we\xffird\x1b[31m", ppid=100,
             cmdline=b"python\x00-c\x00\xff\xfe bin\x01\x7f\x1b \xe2\x80\xa8 sep\x00--password=hunter2\x00")
    add_proc(root, 102, b"zed", state="Z", cmdline=b"", ppid=100)
    add_proc(root, 103, b"(a) b", cmdline=b"\xed\xa0\x80lone\x00\xc3\xa9t\xc3\xa9\x00", tty_nr=0, uid=0)
    add_proc(root, 104, b"kworker/0:1", cmdline=b"", ppid=2)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")
@pytest.mark.parametrize("fields", [None, ("pid", "why", "posterior", "posterior_bounds", "expected_loss",
                                           "bayes_factors", "evidence", "cmdline", "command", "lfdr")])
def test_scan_json_rows_are_the_row_dicts_pt_explain_builds(tmp_path, capsys, fields):
    """The whole result is canonical ``json.dumps`` text, and every process
    is, key for key and value for value, the dict the row-by-row path
    (``pt explain``'s) builds for it."""
    from pt.fields import process_columns, verdict_columns
    from pt.triage import triage
    from pt.ui.result import masked_columns, print_scan_json, rows
    from pt.ui.scan_rows import select_rows

    t = triage(root=hostile_root(tmp_path / "proc"), window_s=0.05, memory=None)
    view = select_rows(t.snapshot, uids=None, kernel_threads=True, sort="attention", triage=t,
                       every_field=True, fields=fields)
    print_scan_json(view, top=None, triage=t, fields=fields, telemetry={"written": False, "reason": "test"})
    out = capsys.readouterr().out
    result = json.loads(out)
    assert out == json.dumps(result, separators=(",", ":"), allow_nan=False) + "\n"
    processes = result["data"]["processes"]
    assert sorted(p["pid"] for p in processes) == sorted(t.snapshot["pid"].tolist()) == [100, 101, 102, 103, 104]
    for p in processes:
        row = np.flatnonzero(t.snapshot["pid"] == p["pid"])
        one = process_columns(t.snapshot.take(row)) | verdict_columns(t, rows=row)
        expected = rows(masked_columns(one, t.snapshot["cmdline"][row], t.snapshot["comm"][row]))[0]
        assert list(p.items()) == [(k, expected[k]) for k in p]
        assert list(p) == (list(fields) if fields else list(expected))     # None: every field, the ledger too
    argv = {p["pid"]: p.get("cmdline") for p in processes}
    assert argv[101][2] == "\\xff\\xfe bin\x01\x7f\x1b \u2028 sep" and argv[101][3] == "--password=<secret>"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")
def test_hostile_command_lines_stay_escaped_ascii_json(tmp_path):
    root = hostile_root(tmp_path / "proc")
    for args in (("--json",), ("--raw", "--json"), ("--json", "--ledger", "--fields", "pid,cmdline,evidence")):
        out = run_pt("scan", *args, "--no-telemetry", cwd=tmp_path, env={"PT_PROCFS_PATH": str(root)}).stdout
        assert out.isascii() and "\x1b" not in out and "\u2028" not in out and out.count("\n") == 1
        result = json.loads(out)
        command = {p["pid"]: p["cmdline"] for p in result["data"]["processes"]}
        assert command[101] == ["python", "-c", "\\xff\\xfe bin\x01\x7f\x1b \u2028 sep", "--password=<secret>"]
        assert command[103] == ["\\xed\\xa0\\x80lone", "\u00e9t\u00e9"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")
def test_a_raw_scan_imports_none_of_the_model(tmp_path):
    """``pt scan --raw --json`` shows process fields only: the model's modules
    (the kernels, the posterior and its ledger, verdict memory) stay
    unimported, and with --no-telemetry so does the lake's."""
    import subprocess

    from pt.testing import isolated_env
    model = ["pt.kernels", "pt.infer.posterior", "pt.infer.ledger", "pt.decide.stability", "pt.triage",
             "pt.telemetry.lake"]
    code = ("import sys; from pt.cli import main; code = main(['scan', '--raw', '--json', '--no-telemetry']); "
            f"print([m for m in {model!r} if m in sys.modules], file=sys.stderr); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env=isolated_env(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)["data"]
    assert result["processes"] and result["telemetry"] == {"written": False, "reason": "disabled"}
    assert out.stderr.strip().splitlines()[-1] == "[]", out.stderr
