"""Subtree roll-ups (descendants, subtree CPU and RSS, idle descendants) in the
JSON and the aligned ``pt scan --tree``, on a real process tree we spawn."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pt.features.genealogy import rows_of
from pt.fields import verdict_columns
from pt.kernels import breadth_first, subtree_sums
from pt.testing import kill_if_same, run_pt, start_ticks, wait_for
from pt.triage import triage
from pt.ui.scan_rows import select_rows
from pt.ui.scan_view import _forest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


def _ancestors(parent, i):
    seen, out = {i}, []
    while 0 <= parent[i] < len(parent) and parent[i] not in seen:
        i = parent[i]
        seen.add(i)
        out.append(i)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_subtree_sums_match_summing_over_ancestors(seed):
    rng = np.random.default_rng(seed)
    n = 60
    parent = np.array([int(rng.integers(-2, i)) if i else -1 for i in range(n)])
    perm = rng.permutation(n)
    inverse = np.argsort(perm)
    parent = np.where(parent[perm] >= 0, inverse[np.maximum(parent[perm], 0)], -1)
    values = rng.normal(size=(n, 3))
    want = values.copy()
    for i in range(n):
        for a in _ancestors(parent, i):
            want[a] += values[i]
    np.testing.assert_allclose(subtree_sums(parent, values), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(subtree_sums(parent, values[:, 0]), want[:, 0], rtol=1e-12, atol=1e-12)


def test_cycles_are_cut_once_and_every_node_is_ordered_after_its_parent():
    parent = np.array([2, 0, 1, 2, 9, 5])            # 0 -> 1 -> 2 -> 0, 3 under it, 4 and 5 roots
    order, sane = breadth_first(parent)
    assert sorted(order.tolist()) == list(range(6))
    np.testing.assert_array_equal(sane, [-1, 0, 1, 2, -1, -1])
    place = np.argsort(order)
    assert all(place[sane[i]] < place[i] for i in range(6) if sane[i] >= 0)
    np.testing.assert_array_equal(subtree_sums(parent, np.ones(6)), [4, 3, 2, 1, 1, 1])


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"values must be finite, got values\[1\] = nan"):
        subtree_sums([-1, 0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"parent must have shape \(2,\)"):
        subtree_sums([-1], [1.0, 2.0])
    with pytest.raises(ValueError, match="parent must be 1-D"):
        breadth_first([[0]])


@pytest.fixture
def family():
    """A shell with two sleeping children, all ours; yields the shell's Popen and the children."""
    proc = subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600 & wait"], stdin=subprocess.DEVNULL)
    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    children = []
    try:
        wait_for(lambda: len(kids.read_text().split()) == 2)
        children = [int(p) for p in kids.read_text().split()]
        wait_for(lambda: all(Path(f"/proc/{c}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"
                             for c in children))
        yield proc, children
    finally:
        for pid in children:                          # the shell's children: started here
            kill_if_same(pid, start_ticks(pid))
        proc.wait()


def test_rollups_of_a_real_tree(family):
    proc, children = family
    t = triage(window_s=0.2)
    rows = rows_of(t.snapshot, np.array([proc.pid, *children]))
    assert (rows >= 0).all()
    cols = verdict_columns(t, ["descendants", "subtree_cpu", "subtree_rss", "idle_descendants",
                               "cpu_window_share"], rows=rows)
    assert cols["descendants"].tolist() == [2, 0, 0]
    assert cols["idle_descendants"][1:].tolist() == [0, 0]
    assert cols["subtree_rss"][0] == int(t.snapshot["rss_bytes"][rows].sum())
    np.testing.assert_allclose(cols["subtree_cpu"][0], cols["cpu_window_share"].sum())
    whole = verdict_columns(t, ["descendants"])["descendants"]
    parent = t.context.genealogy.parent_row
    under = np.zeros(len(t), dtype=int)
    for i in range(len(t)):
        for a in _ancestors(parent, i):
            under[a] += 1
    np.testing.assert_array_equal(whole, under)


def test_scan_json_carries_the_rollups(family, tmp_path):
    proc, _ = family
    out = run_pt("scan", "--json", "--top", "0", "--window", "0.1", cwd=tmp_path)
    shell = next(p for p in json.loads(out.stdout)["data"]["processes"] if p["pid"] == proc.pid)
    assert shell["descendants"] == 2
    assert shell["subtree_rss"] >= shell["rss_bytes"]
    assert {"subtree_cpu", "idle_descendants"} <= shell.keys()


def test_tree_view_ranks_whole_trees_and_covers_every_row(family):
    t = triage(window_s=0.1)
    view = select_rows(t.snapshot, uids=None, kernel_threads=False, sort="subtree_rss", triage=t,
                       tree=True)
    roots, children = _forest(view)
    drawn, best = [], {}

    def walk(i):
        drawn.append(i)
        best[i] = min([i] + [walk(k) for k in children.get(i, [])])
        return best[i]
    for r in roots:
        walk(r)
    assert sorted(drawn) == list(range(len(view)))    # every shown process exactly once
    assert [best[r] for r in roots] == sorted(best[r] for r in roots)


def test_tree_text_is_aligned_under_a_header_and_top_counts_trees(family, tmp_path):
    proc, children = family
    out = run_pt("scan", "--tree", "--top", "0", "--window", "0.1", cwd=tmp_path).stdout.splitlines()
    header = next(line for line in out if "TREE RSS" in line)
    assert header.split()[:3] == ["PID", "NOW", "RSS"] and header.split()[-1] == "COMMAND"
    start = header.index("COMMAND")
    mine = [line for line in out if line.split() and line.split()[0] in {str(p) for p in [proc.pid, *children]}]
    assert len(mine) == 3
    shell = mine[0].index("sh -c")
    assert shell >= start and all(line.index("sleep 600") == shell + 4 for line in mine[1:])
    assert all(line[shell:shell + 4] in ("├── ", "└── ") for line in mine[1:])
    one = run_pt("scan", "--tree", "--top", "1", "--window", "0.1", cwd=tmp_path).stdout
    assert "1 of " in one and "trees shown" in one
