"""Machine pressure for ``pt watch``: PSI and memory now, and where memory is heading.

``read_pressure`` samples /proc/pressure/{cpu,io,memory} and /proc/meminfo;
an unreadable PSI file (kernels before 4.20, or PSI off) degrades to the
load average with a note instead of failing. ``MemoryForecast`` tracks
MemAvailable with an EWMA of its rate and acceleration and solves for the
time until it reaches a floor; ``Urgency`` turns the gap to a target into a
number in [0, 1] (a PID controller squashed by 1 - exp(-x)) that shortens
the watch interval.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

PSI_RESOURCES = ("cpu", "io", "memory")


@dataclass(frozen=True)
class Pressure:
    """One sample. ``psi[resource][kind]`` is avg10 in percent (kind "some"
    or "full"); empty when PSI cannot be read, then ``note`` says so and
    ``load_per_cpu`` stands in for CPU pressure."""

    time: float
    psi: dict = field(default_factory=dict)
    mem_total: int = 0
    mem_available: int = 0
    swap_total: int = 0
    swap_free: int = 0
    load_per_cpu: float = 0.0
    note: str | None = None

    @property
    def mem_available_fraction(self) -> float:
        return self.mem_available / self.mem_total if self.mem_total else 1.0

    def cpu_pressure(self) -> float:
        """Share of time some task waited for a CPU (0..1); the load average
        per CPU, capped at 1, where PSI is unavailable."""
        some = self.psi.get("cpu", {}).get("some")
        return some / 100.0 if some is not None else min(1.0, self.load_per_cpu)


def _psi_file(path: str) -> dict:
    """``{"some": avg10, "full": avg10}`` of one PSI file; ValueError if it is not one."""
    out = {}
    with open(path, "rb") as f:
        for line in f.read(4096).decode("ascii", "replace").splitlines():
            kind, _, rest = line.partition(" ")
            fields = dict(p.split("=", 1) for p in rest.split() if "=" in p)
            if kind in ("some", "full") and "avg10" in fields:
                value = float(fields["avg10"])
                if not 0.0 <= value <= 100.0:
                    raise ValueError(f"{path}: avg10 {value} out of [0, 100]")
                out[kind] = value
    if "some" not in out:
        raise ValueError(f"{path}: no 'some avg10=' line")
    return out


def _meminfo(path: str) -> dict:
    out = {}
    with open(path, "rb") as f:
        for line in f.read(65536).decode("ascii", "replace").splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0]) * 1024
    return out


def read_pressure(root: str = "/proc", now: float | None = None) -> Pressure:
    """Sample PSI, memory and load under ``root`` (a procfs)."""
    import time
    now = time.time() if now is None else now
    psi, problems = {}, []
    for resource in PSI_RESOURCES:
        try:
            psi[resource] = _psi_file(os.path.join(root, "pressure", resource))
        except (OSError, ValueError) as exc:
            problems.append(f"{resource}: {exc.strerror if isinstance(exc, OSError) else exc}")
    note = None
    if problems:
        note = ("PSI unavailable (" + "; ".join(problems) + "): CPU pressure from the load average")
    try:
        mem = _meminfo(os.path.join(root, "meminfo"))
    except OSError:
        mem = {}
    try:
        with open(os.path.join(root, "loadavg"), "rb") as f:
            load1 = float(f.read(256).split()[0])
    except (OSError, ValueError, IndexError):
        load1 = 0.0
    return Pressure(
        time=now, psi=psi, mem_total=mem.get("MemTotal", 0),
        mem_available=mem.get("MemAvailable", mem.get("MemFree", 0)),
        swap_total=mem.get("SwapTotal", 0), swap_free=mem.get("SwapFree", 0),
        load_per_cpu=load1 / (os.cpu_count() or 1), note=note)


@dataclass
class MemoryForecast:
    """EWMA rate and acceleration of MemAvailable, and the time until it
    falls to ``floor_bytes``.

    The smoothing adapts to burstiness (a step in the rate is tracked within
    a few samples, a steady rate is smoothed). Confidence mixes how many
    samples there are (70 %) with how well the last rate predicted the next
    level (30 %); below ``min_confidence`` or with fewer than ``min_samples``
    samples the forecast says it is unreliable instead of giving a number
    (five samples: two and a half minutes at the default interval, so one
    burst of allocations is not yet a trend).
    """

    floor_bytes: float
    base_alpha: float = 0.3
    min_confidence: float = 0.2
    min_samples: int = 5
    samples: int = 0
    level: float = math.nan
    rate: float = 0.0            # bytes/s, negative while memory is being used up
    accel: float = 0.0           # bytes/s^2
    residual: float = 0.0        # EWMA of |predicted - actual| / scale
    last_time: float = math.nan

    def update(self, time_s: float, available: float) -> None:
        if not (math.isfinite(time_s) and math.isfinite(available)) or available < 0:
            raise ValueError(f"memory sample must be finite and non-negative, got ({time_s}, {available})")
        if self.samples == 0:
            self.level, self.last_time, self.samples = float(available), time_s, 1
            return
        dt = time_s - self.last_time
        if dt <= 0:
            raise ValueError(f"memory samples must move forward in time (dt = {dt})")
        predicted = self.level + self.rate * dt
        scale = max(abs(self.level), 1.0)
        instant = (available - self.level) / dt
        burst = abs(instant - self.rate) / (abs(self.rate) + 1.0)
        alpha = min(0.8, max(0.1, self.base_alpha + 0.2 * min(burst, 1.0)))
        if self.samples == 1:
            new_rate = instant
        else:
            new_rate = alpha * instant + (1 - alpha) * self.rate
        if self.samples >= 2:
            self.accel = alpha * (new_rate - self.rate) / dt + (1 - alpha) * self.accel
            self.residual = alpha * abs(predicted - available) / scale + (1 - alpha) * self.residual
        self.rate, self.level, self.last_time = new_rate, float(available), time_s
        self.samples += 1

    @property
    def confidence(self) -> float:
        count = min(1.0, self.samples / 10.0)
        fit = 1.0 / (1.0 + 20.0 * self.residual)
        return 0.7 * count + 0.3 * fit

    @property
    def reliable(self) -> bool:
        return self.samples >= self.min_samples and self.confidence >= self.min_confidence

    def seconds_to_floor(self) -> float | None:
        """Seconds until MemAvailable reaches the floor at the current rate
        and acceleration; ``inf`` when it is not heading there; None when
        the forecast is unreliable (too few samples, or a poor fit)."""
        if not self.reliable:
            return None
        distance = self.level - self.floor_bytes
        if distance <= 0:
            return 0.0
        # Solve distance = -rate t - accel t^2 / 2 for the first t > 0.
        a, b, c = -0.5 * self.accel, -self.rate, -distance
        if abs(a) < 1e-12:
            return distance / b if b > 0 else math.inf
        disc = b * b - 4 * a * c
        if disc < 0:
            return math.inf
        root = math.sqrt(disc)
        # Conjugate forms avoid cancellation when disc is close to b^2.
        q = -0.5 * (b + math.copysign(root, b))
        roots = [r for r in ((q / a) if a else math.inf, (c / q) if q else math.inf) if r > 0]
        return min(roots) if roots else math.inf

    def as_dict(self) -> dict:
        tte = self.seconds_to_floor()
        return {"samples": self.samples, "available_bytes": None if math.isnan(self.level) else self.level,
                "rate_bytes_per_s": self.rate, "accel_bytes_per_s2": self.accel,
                "confidence": round(self.confidence, 3), "reliable": self.reliable,
                "seconds_to_floor": None if tte is None or math.isinf(tte) else tte,
                "floor_bytes": self.floor_bytes}


@dataclass
class Urgency:
    """How hard to look, in [0, 1]: a PID controller on the shortfall of
    available memory below ``target`` (a fraction), plus CPU pressure,
    squashed by 1 - exp(-x); a forecast of reaching the floor within
    ``horizon_s`` raises it to at least 0.7."""

    target: float = 0.15
    kp: float = 8.0
    ki: float = 0.02
    kd: float = 1.0
    horizon_s: float = 1800.0
    integral: float = 0.0
    last_error: float | None = None
    last_time: float | None = None
    value: float = 0.0

    def update(self, sample: Pressure, forecast: MemoryForecast) -> float:
        error = self.target - sample.mem_available_fraction
        dt = 0.0 if self.last_time is None else max(0.0, sample.time - self.last_time)
        self.integral = min(100.0, max(-100.0, self.integral + error * dt))
        derivative = 0.0 if self.last_error is None or dt == 0 else (error - self.last_error) / dt
        memory = max(0.0, self.kp * error + self.ki * self.integral + self.kd * derivative)
        cpu = 2.0 * max(0.0, sample.cpu_pressure() - 0.5)      # waiting for CPU half the time or more
        value = 1.0 - math.exp(-(memory + cpu))
        tte = forecast.seconds_to_floor()
        if tte is not None and tte <= self.horizon_s:
            value = max(value, 0.7)
        self.last_error, self.last_time, self.value = error, sample.time, value
        return value

    def interval(self, base_s: float, min_s: float = 2.0) -> float:
        """The next watch interval: ``base_s`` when calm, down to ``min_s``
        at full urgency."""
        return max(min_s, base_s * (1.0 - self.value) + min_s * self.value)
