"""The evidence ledger: the term matrix read out for people and programs.

Nothing here computes new evidence; it labels, ranks and phrases the rows of
:class:`~pt.infer.posterior.Inference` so the "why" of every verdict is the
same numbers the posterior was made of.
"""
from __future__ import annotations

import numpy as np

from pt.config import CATEGORICAL_LEVELS, CLASSES
from pt.formatting import format_duration
from pt.infer.posterior import ABANDONED, FEATURES, LN2, USEFUL, Evidence, Inference

#: Kass & Raftery (1995) evidence grades on 2 ln BF (0-2, 2-6, 6-10, >10), in bits.
STRENGTH_BITS = ((10 / (2 * LN2), "very strong"), (6 / (2 * LN2), "strong"),
                 (2 / (2 * LN2), "positive"), (0.0, "weak"))

#: One glyph per feature for the compact scan column.
GLYPHS = {"cpu_window": "⚙", "cpu_lifetime": "Σ", "runtime": "⏱", "survival": "⌛", "orphan": "⚑",
          "io_window": "⇅", "tty": "⌨", "state": "◉", "command": "▸", "cwd": "⌂",
          "children": "⑂", "network": "⇄", "parent": "⇡", "daemon": "◌",
          "activity": "✎", "progress": "↻", "memory": "▲", "tree": "⑃"}

LABELS = {"cpu_window": "CPU in window", "cpu_lifetime": "lifetime CPU", "runtime": "age",
          "survival": "still running", "orphan": "orphaned", "io_window": "IO in window",
          "tty": "terminal", "state": "state", "command": "command", "cwd": "cwd",
          "children": "children", "network": "network", "parent": "parent",
          "daemon": "daemon shape", "activity": "terminal activity",
          "progress": "progress while busy", "memory": "memory growth", "tree": "tree"}


def strength(bits: float) -> str:
    """Verbal grade of a Bayes factor given in bits (sign ignored)."""
    size = abs(bits)
    return next(label for threshold, label in STRENGTH_BITS if size >= threshold)


def strengths(bits: np.ndarray) -> np.ndarray:
    """:func:`strength` of every element, as an object array of labels."""
    size = np.abs(bits)
    return np.select([size >= t for t, _ in STRENGTH_BITS], [label for _, label in STRENGTH_BITS],
                     default="weak").astype(object)


def observed_value(evidence: Evidence, feature: str, row: int) -> str:
    """What was observed, as a short phrase."""
    return observed_values(evidence, feature, np.array([row]))[0]


def _since(span: float) -> str:
    """How long the evidence was gathered over, when earlier scans extended the window."""
    return "" if np.isnan(span) else f" over about {format_duration(span)} of this and earlier scans"


def observed_values(evidence: Evidence, feature: str, rows: np.ndarray) -> list[str]:
    """:func:`observed_value` of ``rows``, each distinct value phrased once."""
    if not len(rows):
        return []
    if feature == "cpu_window":
        keys = np.stack([evidence.cpu_ticks[rows], evidence.window_ticks[rows], evidence.span_s[rows]],
                        axis=1).astype(np.float64)

        def phrase(key):
            k, n, span = int(key[0]), int(key[1]), key[2]
            return f"{k}/{n} ticks on or queued for a CPU ({100 * min(k, n) / n:.0f}% of a CPU wanted){_since(span)}" \
                if n else "not observed"
    elif feature in ("runtime", "survival"):
        keys = evidence.age_s[rows]

        def phrase(age):
            return f"alive {format_duration(age)}"
    elif feature == "orphan":
        keys, phrase = evidence.orphaned[rows], {1: "yes: reparented, session gone", 0: "no",
                                                 -1: "not observed"}.__getitem__
    elif feature == "activity":
        keys = evidence.tty_idle_s[rows]

        def phrase(idle):
            return "not observed" if np.isnan(idle) else f"last input/output {format_duration(idle)} ago"
    elif feature == "tree":
        return ["parent and children"] * len(rows)
    elif feature == "memory":
        keys = np.stack([evidence.growth_mb_s[rows], evidence.growth_sd_mb_s[rows], evidence.growth_span_s[rows]],
                        axis=1).astype(np.float64)

        def phrase(key):
            slope, sd, span = key
            return f"memory {60 * slope:+.0f} MB/min (±{60 * sd:.0f}){_since(span)}" if np.isfinite(slope) \
                else "not observed"
    elif feature == "io_window":
        keys = np.stack([evidence.io_events[rows], evidence.span_s[rows], evidence.io_active[rows]],
                        axis=1).astype(np.float64)

        def phrase(key):
            events, span, active = key
            if np.isfinite(events):
                return f"{events:.1f} IO events ({events / span:.2f}/s){_since(span)}"
            return {1: "active", 0: "none", -1: "unreadable"}[int(active)]
    else:
        levels = CATEGORICAL_LEVELS[feature]
        keys = getattr(evidence, feature)[rows]

        def phrase(code):
            return levels[code] if code >= 0 else "not observed"
    keys = np.asarray(keys)
    if keys.ndim > 1:
        distinct, inverse = _distinct_rows(keys)
        phrases = [phrase(tuple(k)) for k in distinct.tolist()]
    else:
        distinct, inverse = np.unique(keys, return_inverse=True)
        phrases = [phrase(k) for k in distinct.tolist()]
        inverse = inverse.reshape(-1).tolist()
    return [phrases[i] for i in inverse]


