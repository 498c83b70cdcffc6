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
bits the neighbours moved each verdict.
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


def couple(inference: Inference, parent: np.ndarray, strength: float) -> Inference:
    """``inference`` with its posterior replaced by the tree-coupled marginal
    and the coupling's effect written into the ``tree`` column of the terms.

    Every process keeps its own prior and evidence (the node potential); the
    roots get no extra prior. A process with no coupled parent or child has
    no tree evidence (its column stays unobserved).
    """
    linked = parent >= 0
    linked[parent[linked]] = True
    terms, observed = inference.terms.copy(), inference.observed.copy()
    terms[:, TREE] = 0.0
    observed[:, TREE] = False
    if strength == 0.0 or not linked.any():
        return Inference.from_terms(terms, observed, inference.log_prior)
    own = inference.log_prior + terms.sum(axis=1)                           # (n, 4), unnormalised
    alone = own - kernels.logsumexp(own, axis=1)[:, None]
    coupled = kernels.tree_marginals(parent, own, potts(strength), np.zeros(N_CLASSES))
    terms[linked, TREE] = (coupled - alone)[linked]
    observed[linked, TREE] = True
    return Inference.from_terms(terms, observed, inference.log_prior)
