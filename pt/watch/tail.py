"""The tail of memory jumps: peaks over threshold with a generalized Pareto fit.

The EWMA forecast follows the trend; what kills a machine is often a jump
(a build that links, a test that loads a data set). Each interval's drop in
MemAvailable is recorded; drops above a high threshold ``u`` (the 90th
percentile) are fitted with a generalized Pareto distribution, whose tail
``P(drop > u + y) = zeta (1 + xi y / sigma)^(-1/xi)`` (``zeta`` the share
above ``u``) gives the chance that one interval's jump exceeds the
headroom left above the floor, and over ``m`` intervals ``1 - (1 - p)^m``.

The fit is by probability-weighted moments (Hosking and Wallis, 1987):
closed form, defined for every sample, and less erratic than maximum
likelihood on the few dozen exceedances a watcher has.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

#: Exceedances needed before the tail is trusted.
MIN_EXCEEDANCES = 20


def fit_gpd(exceedances: np.ndarray) -> tuple[float, float]:
    """``(xi, sigma)`` of a generalized Pareto fitted to ``exceedances`` (> 0)
    by probability-weighted moments; valid for xi < 1 (a finite mean)."""
    y = np.sort(np.asarray(exceedances, dtype=float))
    n = len(y)
    if n < 2 or not np.isfinite(y).all() or (y <= 0).any():
        raise ValueError("need at least 2 finite, positive exceedances")
    a0 = y.mean()
    p = (np.arange(1, n + 1) - 0.35) / n
    a1 = np.mean((1.0 - p) * y)
    r = a0 / (2.0 * a1)                  # alpha_0 / (2 alpha_1) = (2 - xi) / (1 - xi)
    xi = (r - 2.0) / (r - 1.0)
    sigma = a0 * (1.0 - xi)
    return float(xi), float(sigma)


def gpd_sf(y: float, xi: float, sigma: float) -> float:
    """P(Y > y) of a generalized Pareto(xi, sigma) at ``y`` >= 0."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if y <= 0:
        return 1.0
    if abs(xi) < 1e-9:
        return math.exp(-y / sigma)
    base = 1.0 + xi * y / sigma
    return 0.0 if base <= 0 else base ** (-1.0 / xi)


@dataclass
class JumpTail:
    """Recent per-interval drops of MemAvailable (bytes), and their tail."""

    window: int = 2000
    drops: deque = field(default_factory=deque)
    last: float | None = None

    def update(self, available: float) -> None:
        if self.last is not None:
            self.drops.append(max(self.last - available, 0.0))
            while len(self.drops) > self.window:
                self.drops.popleft()
        self.last = float(available)

    def p_exceed(self, headroom: float, intervals: int = 1) -> float | None:
        """Chance that some interval among the next ``intervals`` drops by
        more than ``headroom``; None until there are enough exceedances."""
        drops = np.fromiter(self.drops, dtype=float)
        positive = drops[drops > 0]
        if len(positive) < MIN_EXCEEDANCES * 10:
            return None
        u = float(np.quantile(positive, 0.9))
        over = positive[positive > u] - u
        if len(over) < MIN_EXCEEDANCES:
            return None
        xi, sigma = fit_gpd(over)
        zeta = len(over) / len(drops)
        one = zeta * gpd_sf(headroom - u, xi, sigma) if headroom > u else float(np.mean(drops > headroom))
        return 1.0 - (1.0 - min(one, 1.0)) ** max(intervals, 1)
