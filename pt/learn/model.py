"""The formulas of calibration: numpy and scipy, no I/O.

- :func:`class_prior_update`: the Dirichlet conjugate update of the class
  prior, its strength chosen by empirical Bayes (type-II maximum likelihood
  of the Dirichlet-multinomial);
- :func:`fleet_prior`: per host, the class prior shrunk toward the fleet's
  (hierarchical empirical Bayes across hosts);
- :func:`beta_binomial_map`: per-category Beta parameters of the CPU-window
  evidence, shrunk toward their parent's (hierarchical: a rare category
  borrows strength);
- :func:`gamma_hazard_update`: the conjugate update of the Gamma on the
  hazard of ending (the survival evidence);
- :func:`pac_bayes_bound`: an upper confidence bound on the false-kill rate
  (PAC-Bayes-kl, Seeger 2002 / Maurer 2004);
- :func:`reliability`: predicted against observed per posterior bin.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

#: Maurer's form of the PAC-Bayes-kl bound holds for n >= 8.
MIN_N = 8
#: Bounds of the empirical-Bayes prior strength of the class prior (pseudo-observations).
#: The floor: the shipped prior weighs at least as much as 20 labels. Type-II
#: maximum likelihood from one draw of labels picks the smallest strength
#: whenever the labels are concentrated, and they are, because people label
#: what pt flagged: at a floor of 1, two ``useful`` labels moved P(useful)
#: from 0.78 to 0.93. At 20 they move it to 0.80, and it takes about 20
#: labels that disagree to move the prior halfway to them.
STRENGTH = (20.0, 1e6)
#: Bounds of the across-host strength: many hosts' label counts identify it
#: (their spread is seen), so it needs no floor beyond one pseudo-observation.
FLEET_STRENGTH = (1.0, 1e6)


def dirichlet_multinomial_logpmf(counts: np.ndarray, alpha: np.ndarray) -> float:
    """log P(counts | Dirichlet(alpha)) of one multinomial sample (constant
    multinomial coefficient included)."""
    counts = np.asarray(counts, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    n, a = counts.sum(), alpha.sum()
    return float(special.gammaln(n + 1) - special.gammaln(counts + 1).sum()
                 + special.gammaln(a) - special.gammaln(n + a)
                 + (special.gammaln(counts + alpha) - special.gammaln(alpha)).sum())


def _refine(loss, lo: np.ndarray, hi: np.ndarray, points: int = 41, rounds: int = 8) -> np.ndarray:
    """The minimum of a smooth ``loss`` over the box [lo, hi] (1 or 2
    dimensions): a grid, then grids around its best point, each ten times
    finer. Used instead of scipy.optimize, whose import alone costs a
    command-line run a second or more."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    best = (lo + hi) / 2
    for _ in range(rounds):
        axes = [np.linspace(a, b, points) for a, b in zip(lo, hi)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(lo))
        best = grid[int(np.argmin(loss(grid)))]
        step = (hi - lo) / (points - 1)
        lo, hi = np.maximum(best - 2 * step, lo), np.minimum(best + 2 * step, hi)
    return best


def eb_strength(counts: np.ndarray, prior_mean: np.ndarray) -> float:
    """The prior strength s maximising the marginal likelihood of ``counts``
    under Dirichlet(s * prior_mean): large when the labels agree with the
    shipped prior (trust it), small when they do not (learn quickly).
    Searched on log s within :data:`STRENGTH`."""
    counts = np.asarray(counts, dtype=np.float64)
    prior_mean = np.asarray(prior_mean, dtype=np.float64)
    if counts.sum() == 0:
        return STRENGTH[1]

    def loss(g):
        alpha = np.exp(g[:, :1]) * prior_mean                  # (points, classes)
        n, a = counts.sum(), alpha.sum(axis=1)
        return -(special.gammaln(a) - special.gammaln(n + a)
                 + (special.gammaln(counts + alpha) - special.gammaln(alpha)).sum(axis=1))

    return float(np.clip(np.exp(_refine(loss, [np.log(STRENGTH[0])], [np.log(STRENGTH[1])])[0]), *STRENGTH))


