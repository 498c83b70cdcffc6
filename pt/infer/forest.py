"""The process forest decides together: class posteriors coupled along parent-child edges.

A process and the child it started usually share a fate: an abandoned test
runner's workers are abandoned too, a live build's compilers are useful.
pt puts a Potts prior (idea T) on each parent-child pair — the same class is
``exp(strength)`` times as likely as any other, for useful, useful_bad and
abandoned — and computes every process's exact marginal over the PPID
forest by sum-product (idea AY, :func:`pt.kernels.tree_marginals`).

Only real parentage couples: an edge to PID 1 or a subreaper is the kernel's
reparenting, not who started the process, so orphans stay roots. Zombie
takes no part (a zombie is a state of its own, not inherited).

The coupling is shown as one more evidence line, ``tree``: the log marginal
minus the independent log posterior, per class, so the posterior is still
the prior plus the sum of the ledger's terms and the ledger says how many
bits the neighbours moved each verdict. The deep scan couples its
candidates the same way, among every other process's quick evidence
(:func:`couple` with ``rows``).
"""
from __future__ import annotations

import numpy as np

from pt import kernels
from pt.features.genealogy import Genealogy
from pt.infer.posterior import FEATURES, N_CLASSES, ZOMBIE, Inference

TREE = FEATURES.index("tree")


def potts(strength: float) -> np.ndarray:
    """``(4, 4)`` log coupling, parent class by child class: ``strength`` on
    the diagonal except zombie, 0 elsewhere."""
    log_coupling = np.diag(np.full(N_CLASSES, float(strength)))
    log_coupling[ZOMBIE, ZOMBIE] = 0.0
    return log_coupling


def edges(genealogy: Genealogy) -> np.ndarray:
    """Parent row of each process for the coupling, -1 for none: a parent that
    is absent, PID 1 or a subreaper (reparenting, not parentage) is no edge."""
    parent = np.asarray(genealogy.parent_row, dtype=np.int64)
    return np.where((parent >= 0) & ~np.asarray(genealogy.parent_is_reaper, dtype=bool), parent, -1)


def couple(inference: Inference, parent: np.ndarray, strength: float, rows: np.ndarray | None = None,
           nodes: np.ndarray | None = None) -> Inference:
    """``inference`` with its posterior replaced by the tree-coupled marginal
    and the coupling's effect written into the ``tree`` column of the terms.

    Every process keeps its own prior and evidence (the node potential); the
    roots get no extra prior. A process with no coupled parent or child has
    no tree evidence (its column stays unobserved).

    ``rows``: ``inference`` is of these processes only, in the forest that
    ``parent`` indexes; every other process couples with its potential in
    ``nodes`` (``(N, 4)``, :func:`potentials`). So the deep scan judges its
    candidates among their neighbours' own evidence, as the quick scan does.
    Extra columns of the terms (the deep scan's) join the node potential.
    """
    linked = parent >= 0
    linked[parent[linked]] = True
    if rows is not None:
        linked = linked[rows]
    # order="K" keeps the terms feature-major (pt.infer.posterior.evidence_terms): the sums over
    # features below stay contiguous (a C-order copy made them ~40x slower, ~2 ms at 2,000 rows).
    terms, observed = inference.terms.copy(order="K"), inference.observed.copy()
    terms[:, TREE] = 0.0
    observed[:, TREE] = False
    if strength == 0.0 or not linked.any():
        return Inference.from_terms(terms, observed, inference.log_prior)
    own = inference.log_prior + terms.sum(axis=1)                           # (n, 4), unnormalised
    alone = own - kernels.logsumexp(own, axis=1)[:, None]
    if rows is None:
        coupled = kernels.tree_marginals(parent, own, potts(strength), np.zeros(N_CLASSES))
    else:
        everyone = nodes.copy()
        everyone[rows] = own
        coupled = kernels.tree_marginals(parent, everyone, potts(strength), np.zeros(N_CLASSES))[rows]
    terms[linked, TREE] = (coupled - alone)[linked]
    observed[linked, TREE] = True
    return Inference.from_terms(terms, observed, inference.log_prior)


def potentials(inference: Inference) -> np.ndarray:
    """``(n, 4)``: each process's node potential, its log prior plus every
    term but the tree's (unnormalised): what it brings to the coupling."""
    return inference.log_prior + inference.log_likelihood - inference.terms[:, TREE]
