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

import numpy as np

from pt.collect.system import parse_loadavg, parse_meminfo, parse_psi

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
    with open(path, "rb") as f:
        parsed = parse_psi(f.read(4096).decode("ascii", "replace"))
    out = {}
    for kind, values in parsed.items():
        if "avg10" in values:
            if not 0.0 <= values["avg10"] <= 100.0:
                raise ValueError(f"{path}: avg10 {values['avg10']} out of [0, 100]")
            out[kind] = values["avg10"]
    if "some" not in out:
        raise ValueError(f"{path}: no 'some avg10=' line")
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
        with open(os.path.join(root, "meminfo"), "rb") as f:
            mem = parse_meminfo(f.read(65536).decode("ascii", "replace"))
    except OSError:
        mem = {}
    try:
        with open(os.path.join(root, "loadavg"), "rb") as f:
            load = parse_loadavg(f.read(256).decode("ascii", "replace"))
    except OSError:
        load = None
    load1 = load[0] if load is not None else 0.0
    return Pressure(
        time=now, psi=psi, mem_total=mem.get("MemTotal", 0),
        mem_available=mem.get("MemAvailable", mem.get("MemFree", 0)),
        swap_total=mem.get("SwapTotal", 0), swap_free=mem.get("SwapFree", 0),
        load_per_cpu=load1 / (os.cpu_count() or 1), note=note)


@dataclass
class MemoryForecast:
    """Where MemAvailable is heading, and when it reaches ``floor_bytes``.

    A least-squares trend over the last ``window_s`` seconds of samples:
    the rate is the fitted slope, and the acceleration the fitted curvature
    where it is significant (|t| > 3), else 0. Only a decline that is
    significant (t < -3) at ``streak`` updates in a row, over at least
    ``min_samples`` samples spanning ``min_span_s``, gives a time to the
    floor; ordinary noise does not. (An EWMA of rate and acceleration, the
    first design, forecast the floor within 30 minutes in 38-55 % of
    intervals of a flat but noisy machine: differencing amplifies noise.)
    Confidence mixes how many samples there are (70 %) with the fit's error
    relative to the distance left to the floor (30 %).
    """

    floor_bytes: float
    window_s: float = 600.0
    min_samples: int = 5
    min_span_s: float = 120.0
    min_confidence: float = 0.2
    streak: int = 3
    level: float = math.nan
    rate: float = 0.0            # bytes/s, negative while memory is being used up
    accel: float = 0.0           # bytes/s^2
    rmse: float = 0.0
    declining: int = 0           # consecutive updates with a significant decline
    times: list = field(default_factory=list)
    levels: list = field(default_factory=list)

    @property
    def samples(self) -> int:
        return len(self.times)

    def update(self, time_s: float, available: float) -> None:
        """Add a sample; one not later than the last (a clock that stepped
        back) is skipped."""
        if not (math.isfinite(time_s) and math.isfinite(available)) or available < 0:
            raise ValueError(f"memory sample must be finite and non-negative, got ({time_s}, {available})")
        if self.times and time_s <= self.times[-1]:
            return
        self.times.append(float(time_s))
        self.levels.append(float(available))
        while self.times[-1] - self.times[0] > self.window_s and len(self.times) > self.min_samples:
            self.times.pop(0)
            self.levels.pop(0)
        self._fit()

    def _fit(self) -> None:
        x = np.array(self.times) - self.times[-1]
        y = np.array(self.levels)
        n = len(x)
        if n < 3:
            self.level, self.rate, self.accel, self.rmse = float(y[-1]), 0.0, 0.0, 0.0
            self.declining = 0
            return
        slope, intercept, se_slope, rmse = _ols(np.column_stack([np.ones(n), x]), y, 1)
        self.level, self.rate, self.accel, self.rmse = intercept, slope, 0.0, rmse
        if n >= 5:
            coef, se = _ols_all(np.column_stack([np.ones(n), x, x * x]), y)
            if se is not None and abs(coef[2]) > 3 * se[2]:
                self.level, self.rate, self.accel = float(coef[0]), float(coef[1]), float(2 * coef[2])
        significant = slope < 0 and (se_slope == 0 or slope / se_slope < -3)
        self.declining = self.declining + 1 if bool(significant) else 0

    @property
    def confidence(self) -> float:
        count = min(1.0, self.samples / 10.0)
        distance = max(self.level - self.floor_bytes, 1.0) if math.isfinite(self.level) else 1.0
        fit = 1.0 / (1.0 + 20.0 * self.rmse / distance)
        return 0.7 * count + 0.3 * fit

    @property
    def reliable(self) -> bool:
        return (self.samples >= self.min_samples and self.times[-1] - self.times[0] >= self.min_span_s
                and self.confidence >= self.min_confidence)

    def seconds_to_floor(self) -> float | None:
        """Seconds until MemAvailable reaches the floor on the fitted trend;
        ``inf`` when there is no significant, lasting decline; None when the
        forecast is unreliable (too few samples, too short, a poor fit)."""
        if not self.reliable:
            return None
        distance = self.level - self.floor_bytes
        if distance <= 0:
            return 0.0
        if self.declining < self.streak:
            return math.inf
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
        roots = [r for r in ((q / a), (c / q) if q else math.inf) if r > 0]
        return min(roots) if roots else math.inf

    def as_dict(self) -> dict:
        tte = self.seconds_to_floor()
        return {"samples": self.samples, "available_bytes": None if math.isnan(self.level) else self.level,
                "rate_bytes_per_s": self.rate, "accel_bytes_per_s2": self.accel,
                "confidence": round(float(self.confidence), 3), "reliable": bool(self.reliable),
                "seconds_to_floor": None if tte is None or math.isinf(tte) else tte,
                "floor_bytes": self.floor_bytes}


