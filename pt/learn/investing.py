"""Alpha-investing over pt's kill verdicts, across scans (``data.alpha_investing``).

Each process pt first calls for a kill is a test of the null "it is in use"
with p-value its lfdr = P(useful | x). Foster and Stine's alpha-investing
(2008) keeps a wealth W, starting at alpha * eta. Test j bets the level
alpha_j = (W/2) / (1 + W/2); the kill is admitted (a discovery) iff
p_j <= alpha_j; a test that admits nothing costs alpha_j / (1 - alpha_j)
(= W/2, so W stays positive). A discovery earns the payout omega = alpha
only once an outcome confirms it (labelled abandoned or zombie), when that
label arrives.

Guarantee: if each p-value is super-uniform under its null given the past
(P(p_j <= u | in use) <= u), then mFDR = E[V] / (E[R] + eta) <= alpha at
every time, V the admitted kills of processes in use and R all admitted
kills. Paying only for confirmed discoveries, and late, keeps the proof's
submartingale (alpha R - V + alpha eta - W) nonnegative in expectation: a
payout is never more than the true discoveries earn. The simulation in
tests/test_learning_investing.py checks it with known nulls.

When it does not bind: lfdr is a posterior probability, not a p-value; it
is super-uniform under the null only if pt's model is calibrated or
conservative for processes in use (the PAC-Bayes bound and the reliability
chart are what check that). Labels are taken as the truth. ``pt calibrate``
replays the lake's scans in time order to compute the wealth; scans do not
consult it (the kill gate enforces the PAC-Bayes bound): it reports how many
of pt's kill verdicts the budget would have admitted and the level the next
one would need.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

@dataclass
class AlphaInvestor:
    """Foster-Stine alpha-investing with payouts on confirmation; see the module docstring."""

    alpha: float = 0.05
    eta: float | None = None
    wealth: float = field(init=False)
    tests: int = 0
    discoveries: int = 0
    confirmed: int = 0

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        self.eta = 1 - self.alpha if self.eta is None else self.eta
        self.wealth = self.alpha * self.eta

    def level(self) -> float:
        """The level the next test bets: (W/2) / (1 + W/2)."""
        half = self.wealth / 2
        return half / (1 + half)

    def test(self, p: float) -> bool:
        """One test with p-value ``p``; True if it is a discovery (kill admitted)."""
        if not 0 <= p <= 1:                      # nan fails too
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        a = self.level()
        self.tests += 1
        if p <= a:
            self.discoveries += 1
            return True
        self.wealth -= a / (1 - a)
        return False

    def confirm(self) -> None:
        """An admitted kill confirmed by its outcome: the payout omega = alpha."""
        self.confirmed += 1
        self.wealth += self.alpha

    def as_dict(self) -> dict:
        return {"alpha": self.alpha, "eta": self.eta, "wealth": self.wealth, "next_level": self.level(),
                "tests": self.tests, "admitted": self.discoveries, "confirmed": self.confirmed}


#: Each identity's first kill verdict (time, lfdr) and its label (time, label), if any.
REPLAY_SQL = """
    WITH first_kill AS (
        SELECT boot_id, pid, start_ticks, min(ts) AS ts, arg_min(lfdr, ts) AS lfdr
        FROM decisions WHERE action = 'kill' AND lfdr IS NOT NULL GROUP BY ALL),
    labelled AS ({one})
    SELECT k.ts, k.lfdr, l.ts AS label_ts, l.label
    FROM first_kill k LEFT JOIN labelled l
      ON l.boot_id = k.boot_id AND l.pid = k.pid AND l.start_ticks = k.start_ticks
    ORDER BY k.ts
"""


def replay(lake, alpha: float) -> dict:
    """Alpha-investing over the lake's kill verdicts in time order, payouts
    credited when a confirming label arrives (``data.alpha_investing``)."""
    import numpy as np

    from pt.learn.labels import ONE_LABEL_SQL
    _, rows = lake.query(REPLAY_SQL.format(one=ONE_LABEL_SQL))
    inv = AlphaInvestor(alpha)
    events = []          # (time, order, kind, index): tests and confirmations, interleaved by time
    for i, (ts, lfdr, label_ts, label) in enumerate(rows):
        if ts is None or lfdr is None or not math.isfinite(lfdr):
            continue
        events.append((ts, 0, "test", i))
        if label in ("abandoned", "zombie") and label_ts is not None:
            events.append((max(label_ts, ts), 1, "label", i))
    admitted = set()
    for _, _, kind, i in sorted(events):
        if kind == "test":
            if inv.test(float(np.clip(rows[i][1], 0.0, 1.0))):
                admitted.add(i)
        elif i in admitted:
            inv.confirm()
    out = inv.as_dict()
    out["kill_verdicts"] = len(rows)
    if not rows:
        out["note"] = "no kill verdicts in the lake yet: nothing has been spent"
    return out
