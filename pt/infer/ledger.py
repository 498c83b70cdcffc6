"""The evidence ledger: the term matrix read out for people and programs.

Nothing here computes new evidence; it labels, ranks and phrases the rows of
:class:`~pt.infer.posterior.Inference` so the "why" of every verdict is the
same numbers the posterior was made of.
"""
from __future__ import annotations

import numpy as np

from pt.config import CATEGORICAL_LEVELS, CLASSES
from pt.formatting import format_duration
from pt.infer.posterior import FEATURES, LN2, Evidence, Inference

#: Kass & Raftery (1995) evidence grades on 2 ln BF (0-2, 2-6, 6-10, >10), in bits.
STRENGTH_BITS = ((10 / (2 * LN2), "very strong"), (6 / (2 * LN2), "strong"),
                 (2 / (2 * LN2), "positive"), (0.0, "weak"))

#: One glyph per feature for the compact scan column.
GLYPHS = {"cpu_window": "⚙", "cpu_lifetime": "Σ", "runtime": "⏱", "survival": "⌛", "orphan": "⚑",
          "io_window": "⇅", "tty": "⌨", "state": "◉", "command": "▸", "cwd": "⌂",
          "children": "⑂", "network": "⇄", "parent": "⇡", "daemon": "◌",
          "activity": "✎", "progress": "↻", "tree": "⑃"}

LABELS = {"cpu_window": "CPU in window", "cpu_lifetime": "lifetime CPU", "runtime": "age",
          "survival": "still running", "orphan": "orphaned", "io_window": "IO in window",
          "tty": "terminal", "state": "state", "command": "command", "cwd": "cwd",
          "children": "children", "network": "network", "parent": "parent",
          "daemon": "daemon shape", "activity": "terminal activity",
          "progress": "progress while busy", "tree": "tree"}


def strength(bits: float) -> str:
    """Verbal grade of a Bayes factor given in bits (sign ignored)."""
    size = abs(bits)
    return next(label for threshold, label in STRENGTH_BITS if size >= threshold)


def observed_value(evidence: Evidence, feature: str, row: int) -> str:
    """What was observed, as a short phrase."""
    span = float(evidence.span_s[row])
    since = "" if np.isnan(span) else f" over about {format_duration(span)} of this and earlier scans"
    if feature == "cpu_window":
        k, n = int(evidence.cpu_ticks[row]), int(evidence.window_ticks[row])
        return f"{k}/{n} ticks on or queued for a CPU ({100 * min(k, n) / n:.0f}% of a CPU wanted){since}" \
            if n else "not observed"
    if feature in ("runtime", "survival"):
        return f"alive {format_duration(float(evidence.age_s[row]))}"
    if feature == "orphan":
        return {1: "yes: reparented, session gone", 0: "no", -1: "not observed"}[int(evidence.orphaned[row])]
    if feature == "activity":
        idle = float(evidence.tty_idle_s[row])
        return "not observed" if np.isnan(idle) else f"last input/output {format_duration(idle)} ago"
    if feature == "tree":
        return "parent and children"
    if feature == "io_window":
        events = float(evidence.io_events[row])
        if np.isfinite(events):
            return f"{events:.1f} IO events ({events / span:.2f}/s){since}"
        return {1: "active", 0: "none", -1: "unreadable"}[int(evidence.io_active[row])]
    code = int(getattr(evidence, feature)[row])
    return CATEGORICAL_LEVELS[feature][code] if code >= 0 else "not observed"


def confidence(posterior: np.ndarray) -> np.ndarray:
    """Posterior concentration: 1 - normalised entropy, in [0, 1] (1 = certain)."""
    p = np.clip(posterior, 1e-300, 1.0)
    entropy = -(p * np.log(p)).sum(axis=-1)
    return 1.0 - entropy / np.log(posterior.shape[-1])


def confidence_label(value: float) -> str:
    return "high" if value >= 0.75 else "medium" if value >= 0.4 else "low"


def top_factors(inference: Inference, row: int, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` features with the largest |log2 BF(abandoned : useful)|."""
    bits = inference.row_bits(row)
    order = np.argsort(-np.abs(bits), kind="stable")
    return [(FEATURES[j], float(bits[j])) for j in order[:k] if inference.observed[row, j]]


def why(inference: Inference, evidence: Evidence, row: int) -> str:
    """One line: the verdict's strongest reasons, signed toward abandoned (+) or useful (-)."""
    parts = []
    for feature, bits in top_factors(inference, row):
        direction = "abandoned" if bits > 0 else "useful"
        parts.append(f"{LABELS[feature]} {observed_value(evidence, feature, row)} "
                     f"({bits:+.1f} bits → {direction})")
    return "; ".join(parts) if parts else "no evidence"


def ledger_rows(inference: Inference, evidence: Evidence, row: int) -> list[dict]:
    """Every feature of one process: observed value, per-class log-likelihood,
    and the abandoned:useful Bayes factor in bits with its grade."""
    out = []
    bf_bits = inference.row_bits(row).tolist()
    terms = inference.terms[row].tolist()
    seen_row = inference.observed[row].tolist()
    for j, feature in enumerate(FEATURES):
        seen = seen_row[j]
        out.append({
            "feature": feature,
            "label": LABELS[feature],
            "observed": observed_value(evidence, feature, row),
            "missing": not seen,
            "log_likelihood": {c: round(v, 4) for c, v in zip(CLASSES, terms[j])},
            "bits_abandoned_vs_useful": round(bf_bits[j], 4) if seen else 0.0,
            "strength": strength(bf_bits[j]) if seen else "none",
        })
    return out


def glyph_column(inference: Inference, k: int = 3) -> np.ndarray:
    """Every process's top evidence as glyphs with direction (``⚑+ ⌨+ ⚙-``:
    + toward abandoned), ranked by |bits| over the whole matrix at once."""
    bits = inference.bits()
    top = np.argsort(-np.abs(bits), axis=1, kind="stable")[:, :k]
    seen = np.take_along_axis(inference.observed, top, axis=1).tolist()
    positive = (np.take_along_axis(bits, top, axis=1) > 0).tolist()
    glyphs = [GLYPHS[f] for f in FEATURES]
    out = np.empty(len(bits), dtype=object)
    out[:] = [" ".join(f"{glyphs[j]}{'+' if p else '-'}" for j, p, s in zip(js, ps, ss) if s)
              for js, ps, ss in zip(top.tolist(), positive, seen)]
    return out

