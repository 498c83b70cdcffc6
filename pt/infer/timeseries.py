"""Deep-scan evidence from time series (ideas D, AE, AN, AA; sections 4.7, 4.7b, 4.19, 4.23).

The quick scan's CPU and IO evidence are counts over a short window; the deep
scan has the same counts over many samples. Four things come out of the
series, per candidate:

* **cumulative counts** — CPU ticks used of ticks elapsed, and whether any IO
  happened — which replace the quick window's in the same Beta-Binomial and
  Beta-Bernoulli terms (more data, same model);
* **the CPU regime term** (idea D): the two-regime Beta-Binomial change-point
  model with a geometric prior on the change time gives, against "no change",
  the likelihood ratio of "busy then idle" (stopped) and of "idle then busy"
  (started). Each class has a prior over {steady, stopped, started}
  (``priors.json`` ``timeseries.cpu_regime``), so its term is

      log [ π_C(steady) + π_C(stopped) LR_stopped + π_C(started) LR_started ],

  a mixture likelihood relative to the steady model (virtual evidence);
* **the wake-up term**: while idle, a process wakes up (an idle sample then
  a busy one) as a Poisson process whose rate has a Gamma prior per class
  (``priors.json`` ``timeseries.wakeups``); B wake-ups in t idle seconds
  score by their negative-binomial marginal — what tells a periodic worker
  from a leftover that a short window sees idle alike;
* **annotations** that explain but do not vote (to avoid counting the same
  samples twice): BOCPD on the IO syscall counts (when IO stopped), the
  Kalman local-linear-trend of the CPU share (its slope and uncertainty), and
  a Hawkes fit of scheduling bursts (times put on a CPU, schedstat; branching
  ratio, and whether the intensity has decayed back to baseline).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pt import kernels
from pt.config import CLASSES, Priors
from pt.infer.posterior import gamma_poisson_logpmf

#: Fewest known samples before the change-point term counts.
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Counts:
    """Cumulative deep-scan counts per candidate: ``cpu_ticks`` used of
    ``elapsed_ticks`` (one CPU's ticks over the known intervals, CPU ticks
    clipped to it), ``io_syscalls`` (-1 if IO was never readable), ``samples``
    (known intervals)."""

    cpu_ticks: np.ndarray
    elapsed_ticks: np.ndarray
    io_syscalls: np.ndarray
    samples: np.ndarray

    def take(self, idx: np.ndarray) -> Counts:
        """The counts of candidates ``idx``."""
        return Counts(self.cpu_ticks[idx], self.elapsed_ticks[idx], self.io_syscalls[idx], self.samples[idx])


def per_sample(series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, n, known)`` each (T-1, n): CPU ticks used and elapsed per interval."""
    d = series.delta("cpu_ticks")
    span = np.rint(np.diff(series.times) * series.clock_ticks).astype(np.int64)[:, None]
    known = d >= 0
    n = np.where(known, np.maximum(span, 1), 0)
    k = np.where(known, np.minimum(d, n), 0)
    return k, n, known


def counts(series, since: np.ndarray | None = None) -> Counts:
    """Cumulative counts per candidate; CPU only from interval ``since[i]``
    on where given (>= 0): the current regime after a change point."""
    k, n, known = per_sample(series)
    if since is not None:
        now = np.arange(len(k))[:, None] >= np.asarray(since)[None, :]
        k, n, known = np.where(now, k, 0), np.where(now, n, 0), known & now
    io = series.delta("syscalls")
    io_known = (io >= 0).any(axis=0)
    return Counts(k.sum(axis=0), n.sum(axis=0), np.where(io_known, np.where(io >= 0, io, 0).sum(axis=0), -1),
                  known.sum(axis=0))


@dataclass(frozen=True)
class Regime:
    """The CPU change-point analysis per candidate: P(change), the most
    probable first sample after a change (``tau``, an index into the
    per-interval series, -1 none), the CPU shares before and after it, the
    two likelihood ratios against no change, and the (n, 4) log terms."""

    p_change: np.ndarray
    tau: np.ndarray
    share_before: np.ndarray
    share_after: np.ndarray
    lr_stopped: np.ndarray
    lr_started: np.ndarray
    terms: np.ndarray
    observed: np.ndarray