def class_prior_update(counts: np.ndarray, prior_mean: np.ndarray,
                       strength: float | None = None) -> tuple[np.ndarray, float]:
    """Posterior mean of the class prior after ``counts`` labels per class:
    (s * prior_mean + counts) / (s + n), the Dirichlet conjugate update, with
    s = ``strength`` or its empirical-Bayes estimate. Returns (prior, s)."""
    counts = np.asarray(counts, dtype=np.float64)
    prior_mean = np.asarray(prior_mean, dtype=np.float64) / np.sum(prior_mean)
    s = eb_strength(counts, prior_mean) if strength is None else float(strength)
    return (s * prior_mean + counts) / (s + counts.sum()), s


def fleet_strength(counts: np.ndarray, mean: np.ndarray) -> float:
    """The strength s maximising the joint marginal likelihood of every host's
    label counts ``counts`` ``(hosts, classes)`` under one Dirichlet(s * mean):
    large when the hosts agree with the fleet's mix (a host's prior stays
    near the fleet's), small when they differ (each follows its own labels).
    Searched on log s within :data:`FLEET_STRENGTH`."""
    counts = np.asarray(counts, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    n = counts.sum(axis=1)

    def loss(g):
        alpha = np.exp(g[:, :1]) * mean                         # (points, classes)
        a = alpha.sum(axis=1)[:, None]
        return -(special.gammaln(a) - special.gammaln(n[None, :] + a)
                 + (special.gammaln(counts[None] + alpha[:, None]) - special.gammaln(alpha[:, None])).sum(axis=2)
                 ).sum(axis=1)

    if n.sum() == 0:
        return FLEET_STRENGTH[1]
    return float(np.exp(_refine(loss, [np.log(FLEET_STRENGTH[0])], [np.log(FLEET_STRENGTH[1])])[0]))


def fleet_prior(counts: np.ndarray, shipped: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Hierarchical empirical Bayes across hosts, closed form at each level.

    The fleet's class prior is the conjugate update of the shipped prior with
    every host's labels together (:func:`class_prior_update`); each host's is
    the posterior mean (s_H * fleet + n_h) / (s_H + N_h), with s_H the
    across-host strength (:func:`fleet_strength`). Returns (per-host priors
    ``(hosts, classes)``, fleet prior, fleet strength toward shipped, s_H)."""
    counts = np.asarray(counts, dtype=np.float64)
    fleet, s_fleet = class_prior_update(counts.sum(axis=0), shipped)
    s_host = fleet_strength(counts, fleet)
    return (s_host * fleet + counts) / (s_host + counts.sum(axis=1, keepdims=True)), fleet, s_fleet, s_host


def beta_binomial_loglik(k: np.ndarray, n: np.ndarray, a: float, b: float) -> float:
    """Sum of log BetaBinomial(k_i | n_i, a, b)."""
    return float(np.sum(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                        + special.betaln(k + a, n - k + b) - special.betaln(a, b)))


def beta_binomial_map(k: np.ndarray, n: np.ndarray, parent: tuple[float, float], *,
                      tau: float = 1.0) -> tuple[float, float]:
    """Beta(a, b) of a category's CPU-window evidence from its labelled
    processes (k busy ticks of n each): the maximum of the Beta-Binomial
    likelihood times a log-normal prior of scale ``tau`` around the
    ``parent`` parameters (the class's shipped values), over a in and b in
    [1e-3, 1e4]. Few processes leave the parent's values; many let the data
    speak. One group of :func:`beta_binomial_map_groups`."""
    k = np.asarray(k, dtype=np.float64)
    a, b = beta_binomial_map_groups(np.zeros(k.size, np.int64), k, n, np.asarray([parent], np.float64), tau=tau)[0]
    return float(a), float(b)


#: The box of (log a, log b) the Beta-Binomial fits search.
_BOX = (math.log(1e-3), math.log(1e4))


def beta_binomial_map_groups(group: np.ndarray, k: np.ndarray, n: np.ndarray, parents: np.ndarray, *,
                             tau: float = 1.0, iterations: int = 60) -> np.ndarray:
    """:func:`beta_binomial_map` for many groups at once: ``group[i]`` is the
    group (row of ``parents``, ``(groups, 2)``) of process i. Returns
    ``(groups, 2)`` fitted (a, b).

    All groups are fitted together: identical (group, k, n) rows are counted
    once with their multiplicity, a coarse grid on (log a, log b) starts
    each group near its optimum, and damped Newton steps (Levenberg-Marquardt,
    exact gradient and Hessian from digamma and trigamma) finish it, kept in
    the box. No loop over groups or rows: a month of labels takes
    milliseconds where a fine grid per group took seconds."""
    parents = np.asarray(parents, dtype=np.float64).reshape(-1, 2)
    G = len(parents)
    rows, w = np.unique(np.stack([np.asarray(group, np.float64), np.asarray(k, np.float64),
                                  np.asarray(n, np.float64)], axis=1), axis=0, return_counts=True)
    g, k, n = rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2]
    w = w.astype(np.float64)
    centre = np.log(parents)
    lo, hi = _BOX

    def loss(x):                                   # x (G, 2) -> (G,)
        a, b = np.exp(x[g, 0]), np.exp(x[g, 1])
        ll = np.bincount(g, w * (special.betaln(k + a, n - k + b) - special.betaln(a, b)), minlength=G)
        return -ll + 0.5 * np.sum((x - centre) ** 2, axis=1) / tau ** 2

    # Start: the best point of a coarse grid, per group (grid points x distinct rows at once).
    axis = np.linspace(lo, hi, 13)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)     # (P, 2)
    ga, gb = np.exp(grid[:, :1]), np.exp(grid[:, 1:])                                    # (P, 1)
    terms = w * (special.betaln(k + ga, n - k + gb) - special.betaln(ga, gb))             # (P, rows)
    ll = np.zeros((len(grid), G))
    np.add.at(ll.T, g, terms.T)
    total = -ll + 0.5 * np.sum((grid[:, None, :] - centre[None]) ** 2, axis=2) / tau ** 2
    x = grid[np.argmin(total, axis=0)]
    f = loss(x)
    mu = np.full(G, 1e-3)
    for _ in range(iterations):
        a, b = np.exp(x[g, 0]), np.exp(x[g, 1])
        dab, d1ab = special.digamma(a + b) - special.digamma(n + a + b), \
            special.polygamma(1, a + b) - special.polygamma(1, n + a + b)
        la = special.digamma(k + a) - special.digamma(a) + dab
        lb = special.digamma(n - k + b) - special.digamma(b) + dab
        laa = special.polygamma(1, k + a) - special.polygamma(1, a) + d1ab
        lbb = special.polygamma(1, n - k + b) - special.polygamma(1, b) + d1ab
        s = lambda v: np.bincount(g, w * v, minlength=G)        # noqa: E731 - per-group sum
        grad = -np.stack([s(a * la), s(b * lb)], axis=1) + (x - centre) / tau ** 2
        h00 = -s(a * a * laa + a * la) + 1 / tau ** 2
        h11 = -s(b * b * lbb + b * lb) + 1 / tau ** 2
        h01 = -s(a * b * d1ab)
        m00, m11 = h00 + mu, h11 + mu
        det = m00 * m11 - h01 ** 2
        ok = (det > 0) & (m00 > 0)
        step = np.where(ok[:, None], -np.stack([m11 * grad[:, 0] - h01 * grad[:, 1],
                                                 m00 * grad[:, 1] - h01 * grad[:, 0]], axis=1)
                        / np.where(ok, det, 1.0)[:, None], -grad / (1.0 + mu[:, None]))
        trial = np.clip(x + step, lo, hi)
        ft = loss(trial)
        better = ft <= f
        x = np.where(better[:, None], trial, x)
        moved = np.abs(np.where(better[:, None], step, 0.0)).max(axis=1)
        f = np.where(better, ft, f)
        mu = np.where(better, np.maximum(mu / 10, 1e-9), mu * 10)
        if np.all((better & (moved < 1e-10)) | (mu > 1e12)):
            break
    return np.exp(x)


def gamma_hazard_update(prior: tuple[float, float], ended: int, exposure_s: float) -> tuple[float, float]:
    """Gamma(a, rate b) on an exponential hazard, after ``ended`` lifetimes
    ended in ``exposure_s`` seconds lived in all (ended and censored ones):
    Gamma(a + ended, b + exposure_s), the conjugate update. Its predictive
    survival is (b / (b + t))^a, the model's survival term."""
    a, b = prior
    return float(a + ended), float(b + exposure_s)


def kl_bernoulli(q: float, p: float) -> float:
    """kl(q || p) between Bernoulli(q) and Bernoulli(p), with 0 log 0 = 0."""
    return float(special.xlogy(q, q) - special.xlogy(q, p) + special.xlogy(1 - q, 1 - q)
                 - special.xlogy(1 - q, 1 - p))


def kl_inverse_upper(q: float, c: float) -> float:
    """The largest p >= q with kl(q || p) <= c (bisection to 1e-12)."""
    lo, hi = q, 1.0
    if kl_bernoulli(q, hi) <= c:
        return 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if kl_bernoulli(q, mid) > c:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-12:
            break
    return hi


def pac_bayes_bound(errors: int, n: int, *, confidence: float = 0.95, kl: float = 0.0) -> float | None:
    """Upper bound on the true false-kill rate holding with probability
    ``confidence``: kl(errors/n || rate) <= (KL(Q||P) + ln(2 sqrt(n) / delta)) / n
    (Maurer 2004, Theorem 5; for n >= 8). ``kl`` is KL(Q||P) between the
    policy that was followed and the one fixed before the outcomes: 0 for
    the shadow record of the policy in force. None below :data:`MIN_N`."""
    if n < MIN_N:
        return None
    delta = 1.0 - confidence
    c = (kl + math.log(2 * math.sqrt(n) / delta)) / n
    return kl_inverse_upper(errors / n, c)


def exact_upper(errors: int, n: int, *, confidence: float = 0.95) -> float:
    """The exact (Clopper-Pearson) one-sided upper bound on a rate from
    ``errors`` of ``n``, valid at any n >= 1 (the PAC-Bayes one needs n >= 8)."""
    if not 0 <= errors <= n or n < 1:
        raise ValueError(f"need 0 <= errors <= n and n >= 1, got errors={errors!r}, n={n!r}")
    if errors == n:
        return 1.0
    return float(special.betaincinv(errors + 1, n - errors, confidence))


def needed_n(target: float, *, confidence: float = 0.95, limit: int = 10_000_000) -> int | None:
    """The fewest kill outcomes, all correct, for a bound below ``target``."""
    if not 0 < target < 1:
        return None
    lo, hi = MIN_N, MIN_N
    while pac_bayes_bound(0, hi, confidence=confidence) > target:
        hi *= 2
        if hi > limit:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if pac_bayes_bound(0, mid, confidence=confidence) <= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def reliability(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-width bin of ``predicted``: n, mean predicted, observed rate."""
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    which = np.minimum((predicted * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"bin": b, "low": b / bins, "high": (b + 1) / bins, "n": int(sel.sum()),
                        "predicted": float(predicted[sel].mean()), "observed": float(observed[sel].mean())})
    return out
