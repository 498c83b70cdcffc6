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

#: Wake-up counts told apart by :func:`wakeup_voi` (more is one outcome).
WAKEUP_COUNTS = 16


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


def wakeup_voi(log_post: np.ndarray, onsets: np.ndarray, idle_s: np.ndarray, a: np.ndarray, b: np.ndarray,
               loss: np.ndarray, horizon_s: float, max_count: int = WAKEUP_COUNTS) -> np.ndarray:
    """``(N,)`` value of watching an idle process ``horizon_s`` more seconds
    for wake-ups.

    Under class c the wake-up rate has the posterior Gamma(r_c, β_c),
    r_c = a_c + B, β_c = b_c + t, after B wake-ups in t idle seconds, so the
    number J of wake-ups in h more idle seconds is negative binomial:

        P(J = j | c, x) = Γ(r_c + j) / (Γ(r_c) j!) q_c^r_c (1 − q_c)^j,   q_c = β_c / (β_c + h)

    (by the ratio recurrence P(j + 1) / P(j) = (r_c + j)(1 − q_c) / (j + 1)), and

        VOI(h) = min_a Σ_c P(c|x) L(a, c) − Σ_j min_a Σ_c P(c|x) P(j|c, x) L(a, c).

    Counts from ``max_count`` up are one outcome, and the CPU the wake-ups
    use is not looked at: both garble the observation, so this is a lower
    bound on the value of watching. ``log_post`` ``(N, C)``;
    ``onsets``/``idle_s`` ``(N,)``; ``a``/``b`` ``(C,)`` or ``(N, C)``;
    ``loss`` ``(N, A, C)`` with +inf for unavailable actions.
    """
    if not horizon_s >= 0:
        raise ValueError(f"horizon_s must be >= 0, got {horizon_s!r}")
    post = np.exp(np.asarray(log_post, dtype=np.float64))
    r = np.broadcast_to(a, post.shape) + np.asarray(onsets, dtype=np.float64)[:, None]
    rate = np.broadcast_to(b, post.shape) + np.asarray(idle_s, dtype=np.float64)[:, None]
    if not (np.all(r > 0) and np.all(rate > 0)):
        raise ValueError("wake-up Gamma parameters must be > 0")
    q = rate / (rate + horizon_s)
    j = np.arange(max_count, dtype=np.float64)[:, None, None]                # (J, 1, 1)
    ratios = np.concatenate([np.exp(r * np.log(q))[None],                    # P(0), then P(j+1)/P(j)
                             (r + j[:-1]) * (1.0 - q) / (j[:-1] + 1.0)])
    pmf = np.cumprod(ratios, axis=0)                                         # (J, N, C)
    pmf[-1] = np.maximum(1.0 - pmf[:-1].sum(axis=0), 0.0)                    # the tail as one outcome
    loss = np.asarray(loss, dtype=np.float64)
    unavailable = ~np.isfinite(loss).all(axis=2)                             # (N, A)
    finite = np.where(np.isfinite(loss), loss, 0.0)

    by_class = np.ascontiguousarray(finite.transpose(0, 2, 1))               # (N, C, A)

    def least(weights):                          # (N, K, C) -> (N, K): min_a sum_c w_c L(a, c)
        expected = np.matmul(weights, by_class)
        return np.where(unavailable[:, None, :], np.inf, expected).min(axis=-1)
    weights = (post[None] * pmf).transpose(1, 0, 2)                          # (N, J, C)
    return np.maximum(least(post[:, None, :])[:, 0] - least(weights).sum(axis=1), 0.0)
