"""pt watch's parts against independent references: the memory forecast
against exact roots, the guardrail's false-alarm rate against Ville's bound
by simulation, the mode rules, the metrics format and the PSI reader on
hostile files."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from pt.watch.guardrail import FRACTIONS, EProcess
from pt.watch.metrics import render
from pt.watch.modes import REVERSIBLE, ModeController
from pt.watch.pressure import MemoryForecast, Pressure, Urgency, read_pressure

MB = 1024.0 * 1024.0


def feed(forecast: MemoryForecast, times, levels) -> MemoryForecast:
    for t, v in zip(times, levels):
        forecast.update(float(t), float(v))
    return forecast


def test_linear_decline_forecasts_the_exact_time_to_the_floor():
    times = np.arange(0, 60, 5.0)
    levels = 4000 * MB - 10 * MB * times
    f = feed(MemoryForecast(floor_bytes=500 * MB), times, levels)
    exact = (levels[-1] - 500 * MB) / (10 * MB)
    assert f.reliable
    assert f.seconds_to_floor() == pytest.approx(exact, rel=1e-6)


def test_accelerating_decline_matches_the_quadratic_root():
    # level(t) = L - c t^2 / 2: rate and acceleration both exact after warm-up.
    c = 0.4 * MB
    times = np.arange(0, 120, 2.0)
    levels = 8000 * MB - 0.5 * c * times ** 2
    f = feed(MemoryForecast(floor_bytes=1000 * MB, base_alpha=0.8), times, levels)
    # Reference: numpy's polynomial roots of the forecaster's own state.
    roots = np.roots([0.5 * f.accel, f.rate, f.level - f.floor_bytes])
    positive = [r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0]
    assert f.seconds_to_floor() == pytest.approx(min(positive), rel=1e-9)
    # ... and it is close to the truth: t* where level hits the floor.
    truth = math.sqrt(2 * (8000 - 1000) * MB / c) - times[-1]
    assert f.seconds_to_floor() == pytest.approx(truth, rel=0.15)


def test_rising_or_flat_memory_never_reaches_the_floor():
    times = np.arange(0, 60, 5.0)
    assert feed(MemoryForecast(floor_bytes=100), times, 1000 + 10 * times).seconds_to_floor() == math.inf
    assert feed(MemoryForecast(floor_bytes=100), times, np.full(len(times), 1000.0)).seconds_to_floor() == math.inf


def test_too_few_samples_or_a_poor_fit_is_unreliable_not_a_number():
    f = feed(MemoryForecast(floor_bytes=0), [0, 1], [100.0, 90.0])
    assert not f.reliable and f.seconds_to_floor() is None
    rng = np.random.default_rng(1)
    noisy = feed(MemoryForecast(floor_bytes=0, min_confidence=0.9), np.arange(30.0),
                 1e9 * rng.uniform(0.1, 1.0, 30))
    clean = feed(MemoryForecast(floor_bytes=0, min_confidence=0.9), np.arange(30.0), 1e9 - 1e6 * np.arange(30.0))
    assert noisy.confidence < clean.confidence
    assert clean.reliable and not noisy.reliable and noisy.seconds_to_floor() is None


@pytest.mark.parametrize("sample", [(0.0, math.nan), (math.inf, 1.0), (0.0, -1.0)])
def test_invalid_memory_samples_are_refused(sample):
    with pytest.raises(ValueError):
        MemoryForecast(floor_bytes=0).update(*sample)


def test_samples_must_move_forward():
    f = feed(MemoryForecast(floor_bytes=0), [5.0], [1.0])
    with pytest.raises(ValueError, match="forward"):
        f.update(5.0, 1.0)


def pressure(available_fraction: float, t: float, cpu_some: float = 0.0) -> Pressure:
    return Pressure(time=t, psi={"cpu": {"some": cpu_some}}, mem_total=1000, mem_available=int(1000 * available_fraction))


def test_urgency_grows_with_the_shortfall_and_a_near_forecast():
    calm = Urgency().update(pressure(0.6, 0), MemoryForecast(floor_bytes=50))
    tight = Urgency().update(pressure(0.05, 0), MemoryForecast(floor_bytes=50))
    assert 0.0 <= calm < tight <= 1.0
    assert calm == 0.0
    falling = feed(MemoryForecast(floor_bytes=50), np.arange(0, 50, 5.0), 600 - 5 * np.arange(0, 50, 5.0))
    assert falling.seconds_to_floor() < 1800
    assert Urgency().update(pressure(0.6, 50), falling) >= 0.7
    u = Urgency()
    u.update(pressure(0.6, 0, cpu_some=95.0), MemoryForecast(floor_bytes=50))
    assert u.value > 0 and u.interval(30.0) < 30.0
    assert Urgency().interval(30.0) == 30.0


def run_eprocess(rng, steps: int, truth) -> bool:
    """One watch's worth of follow-ups; whether the alarm ever fired."""
    e = EProcess(alpha=0.05)
    q = rng.uniform(0.05, 0.6, steps)
    y = (rng.uniform(size=steps) < truth(q)).astype(int)
    for qi, yi in zip(q, y):
        e.update(float(qi), int(yi))
        if e.alarm:
            return True
    return False


def test_guardrail_false_alarm_rate_is_within_villes_bound():
    """Under H0 (resumption no likelier than predicted use) the alarm may
    fire in at most alpha = 5 % of watches, however long they look: 400
    simulated watches of 300 follow-ups, with a 3-sigma Monte Carlo margin."""
    rng = np.random.default_rng(20261204)
    fired = sum(run_eprocess(rng, 300, lambda q: 0.9 * q) for _ in range(400))
    assert fired / 400 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 400)


def test_guardrail_fires_when_pt_is_overconfident():
    rng = np.random.default_rng(7)
    fired = sum(run_eprocess(rng, 300, lambda q: np.minimum(1.0, q + 0.3)) for _ in range(50))
    assert fired >= 48


def test_guardrail_value_is_the_mixture_of_products():
    e = EProcess()
    data = [(0.2, 1), (0.5, 0), (0.1, 1), (0.3, 0)]
    for q, y in data:
        e.update(q, y)
    expected = np.mean([np.prod([1 + f / q * (y - q) for q, y in data]) for f in FRACTIONS])
    assert e.value == pytest.approx(expected, rel=1e-12)
    assert e.as_dict()["followed_up"] == 4 and e.as_dict()["resumed"] == 2


@pytest.mark.parametrize("q,y", [(1.5, 0), (-0.1, 1), (math.nan, 0), (0.5, 2)])
def test_guardrail_refuses_invalid_observations(q, y):
    with pytest.raises(ValueError):
        EProcess().update(q, y)


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
              "mode": "canary", "guardrail": EProcess().as_dict(), "urgency": 0.25,
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
