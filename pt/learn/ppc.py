"""Posterior predictive checks of the CPU-window and runtime models (``data.ppc``).

Each check compares a test statistic of the labelled record with its
distribution under the shipped model (the Beta or Gamma of the process's
command category and labelled class, else of its class). The learned
values are fitted to this same record, so checking them on it could hardly
fail: the checks say whether the shipped model fits this machine, which is
what calibration is there to correct.

- **cpu_window**: k busy ticks of n per process are Beta-Binomial(a, b).
  T = the Pearson discrepancy sum (k - E k)^2 / Var k; its reference
  distribution is simulated (:data:`REPLICATES` replicate records drawn from
  the model with the same n and classes), p = (1 + #{T_rep >= T}) / (R + 1).
  A small p: the record is more dispersed, or centred elsewhere, than the
  model says.
- **runtime**: the survival term's lifetime is Lomax (hazard a / (b + t):
  a Gamma(a, rate b) mixture of exponentials), cumulative hazard
  H(t) = a log(1 + t / b). With d_i = 1 if process i ended (else it is
  censored at its last sight t_i), the martingale residuals d_i - H(t_i)
  sum to zero in expectation under the model whatever the censoring
  (independent of the lifetime); Z = (sum d - sum H) / sqrt(sum H) is
  standard normal for many processes (the one-sample log-rank test), and
  p = 2 (1 - Phi(|Z|)). Z > 0: more processes end than the model predicts.

Verdict per check: ``fits`` (p >= 0.05), ``doubtful`` (0.01 <= p < 0.05),
``misfit`` (p < 0.01), or ``too few`` (fewer than :data:`MIN_N`
processes: no p-value is given, a check on so few cannot fail).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

REPLICATES = 199
MIN_N = 20
#: Processes the CPU check simulates at most (a random subset beyond: the
#: replicates cost REPLICATES x n draws).
MAX_CPU = 2000


def verdict(p: float | None) -> str:
    if p is None:
        return "too few"
    return "fits" if p >= 0.05 else "doubtful" if p >= 0.01 else "misfit"


def cpu_check(k: np.ndarray, n: np.ndarray, a: np.ndarray, b: np.ndarray, *, rng=None,
              replicates: int = REPLICATES) -> dict:
    """The Beta-Binomial check of busy ticks ``k`` of ``n`` with per-process ``a``, ``b``."""
    k, n, a, b = (np.asarray(x, dtype=np.float64) for x in (k, n, a, b))
    out = {"statistic": "pearson_dispersion", "n": int(len(k))}
    if len(k) < MIN_N:
        return {**out, "observed": None, "expected": None, "p_value": None, "verdict": verdict(None)}
    m = a / (a + b)
    mean = n * m
    var = n * m * (1 - m) * (a + b + n) / (a + b + 1)
    var = np.maximum(var, 1e-12)
    rng = np.random.default_rng(0) if rng is None else rng
    if len(k) > MAX_CPU:
        keep = rng.choice(len(k), MAX_CPU, replace=False)
        k, n, a, b, mean, var = (x[keep] for x in (k, n, a, b, mean, var))
        out["simulated"] = MAX_CPU
    t_obs = float(np.sum((k - mean) ** 2 / var))
    p = rng.beta(a, b, size=(replicates, len(k)))
    k_rep = rng.binomial(n.astype(np.int64), p)
    t_rep = np.sum((k_rep - mean) ** 2 / var, axis=1)
    pv = float((1 + np.sum(t_rep >= t_obs)) / (replicates + 1))
    return {**out, "observed": t_obs, "expected": float(np.mean(t_rep)), "p_value": pv, "verdict": verdict(pv)}


def runtime_check(t: np.ndarray, ended: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """The one-sample log-rank check of lifetimes ``t`` (ended or censored) against Lomax(a, b)."""
    t, a, b = (np.asarray(x, dtype=np.float64) for x in (t, a, b))
    ended = np.asarray(ended, dtype=bool)
    out = {"statistic": "logrank_z", "n": int(len(t)), "ended": int(ended.sum())}
    if len(t) < MIN_N:
        return {**out, "observed": None, "expected": None, "p_value": None, "verdict": verdict(None)}
    expected = float(np.sum(a * np.log1p(t / b)))
    z = (ended.sum() - expected) / math.sqrt(expected) if expected > 0 else (math.inf if ended.any() else 0.0)
    pv = float(special.erfc(abs(z) / math.sqrt(2))) if math.isfinite(z) else 0.0
    return {**out, "observed": int(ended.sum()), "expected": expected, "z": float(z), "p_value": pv,
            "verdict": verdict(pv)}


def check(record, params) -> dict:
    """``data.ppc`` for a :class:`pt.learn.calibrate.Record`; ``params(term,
    category, class)`` gives the model's (a, b) for a group."""
    def per_process(term, sel):
        cats, ci = np.unique(record.category[sel].astype(str), return_inverse=True)
        labs, li = np.unique(record.label[sel].astype(str), return_inverse=True)
        table = np.array([[params(term, c, k) for k in labs.tolist()] for c in cats.tolist()],
                         dtype=np.float64).reshape(len(cats), len(labs), 2)
        ab = table[ci, li]
        return ab[:, 0], ab[:, 1]

    seen = (record.window_ticks > 0) & (record.cpu_ticks >= 0) & (record.cpu_ticks <= record.window_ticks)
    a, b = per_process("cpu_window", seen)
    cpu = cpu_check(record.cpu_ticks[seen], record.window_ticks[seen], a, b)
    known = np.isfinite(record.lived_s) & (record.lived_s > 0)
    a, b = per_process("survival", known)
    runtime = runtime_check(record.lived_s[known], record.ended[known], a, b)
    return {"cpu_window": cpu, "runtime": runtime}