def regime(series, priors: Priors, columns: np.ndarray | None = None) -> Regime:
    """The idea-D change-point term for every candidate (or only ``columns``,
    in that order).

    Candidates observed at every sample (the usual case: alive and still
    watched) are done together as (T + 1, m) arrays; the others (exited or
    dropped part-way) one by one over their known samples. Both are exact.
    """
    k_all, n_all, known_all = per_sample(series)
    if columns is not None:
        k_all, n_all, known_all = k_all[:, columns], n_all[:, columns], known_all[:, columns]
    m = k_all.shape[1]
    out = _empty_regime(m)
    full = known_all.all(axis=0) & (len(k_all) >= MIN_SAMPLES)
    if full.any():
        _regime_block(k_all[:, full], n_all[:, full], priors.changepoint_rate, out, np.flatnonzero(full),
                      np.arange(len(k_all)))
    for i in np.flatnonzero(~full):
        known = known_all[:, i]
        if known.sum() >= MIN_SAMPLES:
            _regime_block(k_all[known, i][:, None], n_all[known, i][:, None], priors.changepoint_rate, out,
                          np.array([i]), np.flatnonzero(known))
    pi = np.array([priors.regime[c] for c in CLASSES])                  # (4, 3)
    observed = out["observed"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mix = pi[None, :, 0] + pi[None, :, 1] * out["lr_down"][:, None] + pi[None, :, 2] * out["lr_up"][:, None]
        terms = np.where(observed[:, None], np.log(mix), 0.0)
    terms = np.where(np.isfinite(terms), terms, np.where(terms > 0, 700.0, -700.0))
    return Regime(out["p_change"], out["tau"], out["share_before"], out["share_after"], out["lr_down"],
                  out["lr_up"], terms, observed)


def _empty_regime(m: int) -> dict:
    out = {name: np.full(m, np.nan) for name in ("p_change", "share_before", "share_after")}
    out.update(tau=np.full(m, -1, dtype=np.int64), lr_down=np.zeros(m), lr_up=np.zeros(m),
               observed=np.zeros(m, dtype=bool))
    return out


def _regime_block(k: np.ndarray, n: np.ndarray, rho: float, out: dict, cols: np.ndarray,
                  sample_index: np.ndarray) -> None:
    """Exact two-regime posterior for series ``k``, ``n`` (T, m) with Beta(1, 1)
    on each regime's share (as :func:`pt.kernels.beta_changepoint`): split s
    (s samples before the change, 1 <= s < T) has prior rho (1 - rho)^s and
    s = T (no change) (1 - rho)^T; s = 0 is one regime too and is left out
    of both directions. Fills ``out`` at columns ``cols``."""
    T = k.shape[0]
    K = np.vstack([np.zeros((1, k.shape[1])), np.cumsum(k, axis=0)])          # (T + 1, m): sums of the first s
    N = np.vstack([np.zeros((1, n.shape[1])), np.cumsum(n, axis=0)])
    before = kernels.betaln(1.0 + K, 1.0 + N - K)
    after = kernels.betaln(1.0 + K[-1] - K, 1.0 + (N[-1] - N) - (K[-1] - K))
    s = np.arange(T + 1, dtype=np.float64)[:, None]
    log_prior = np.where(s < T, math.log(rho) + s * math.log1p(-rho), T * math.log1p(-rho))
    joint = before + after + log_prior                                          # (T + 1, m)
    post = np.exp(joint - kernels.logsumexp(joint.T, axis=1)[None, :])
    share_b = K[1:T] / np.maximum(N[1:T], 1)
    share_a = (K[-1] - K[1:T]) / np.maximum(N[-1] - N[1:T], 1)
    prior_split = np.exp(log_prior[1:T])                                         # (T - 1, 1)
    no_change = post[T] / math.exp(T * math.log1p(-rho))                          # p(x | none) / p(x)
    for mask, key in ((share_a < share_b, "lr_down"), (share_a > share_b, "lr_up")):
        mass = (post[1:T] * mask).sum(axis=0)
        prior_mass = (prior_split * mask).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where(prior_mass > 0, mass / np.where(prior_mass > 0, prior_mass, 1.0) / no_change, 0.0)
        out[key][cols] = np.where(np.isnan(lr), np.inf, lr)
    out["p_change"][cols] = post[1:T].sum(axis=0)
    if T > 1:
        best = np.argmax(post[1:T], axis=0)
        pick = np.arange(len(cols))
        out["tau"][cols] = sample_index[best + 1]
        out["share_before"][cols] = share_b[best, pick]
        out["share_after"][cols] = share_a[best, pick]
    out["observed"][cols] = True


@dataclass(frozen=True)
class Wakeups:
    """Wake-ups per candidate: ``onsets`` (idle samples followed by a busy
    one), ``idle_s`` (seconds of idle samples: the exposure, since only an
    idle process can wake), and the ``(n, 4)`` log terms, observed where
    some idle time was seen."""

    onsets: np.ndarray
    idle_s: np.ndarray
    terms: np.ndarray
    observed: np.ndarray


def wakeups(series, priors: Priors, columns: np.ndarray | None = None) -> Wakeups:
    """The wake-up term for every candidate (or only ``columns``, in that order).

    While idle, a process of class C wakes up (uses CPU after an idle
    sample) as a Poisson process of rate lambda ~ Gamma(a_C, rate b_C); B
    wake-ups in t idle seconds then have the Gamma-Poisson (negative
    binomial) marginal

        log P(B | C) = lgamma(a + B) - lgamma(a) - lgamma(B + 1) + a log(b / (b + t)) + B log(t / (b + t)).

    A process busy throughout has t = 0 and no term: it never had the chance.
    """
    k, n, known = per_sample(series)
    if columns is not None:
        k, n, known = k[:, columns], n[:, columns], known[:, columns]
    idle = known & (k == 0)
    onsets = (idle[:-1] & known[1:] & (k[1:] > 0)).sum(axis=0) if len(k) > 1 else np.zeros(k.shape[1], int)
    idle_s = np.where(idle, n, 0).sum(axis=0) / float(series.clock_ticks)
    return Wakeups(onsets, idle_s, *wakeup_terms(onsets, idle_s, priors))


def wakeup_terms(onsets: np.ndarray, idle_s: np.ndarray, priors: Priors) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 4)`` Gamma-Poisson log terms of ``onsets`` wake-ups in ``idle_s`` idle seconds, and the
    observed mask (some idle time seen)."""
    a, b = (np.array([priors.wakeups[c][j] for c in CLASSES]) for j in (0, 1))
    terms = gamma_poisson_logpmf(onsets, idle_s, a, b)
    observed = np.asarray(idle_s) > 0
    return np.where(observed[:, None], terms, 0.0), observed


@dataclass(frozen=True)
class Annotations:
    """What the series show that the ledger reports without weighing:
    ``io_stopped_s`` (seconds into the scan after which no IO was seen, NaN
    if IO continued or never happened), ``io_change_prob`` (BOCPD: a change
    in the IO rate within the last samples), ``cpu_trend_per_s`` and its sd
    (Kalman local linear trend of the CPU share), and the Hawkes branching
    ratio of scheduling events (schedstat timeslices) with ``bursts_decayed`` (intensity at the end
    within 10% of the baseline)."""

    io_stopped_s: np.ndarray
    io_change_prob: np.ndarray
    cpu_trend_per_s: np.ndarray
    cpu_trend_sd: np.ndarray
    ctx_branching: np.ndarray
    bursts_decayed: np.ndarray


def annotations(series) -> Annotations:
    m = len(series.pids)
    dt = np.diff(series.times)
    t_mid = (series.times[1:] - series.times[0]) if len(dt) else np.zeros(0)
    io = series.delta("syscalls")
    share = series.cpu_share()
    ctx = series.delta("timeslices")                 # times scheduled onto a CPU (schedstat)
    stopped, change = np.full(m, np.nan), np.full(m, np.nan)
    trend, trend_sd = np.full(m, np.nan), np.full(m, np.nan)
    branching, decayed = np.full(m, np.nan), np.zeros(m, dtype=bool)
    for i in range(m):
        known = io[:, i] >= 0
        if known.sum() >= MIN_SAMPLES:
            x = io[known, i]
            active = np.flatnonzero(x > 0)
            if len(active) and active[-1] < len(x) - MIN_SAMPLES:
                stopped[i] = float(t_mid[np.flatnonzero(known)[active[-1]]])
            res = kernels.bocpd(x.astype(np.float64), model="poisson", exposure=dt[known], window=MIN_SAMPLES)
            change[i] = float(res.recent_cp_prob[-1]) if len(x) > MIN_SAMPLES else np.nan
        y = share[:, i]
        if np.isfinite(y).sum() >= 2 * MIN_SAMPLES:
            k = kernels.kalman_filter(np.clip(y, 0, None), obs_var=0.01, level_var=1e-4, trend_var=1e-6)
            step = float(np.median(dt)) if len(dt) else series.interval_s
            trend[i] = k.trend[-1] / step
            trend_sd[i] = math.sqrt(max(k.trend_var[-1], 0.0)) / step
        c = ctx[:, i]
        if (c >= 0).sum() >= 2 * MIN_SAMPLES and c[c >= 0].sum() >= 10:
            branching[i], decayed[i] = _hawkes_summary(t_mid[c >= 0], dt[c >= 0], c[c >= 0])
    return Annotations(stopped, change, trend, trend_sd, branching, decayed)


def _hawkes_summary(t_end: np.ndarray, dt: np.ndarray, counts: np.ndarray) -> tuple[float, bool]:
    """Branching ratio of a Hawkes fit to events binned per sample (events
    spread evenly within their bin), by maximum likelihood over a small grid
    of (alpha, beta); mu is its conjugate posterior mean given the fit."""
    times = np.concatenate([np.linspace(e - d, e, int(c), endpoint=False) + d / (2 * max(c, 1))
                            for e, d, c in zip(t_end, dt, counts) if c > 0])
    T = float(t_end[-1]) if len(t_end) else 0.0
    if len(times) < 10 or T <= 0:
        return math.nan, False
    times = np.sort(times)
    base = len(times) / T
    best = (-math.inf, 0.0, 1.0, base)
    for alpha in (0.0, 0.2, 0.4, 0.6, 0.8):
        for beta in (1.0, 5.0, 20.0):
            mu = base * (1 - alpha)
            ll = kernels.hawkes_loglik(times, mu, alpha, beta, T)
            if ll > best[0]:
                best = (ll, alpha, beta, mu)
    _, alpha, beta, mu = best
    lam_end = mu + alpha * beta * float(np.exp(-beta * (T - times)).sum())
    return alpha, bool(lam_end <= 1.1 * mu)


def sparkline(values: np.ndarray, marks: tuple[int, ...] = (), width: int = 40) -> str:
    """A one-line chart of ``values`` (NaN shown as a space), resampled to at
    most ``width`` cells; cells holding a mark index are drawn as ``|``."""
    bars = "▁▂▃▄▅▆▇█"
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return ""
    cells = min(width, v.size)
    edges = np.linspace(0, v.size, cells + 1).astype(int)
    agg = np.array([np.nanmean(v[a:b]) if np.isfinite(v[a:b]).any() else np.nan
                    for a, b in zip(edges[:-1], edges[1:])])
    top = np.nanmax(agg) if np.isfinite(agg).any() else 0.0
    out = []
    for c, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if any(a <= m < b for m in marks):
            out.append("|")
        elif not np.isfinite(agg[c]):
            out.append(" ")
        else:
            out.append(bars[int(round(agg[c] / top * (len(bars) - 1))) if top > 0 else 0])
    return "".join(out)

