"""The forest decides: the quick scan's posterior is the tree-coupled marginal,
the coupling is its own ledger line, and only real parentage couples."""
import json
import os
import sys

import numpy as np
import pytest

from pt.collect import collect
from pt.config import load_priors
from pt.features.genealogy import genealogy, rows_of
from pt.infer import forest
from pt.infer.ledger import ledger_rows
from pt.infer.posterior import ABANDONED, FEATURES, USEFUL, Inference
from pt.kernels import logsumexp, tree_marginals
from pt.testing import kill_if_same, run_pt, sleepers, spawn_detached
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")
TREE = FEATURES.index("tree")


def _inference(rng, n):
    terms = rng.normal(0, 2, (n, len(FEATURES), 4))
    terms[:, TREE] = 0.0
    observed = np.ones((n, len(FEATURES)), dtype=bool)
    observed[:, TREE] = False
    return Inference.from_terms(terms, observed, np.log([0.78, 0.05, 0.14, 0.03]))


def test_no_coupling_leaves_the_independent_posterior():
    rng = np.random.default_rng(1)
    inference = _inference(rng, 6)
    coupled = forest.couple(inference, np.array([-1, 0, 0, 1, -1, 4]), 0.0)
    np.testing.assert_array_equal(coupled.log_posterior, inference.log_posterior)
    assert not coupled.observed[:, TREE].any()


