"""The deep scan judges its candidates in the process forest, as the quick
scan does: a watched process keeps the pull of its parent and children
(the ``tree`` ledger line), under the DEFAULT policy, as whoever runs it.

* An idle 200 MB Python child working in a fresh ``mkdtemp()`` directory,
  seconds old, under a live parent (a Python process that started it and
  waits on it, itself a child of this test), judged ``--at +1h`` over an
  8 s watch. Before the deep scan coupled, the quick scan kept it (useful
  0.86, the tree 1.15 bits toward useful) and the deep scan paused it
  (useful 0.47, abandoned 0.52, no tree line): its own evidence alone —
  idle for longer, in /tmp — tips it, and a pause of useful work is the
  false intrusive action pt must not make. With the parent's pull it is
  kept.
* An orphaned test runner with four idle workers (reparented, as the tree
  scenario suite builds it), judged ``--at +1h``: the coupling must not
  make an abandoned tree look useful. Every member is still acted on, and
  the workers' tree line points toward abandoned (their deep P(abandoned)
  0.74, against 0.52 judged alone).

Each test signals only the processes it started. The assertions are about
classes, actions and the ledger's signs, never timings.
"""
from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.config import ACTIONS, CLASSES, load_policy, load_priors
from pt.deep import deep_scan
from pt.features.cwd import TEMP
from pt.infer.posterior import ABANDONED, FEATURES, USEFUL
from pt.testing import kill_if_same, orphaned_runner, python_child, start_ticks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

HOUR = 3600.0
TREE = FEATURES.index("tree")
STEADY = "import time\nblock = bytearray(200 << 20)\nprint('ready', flush=True)\ntime.sleep(600)\n"
#: Starts ``python -c argv[1]`` in the directory argv[2], says ``ready`` and its pid, and waits on it.
PARENT = ("import subprocess, sys\n"
          "kid = subprocess.Popen([sys.executable, '-c', sys.argv[1]], cwd=sys.argv[2], stdout=subprocess.PIPE)\n"
          "assert kid.stdout.readline().strip() == b'ready'\n"
          "print('ready', flush=True)\nprint(kid.pid, flush=True)\nkid.wait()\n")


@pytest.fixture
def scratch():
    """A fresh ``tempfile.mkdtemp()`` directory (cwd ``temp``), removed afterwards."""
    path = Path(tempfile.mkdtemp())
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def child_of_live_parent(code: str, cwd: Path):
    """``python -c code`` in ``cwd``, started by a live Python parent (this
    process's child, also in ``cwd``); yields ``(parent_pid, child_pid)``.
    The child is killed through a pidfd, then the parent."""
    with python_child(PARENT, code, str(cwd), cwd=cwd) as parent:
        child = int(parent.stdout.readline())
        start = start_ticks(child)
        try:
            yield parent.pid, child
        finally:
            kill_if_same(child, start)


def verdict(inference, decision, i: int) -> dict:
    """Class, action and the tree line (bits toward abandoned over useful, None: not observed) of one process."""
    bits = (inference.terms[i, TREE, ABANDONED] - inference.terms[i, TREE, USEFUL]) / np.log(2)
    return {"class": CLASSES[int(inference.posterior[i].argmax())], "action": ACTIONS[int(decision.action[i])],
            "p_useful": round(float(inference.posterior[i, USEFUL]), 2),
            "p_abandoned": round(float(inference.posterior[i, ABANDONED]), 2),
            "tree_bits": round(float(bits), 2) if inference.observed[i, TREE] else None}


def test_an_idle_child_of_a_live_parent_keeps_its_parents_pull_in_the_deep_scan(scratch):
    with child_of_live_parent(STEADY, scratch) as (parent, child):
        d = deep_scan(Selection(pids=(child,)), max_time_s=8.0, policy=load_policy(), priors=load_priors(),
                      at_s=HOUR)
    assert len(d) == 1, d.skipped
    q, row = d.quick, int(d.rows[0])
    assert q.protected_by[row] is None
    assert d.evidence.cwd[0] == TEMP, d.evidence.cwd                       # the case: a child working in /tmp
    assert q.snapshot["pid"][q.context.genealogy.parent_row[row]] == parent
    quick, deep = verdict(q.inference, q.decision, row), verdict(d.inference, d.decision, 0)
    assert quick["class"] == "useful" and quick["action"] == "keep", quick
    assert deep["tree_bits"] is not None and deep["tree_bits"] < 0, (quick, deep)     # pulled toward useful
    assert deep["class"] == quick["class"] and deep["action"] == "keep", (quick, deep)
    # The ledger still adds up: prior + every term (the tree's and the deep scan's own) is the posterior.
    joint = d.inference.log_prior + d.inference.terms[0].sum(axis=0)
    np.testing.assert_allclose(d.inference.log_posterior[0], joint - np.logaddexp.reduce(joint), atol=1e-9)


def test_an_orphaned_runners_idle_tree_is_still_acted_on_in_the_deep_scan(scratch):
    with orphaned_runner(scratch) as (root, pids):
        d = deep_scan(Selection(pids=tuple(pids)), max_time_s=8.0, policy=load_policy(), priors=load_priors(),
                      at_s=HOUR)
    assert len(d) == len(pids) == 5, d.skipped
    q = d.quick
    for i, r in enumerate(d.rows):
        who = "runner" if q.snapshot["pid"][r] == root else "worker"
        quick, deep = verdict(q.inference, q.decision, r), verdict(d.inference, d.decision, i)
        assert q.protected_by[r] is None, who
        assert deep["class"] == "abandoned" and deep["action"] != "keep", (who, quick, deep)
        assert deep["tree_bits"] is not None, (who, quick, deep)
        # A worker's parent is the abandoned runner; the runner's four idle workers
        # alone are near even (they pulled it 2.6 bits toward useful in the quick scan).
        assert who == "runner" or deep["tree_bits"] > 0, (who, quick, deep)              # toward abandoned
