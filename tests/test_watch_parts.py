"""pt watch's parts against independent references: the memory forecast
against exact roots, the guardrail's false-alarm rate against Ville's bound
by simulation, the mode rules, the metrics format and the PSI reader on
hostile files."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from pt.watch.guardrail import FRACTIONS, Q_FLOOR, EDetector
from pt.watch.metrics import render
from pt.watch.modes import REVERSIBLE, ModeController
from pt.watch.pressure import MemoryForecast, Pressure, Urgency, read_pressure

MB = 1024.0 * 1024.0


def feed(forecast: MemoryForecast, times, levels) -> MemoryForecast:
    for t, v in zip(times, levels):
        forecast.update(float(t), float(v))
    return forecast


def test_linear_decline_forecasts_the_exact_time_to_the_floor():
    times = np.arange(0, 360, 30.0)
    levels = 4000 * MB - 1 * MB * times
    f = feed(MemoryForecast(floor_bytes=500 * MB), times, levels)
    exact = (levels[-1] - 500 * MB) / MB
    assert f.reliable
    assert f.seconds_to_floor() == pytest.approx(exact, rel=1e-6)


def test_accelerating_decline_matches_the_quadratic_root():
    # level(t) = L - c t^2 / 2, sampled every 30 s: the curvature is significant and exact.
    c = 0.01 * MB
    times = np.arange(0, 600, 30.0)
    levels = 8000 * MB - 0.5 * c * times ** 2
    f = feed(MemoryForecast(floor_bytes=1000 * MB), times, levels)
    assert f.accel == pytest.approx(-c, rel=1e-6)
    # Reference: numpy's polynomial roots of the forecaster's own state ...
    roots = np.roots([0.5 * f.accel, f.rate, f.level - f.floor_bytes])
    positive = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
    assert f.seconds_to_floor() == pytest.approx(min(positive), rel=1e-9)
    # ... and the truth: t* where the level hits the floor.
    truth = math.sqrt(2 * (8000 - 1000) * MB / c) - times[-1]
    assert f.seconds_to_floor() == pytest.approx(truth, rel=1e-6)


def test_rising_or_flat_memory_never_reaches_the_floor():
    times = np.arange(0, 360, 30.0)
    assert feed(MemoryForecast(floor_bytes=100), times, 1000 + 10 * times).seconds_to_floor() == math.inf
    assert feed(MemoryForecast(floor_bytes=100), times, np.full(len(times), 1000.0)).seconds_to_floor() == math.inf


def test_noise_on_a_flat_machine_is_no_forecast():
    """A flat 20 GiB with 20 MiB of noise, sampled every 30 s for two hours:
    no interval forecasts the floor (the first design did, in 23 of 240)."""
    rng = np.random.default_rng(5)
    f = MemoryForecast(floor_bytes=1.2 * 2**30)
    finite = 0
    for i in range(240):
        f.update(30.0 * i, 20 * 2**30 + rng.normal(0, 20 * MB))
        tte = f.seconds_to_floor()
        finite += tte is not None and math.isfinite(tte)
    assert finite == 0


def test_too_few_samples_a_short_span_or_a_poor_fit_is_unreliable_not_a_number():
    assert feed(MemoryForecast(floor_bytes=0), [0, 1], [100.0, 90.0]).seconds_to_floor() is None
    short = feed(MemoryForecast(floor_bytes=0), np.arange(0, 50, 5.0), 1e9 - 1e6 * np.arange(0, 50, 5.0))
    assert not short.reliable and short.seconds_to_floor() is None           # 45 s of history
    rng = np.random.default_rng(1)
    times = np.arange(0, 900, 30.0)
    noisy = feed(MemoryForecast(floor_bytes=0, min_confidence=0.9), times, 1e9 * rng.uniform(0.1, 1.0, len(times)))
    clean = feed(MemoryForecast(floor_bytes=0, min_confidence=0.9), times, 1e9 - 1e5 * times)
    assert noisy.confidence < clean.confidence
    assert clean.reliable and not noisy.reliable and noisy.seconds_to_floor() is None


@pytest.mark.parametrize("sample", [(0.0, math.nan), (math.inf, 1.0), (0.0, -1.0)])
def test_invalid_memory_samples_are_refused(sample):
    with pytest.raises(ValueError):
        MemoryForecast(floor_bytes=0).update(*sample)


def test_a_clock_that_steps_back_is_skipped_not_fatal():
    f = feed(MemoryForecast(floor_bytes=0), [5.0, 6.0], [1.0, 2.0])
    f.update(5.5, 3.0)
    f.update(6.0, 3.0)
    assert f.samples == 2 and f.levels == [1.0, 2.0]


def pressure(available_fraction: float, t: float, cpu_some: float = 0.0) -> Pressure:
    return Pressure(time=t, psi={"cpu": {"some": cpu_some}}, mem_total=1000, mem_available=int(1000 * available_fraction))


def test_urgency_grows_with_the_shortfall_and_a_near_forecast():
    calm = Urgency().update(pressure(0.6, 0), MemoryForecast(floor_bytes=50))
    tight = Urgency().update(pressure(0.05, 0), MemoryForecast(floor_bytes=50))
    assert 0.0 <= calm < tight <= 1.0
    assert calm == 0.0
    times = np.arange(0, 300, 30.0)
    falling = feed(MemoryForecast(floor_bytes=50), times, 600 - 0.5 * times)
    assert falling.seconds_to_floor() < 1800
    u = Urgency()
    assert u.update(pressure(0.6, 300), falling) >= 0.7 and u.interval(30.0) < 30.0
    assert Urgency().interval(30.0) == 30.0 and Urgency().interval(1.0) == 1.0


def test_cpu_pressure_alone_does_not_shorten_the_interval():
    u = Urgency()
    u.update(pressure(0.6, 0, cpu_some=99.0), MemoryForecast(floor_bytes=50))
    assert u.value == 0.0 and u.interval(30.0) == 30.0


def test_hours_of_plenty_do_not_silence_a_later_shortage():
    """Integral windup: an hour at 60 % available, then 8 %: urgency at
    once, as for a fresh controller."""
    u, f = Urgency(), MemoryForecast(floor_bytes=50)
    for t in range(0, 3600, 30):
        u.update(pressure(0.6, t), f)
    late = u.update(pressure(0.08, 3630), f)
    fresh = Urgency().update(pressure(0.08, 0), f)
    assert late >= fresh > 0.3


def run_lengths(rng, runs: int, horizon: int, truth, per_interval: int = 10) -> np.ndarray:
    """Intervals until the detector's alarm in each of ``runs`` simulated
    watches (``horizon`` + 1 if it never fired); every interval follows up
    ``per_interval`` processes that resume together (one shared draw)."""
    out = np.full(runs, horizon + 1)
    for run in range(runs):
        d = EDetector(threshold=50.0)
        for t in range(1, horizon + 1):
            q = rng.uniform(0.05, 0.6, per_interval)
            together = rng.uniform() < truth(q.mean())
            d.update(q.tolist(), [int(together)] * per_interval)
            if d.alarm:
                out[run] = t
                break
    return out


def test_detector_false_alarms_come_no_sooner_than_the_threshold_on_average():
    """Calibrated predictions (resumption at 0.9 q), with the ten follow-ups
    of an interval resuming together: the mean run length to a false alarm
    is at least the threshold (50 here), as E[R_t] <= t guarantees. The
    runs are cut at 2,000 intervals, which only lowers the estimate."""
    lengths = run_lengths(np.random.default_rng(20261204), 200, 2000, lambda q: 0.9 * q)
    assert lengths.mean() >= 50


def test_detector_fires_soon_when_pt_is_overconfident():
    lengths = run_lengths(np.random.default_rng(7), 50, 2000, lambda q: min(1.0, q + 0.3))
    assert np.median(lengths) <= 15 and (lengths <= 2000).all()


def test_detector_keeps_its_power_after_a_long_calibrated_stretch():
    """A plain e-process banks evidence of being right and then needs
    hundreds of follow-ups to notice a change; the detector does not."""
    rng = np.random.default_rng(3)
    d = EDetector()                                    # threshold 1,000 intervals
    for _ in range(500):
        q = rng.uniform(0.05, 0.6, 10)
        d.update(q.tolist(), (rng.uniform(size=10) < 0.9 * q).astype(int).tolist())
    assert not d.alarm
    for t in range(1, 200):
        q = rng.uniform(0.05, 0.3, 10)
        d.update(q.tolist(), (rng.uniform(size=10) < q + 0.4).astype(int).tolist())
        if d.alarm:
            break
    assert d.alarm and t <= 30


def test_detector_value_is_the_mixture_of_shiryaev_roberts_recursions():
    d = EDetector()
    data = [([0.2, 0.4], [1, 0]), ([0.5], [0]), ([0.1, 0.1, 0.1], [1, 1, 0])]
    for qs, ys in data:
        d.update(qs, ys)
    expected = []
    for f in FRACTIONS:
        r = 0.0
        for qs, ys in data:
            q, y = max(np.mean(qs), Q_FLOOR), np.mean(ys)
            r = (r + 1) * (1 + f / q * (y - q))
        expected.append(r)
    assert d.value == pytest.approx(np.mean(expected), rel=1e-12)
    assert d.as_dict()["followed_up"] == 6 and d.as_dict()["resumed"] == 3
    d.update([], [])                                   # an interval with nothing to follow up
    assert d.intervals == 3


@pytest.mark.parametrize("q,y", [(1.5, 0), (-0.1, 1), (math.nan, 0), (0.5, 2)])
def test_detector_refuses_invalid_observations(q, y):
    with pytest.raises(ValueError):
        EDetector().update([q], [y])


def test_detector_restores_only_a_well_formed_state():
    d = EDetector()
    d.update([0.1], [1])
    e = EDetector()
    e.restore(d.state())
    assert e.value == d.value and e.intervals == 1
    for bad in (None, {"stats": [1.0]}, {"stats": ["x"] * len(FRACTIONS)}, {"stats": [math.inf] * len(FRACTIONS)}):
        f = EDetector()
        f.restore(bad)
        assert f.value == 0.0


def test_modes_act_only_as_far_as_allowed():
    assert ModeController("observe").allowed(allow_kill=True) == ()
    assert ModeController("canary").allowed(allow_kill=True) == REVERSIBLE
    assert "kill" not in ModeController("enforce").allowed()
    assert "kill" in ModeController("enforce").allowed(allow_kill=True)
    with pytest.raises(ValueError, match="unknown mode"):
        ModeController("yolo")


def test_canary_budget_then_demotion_then_recovery_to_canary_at_most():
    m = ModeController("canary", budget_per_hour=2, recovery_windows=3)
    m.record(0.0, acted=2, failed=0)
    assert m.mode == "canary" and m.budget_left(1.0) == 0
    m.record(10.0, acted=0, failed=0, wanted_more=True)
    assert m.mode == "observe" and "budget" in m.demoted_because
    for t in range(20, 100, 10):                # the budget is spent for the hour: no recovery
        m.window(float(t), clean=True)
        assert m.mode == "observe"
    for t, clean in ((3600, True), (3610, True), (3620, False), (3630, True), (3640, True)):
        m.window(float(t), clean=clean)
        assert m.mode == "observe"
    m.window(3650.0, clean=True)
    assert m.mode == "canary" and m.demoted_because is None
    assert m.budget_left(3650.0) == 2           # an hour later the budget is back


def test_enforce_recovers_only_to_canary_and_failures_demote():
    m = ModeController("enforce", max_failures=2, recovery_windows=1)
    m.record(0.0, acted=1, failed=1)
    assert m.mode == "enforce"
    m.record(1.0, acted=0, failed=1)
    assert m.mode == "observe" and "failures" in m.demoted_because
    m.window(2.0, clean=True)
    assert m.mode == "canary"


EXPOSITION = re.compile(r'^(# (HELP|TYPE) \w+ .+|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="[^"\\\n]*",?)+\})? '
                        r'(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?))$')


def test_metrics_are_valid_text_exposition():
    status = {"totals": {"scans": 3, "acted": {"pause": 2}, "failed": 0},
              "last": {"scan_s": 0.4, "by_class": {"useful": 10, "abandoned": 2},
                       "recommended": {"pause": 1}},
              "mode": "canary", "guardrail": EDetector().as_dict(), "urgency": 0.25,
              "forecast": MemoryForecast(floor_bytes=1).as_dict(),
              "pressure": {"psi": {"cpu": {"some": 1.5, "full": 0.0}}}}
    text = render(status)
    lines = text.splitlines()
    assert all(EXPOSITION.match(line) for line in lines), [ln for ln in lines if not EXPOSITION.match(ln)]
    assert 'pt_watch_mode{mode="canary"} 1' in lines and 'pt_watch_mode{mode="observe"} 0' in lines
    assert 'pt_watch_actions_total{action="pause"} 2' in lines
    assert "pt_watch_memory_seconds_to_floor NaN" in lines


def write_proc(root, psi: dict, meminfo: str = "MemTotal: 1000 kB\nMemAvailable: 250 kB\n", loadavg="3.0 1 1 1/1 1"):
    (root / "pressure").mkdir(parents=True)
    for name, body in psi.items():
        (root / "pressure" / name).write_bytes(body)
    (root / "meminfo").write_text(meminfo)
    (root / "loadavg").write_text(loadavg)
    return str(root)


def test_psi_is_read_and_memory_in_bytes(tmp_path):
    good = b"some avg10=12.50 avg60=1.00 avg300=0.00 total=1\nfull avg10=2.00 avg60=0 avg300=0 total=0\n"
    p = read_pressure(write_proc(tmp_path, {"cpu": good, "io": good, "memory": good}), now=1.0)
    assert p.note is None and p.psi["cpu"] == {"some": 12.5, "full": 2.0}
    assert p.mem_total == 1000 * 1024 and p.mem_available_fraction == 0.25
    assert p.cpu_pressure() == 0.125


@pytest.mark.parametrize("bad", [b"", b"some avg10=nan\n", b"some avg10=400 avg60=0\n", b"\xff\x00garbage",
                                 b"full avg10=1.0\n"])
def test_unreadable_or_hostile_psi_degrades_to_loadavg_with_a_note(tmp_path, bad):
    p = read_pressure(write_proc(tmp_path, {"cpu": bad}), now=1.0)
    assert "PSI unavailable" in p.note and "cpu" in p.note
    assert "cpu" not in p.psi
    assert p.cpu_pressure() == pytest.approx(min(1.0, 3.0 / __import__("os").cpu_count()))


def test_the_real_machine_gives_a_sample():
    p = read_pressure()
    assert p.mem_total > 0 and 0.0 <= p.mem_available_fraction <= 1.0
    assert 0.0 <= p.cpu_pressure() <= 1.0


def test_a_forecast_with_curvature_is_plain_json():
    """A fitted curvature once left numpy scalars in the status (a numpy
    bool is not JSON): a one-hour soak's watcher died on it at ~2 minutes."""
    import json
    f = MemoryForecast(floor_bytes=1e8)
    for t in range(0, 600, 30):
        f.update(float(t), 4e9 - 1e3 * t * t)
    doc = f.as_dict()
    assert f.accel != 0.0 and doc["reliable"] is True
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
