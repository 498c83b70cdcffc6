"""The forecast-calibration guardrail: does pt watch notice when its memory
forecasts (time to the floor) are systematically wrong, and only then?
Checked by simulation through the detector's own API (forecasts made, then
resolved by the floor arriving or the predicted time passing), and in the
loop on a recorded series whose decline always stops short of the floor."""
from __future__ import annotations

import re

import numpy as np
import pytest

from pt.act.plan import Selection
from pt.watch.guardrail import SIDES, ForecastDetector
from pt.watch.metrics import render

FLOOR = 100.0


def resolve(d: ForecastDetector, start: float, predicted: float, actual: float) -> float:
    """One forecast made at ``start`` ("the floor in ``predicted`` s") whose
    floor really comes after ``actual`` s; returns the time after it resolved."""
    d.observe("host", start, 1000.0, FLOOR, predicted)
    if actual <= predicted:
        d.observe("host", start + actual, FLOOR, FLOOR, None)
    else:
        d.observe("host", start + predicted + 1.0, FLOOR + 1.0, FLOOR, None)
    return start + max(actual, predicted) + 2.0


def run_lengths(rng, runs: int, cap: int, actual_of) -> np.ndarray:
    """Forecasts until the first alarm (``cap + 1`` if none by ``cap``)."""
    out = np.full(runs, cap + 1)
    for run in range(runs):
        d, now = ForecastDetector(), 0.0
        for n in range(1, cap + 1):
            predicted = float(rng.uniform(60, 1800))
            now = resolve(d, now, predicted, actual_of(predicted, rng))
            if d.alarm:
                out[run] = n
                break
    return out


def test_calibrated_forecasts_raise_no_alarm_sooner_than_the_threshold_on_average():
    """The floor comes at the forecast time times a log-normal error of
    median 1 (as often early as late): the mean run length to a false alarm
    is at least the threshold (100 forecasts), as E[R_n] <= n guarantees;
    runs cut at 1,000 forecasts, which only lowers the estimate."""
    lengths = run_lengths(np.random.default_rng(20261204), 100, 1000,
                          lambda p, rng: p * float(np.exp(rng.normal(0.0, 0.4))))
    assert lengths.mean() >= 100


@pytest.mark.parametrize("bias", [1.5, 0.6], ids=["floor-later-than-forecast", "floor-sooner-than-forecast"])
def test_biased_forecasts_are_detected_within_a_few_dozen(bias):
    """Forecasts 50 % too early, or the floor arriving at 60 % of the
    forecast time: each biased forecast is wrong the same way (up to noise)."""
    lengths = run_lengths(np.random.default_rng(7), 50, 1000,
                          lambda p, rng: bias * p * float(np.exp(rng.normal(0.0, 0.1))))
    assert np.median(lengths) <= 15 and (lengths <= 40).all()


def test_the_value_is_the_mixture_of_shiryaev_roberts_recursions_and_pending_forecasts_do_not_overlap():
    d = ForecastDetector()
    ys = [0, 1, 0, 0]
    now = 0.0
    for y in ys:
        now = resolve(d, now, 100.0, 50.0 if y else 200.0)
    expected = []
    for s in SIDES:
        r = 0.0
        for y in ys:
            r = (r + 1) * (1 + s * (y - 0.5))
        expected.append(r)
    assert d.value == pytest.approx(np.mean(expected), rel=1e-12)
    assert (d.resolved, d.early) == (4, 3)
    d.observe("host", 1e6, 1000.0, FLOOR, 100.0)
    d.observe("host", 1e6 + 10, 900.0, FLOOR, 5.0)           # a newer forecast while one is pending: not taken
    assert d.pending == {"host": (1e6, 1e6 + 100.0)}
    d.drop()                                                  # the watcher acted: nothing judged
    d.observe("host", 1e6 + 200, 900.0, FLOOR, None)
    assert d.resolved == 4 and d.pending == {}


def test_invalid_threshold_or_outcome_is_refused():
    with pytest.raises(ValueError):
        ForecastDetector(threshold=1.0)
    with pytest.raises(ValueError):
        ForecastDetector().bet(2)


def write_meminfo(root, available_kb: int) -> None:
    (root / "meminfo").write_text(f"MemTotal: 4000000 kB\nMemAvailable: {available_kb} kB\n")


def test_the_loop_demotes_when_forecast_floors_never_come_and_reports_the_detector(tmp_path, monkeypatch):
    """A recorded series that falls steeply toward the floor and then levels
    off far above it, again and again: each forecast's time passes without
    the floor. The detector's value and threshold are in the status and the
    metrics; once it fires, canary steps down to observe saying why."""
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    proc = tmp_path / "proc"
    (proc / "pressure").mkdir(parents=True)
    (proc / "loadavg").write_text("0.1 0.1 0.1 1/1 1")
    watcher = Watcher(controller=ModeController("canary"), selection=Selection(match=re.compile("ptnothing^")),
                      interval_s=30.0, telemetry=False, procfs=str(proc), cgroup_root=None)
    watcher.forecast_check = ForecastDetector(threshold=20.0)
    clock = [0.0]
    watcher.clock = lambda: clock[0]
    demoted_at = None
    for episode in range(40):
        # 3,000 MB falling 100 MB per 30 s sample for 6 minutes, then level for 30 minutes.
        levels = [3_000_000 - 100_000 * i for i in range(12)] + [1_900_000] * 60
        watcher.forecast = type(watcher.forecast)(floor_bytes=0.05 * 4_000_000 * 1024)
        for kb in levels:
            write_meminfo(proc, kb)
            watcher.sample_pressure()
            clock[0] += 30.0
        if watcher.forecast_check.alarm:
            watcher.step()
            demoted_at = episode
            break
    assert demoted_at is not None and watcher.controller.mode == "observe"
    assert "memory forecast is systematically wrong" in watcher.controller.demoted_because
    status = watcher.status()
    assert status["forecast_guardrail"]["threshold"] == 20.0 and status["forecast_guardrail"]["resolved"] >= 5
    assert "pt_watch_forecast_guardrail_threshold 20.0" in render(status).splitlines()
