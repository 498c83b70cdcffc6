"""Memory in the quick scan: swap (status VmSwap) and the share of RAM read
through the collector, on fixture trees (hostile lines) and live; neither is
a posterior term (size is not harm: docs/model.md, Memory; growth across
scans is, tests/test_memory_scans.py)."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from pt.collect import collect
from pt.fields import FIELDS_BY_NAME
from pt.infer.posterior import FEATURES
from pt.testing import add_proc, make_tree, run_pt, sleepers

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procfs")

STATUS = "Name:\tsleep\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\n{swap}Threads:\t1\n"


@pytest.mark.parametrize("line, expected", [
    ("VmSwap:\t    2048 kB\n", 2048 * 1024),
    ("VmSwap:\t       0 kB\n", 0),
    ("", -1),                                             # kernel threads and zombies have none
    ("VmSwap:\t   -5 kB\n", -1),
    ("VmSwap:\t99999999999999999999999 kB\n", -1),
    ("VmSwap:\tlots kB\n", -1),
    ("VmSwap:", -1),                                      # truncated at the end of the file
])
def test_swap_is_read_from_status_and_hostile_values_are_unknown(tmp_path, line, expected):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42, status=STATUS.format(swap=line).encode())
    (root / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    snap = collect(root)
    assert snap["swap_bytes"].tolist() == [expected]
    assert snap["uid"].tolist() == [1000] and snap.errors.malformed == 0     # the uid line still parses
    assert snap.host.mem_total_bytes == 16384000 * 1024
    share = FIELDS_BY_NAME["rss_share"].compute(snap)
    assert share[0] == pytest.approx(snap["rss_bytes"][0] / (16384000 * 1024))


@pytest.mark.parametrize("meminfo", ["", "MemTotal: x kB\n", "MemTotal: ²³ kB\n", "MemTotal: 0 kB\n",
                                     "MemTotal: 99999999999999999 kB\n"])
def test_an_unknown_ram_total_leaves_the_share_unknown(tmp_path, meminfo):
    root = make_tree(tmp_path / "proc")
    add_proc(root, 42)
    if meminfo:
        (root / "meminfo").write_text(meminfo)
    snap = collect(root)
    assert snap.host.mem_total_bytes == 0
    assert np.isnan(FIELDS_BY_NAME["rss_share"].compute(snap)).all()


def test_live_swap_matches_status_and_the_share_is_of_ram(tmp_path):
    with sleepers(1) as (proc,):
        snap = collect()
        row = int(np.flatnonzero(snap["pid"] == proc.pid)[0])
        status = Path(f"/proc/{proc.pid}/status").read_text()
    found = re.search(r"^VmSwap:\s+(\d+) kB", status, re.M)
    assert snap["swap_bytes"][row] == (int(found.group(1)) * 1024 if found else -1)
    total = int(re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M).group(1)) * 1024
    assert snap.host.mem_total_bytes == total
    assert 0 < FIELDS_BY_NAME["rss_share"].compute(snap)[row] < 1
    kernel = np.flatnonzero(snap["kernel_thread"])
    assert (snap["swap_bytes"][kernel] == -1).all()


def test_scan_json_has_the_memory_fields_and_no_size_term(tmp_path):
    with sleepers(1) as (proc,):
        data = json.loads(run_pt("scan", "--json", cwd=tmp_path).stdout)["data"]
    (row,) = [p for p in data["processes"] if p["pid"] == proc.pid]
    assert row["swap_bytes"] >= 0 and 0 < row["rss_share"] < 1
    # size is no term (a big process is not harm); growth across scans is the "memory" one
    assert [f for f in FEATURES if "memory" in f or "rss" in f or "swap" in f] == ["memory"]


def test_explain_shows_memory_and_the_deep_growth_row(tmp_path):
    with sleepers(1) as (proc,):
        quick = run_pt("explain", str(proc.pid), cwd=tmp_path).stdout
        deep = run_pt("explain", str(proc.pid), "--deep", "--max-time", "2", cwd=tmp_path).stdout
    assert re.search(r"rss \S+ \(\d+\.\d% of RAM\)", quick), quick
    assert "memory growth" in deep and "memory +0 MB/min" in deep, deep
