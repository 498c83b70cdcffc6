"""Conformal upper bounds on a process's remaining lifetime (split conformal).

The calibration set is the lake's record of processes that later scans
found gone and that pt did not end itself: for each, its age when pt gave
its verdict (``a``) and how long it then lived (``r``, to the middle of the
interval in which it ended, :data:`pt.learn.calibrate.LIFE_SQL`). The score
is ``s = log(r / a)``, remaining life relative to age (scale-free: an old
process is expected to last longer). With the n scores of a command
category sorted, ``q`` the k-th smallest, k = ceil((n + 1)(1 - alpha)), the
bound for a new process of age ``a`` is ``a * exp(q)``.

Guarantee (Vovk et al. 2005; Lei et al. 2018): if the new process's (a, r)
and the calibration pairs are exchangeable, P(r <= bound) >= 1 - alpha, for
any distribution and any n, with no model; k <= n needs
n >= ceil((1 - alpha) / alpha) pairs (9 at 90 %). Below that there is no
bound, and pt says how many are needed.

When it does not bind: the calibration set holds only processes seen to
end, so it describes processes that end while followed up (at most a few
days; those still running are not in it). For a process of a kind that
runs for weeks the pairs are not exchangeable with it, and the bound is
too short. Processes pt killed are left out (they did not end on their own).
"""
from __future__ import annotations

import math

import numpy as np

#: Miscoverage of the bound pt explain shows (90 %).
ALPHA = 0.1
#: Largest exponent math.exp takes (a lake may hold any numbers; the bound is then not finite).
_LOG_MAX = math.log(np.finfo(np.float64).max)
#: Longest bound shown (3,000 years, pt's bound on any uptime): past it the lake's numbers are not real ones.
MAX_BOUND_S = 1e11

#: (category, age at the verdict, remaining seconds) of every process a later
#: scan found gone, that pt did not end, with the verdict the rescan followed up.
PAIRS_SQL = """
    WITH gone AS (
        SELECT boot_id, pid, start_ticks, arg_min(verdict_run_id, ts) AS run
        FROM outcomes WHERE observed_by = 'rescan' AND result = 'exited' GROUP BY ALL),
    life AS ({life})
    SELECT d.command_category, f.age_s, l.exit_ts - d.ts AS remaining_s
    FROM gone g
    JOIN life l ON l.boot_id = g.boot_id AND l.pid = g.pid AND l.start_ticks = g.start_ticks
    JOIN decisions d ON d.run_id = g.run AND d.boot_id = g.boot_id AND d.pid = g.pid AND d.start_ticks = g.start_ticks
    JOIN proc_features f ON f.run_id = g.run AND f.boot_id = g.boot_id AND f.pid = g.pid
                        AND f.start_ticks = g.start_ticks
    WHERE l.killed_ts IS NULL AND l.exit_ts IS NOT NULL AND f.age_s > 0 AND l.exit_ts > d.ts
"""


def needed(alpha: float = ALPHA) -> int:
    """The fewest calibration pairs for which a (1 - alpha) bound exists."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return math.ceil((1 - alpha) / alpha - 1e-12)


def quantile(scores: np.ndarray, alpha: float = ALPHA) -> float | None:
    """The conformal quantile: the ceil((n + 1)(1 - alpha))-th smallest score,
    or None when that exceeds n (too few scores for a finite bound)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64)[np.isfinite(scores)])
    n = len(scores)
    k = math.ceil((n + 1) * (1 - alpha) - 1e-12)
    return float(scores[k - 1]) if 1 <= k <= n else None


def scores(age_s: np.ndarray, remaining_s: np.ndarray) -> np.ndarray:
    """log(remaining / age) per pair (nan where either is not positive)."""
    age_s, remaining_s = np.asarray(age_s, dtype=np.float64), np.asarray(remaining_s, dtype=np.float64)
    ok = (age_s > 0) & (remaining_s > 0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):    # a lake's extremes: inf, then dropped
        ratio = np.where(ok, remaining_s, 1.0) / np.where(ok, age_s, 1.0)
        return np.where(ok & np.isfinite(ratio), np.log(ratio), np.nan)


def read_pairs(lake) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(category, age_s, remaining_s) of an open lake (outcomes, decisions, proc_features)."""
    from pt.learn.calibrate import LIFE_SQL
    _, rows = lake.query(PAIRS_SQL.format(life=LIFE_SQL))
    if not rows:
        return np.zeros(0, object), np.zeros(0), np.zeros(0)
    cat, age, rem = zip(*rows)
    return (np.asarray([c or "unknown" for c in cat], dtype=object), np.asarray(age, dtype=np.float64),
            np.asarray(rem, dtype=np.float64))


def bound(category: str, age_s: float, pairs, alpha: float = ALPHA) -> dict:
    """The remaining-lifetime bound of a process of ``category`` aged
    ``age_s``: ``{"within_s", "coverage", "n", "needed", "category"}``,
    ``within_s`` None (with a note) when the category has too few exits."""
    cat, age, rem = pairs
    s = scores(age[cat == category], rem[cat == category])
    s = s[np.isfinite(s)]
    q = quantile(s, alpha)
    within = None if q is None or not age_s > 0 else age_s * math.exp(min(q, _LOG_MAX))
    out = {"category": category, "coverage": 1 - alpha, "n": int(len(s)), "needed": needed(alpha),
           "within_s": float(within) if within is not None and within <= MAX_BOUND_S else None}
    if out["within_s"] is None:
        out["note"] = (f"not enough history: {len(s)} of {needed(alpha)} exits of {category} processes needed"
                       if q is None else "the process's age is unknown" if not age_s > 0 else
                       "no finite bound: the recorded lifetimes are out of any real range")
    return out


def for_process(category: str, age_s: float, lake_dir=None) -> dict | None:
    """:func:`bound` from the lake (``--lake``/``$PT_LAKE``/default), or None
    when there is no lake or it cannot be read (explain goes on without)."""
    try:
        import duckdb

        from pt.telemetry import duck
        from pt.telemetry import lake as lakes
        base = lakes.open_root(lakes.lake_root(lake_dir))
        if base is None:
            return None
        base.close()
        lake = duck.open_lake(lake_dir, tables=("decisions", "proc_features", "outcomes"), macros=False)
        return bound(category, age_s, read_pairs(lake))
    except (OSError, ImportError, duckdb.Error):
        return None
