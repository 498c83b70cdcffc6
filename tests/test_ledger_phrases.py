"""The ledger's phrases of observed values, built once per distinct value for
a whole column, equal the phrase of each process alone (the brute-force
reference), over repeated values, NaN (not observed) and -0.0. The rows are
this machine's processes with their values redrawn, so that every feature
has several values however idle the machine (a CI runner's are all idle)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pt.config import CATEGORICAL_LEVELS
from pt.infer import ledger
from pt.infer.posterior import CATEGORICAL, FEATURES

N = 400


@pytest.fixture(scope="module")
def evidence():
    from pt.triage import triage
    t = triage(window_s=0.05)
    rng = np.random.default_rng(16)
    rows = rng.integers(0, len(t), N)                          # the machine's processes, repeated
    cut = {f.name: np.asarray(getattr(t.evidence, f.name))[rows] for f in dataclasses.fields(t.evidence)
           if getattr(t.evidence, f.name) is not None}

    def few(n_distinct: int, scale: float, nan: float = 0.3, signed: bool = True) -> np.ndarray:
        """A column of few distinct values (ties across rows), -0.0 among them, some NaN."""
        choices = np.round(rng.uniform(-scale if signed else 0.0, scale, n_distinct), 2)
        choices[0] = -0.0
        out = rng.choice(choices, N)
        out[rng.uniform(size=N) < nan] = np.nan
        return out

    window = rng.choice([0, 25, 30], N)
    span = few(4, 3000.0, signed=False)
    events = np.where(span > 0, np.abs(few(5, 100.0)), np.nan)       # counted over a span, if any
    sd, grown = np.abs(few(3, 1.0)), np.abs(few(3, 900.0))
    growth = np.where((sd > 0) & (grown > 0), few(6, 2.0, nan=0.5), np.nan)   # over a known sd and span
    for feature in CATEGORICAL:       # every level (and -1, not observed), whatever this machine runs
        if feature in cut:
            cut[feature] = rng.integers(-1, len(CATEGORICAL_LEVELS[feature]), N).astype(cut[feature].dtype)
    cut.update(cpu_ticks=np.minimum(rng.integers(0, 40, N), window + 5), window_ticks=window,
               span_s=span, io_events=events, io_active=rng.choice([-1, 0, 1], N),
               growth_mb_s=growth, growth_sd_mb_s=sd, growth_span_s=grown, tty_idle_s=few(5, 7200.0, signed=False))
    return type(t.evidence)(**cut)


@pytest.mark.parametrize("feature", FEATURES)
def test_a_column_of_phrases_equals_each_row_phrased_alone(evidence, feature):
    rows = np.arange(N)
    together = ledger.observed_values(evidence, feature, rows)
    alone = [ledger.observed_values(evidence, feature, np.array([r]))[0] for r in rows]
    assert together == alone
    assert len(set(together)) > 1 or feature in ("tree", "orphan", "tty", "network", "activity")


def test_distinct_rows_treat_nan_as_one_value_and_keep_first_appearance_order():
    keys = np.array([[1.0, np.nan], [2.0, 0.0], [1.0, np.nan], [2.0, -0.0], [3.0, 1.0]])
    distinct, inverse = ledger._distinct_rows(keys)
    assert inverse == [0, 1, 0, 1, 2]
    np.testing.assert_array_equal(distinct[:, 0], [1.0, 2.0, 3.0])
    assert np.isnan(distinct[0, 1])


@pytest.mark.parametrize("k", [1, 3, len(FEATURES)])
def test_the_glyph_column_equals_each_row_glyphed_alone(evidence, k):
    """``glyph_column`` builds each distinct combination once; the reference
    ranks one row's bits at a time (ties: feature order) and spells them out."""
    from pt.config import load_priors
    from pt.infer.posterior import ModelTables, infer
    inference = infer(evidence, ModelTables(load_priors()))
    bits, observed = inference.bits(), inference.observed

    def alone(i: int) -> str:
        ranked = sorted(range(len(FEATURES)), key=lambda j: -abs(bits[i, j]))[:k]
        return " ".join(f"{ledger.GLYPHS[FEATURES[j]]}{'+' if bits[i, j] > 0 else '-'}"
                        for j in ranked if observed[i, j])

    column = ledger.glyph_column(inference, k)
    assert column.dtype == object and column.shape == (N,)
    assert list(column) == [alone(i) for i in range(N)]
    assert len(set(column)) > 3
