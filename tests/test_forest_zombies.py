"""Zombies go to their parent: a real zombie under a real sleeping parent we
spawn; the zombie's recommendation names the parent, the parent's says it
must reap, in the JSON and in the table."""
import json
import sys

import pytest

from pt.testing import named_process, run_pt

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


@pytest.fixture(scope="module")
def parent_and_zombie():
    with named_process(b"pt-zparent", zombie_child=True) as (proc, zombie_pid):
        yield proc.pid, zombie_pid


def test_the_zombie_points_at_its_parent_and_the_parent_must_reap(parent_and_zombie, tmp_path):
    parent, zombie = parent_and_zombie
    rows = {r["pid"]: r for r in json.loads(run_pt("scan", "--json", "--top", "0", "--window", "0.1",
                                                   "--no-telemetry", cwd=tmp_path).stdout)["data"]["processes"]}
    z, p = rows[zombie], rows[parent]
    assert z["state"] == "Z" and z["class"] == "zombie" and z["ppid"] == parent
    assert z["action"] != "keep" and z["recommendation"] == f"{z['action']} → {parent}"
    assert z["reap_via"].startswith(f"parent {parent} ")
    assert p["zombie_children"] == 1 and z["zombie_children"] == 0
    assert p["recommendation"] == f"{p['action']} · reap 1"


def test_the_table_says_so(parent_and_zombie, tmp_path):
    parent, zombie = parent_and_zombie
    out = run_pt("scan", "--top", "0", "--window", "0.1", "--no-telemetry", cwd=tmp_path).stdout
    lines = {l.split()[0]: l for l in out.splitlines() if l.split() and l.split()[0].isdigit()}
    assert f"→ {parent}" in lines[str(zombie)]
    assert "· reap 1" in lines[str(parent)]
    tree = run_pt("scan", "--tree", "--top", "0", "--window", "0.1", "--no-telemetry", cwd=tmp_path).stdout
    tree_lines = {l.split()[0]: l for l in tree.splitlines() if l.split() and l.split()[0].isdigit()}
    assert f"→ {parent}" in tree_lines[str(zombie)] and "· reap 1" in tree_lines[str(parent)]