def _ols_all(design: np.ndarray, y: np.ndarray):
    """Least-squares coefficients and their standard errors (None if singular)."""
    n, k = design.shape
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < k or n <= k:
        return coef, None
    resid = y - design @ coef
    sigma2 = float(resid @ resid) / (n - k)
    cov = sigma2 * np.linalg.inv(design.T @ design)
    return coef, np.sqrt(np.maximum(np.diag(cov), 0.0))


def _ols(design: np.ndarray, y: np.ndarray, index: int):
    """(coefficient ``index``, intercept, its standard error, rmse) of a least-squares fit."""
    coef, se = _ols_all(design, y)
    resid = y - design @ coef
    rmse = float(np.sqrt(np.mean(resid ** 2)))
    return float(coef[index]), float(coef[0]), (0.0 if se is None else float(se[index])), rmse


@dataclass
class Urgency:
    """How hard to look, in [0, 1]: a PID controller on the shortfall of
    available memory below ``target`` (a fraction), squashed by
    1 - exp(-x). CPU contention does not count: scanning more often when
    CPUs are scarce would only add to it (it weighs what to act on first,
    pt.watch.queueing, instead); a forecast of reaching the floor within
    ``horizon_s`` raises it to at least 0.7, a 10 % chance that one jump of
    memory use reaches the floor within the horizon to at least 0.5."""

    target: float = 0.15
    kp: float = 8.0
    ki: float = 0.02
    kd: float = 1.0
    horizon_s: float = 1800.0
    integral: float = 0.0
    last_error: float | None = None
    last_time: float | None = None
    value: float = 0.0

    def update(self, sample: Pressure, forecast: MemoryForecast, p_jump: float | None = None) -> float:
        error = self.target - sample.mem_available_fraction
        dt = 0.0 if self.last_time is None else max(0.0, sample.time - self.last_time)
        # Only the shortfall accumulates: hours of plenty must not bank credit
        # that silences a later shortage (integral windup).
        self.integral = min(100.0, max(0.0, self.integral + error * dt))
        derivative = 0.0 if self.last_error is None or dt == 0 else (error - self.last_error) / dt
        value = 1.0 - math.exp(-max(0.0, self.kp * error + self.ki * self.integral + self.kd * derivative))
        tte = forecast.seconds_to_floor()
        if tte is not None and tte <= self.horizon_s:
            value = max(value, 0.7)
        if p_jump is not None and p_jump >= 0.1:          # one jump could reach the floor (pt.watch.tail)
            value = max(value, 0.5)
        self.last_error, self.last_time, self.value = error, sample.time, value
        return value

    def interval(self, base_s: float, min_s: float = 2.0) -> float:
        """The next watch interval: ``base_s`` when calm, down to ``min_s``
        (or ``base_s`` if that is shorter) at full urgency."""
        low = min(min_s, base_s)
        return max(low, base_s * (1.0 - self.value) + low * self.value)
