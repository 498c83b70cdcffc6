"""What a telemetry write did (no pyarrow here: the scan reports it even when
pyarrow itself could not be imported)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TelemetryResult:
    """What a write did: ``written`` and the files, or ``reason`` it was skipped."""

    lake: str
    written: bool = False
    run_id: str | None = None
    reason: str | None = None
    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    followup_error: str | None = None     # the scan was written, its follow-up of earlier verdicts was not

    def as_dict(self) -> dict:
        out = {"written": self.written, "lake": self.lake, "run_id": self.run_id,
               "reason": self.reason, "rows": self.rows, "seconds": round(self.seconds, 6)}
        if self.followup_error:
            out["followup_error"] = self.followup_error
        return out
