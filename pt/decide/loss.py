"""Least-expected-loss action per process, robust to the prior, FDR-gated.

a* = argmin_a sum_C L(a, C) P(C | x)  (idea B, 5.1), with

- the kill and restart losses scaled by a dependency impact score (idea Z, 5.5);
- kill allowed only if it is optimal for every class prior in the policy's
  credal set (idea L, 4.9): expected loss is linear in the prior weights, so
  checking the vertices of the set is exact;
- kills across the scan limited to the largest set whose mean local false
  discovery rate lfdr = P(useful | x) is at most alpha (idea AT, 5.8);
- the SPRT boundary of idea I reported beside the log posterior odds;
- no kill at all while ``kill_gate`` says why (the learning loop's
  false-kill bound is above the policy's target: :mod:`pt.learn.gate`);
- hysteresis: a process keeps the action last recommended for it unless the
  least-loss action saves more than ``policy.stability.margin`` (kill and
  restart are never held; every gate below still applies to a held action).

A process whose best action was taken away by one of these gets the best
action that remains, and the reason is recorded.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from pt._kernels import _triage
from pt.config import ACTIONS, CLASSES, Policy
from pt.infer.posterior import ABANDONED, USEFUL, USEFUL_BAD, Inference

KEEP, KILL, RESTART = ACTIONS.index("keep"), ACTIONS.index("kill"), ACTIONS.index("restart")
RENICE = ACTIONS.index("renice")

#: Why a process did not get its least-loss action.
DEMOTED_ROBUST = "robust"    # kill not optimal for every prior in the credal set
DEMOTED_FDR = "fdr"          # kill set trimmed to keep the false-kill rate <= alpha
DEMOTED_VETO = "veto"        # a hard veto protects the process
DEMOTED_HELD = "held"        # the previous recommendation, within the stability margin
DEMOTED_BOUND = "bound"      # the learned false-kill bound is above the policy's target


@dataclass(frozen=True)
class Decision:
    """Per process: ``action`` (index into :data:`~pt.config.ACTIONS`),
    ``expected_loss`` ``(n, 7)`` (inf where the action is unavailable),
    ``posterior_lower``/``posterior_upper`` ``(n, 4)`` over the credal set,
    ``impact`` (dependency score), ``log_odds`` (abandoned : useful) and the
    ``sprt_boundary`` it must exceed for kill to beat keep, ``lfdr``,
    ``demoted`` (None or why), and the scan's FDR outcome."""

    action: np.ndarray
    expected_loss: np.ndarray
    posterior_lower: np.ndarray
    posterior_upper: np.ndarray
    impact: np.ndarray
    log_odds: np.ndarray
    sprt_boundary: np.ndarray
    lfdr: np.ndarray
    demoted: np.ndarray
    fdr_kill_set_size: int
    fdr_estimate: float


def loss_matrix(policy: Policy) -> np.ndarray:
    """``(7, 4)``: L(action, class)."""
    return np.array([[policy.loss[a][c] for c in CLASSES] for a in ACTIONS])


def dependency_impact(policy: Policy, listening: np.ndarray, established: np.ndarray,
                      children: np.ndarray, fd_count: np.ndarray) -> np.ndarray:
    """Idea Z: how much else depends on a process (0 = nothing visible).
    ``fd_count`` is -1 where the fds were unreadable (counted as none)."""
    w = policy.dependency_impact
    return (w["listening"] * (listening > 0) + w["clients"] * np.log1p(established)
            + w["children"] * np.log1p(children) + w["files"] * np.log1p(np.maximum(fd_count - 3, 0)))


@functools.lru_cache(maxsize=8)
def _vertices(bounds: tuple[tuple[float, float], ...]) -> np.ndarray:
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    vertices = []
    for free in range(len(bounds)):
        others = [j for j in range(len(bounds)) if j != free]
        for upper in itertools.product((False, True), repeat=len(others)):
            pi = np.empty(len(bounds))
            pi[others] = np.where(upper, hi[others], lo[others])
            pi[free] = 1.0 - pi[others].sum()
            if lo[free] - 1e-12 <= pi[free] <= hi[free] + 1e-12:
                vertices.append(pi)
    # Distinct rows in sorted order, as np.unique(axis=0) gives them (which
    # would import numpy.ma, ~30 ms, on every scan).
    out = np.array(sorted(set(map(tuple, np.round(np.array(vertices), 12).tolist()))))
    out.flags.writeable = False
    return out


def credal_vertices(policy: Policy) -> np.ndarray:
    """``(V, 4)``: the vertices of {pi : lo <= pi <= hi, sum pi = 1}.

    A vertex has every coordinate but at most one at a bound; enumerate the
    free coordinate and the 2^3 bound choices of the others, keep the
    feasible ones.
    """
    return _vertices(tuple(policy.robust_prior[c] for c in CLASSES))


