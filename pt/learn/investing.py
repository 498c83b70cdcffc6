"""Alpha-investing over pt's kill verdicts, across scans (``data.alpha_investing``),
and the state of its budget that the kill gate enforces.

Each process pt first calls for a kill is a test of the null "it is in use"
with p-value p = min(1, lfdr / pi_u): its lfdr = P(useful | x) divided by
the prior probability of useful. That is f_u(x) / f(x), the likelihood of
its evidence under "useful" over the mixture's, and it is a valid p-value:
under the null (x drawn from f_u), P(f_u / f <= u) = integral of f_u over
{f_u <= u f} <= u times the integral of f <= u, for every u (Markov's
inequality on f / f_u, whose mean under f_u is at most 1). The lfdr itself
is not: P(lfdr <= u | useful) can reach u / pi_u. pi_u is the smaller of
the shipped and the learned prior of useful (a smaller pi_u only makes p
larger: conservative when the prior changed between scans).

Foster and Stine's alpha-investing (2008) keeps a wealth W, starting at
alpha * eta. Test j bets the level alpha_j = (W/2) / (1 + W/2); the kill is
admitted (a discovery) iff p_j <= alpha_j; a test that admits nothing costs
alpha_j / (1 - alpha_j) (= W/2, so W stays positive). A discovery earns the
payout omega = alpha only once an outcome confirms it (labelled abandoned
or zombie), when that label arrives.

Guarantee: if each p-value is super-uniform under its null given the past
(P(p_j <= u | in use) <= u), then mFDR = E[V] / (E[R] + eta) <= alpha at
every time, V the admitted kills of processes in use and R all admitted
kills. Paying only for confirmed discoveries, and late, keeps the proof's
submartingale (alpha R - V + alpha eta - W) nonnegative in expectation: a
payout is never more than the true discoveries earn. The simulations in
tests/test_learning_investing.py check it with known nulls.

Enforcement: ``pt calibrate`` replays the lake's kill verdicts in time order
and stores the result in the learned priors file; while the wealth is spent
(below :data:`EXHAUSTED` of what it started with: the next kill would need
p below about alpha * eta / 200), :func:`pt.learn.gate.kill_gate` withholds
every kill in scans, plans and watch, until labels confirming earlier kills
(and a new calibration) pay it back. Withheld verdicts are not kill
verdicts, so they spend nothing.

When it does not bind: the p-value is valid only if pt's model of processes
in use (f_u) is right, and tests must be independent given the past; labels
are taken as the truth; between calibrations the stored wealth is not
updated (kill verdicts made then are charged at the next calibration); and
the binding is coarse: while the wealth lasts, the scans' own FDR gate
decides which kills are recommended, not the level of each test.
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


#: Each identity's first kill verdict (time, lfdr) and its label (time, label), if any (an lfdr
#: that is not a probability, NaN included, is a damaged or forged row and never a test); the
#: verdicts of one scan in the order of their identity (never of their p-values: an order chosen
#: by the p-values would look ahead).
REPLAY_SQL = """
    WITH first_kill AS (
        SELECT boot_id, pid, start_ticks, min(ts) AS ts, arg_min(lfdr, ts) AS lfdr
        FROM decisions WHERE action = 'kill' AND lfdr BETWEEN 0 AND 1 GROUP BY ALL),
    labelled AS ({one})
    SELECT k.ts, k.lfdr, l.ts AS label_ts, l.label
    FROM first_kill k LEFT JOIN labelled l
      ON l.boot_id = k.boot_id AND l.pid = k.pid AND l.start_ticks = k.start_ticks
    ORDER BY k.ts, k.boot_id, k.pid, k.start_ticks
"""


#: The wealth is spent below this share of its start, alpha * eta.
EXHAUSTED = 0.01


def p_values(lfdr, prior_useful: float):
    """The valid p-values lfdr / pi_u (clipped to [0, 1]); see the module docstring."""
    import numpy as np
    if not 0 < prior_useful <= 1:
        raise ValueError(f"the prior of useful must be in (0, 1], got {prior_useful!r}")
    return np.clip(np.asarray(lfdr, dtype=np.float64) / prior_useful, 0.0, 1.0)


def run_stream(ts, p, label_ts, confirmed, alpha: float) -> tuple[AlphaInvestor, list[bool]]:
    """Alpha-investing over tests at times ``ts`` with p-values ``p``, test i
    paying out at ``label_ts[i]`` if ``confirmed[i]`` and it was admitted;
    tests and payouts interleaved by time (a payout at the same time as a
    test comes after it). Returns the investor and which tests were admitted."""
    inv = AlphaInvestor(alpha)
    events = [(t, 0, i) for i, t in enumerate(ts)]
    events += [(max(lt, t), 1, i) for i, (t, lt, ok) in enumerate(zip(ts, label_ts, confirmed)) if ok]
    admitted = [False] * len(ts)
    for _, kind, i in sorted(events):
        if kind == 0:
            admitted[i] = inv.test(float(p[i]))
        elif admitted[i]:
            inv.confirm()
    return inv, admitted


def replay(lake, alpha: float, prior_useful: float = 1.0) -> dict:
    """Alpha-investing over the lake's kill verdicts in time order, payouts
    credited when a confirming label arrives (``data.alpha_investing``);
    p-values lfdr / ``prior_useful``."""
    import numpy as np

    from pt.learn.labels import ONE_LABEL_SQL
    _, rows = lake.query(REPLAY_SQL.format(one=ONE_LABEL_SQL))
    rows = [r for r in rows if r[0] is not None and r[1] is not None and math.isfinite(r[1])]
    ts = [r[0] for r in rows]
    p = p_values(np.array([r[1] for r in rows], dtype=np.float64), prior_useful)
    inv, _ = run_stream(ts, p, [r[2] if r[2] is not None else math.inf for r in rows],
                        [r[3] in ("abandoned", "zombie") and r[2] is not None for r in rows], alpha)
    out = inv.as_dict()
    out["kill_verdicts"] = len(rows)
    out["prior_useful"] = prior_useful
    out["exhausted"] = bool(rows) and inv.wealth < EXHAUSTED * inv.alpha * inv.eta
    if not rows:
        out["note"] = "no kill verdicts in the lake yet: nothing has been spent"
    return out


def spent(stored, policy_alpha: float) -> str | None:
    """Why kills are withheld by the stored alpha-investing state (a learned
    file's ``alpha_investing``), or None: not stored, not spent, or not a
    state pt wrote (a hostile value is ignored, never trusted)."""
    if not isinstance(stored, dict):
        return None
    values = [stored.get(k) for k in ("wealth", "alpha", "eta")]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
        return None
    wealth, alpha, eta = values
    start = alpha * eta
    if not (0 < alpha < 1 and 0 < eta and wealth >= 0) or wealth >= EXHAUSTED * start:
        return None
    count = stored.get("kill_verdicts")
    of = f" by {count} kill verdicts" if isinstance(count, int) and not isinstance(count, bool) else ""
    return (f"kill withheld: the alpha-investing wealth of pt's kills is spent{of} ({wealth:.2g} left of "
            f"{start:.2g}; mFDR <= {alpha:g}, fdr_alpha {policy_alpha:g}); labels confirming earlier kills "
            f"and pt calibrate pay it back")
