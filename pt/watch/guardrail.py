"""An anytime-valid check that pt's own predictions hold (``pt watch``'s guardrail).

Each time pt recommends acting on a process it predicts that the process is
in use with probability ``q`` = P(useful) + P(useful_bad). A later scan sees
whether it resumed activity (``y`` = 1). If pt is calibrated,
P(resume) <= P(in use) = q, since a process in use need not resume within
one interval. The e-process

    E_t = mean over f in FRACTIONS of  prod_i (1 + (f / q_i) (y_i - q_i))

is then a non-negative supermartingale with E_0 = 1 (each factor has
expectation <= 1 and is >= 1 - f > 0), so by Ville's inequality
P(E_t ever >= 1/alpha) <= alpha: the alarm fires on systematic
over-confidence with a false-alarm probability of at most ``alpha``, however
long pt watches and however often it looks. A mixture over several betting
fractions adapts to how large the miscalibration is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.5)


@dataclass
class EProcess:
    """Betting e-process for H0: E[y | past] <= q (see the module docstring)."""

    alpha: float = 0.05
    log_wealth: list = field(default_factory=lambda: [0.0] * len(FRACTIONS))
    n: int = 0
    resumed: int = 0
    expected: float = 0.0

    def __post_init__(self):
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")

    def update(self, q: float, y: int) -> None:
        """One follow-up: predicted probability of use ``q``, observed resume ``y``."""
        if not (0.0 <= q <= 1.0) or math.isnan(q):
            raise ValueError(f"q must be a probability, got {q}")
        if y not in (0, 1):
            raise ValueError(f"y must be 0 or 1, got {y}")
        q = min(max(q, 1e-6), 1.0)
        for k, f in enumerate(FRACTIONS):
            self.log_wealth[k] += math.log1p((f / q) * (y - q))
        self.n += 1
        self.resumed += y
        self.expected += q

    @property
    def value(self) -> float:
        """E_t: the mixture's wealth (1 at the start)."""
        top = max(self.log_wealth)
        return math.exp(top) * sum(math.exp(w - top) for w in self.log_wealth) / len(self.log_wealth)

    @property
    def threshold(self) -> float:
        return 1.0 / self.alpha

    @property
    def alarm(self) -> bool:
        return self.value >= self.threshold

    def reset(self) -> None:
        self.log_wealth = [0.0] * len(FRACTIONS)
        self.n, self.resumed, self.expected = 0, 0, 0.0

    def as_dict(self) -> dict:
        return {"value": round(self.value, 4), "threshold": self.threshold, "alarm": self.alarm,
                "followed_up": self.n, "resumed": self.resumed, "expected_resumed_at_most": round(self.expected, 3)}
