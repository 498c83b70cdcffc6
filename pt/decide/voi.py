"""Value of information of watching longer (idea K, section 5.3).

Watching a process for ``M`` more CPU ticks yields y ticks used, whose
predictive law under class c is Beta-Binomial with the class's Beta updated
by what was seen so far (k of n ticks):

    P(y | c, x) = BB(y; M, a_c + k, b_c + n - k)

Each possible y moves the posterior to P(c | x, y) ∝ P(c | x) P(y | c, x), and
the best action's expected loss to min_a Σ_c L(a, c) P(c | x, y). The value of
watching is how much that is lower, in expectation, than deciding now:

    VOI(M) = min_a E[L(a) | x] − Σ_y P(y | x) min_a E[L(a) | x, y]  ≥ 0

Watching is worth it while VOI(M) exceeds the cost of the wait, for some
horizon M up to the time left; a process whose VOI is nowhere above its cost
is settled and stops being sampled. Horizons beyond one sample make this
less myopic than one-step VOI, which is ~0 whenever a single sample cannot
flip the decision even though a few could.
"""
from __future__ import annotations

import numpy as np

from pt._kernels import _voi


def value_of_information(log_post: np.ndarray, k: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray,
                         loss: np.ndarray, horizon_ticks: int, resolution: int = 0) -> np.ndarray:
    """``(N,)`` expected reduction in loss from watching ``horizon_ticks`` more CPU ticks.

    ``log_post`` ``(N, C)``: current log posterior; ``k``, ``n`` ``(N,)``:
    ticks used and observed so far; ``a``, ``b`` ``(N, C)``: each class's Beta
    prior on the CPU share; ``loss`` ``(N, A, C)`` (or ``(A, C)``): the loss of
    each action under each class, +inf where the action is unavailable.
    Every y in 0..M is enumerated (compiled loop, Beta-Binomial pmf by its
    ratio recurrence, O(N M C)); the decision after y is taken for each y
    (exact, O(N M A C)) or, with ``resolution`` R > 0, once per bin of
    consecutive y values, a bin at y spanning 1 + y // R of them (about
    R (1 + ln(M / R)) bins): then the result is the VOI of observing only the
    bin, a lower bound on the exact VOI that errs toward stopping.
    """
    log_post = np.asarray(log_post, dtype=np.float64)
    if log_post.ndim != 2:
        raise ValueError(f"log_post must be (N, C), got shape {log_post.shape}")
    if horizon_ticks < 0 or int(horizon_ticks) != horizon_ticks:
        raise ValueError(f"horizon_ticks must be a whole number >= 0, got {horizon_ticks!r}")
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise ValueError("k must satisfy 0 <= k <= n")
    loss = np.asarray(loss, dtype=np.float64)
    if loss.ndim == 2:
        loss = np.broadcast_to(loss, (log_post.shape[0],) + loss.shape)
    if log_post.shape[0] == 0:
        return np.zeros(0)
    a1 = np.ascontiguousarray(np.broadcast_to(a, log_post.shape) + k[:, None], dtype=np.float64)
    b1 = np.ascontiguousarray(np.broadcast_to(b, log_post.shape) + (n - k)[:, None], dtype=np.float64)
    if not (np.all(a1 > 0) and np.all(b1 > 0)):
        raise ValueError("Beta parameters a and b must be > 0")
    if resolution < 0 or int(resolution) != resolution:
        raise ValueError(f"resolution must be a whole number >= 0, got {resolution!r}")
    return _voi.voi_cpu(np.ascontiguousarray(log_post), a1, b1, np.ascontiguousarray(loss), int(horizon_ticks),
                        int(resolution))


def effective_loss(base: np.ndarray, impact: np.ndarray, available: np.ndarray, kill: int,
                   restart: int) -> np.ndarray:
    """``(N, A, C)`` the loss the decision uses: kill and restart scaled by
    ``1 + impact`` (idea Z), +inf where an action is unavailable."""
    n = len(impact)
    scale = np.ones((n, base.shape[0]))
    scale[:, kill] = scale[:, restart] = 1.0 + np.asarray(impact)
    loss = base[None, :, :] * scale[:, :, None]
    return np.where(np.asarray(available)[:, :, None], loss, np.inf)
