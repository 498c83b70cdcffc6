"""An anytime-valid alarm for pt's own over-confidence (``pt watch``'s guardrail).

When pt calls a process a leftover it predicts that the process is in use
with probability ``q`` = P(useful) + P(useful_bad). The next interval sees
whether it resumed activity (``y`` = 1). If pt is calibrated and leftovers
stay idle, P(resume) <= q. Each interval, over the processes followed up
for the first time (each process counts once, and never one the watcher
acted on), the betting factor

    L = 1 + (f / q_mean) (y_mean - q_mean)

has expectation <= 1 under that claim, however the processes of one
interval depend on each other (the workers of one job resume together:
averaging within the interval is what makes that harmless), and
L >= 1 - f > 0. A Shiryaev-Roberts e-detector, R_t = (R_{t-1} + 1) L_t,
averaged over the fractions f in FRACTIONS, then satisfies E[R_t] <= t, so
the first interval at which it reaches ``threshold`` comes, on average,
no sooner than ``threshold`` intervals when pt is right (Shin, Ramdas and
Rinaldo's e-detectors), and soon after pt starts being over-confident, at
any point in a long watch (a plain e-process loses that power as it banks
evidence of being right).

What it cannot tell: a leftover that wakes by itself (a forgotten poller)
resumes though pt was right; that raises the alarm too, on the safe side
(the watcher steps down to observe).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.5)
#: Bets use q >= Q_FLOOR: a larger q only makes the claim easier to meet (still
#: valid), and one resumption of a q = 0.001 process cannot raise a false alarm alone.
Q_FLOOR = 0.02


class _ShiryaevRoberts:
    """What both detectors share: the statistic is the mean of one
    Shiryaev-Roberts recursion per bet (``stats``), alarming at ``threshold``."""

    def __post_init__(self):
        if not self.threshold > 1.0:
            raise ValueError(f"threshold must be > 1, got {self.threshold}")

    @property
    def value(self) -> float:
        return sum(self.stats) / len(self.stats)

    @property
    def alarm(self) -> bool:
        return self.value >= self.threshold

    def reset(self) -> None:
        """Start detecting afresh (after an alarm has been acted on)."""
        self.stats = [0.0] * len(self.stats)


@dataclass
class EDetector(_ShiryaevRoberts):
    """Shiryaev-Roberts e-detector of resumption above prediction; see the
    module docstring. ``threshold`` is the average run length to a false
    alarm, in intervals (1,000: about 8 hours at the default 30 s)."""

    threshold: float = 1000.0
    stats: list = field(default_factory=lambda: [0.0] * len(FRACTIONS))
    intervals: int = 0
    followed_up: int = 0
    resumed: int = 0
    expected: float = 0.0

    def update(self, qs, ys) -> None:
        """One interval's first follow-ups: predicted use ``qs``, resumed ``ys``."""
        qs, ys = list(qs), list(ys)
        if len(qs) != len(ys):
            raise ValueError("qs and ys must have the same length")
        for q in qs:
            if not 0.0 <= q <= 1.0:                     # nan fails too
                raise ValueError(f"q must be a probability, got {q}")
        if any(y not in (0, 1) for y in ys):
            raise ValueError("y must be 0 or 1")
        if not qs:
            return
        q = max(sum(qs) / len(qs), Q_FLOOR)
        y = sum(ys) / len(ys)
        self.stats = [(r + 1.0) * (1.0 + (f / q) * (y - q)) for r, f in zip(self.stats, FRACTIONS)]
        self.intervals += 1
        self.followed_up += len(qs)
        self.resumed += sum(ys)
        self.expected += sum(qs)

    def as_dict(self) -> dict:
        return {"value": round(self.value, 4), "threshold": self.threshold, "alarm": self.alarm,
                "intervals": self.intervals, "followed_up": self.followed_up, "resumed": self.resumed,
                "expected_resumed_at_most": round(self.expected, 3)}

    def state(self) -> dict:
        return {"stats": self.stats, "intervals": self.intervals, "followed_up": self.followed_up,
                "resumed": self.resumed, "expected": self.expected}

    def restore(self, doc: dict) -> None:
        """Take back a saved :meth:`state` (ignored unless well formed)."""
        stats = doc.get("stats") if isinstance(doc, dict) else None
        if isinstance(stats, list) and len(stats) == len(FRACTIONS) \
                and all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in stats):
            self.stats = [float(v) for v in stats]
            for key in ("intervals", "followed_up", "resumed"):
                if isinstance(doc.get(key), int) and doc[key] >= 0:
                    setattr(self, key, doc[key])


#: Bets on "the floor came by the predicted time" (y = 1) against 1/2, both ways.
SIDES = (-1.5, -1.0, -0.5, 0.5, 1.0, 1.5)


@dataclass
class ForecastDetector(_ShiryaevRoberts):
    """Is the memory forecast systematically wrong? A Shiryaev-Roberts
    e-detector on its time to the floor.

    A forecast "the floor in T seconds" is a median claim: if it is
    calibrated, the floor comes by then as often as not. Each resolved
    forecast gives y = 1 if the floor came by its predicted time, 0 if that
    time passed without it, and the bet L = 1 + s (y - 1/2), s in SIDES
    (s < 0 bets that forecasts come too early, s > 0 too late), has
    expectation 1 under calibration and L >= 1/4. R_n = (R_{n-1} + 1) L_n,
    averaged over the sides, has E[R_n] <= n, so the first forecast at which
    it reaches ``threshold`` comes on average no sooner than ``threshold``
    forecasts when they are calibrated, and within a dozen when they are
    always early or always late.

    One forecast per scope (the host, each limited cgroup) is pending at a
    time, so the forecasts bet on do not overlap; one overtaken by the
    watcher's own action (it freed memory: the forecast cannot come true) is
    dropped, not counted.
    """

    threshold: float = 100.0
    stats: list = field(default_factory=lambda: [0.0] * len(SIDES))
    pending: dict = field(default_factory=dict)      # scope -> (made at, predicted time of the floor)
    resolved: int = 0
    early: int = 0                                   # the predicted time passed without the floor

    def observe(self, scope: str, now: float, available: float, floor: float, tte: float | None) -> None:
        """One sample of ``scope``: resolve its pending forecast if it can
        be, then take the current one (``tte`` seconds to the floor) if
        there is none pending and it is finite."""
        made = self.pending.get(scope)
        if made is not None:
            if available <= floor and now <= made[1]:
                self.bet(1)
                del self.pending[scope]
            elif now > made[1]:
                self.bet(0)
                del self.pending[scope]
        if scope not in self.pending and tte is not None and 0 < tte < math.inf and available > floor:
            self.pending[scope] = (now, now + tte)

    def drop(self, scopes=None) -> None:
        """Forget pending forecasts (all, or ``scopes``'): an action overtook them."""
        for scope in list(self.pending) if scopes is None else scopes:
            self.pending.pop(scope, None)

    def forget_except(self, scopes) -> None:
        """Forget the pending forecasts of scopes that are gone."""
        self.pending = {s: v for s, v in self.pending.items() if s in scopes}

    def bet(self, y: int) -> None:
        if y not in (0, 1):
            raise ValueError("y must be 0 or 1")
        self.stats = [(r + 1.0) * (1.0 + s * (y - 0.5)) for r, s in zip(self.stats, SIDES)]
        self.resolved += 1
        self.early += 1 - y

    def as_dict(self) -> dict:
        return {"value": round(self.value, 4), "threshold": self.threshold, "alarm": self.alarm,
                "resolved": self.resolved, "floor_later_than_forecast": self.early, "pending": len(self.pending)}