def decide(inference: Inference, policy: Policy, *, impact: np.ndarray,
           available: np.ndarray, protected: np.ndarray, previous: np.ndarray | None = None,
           kill_gate: str | None = None, queueing: np.ndarray | None = None) -> Decision:
    """Choose every process's action; see the module docstring for the rules.

    ``available`` ``(n, 7)`` says which actions the machine can perform for
    each process (restart needs a service unit); ``protected`` ``(n,)`` marks
    processes under a hard veto (keep only). ``previous`` ``(n,)``: the
    action last recommended for each process (-1: none), held unless the
    best action's expected loss is lower by more than the policy's margin.
    ``kill_gate``: why no kill may be recommended now (None: kills may be).
    ``queueing`` ``(n,)``: the CPU wait each process's demand adds for
    everyone (pt.watch.queueing, in mean service times; inf at saturation),
    which keeping a useful_bad or abandoned process costs too:
    ``min(policy.queueing.scale * wait, policy.queueing.cap)`` on
    L(keep, useful_bad) and L(keep, abandoned). It enters the expected
    losses, not the credal-set check of kill, which stays the stricter one.
    """
    n = inference.log_posterior.shape[0]
    available = np.ascontiguousarray(available, dtype=bool)
    protected = np.asarray(protected, dtype=bool)
    L = loss_matrix(policy)
    scale = np.ones((n, len(ACTIONS)))
    scale[:, KILL] = scale[:, RESTART] = 1.0 + impact
    post = inference.posterior
    expected = np.einsum("nc,ac->na", post, L) * scale
    if queueing is not None:
        wait = np.maximum(np.nan_to_num(np.asarray(queueing, dtype=float), nan=0.0, posinf=np.inf), 0.0)
        with np.errstate(invalid="ignore"):                 # a scale of 0 times an unbounded wait
            cost = np.nan_to_num(np.minimum(policy.queueing.scale * wait, policy.queueing.cap), nan=0.0)
        expected[:, KEEP] += cost * (post[:, USEFUL_BAD] + post[:, ABANDONED])
    expected = np.where(available, expected, np.inf)
    best = np.argmin(expected, axis=1)
    held = hold(expected, best, previous, policy.stability.margin)
    if held.any():
        best = np.where(held, previous, best)

    # Robust Bayes: at every vertex of the credal set the posterior is the
    # vertex prior times the likelihood, renormalised; its min and max over
    # the vertices bound the posterior over the whole set, and kill must be
    # least-loss at every vertex (checked only where it is best now).
    lower, upper, kill_robust = _triage.credal_decide(
        inference.log_likelihood, credal_vertices(policy), L, scale,
        available.view(np.uint8), (best == KILL).view(np.uint8), KILL)

    demoted = np.full(n, None, dtype=object)
    demoted[held & ~protected] = DEMOTED_HELD
    without_kill = expected.copy()
    without_kill[:, KILL] = np.inf
    fallback = np.argmin(without_kill, axis=1)

    not_robust = (best == KILL) & ~kill_robust
    demoted[not_robust] = DEMOTED_ROBUST
    best = np.where(not_robust, fallback, best)
    if kill_gate:
        gated = (best == KILL) & ~protected
        demoted[gated] = DEMOTED_BOUND
        best = np.where(gated, fallback, best)

    # FDR gate on the kill set: lfdr = P(useful | x), smallest first.
    lfdr = post[:, USEFUL]
    candidates = np.flatnonzero((best == KILL) & ~protected)
    order = candidates[np.argsort(lfdr[candidates], kind="stable")]
    running_mean = np.cumsum(lfdr[order]) / np.arange(1, len(order) + 1)
    within = np.flatnonzero(running_mean <= policy.fdr_alpha)
    keep_count = within[-1] + 1 if len(within) else 0
    trimmed = order[keep_count:]
    demoted[trimmed] = DEMOTED_FDR
    best[trimmed] = fallback[trimmed]

    demoted[protected & (best != KEEP)] = DEMOTED_VETO
    best = np.where(protected, KEEP, best)

    # Two-class SPRT boundary (idea I): between useful and abandoned alone, kill
    # beats keep iff log P(A|x)/P(U|x) exceeds it (+inf: never; -inf: always).
    # With four classes the expected losses decide; this is the spec's threshold.
    cost_useful = L[KILL, USEFUL] * scale[:, KILL] - L[KEEP, USEFUL]
    gain_abandoned = L[KEEP, ABANDONED] - L[KILL, ABANDONED] * scale[:, KILL]
    with np.errstate(divide="ignore", invalid="ignore"):
        boundary = np.select([gain_abandoned <= 0, cost_useful <= 0], [np.inf, -np.inf],
                             np.log(cost_useful / gain_abandoned))
    log_odds = inference.log_posterior[:, ABANDONED] - inference.log_posterior[:, USEFUL]

    return Decision(
        action=best, expected_loss=expected,
        posterior_lower=lower, posterior_upper=upper,
        impact=impact, log_odds=log_odds, sprt_boundary=boundary, lfdr=lfdr, demoted=demoted,
        fdr_kill_set_size=int(keep_count),
        fdr_estimate=float(running_mean[keep_count - 1]) if keep_count else 0.0,
    )


def hold(expected: np.ndarray, best: np.ndarray, previous: np.ndarray | None, margin: float) -> np.ndarray:
    """``(n,)`` bool: keep the previous action instead of ``best`` because it is
    available, is neither kill nor restart (those must win on their own at
    every scan), differs from ``best``, and loses at most ``margin`` more."""
    n = len(best)
    if previous is None:
        return np.zeros(n, dtype=bool)
    previous = np.asarray(previous)
    known = (previous >= 0) & (previous < expected.shape[1]) & (previous != KILL) & (previous != RESTART)
    prev_loss = expected[np.arange(n), np.where(known, previous, 0)]
    gap = prev_loss - expected[np.arange(n), best]
    return known & (previous != best) & np.isfinite(prev_loss) & (gap <= margin)
