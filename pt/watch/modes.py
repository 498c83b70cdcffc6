"""How far ``pt watch`` may act on its own, and when it steps back.

observe acts never; canary only with reversible actions (pause, renice,
throttle, quarantine) and at most ``budget_per_hour`` of them; enforce with
every reversible action, and the destructive ones (restart, kill) only when
asked for explicitly.
Promotion is only ever by the user. Demotion to observe is automatic on a
guardrail alarm, an exhausted canary budget, the kill switch, or repeated
action failures; after ``recovery_windows`` clean intervals the watcher
comes back, to canary at most, whatever mode it left (and not before
canary's budget has room again).
"""
from __future__ import annotations

from dataclasses import dataclass, field

MODES = ("observe", "canary", "enforce")
REVERSIBLE = ("renice", "throttle", "quarantine", "pause")
HOUR_S = 3600.0


@dataclass
class ModeController:
    """The mode in force (``mode``), the user's ceiling (``wanted``) and why
    it differs (``demoted_because``)."""

    wanted: str
    budget_per_hour: int = 5
    max_failures: int = 3
    recovery_windows: int = 3
    mode: str = ""
    demoted_because: str | None = None
    clean_windows: int = 0
    failures: int = 0
    acted_at: list = field(default_factory=list)

    def __post_init__(self):
        if self.wanted not in MODES:
            raise ValueError(f"unknown mode {self.wanted!r}; choose from {', '.join(MODES)}")
        if self.budget_per_hour < 0:
            raise ValueError(f"budget_per_hour must be >= 0, got {self.budget_per_hour}")
        self.mode = self.mode or self.wanted

    def allowed(self, allow_kill: bool = False) -> tuple[str, ...]:
        """The actions the watcher may take itself now."""
        if self.mode == "observe":
            return ()
        if self.mode == "canary":
            return REVERSIBLE
        return REVERSIBLE + (("restart", "kill") if allow_kill else ())

    def budget_left(self, now: float) -> int | None:
        """Actions canary may still take this hour (None outside canary)."""
        self.acted_at = [t for t in self.acted_at if now - t < HOUR_S]
        if self.mode != "canary":
            return None
        return max(0, self.budget_per_hour - len(self.acted_at))

    def demote(self, reason: str) -> None:
        if self.mode != "observe":
            self.mode, self.demoted_because, self.clean_windows = "observe", reason, 0

    def record(self, now: float, *, acted: int, failed: int, wanted_more: bool = False) -> None:
        """Count this interval's actions and failures; demote on repeated
        failures, or when canary wanted more actions than its budget had left."""
        self.acted_at.extend([now] * acted)
        self.failures = self.failures + failed if failed else 0
        if self.failures >= self.max_failures:
            self.demote(f"{self.failures} action failures in a row")
        elif self.mode == "canary" and wanted_more and self.budget_left(now) == 0:
            self.demote(f"canary budget exhausted ({self.budget_per_hour} actions within an hour)")

    def window(self, now: float, *, clean: bool) -> None:
        """End of an interval: recover after enough clean ones, never above
        canary; an interval is not clean while canary's budget is still spent."""
        if not self.demoted_because:
            return
        spent = len([t for t in self.acted_at if now - t < HOUR_S]) >= self.budget_per_hour
        self.clean_windows = self.clean_windows + 1 if clean and not spent else 0
        if self.clean_windows >= self.recovery_windows and self.wanted != "observe":
            self.mode, self.demoted_because, self.clean_windows = "canary", None, 0
            self.failures = 0

    def as_dict(self, now: float) -> dict:
        return {"mode": self.mode, "wanted": self.wanted, "demoted_because": self.demoted_because,
                "clean_windows": self.clean_windows, "budget_left": self.budget_left(now),
                "budget_per_hour": self.budget_per_hour}
