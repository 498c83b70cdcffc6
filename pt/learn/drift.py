"""Drift: has the machine changed since the priors were calibrated?

``pt calibrate`` stores, in the learned priors file, a sample of the
evidence pt saw in the days before it calibrated (CPU share in the window,
log10 of the age, per process and scan). ``pt calibrate --drift`` draws the
same from the recent scans and compares each feature with the two-sample
Kolmogorov-Smirnov test (asymptotic p-value, ``scipy.special.kolmogorov``)
and the Wasserstein-1 distance, both from the two empirical CDFs in numpy
(``scipy.stats`` takes seconds to import; the tests check both against it). The alarm
needs both: a significant KS test (the distributions differ) and a
Wasserstein distance above the feature's tolerance (they differ by enough to
matter; with thousands of rows a KS test alone flags differences of no
consequence). On an alarm the learned priors are removed: pt reverts to the
shipped priors until it is calibrated again on the new behaviour.
"""
from __future__ import annotations

import numpy as np
from scipy import special

#: Feature -> Wasserstein tolerance in its own unit (share of a CPU; decades of age).
TOLERANCE = {"cpu_share": 0.05, "log10_age": 0.5}
#: KS p-value below which the distributions are taken to differ.
ALPHA = 1e-3
#: Rows sampled per period.
SAMPLE = 2000

#: The sample is drawn from the filtered rows (a sample clause inside the
#: subquery would be taken before its WHERE).
SAMPLE_SQL = """
    SELECT * FROM (
        SELECT CASE WHEN window_ticks > 0 THEN cpu_ticks / window_ticks END AS cpu_share,
               CASE WHEN age_s > 0 THEN log10(age_s) END AS log10_age
        FROM proc_features WHERE ts >= $since AND ts < $until)
    USING SAMPLE reservoir({n} ROWS) REPEATABLE (7)
"""


def sample(lake, since: float, until: float, n: int = SAMPLE) -> dict[str, list[float]]:
    """Up to ``n`` rows of the evidence recorded in [since, until), per feature."""
    _, rows = lake.query(SAMPLE_SQL.format(n=int(n)), {"since": since, "until": until})
    out = {}
    for j, name in enumerate(TOLERANCE):
        values = np.array([r[j] for r in rows if r[j] is not None], dtype=np.float64)
        out[name] = [round(float(v), 6) for v in values[np.isfinite(values)]]
    return out


def ks_wasserstein(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Two-sample KS statistic sup|F_a - F_b|, its asymptotic p-value
    Q_KS(D sqrt(nm / (n + m))), and W1 = integral of |F_a - F_b|."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    grid.sort()
    diff = np.abs(np.searchsorted(a, grid, side="right") / len(a) - np.searchsorted(b, grid, side="right") / len(b))
    d = float(diff.max())
    p = float(special.kolmogorov(d * np.sqrt(len(a) * len(b) / (len(a) + len(b)))))
    return d, p, float(np.sum(diff[:-1] * np.diff(grid)))


def compare(reference: dict, recent: dict) -> dict:
    """Per feature: KS statistic and p-value, Wasserstein-1, and whether it
    alarms; ``alarm`` if any feature does. Features with fewer than 20
    values on either side are reported as not compared."""
    features, alarm = {}, False
    for name, tol in TOLERANCE.items():
        a = np.asarray(reference.get(name) or [], dtype=np.float64)
        b = np.asarray(recent.get(name) or [], dtype=np.float64)
        if len(a) < 20 or len(b) < 20:
            features[name] = {"compared": False, "reference_n": len(a), "recent_n": len(b)}
            continue
        d, p, w1 = ks_wasserstein(a, b)
        hit = bool(p < ALPHA and w1 > tol)
        alarm |= hit
        features[name] = {"compared": True, "ks": d, "p_value": p,
                          "wasserstein": w1, "tolerance": tol, "alarm": hit,
                          "reference_n": len(a), "recent_n": len(b)}
    return {"alarm": alarm, "features": features, "alpha": ALPHA}