def test_posterior_is_the_tree_marginal_and_the_ledger_adds_up():
    rng = np.random.default_rng(2)
    inference = _inference(rng, 7)
    parent = np.array([-1, 0, 0, 1, -1, 4, -1])          # node 6 alone: no tree evidence
    strength = load_priors().tree_coupling
    coupled = forest.couple(inference, parent, strength)
    own = inference.log_prior + inference.terms.sum(axis=1)
    np.testing.assert_allclose(coupled.log_posterior,
                               tree_marginals(parent, own, forest.potts(strength), np.zeros(4)),
                               rtol=1e-12, atol=1e-12)
    joint = coupled.log_prior + coupled.terms.sum(axis=1)       # prior + every ledger line
    np.testing.assert_allclose(coupled.log_posterior, joint - logsumexp(joint, axis=1)[:, None],
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(coupled.observed[:, TREE], [True] * 6 + [False])
    assert coupled.bits()[6, TREE] == 0.0


def test_some_rows_coupled_among_the_others_potentials_equal_the_whole_forest_coupled():
    """The deep scan's way: candidates' terms (wider, with its own columns)
    coupled among every other process's node potential."""
    rng = np.random.default_rng(3)
    inference = _inference(rng, 8)
    parent = np.array([-1, 0, 0, 1, -1, 4, -1, 3])
    strength = load_priors().tree_coupling
    rows = np.array([1, 5, 6, 7])
    extra = rng.normal(0, 2, (len(rows), 2, 4))                   # two more columns for the candidates
    wider = Inference.from_terms(np.concatenate([inference.terms[rows], extra], axis=1),
                                 np.concatenate([inference.observed[rows], np.ones((len(rows), 2), bool)], axis=1),
                                 inference.log_prior)
    whole = inference.terms.copy()
    whole[rows, 0] += extra.sum(axis=1)                           # the same node potentials, in one column
    full = forest.couple(Inference.from_terms(whole, inference.observed, inference.log_prior), parent, strength)
    part = forest.couple(wider, parent, strength, rows, forest.potentials(forest.couple(inference, parent, strength)))
    np.testing.assert_allclose(part.log_posterior, full.log_posterior[rows], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(part.terms[:, TREE], full.terms[rows, TREE], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(part.observed[:, TREE], [True, True, False, True])
    joint = part.log_prior + part.terms.sum(axis=1)                # prior + every ledger line
    np.testing.assert_allclose(part.log_posterior, joint - logsumexp(joint, axis=1)[:, None], atol=1e-12)


def test_an_abandoned_parent_pulls_its_child_toward_abandoned():
    terms = np.zeros((2, len(FEATURES), 4))
    terms[0, 0] = [0.0, 0.0, 6.0, 0.0]                   # the parent: strong abandoned evidence
    observed = np.zeros((2, len(FEATURES)), dtype=bool)
    observed[:, 0] = [True, False]
    inference = Inference.from_terms(terms, observed, np.log([0.78, 0.05, 0.14, 0.03]))
    coupled = forest.couple(inference, np.array([-1, 0]), load_priors().tree_coupling)
    assert coupled.bits()[1, TREE] > 0                    # toward abandoned
    assert coupled.posterior[1, ABANDONED] > inference.posterior[1, ABANDONED]
    assert coupled.posterior[1, USEFUL] < inference.posterior[1, USEFUL]


def test_the_potts_prior_leaves_zombie_uncoupled():
    log_coupling = forest.potts(1.0)
    assert log_coupling[3, 3] == 0.0 and log_coupling[0, 0] == 1.0
    assert (log_coupling[~np.eye(4, dtype=bool)] == 0.0).all()


def test_real_children_couple_and_a_reparented_orphan_does_not():
    pid, start = spawn_detached()
    try:
        with sleepers(2) as procs:
            snap = collect()
            g = genealogy(snap)
            parent = forest.edges(g)
            rows = rows_of(snap, np.array([p.pid for p in procs] + [pid, os.getpid()]))
    finally:
        kill_if_same(pid, start)
    assert (parent[rows[:2]] == rows[3]).all()           # our sleepers hang from us
    assert parent[rows[2]] == -1                         # reparented to a reaper: a root


def test_scan_ledger_and_json_carry_the_tree_line(tmp_path):
    with sleepers(2) as procs:
        t = triage(window_s=0.1)
        row = int(rows_of(t.snapshot, np.array([procs[0].pid]))[0])
        line = {r["feature"]: r for r in ledger_rows(t.inference, t.evidence, row)}["tree"]
        out = run_pt("explain", str(procs[0].pid), "--json", cwd=tmp_path)
    assert not line["missing"] and line["label"] == "tree"
    assert np.isfinite(line["bits_abandoned_vs_useful"])
    np.testing.assert_allclose(t.inference.log_posterior,
                               forest.couple(t.inference, forest.edges(t.context.genealogy),
                                             t.priors.tree_coupling).log_posterior, atol=1e-12)
    shown = json.loads(out.stdout)["data"]["process"]
    assert "tree" in shown["bayes_factors"]["by_feature_bits"]
    assert [r for r in shown["evidence"] if r["feature"] == "tree" and not r["missing"]]


@pytest.mark.parametrize("tree, message", [
    ({"coupling": -1.0}, "tree.coupling"),
    ({"coupling": 50.0}, "tree.coupling"),
    ({"coupling": "strong"}, "tree.coupling"),
    ({"strength": 1.0}, "strength"),
])
def test_a_bad_coupling_in_a_user_priors_file_is_named(tmp_path, tree, message):
    from pt.config_errors import ConfigError

    path = tmp_path / "priors.json"
    path.write_text(json.dumps({"version": 1, "tree": tree}))
    with pytest.raises(ConfigError, match=message):
        load_priors(path)


def test_a_user_priors_file_can_turn_the_coupling_off(tmp_path):
    path = tmp_path / "priors.json"
    path.write_text(json.dumps({"version": 1, "tree": {"coupling": 0}}))
    assert load_priors(path).tree_coupling == 0.0


RUNNER = "import subprocess, time\nkids = [subprocess.Popen(['sleep', '600']) for _ in range(3)]\ntime.sleep(600)\n"


@pytest.fixture
def orphaned_runner(tmp_path):
    """A Python parent with three idle children, left behind by a ``setsid``
    shell that exited (so the parent is an orphan, its children are not)."""
    import shlex
    import subprocess
    from pathlib import Path

    from pt.testing import start_ticks, wait_for

    line = " ".join(shlex.quote(a) for a in (sys.executable, "-c", RUNNER))
    out = subprocess.run(["setsid", "sh", "-c", f"{line} >/dev/null 2>&1 & echo $!"], capture_output=True,
                         text=True, check=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    start, kids = start_ticks(pid), []
    listing = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        wait_for(lambda: len(listing.read_text().split()) == 3)
        kids = [int(k) for k in listing.read_text().split()]
        yield pid, kids
    finally:
        for kid in kids:
            kill_if_same(kid, start_ticks(kid))
        kill_if_same(pid, start)


def test_an_orphaned_runner_pulls_its_idle_workers_with_it(orphaned_runner):
    """Real processes, default priors and policy: hours later the orphaned
    runner is abandoned and its workers' tree line points the same way (and
    moves their posterior); freshly started, it points toward useful."""
    pid, kids = orphaned_runner
    for at_s, toward_abandoned in ((0.0, False), (6 * 3600.0, True)):
        t = triage(window_s=0.1, at_s=at_s)
        rows = rows_of(t.snapshot, np.array([pid, *kids]))
        assert (rows >= 0).all()
        alone = forest.couple(t.inference, forest.edges(t.context.genealogy), 0.0)
        parent_class = int(t.inference.posterior[rows[0]].argmax())
        assert parent_class == (ABANDONED if toward_abandoned else USEFUL)
        for row in rows[1:]:
            assert t.inference.observed[row, TREE]
            assert (t.inference.bits()[row, TREE] > 0) == toward_abandoned
            moved = t.inference.posterior[row, ABANDONED] - alone.posterior[row, ABANDONED]
            assert (moved > 0) == toward_abandoned
