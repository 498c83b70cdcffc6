"""Fuzzed procfs trees (PT_PROCFS_PATH): whatever bytes a process's files
hold, the scan (collector, triage, JSON and table output) returns; a bad
record is skipped or nulled with an entry in ``errors``, never a traceback."""
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pt.cli import main
from pt.collect import collect
from pt.collect._linux import PROCFS_ENV
from pt.collect._sampler import REASONS, ProcSampler
from pt.testing import STATUS, add_proc, make_tree, row_of

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")

FILES = ("stat", "status", "cmdline", "comm", "io")
IO = b"rchar: 100\nwchar: 20\nsyscr: 3\nsyscw: 2\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"


def _scan(root: Path, *args: str) -> tuple[int, str, str]:
    """``pt scan`` in-process on the tree at ``root``: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv(PROCFS_ENV, str(root))
        mp.setenv("PT_TELEMETRY", "off")
        mp.setenv("XDG_CONFIG_HOME", str(root / "no-config"))
        code = main(["scan", "--window", "0.01", "--top", "0", *args])
    return code, out.getvalue(), err.getvalue()


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """``valid`` with bytes replaced, inserted or cut, or arbitrary bytes."""
    kind = draw(st.sampled_from(["replace", "insert", "truncate", "arbitrary", "digits"]))
    if kind == "arbitrary":
        return draw(st.binary(max_size=300))
    if kind == "digits":      # a number grown past every integer type
        at = draw(st.integers(0, len(valid)))
        return valid[:at] + draw(st.sampled_from([b"9" * 19, b"9" * 40, b"-" + b"9" * 25, b"2147483648",
                                                  b"4294967296", b"-1"])) + valid[at:]
    at = draw(st.integers(0, max(len(valid) - 1, 0)))
    if kind == "truncate":
        return valid[:at]
    chunk = draw(st.binary(min_size=1, max_size=8))
    return valid[:at] + chunk + valid[at + (len(chunk) if kind == "replace" else 0):]


def _valid_files(pid: int) -> dict[str, bytes]:
    return {"stat": f"{pid} (sleep) S 1 1 1 34816 1 4194304 76 0 0 0 150 50 0 0 20 0 1 0 50000 2990080 385 "
                    f"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n".encode(),
            "status": STATUS.format(pid=pid, ppid=1, uid=1000, euid=1000).encode(),
            "cmdline": b"sleep\x00600\x00", "comm": b"sleep\n", "io": IO}


@st.composite
def process(draw):
    """One process directory: a name and its files, some of them fuzzed."""
    name = draw(st.one_of(st.integers(2, 4_194_304).map(str),
                          st.sampled_from(["0", "007", "4194305", "2147483648", "4294967297",
                                           "99999999999999999999999", "9" * 200])))
    pid = int(name) if len(name) < 30 else 10
    files = _valid_files(pid)
    for f in draw(st.sets(st.sampled_from(FILES), min_size=1)):
        files[f] = draw(mutated(files[f]))
    return name, files


def _check_result(root: Path, procs: list[tuple[str, dict]]):
    code, out, err = _scan(root, "--json")
    assert code == 0 and "Traceback" not in err, err
    result = json.loads(out)                                       # exactly one JSON object
    shown = {p["pid"] for p in result["data"]["processes"]}
    flagged = {pid for e in result["errors"] for pid in e.get("pids", [])}
    for name, files in procs:
        if name != str(int(name)) or not 1 <= int(name) <= 4_194_304:
            assert int(name) not in shown                           # not a pid: not a process
            continue
        pid = int(name)
        assert pid in shown or pid in flagged, (name, files["stat"])
        if pid in shown and files["stat"] != _valid_files(pid)["stat"]:
            row = next(p for p in result["data"]["processes"] if p["pid"] == pid)
            assert row["state"] in tuple("RSDZTtXxKWPI")
    for p in result["data"]["processes"]:
        assert all(np.isfinite(v) for v in p["posterior"].values())
        assert -1 <= p["ppid"] <= 4_194_304 and p["rss_bytes"] >= 0 and p["cpu_time_s"] >= 0
    code, out, err = _scan(root)                                   # the table, too
    assert code == 0 and "Traceback" not in err, err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Unique by number: "7" and "007" together would show pid 7 (the canonical one) legitimately.
@given(procs=st.lists(process(), min_size=1, max_size=5, unique_by=lambda p: int(p[0])))
def test_fuzzed_process_files_never_crash_the_scan(procs):
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp) / "proc")
        add_proc(root, 1, b"init", ppid=0, sid=1, pgid=1)
        for name, files in procs:
            if name == "1":
                continue
            (root / name).mkdir()
            for f, content in files.items():
                (root / name / f).write_bytes(content)
        _check_result(root, [p for p in procs if p[0] != "1"])


@pytest.mark.parametrize("state", [b"\xff", b"\x00", b"\xc3", b"?", b"("])
def test_an_unknown_state_byte_skips_the_record_with_an_error(tmp_path, state):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 10)
    add_proc(root, 42, stat=b"42 (x) " + state + b" 1 1 1 34816 1 4194304 76 0 0 0 150 50 0 0 20 0 1 0 "
                             b"50000 2990080 385 18446744073709551615 1 1 0\n")
    snap = collect(root)
    assert snap["pid"].tolist() == [10] and snap.errors.malformed_pids == (42,)
    code, out, err = _scan(root, "--json")
    assert code == 0 and json.loads(out)["status"] == "partial"


@pytest.mark.parametrize("name", ["2147483648", "4294967297", "4194305", "18446744073709551626", "0", "00042"])
def test_pid_directories_beyond_the_kernels_limit_are_not_processes(tmp_path, name):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 10)
    (root / name).mkdir()
    stat = _valid_files(10)["stat"].replace(b"10 (", name.encode() + b" (", 1)
    (root / name / "stat").write_bytes(stat)
    assert collect(root)["pid"].tolist() == [10]               # never wrapped onto another pid


@pytest.mark.parametrize("field, value", [
    ("ppid", 2**31), ("ppid", 4_194_305), ("pgid", -5), ("utime", -1), ("start", -3),
    ("threads", 2**31), ("nice", 2**40),
])
def test_stat_fields_out_of_the_kernels_range_are_malformed(tmp_path, field, value):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 10)
    add_proc(root, 42, **{field: value})
    snap = collect(root)
    assert snap["pid"].tolist() == [10] and snap.errors.malformed_pids == (42,)


def test_numbers_wider_than_64_bits_do_not_wrap(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42, utime=10**19 + 5, status=STATUS.format(pid=42, ppid=1, uid=2**32 + 1000,
                                                             euid=2**32 + 1000).encode())
    add_proc(root, 43, uid=2**64 + 7)
    snap = collect(root)
    assert 42 not in snap["pid"].tolist()                          # utime does not fit: stat malformed
    assert row_of(snap, 43)["uid"] == -1                           # uid does not fit: nulled
    assert set(snap.errors.malformed_pids) == {42, 43}


def test_sampler_ends_a_candidate_whose_stat_turns_hostile(tmp_path):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42)
    (root / "42" / "io").write_bytes(IO)
    (root / "42" / "schedstat").write_bytes(b"100 20 3\n")
    snap = collect(root)
    with ProcSampler(snap["pid"], snap["start_ticks"], root=str(root), mode="reopen") as sampler:
        out, state, alive = sampler.new_arrays()
        sampler.sample(out, state, alive)
        assert alive.all() and chr(state[0]) == "S"
        (root / "42" / "stat").write_bytes((root / "42" / "stat").read_bytes().replace(b") S ", b") \xff "))
        (root / "42" / "io").write_bytes(b"rchar: -5\n" + b"wchar: " + b"9" * 30 + b"\n")
        sampler.sample(out, state, alive)
        assert not alive.any() and REASONS[sampler.reason[0]] == "malformed"


HOST_FILES = {"uptime": b"1000.00 1500.00\n", "stat": b"cpu  1 2 3 4\nbtime 1700000000\nprocesses 10\n",
              "sys/kernel/random/boot_id": b"11111111-2222-3333-4444-555555555555\n",
              "net/tcp": b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                         b"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 4242 1\n"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), names=st.sets(st.sampled_from(sorted(HOST_FILES)), min_size=1))
def test_fuzzed_host_files_give_a_scan_or_a_clear_error(data, names):
    """The machine-wide files: a scan, or exit 1 naming the file it could not use."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_tree(Path(tmp) / "proc")
        add_proc(root, 42)
        for name in names:
            (root / name).write_bytes(data.draw(mutated(HOST_FILES[name]), label=name))
        code, out, err = _scan(root, "--json")
        assert "Traceback" not in err, err
        if code == 0:
            result = json.loads(out)
            assert [p["pid"] for p in result["data"]["processes"]] == [42]
            assert all(np.isfinite(v) for v in result["data"]["processes"][0]["posterior"].values())
        else:
            assert code == 1 and str(root) in err, err


@pytest.mark.parametrize("uptime", [b"nan 1\n", b"inf 1\n", b"1e308 1\n", b"-5 1\n", b"\xff\xfe\n", b"12abc 1\n"])
def test_an_unusable_uptime_is_a_clear_error(tmp_path, uptime):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42)
    (root / "uptime").write_bytes(uptime)
    code, out, err = _scan(root, "--json")
    assert code == 1 and f"cannot parse {root / 'uptime'}" in err and json.loads(out)["status"] == "error"