def _distinct_rows(keys: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The distinct rows of a float matrix (NaN equal to NaN, -0.0 to 0.0)
    and each row's index into them, by a dict over each row's bytes:
    ``np.unique(axis=0)`` sorts the rows as structured values, ~1 ms per
    1,000 rows, several times per ``pt scan --json``."""
    canonical = np.ascontiguousarray(np.where(np.isnan(keys), np.nan, keys) + 0.0, dtype=np.float64)
    rows = canonical.view(np.dtype((np.void, 8 * canonical.shape[1]))).ravel().tolist()
    last = {row: i for i, row in enumerate(rows)}            # distinct rows, in order of first appearance
    code = {row: n for n, row in enumerate(last)}
    return keys[list(last.values())], list(map(code.__getitem__, rows))


def confidence(posterior: np.ndarray) -> np.ndarray:
    """Posterior concentration: 1 - normalised entropy, in [0, 1] (1 = certain)."""
    p = np.clip(posterior, 1e-300, 1.0)
    entropy = -(p * np.log(p)).sum(axis=-1)
    return 1.0 - entropy / np.log(posterior.shape[-1])


def confidence_label(value: float) -> str:
    return "high" if value >= 0.75 else "medium" if value >= 0.4 else "low"


def _row_bits(inference: Inference, rows: np.ndarray) -> np.ndarray:
    """:meth:`Inference.row_bits` of every row of ``rows``: ``(len(rows), F)``."""
    terms = inference.terms[rows]
    return (terms[:, :, ABANDONED] - terms[:, :, USEFUL]) / LN2


def why(inference: Inference, evidence: Evidence, row: int) -> str:
    """One line: the verdict's strongest reasons, signed toward abandoned (+) or useful (-)."""
    return whys(inference, evidence, np.array([row]))[0]


def whys(inference: Inference, evidence: Evidence, rows: np.ndarray, k: int = 3) -> list[str]:
    """:func:`why` of every row of ``rows``; each feature's observations are
    phrased once per distinct value."""
    rows = np.asarray(rows, dtype=np.intp)
    bits = _row_bits(inference, rows)
    top = np.argsort(-np.abs(bits), axis=1, kind="stable")[:, :k]
    seen = np.take_along_axis(inference.observed[rows], top, axis=1).tolist()
    top_bits = np.take_along_axis(bits, top, axis=1).tolist()
    phrased = {j: observed_values(evidence, FEATURES[j], rows) for j in set(top.ravel().tolist())}
    out = []
    for i, (js, bs, ss) in enumerate(zip(top.tolist(), top_bits, seen)):
        parts = [f"{LABELS[FEATURES[j]]} {phrased[j][i]} ({b:+.1f} bits → {'abandoned' if b > 0 else 'useful'})"
                 for j, b, s in zip(js, bs, ss) if s]
        out.append("; ".join(parts) if parts else "no evidence")
    return out


def ledger_rows(inference: Inference, evidence: Evidence, row: int) -> list[dict]:
    """Every feature of one process: observed value, per-class log-likelihood,
    and the abandoned:useful Bayes factor in bits with its grade."""
    return ledgers(inference, evidence, np.array([row]))[0]


def ledgers(inference: Inference, evidence: Evidence, rows: np.ndarray) -> list[list[dict]]:
    """:func:`ledger_rows` of every row of ``rows``, built from whole columns
    (rounding, grades and phrases once per matrix, not per value)."""
    rows = np.asarray(rows, dtype=np.intp)
    bits = _row_bits(inference, rows)
    seen = inference.observed[rows]
    loglik = np.round(inference.terms[rows], 4).tolist()
    shown_bits = np.where(seen, np.round(bits, 4), 0.0).tolist()
    grade = np.where(seen, strengths(bits), "none").tolist()
    missing = (~seen).tolist()
    observed = [observed_values(evidence, f, rows) for f in FEATURES]
    labels = [(f, LABELS[f]) for f in FEATURES]
    return [[{"feature": f, "label": label, "observed": observed[j][i], "missing": missing[i][j],
              "log_likelihood": dict(zip(CLASSES, loglik[i][j])),
              "bits_abandoned_vs_useful": shown_bits[i][j], "strength": grade[i][j]}
             for j, (f, label) in enumerate(labels)]
            for i in range(len(rows))]


def glyph_column(inference: Inference, k: int = 3) -> np.ndarray:
    """Every process's top evidence as glyphs with direction (``⚑+ ⌨+ ⚙-``:
    + toward abandoned), ranked by |bits| over the whole matrix at once."""
    bits = inference.bits()
    top = np.argsort(-np.abs(bits), axis=1, kind="stable")[:, :k]
    seen = np.take_along_axis(inference.observed, top, axis=1)
    positive = np.take_along_axis(bits, top, axis=1) > 0
    # A row's glyphs are its (rank: 0 unseen, else 1 + 2 feature + sign) codes: the strings are
    # built once per distinct combination, not once per process.
    codes = np.where(seen, 1 + 2 * top + positive, 0)
    distinct, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    glyphs = [GLYPHS[f] for f in FEATURES]
    phrases = np.empty(len(distinct), dtype=object)
    phrases[:] = [" ".join(f"{glyphs[j]}{'+' if p else '-'}" for j, p, s in zip(js, ps, ss) if s)
                  for js, ps, ss in zip(top[first].tolist(), positive[first].tolist(), seen[first].tolist())]
    return phrases[inverse.reshape(-1)]

