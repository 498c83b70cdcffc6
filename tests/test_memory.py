"""The memory-growth fit and term (pt/infer/memory.py): the robust slope
against scipy and a brute-force reference, with outliers and steps, and the
closed-form term's shape under the shipped priors."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pt.config import CLASSES, load_priors
from pt.infer import memory

USEFUL, USEFUL_BAD, ABANDONED = (CLASSES.index(c) for c in ("useful", "useful_bad", "abandoned"))
LN2 = np.log(2.0)


def brute_force_slope(x, y):
    """Median of every pairwise slope, written out (the definition)."""
    slopes = [(y[j] - y[i]) / (x[j] - x[i]) for i, j in itertools.combinations(range(len(x)), 2) if x[j] > x[i]]
    return float(np.median(slopes))


@pytest.mark.parametrize("seed", range(8))
def test_theil_sen_matches_brute_force_and_scipy(seed):
    rng = np.random.default_rng(seed)
    T, m = int(rng.integers(3, 60)), 5
    x = np.sort(rng.uniform(0, 30, T))
    y = rng.normal(0, 1, (T, m)) + x[:, None] * rng.normal(0, 3, m)
    fit = memory.theil_sen(x, y)
    for c in range(m):
        assert fit.slope[c] == pytest.approx(brute_force_slope(x, y[:, c]), rel=1e-12, abs=1e-12)
        ref = stats.theilslopes(y[:, c], x, alpha=0.95)
        assert fit.slope[c] == pytest.approx(ref.slope, rel=1e-12, abs=1e-12)
        # continuous data: no ties, so the interval is scipy's exactly
        assert (fit.low[c], fit.high[c]) == pytest.approx((ref.low_slope, ref.high_slope), rel=1e-12, abs=1e-12)


def test_theil_sen_unknown_samples_are_left_out_per_column():
    rng = np.random.default_rng(7)
    x = np.linspace(0, 10, 40)
    y = np.stack([2 * x, -x + rng.normal(0, 0.1, 40), 5 * x], axis=1)
    y[::3, 0] = np.nan
    y[:38, 2] = np.nan
    fit = memory.theil_sen(x, y)
    keep = np.isfinite(y[:, 0])
    assert fit.slope[0] == pytest.approx(brute_force_slope(x[keep], y[keep, 0]), rel=1e-12)
    assert fit.slope[1] == pytest.approx(stats.theilslopes(y[:, 1], x).slope, rel=1e-12)
    assert fit.points.tolist() == [int(keep.sum()), 40, 2]
    assert fit.slope[2] == pytest.approx(5.0)


def test_theil_sen_shrugs_off_outliers_least_squares_does_not():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 20, 200)
    y = 10.0 * x + rng.normal(0, 0.5, 200)
    y[rng.choice(200, 40, replace=False)] += rng.choice([-1, 1], 40) * 5000     # 20% wild samples
    fit = memory.theil_sen(x, y[:, None])
    assert fit.slope[0] == pytest.approx(10.0, rel=0.05)
    assert fit.low[0] <= 10.0 <= fit.high[0] or abs(fit.slope[0] - 10.0) < 0.5
    assert abs(np.polyfit(x, y, 1)[0] - 10.0) > 1.0                          # the reason for a robust fit


def test_theil_sen_bad_shapes_and_tiny_inputs():
    with pytest.raises(ValueError, match="y must be"):
        memory.theil_sen(np.arange(3.0), np.arange(3.0))
    one = memory.theil_sen(np.array([1.0]), np.array([[5.0]]))
    assert np.isnan(one.slope).all()
    empty = memory.theil_sen(np.arange(4.0), np.zeros((4, 0)))
    assert empty.slope.shape == (0,)


MB = memory.MB


def _rss(times, mb_per_s, base_mb=50.0, step_at=None, step_mb=0.0):
    y = base_mb + mb_per_s * (times - times[0])
    if step_at is not None:
        y = y + np.where(times >= step_at, step_mb, 0.0)
    return np.floor(y * MB / 4096) * 4096                       # whole pages, as the kernel reports


def test_sustained_slope_sees_a_leak_and_not_a_single_allocation():
    t = np.arange(0, 20, 0.1)
    leak = _rss(t, 10.0)
    step_middle = _rss(t, 0.0, step_at=10.0, step_mb=200)
    step_early = _rss(t, 0.0, step_at=3.0, step_mb=200)
    flat = _rss(t, 0.0, base_mb=2000)
    chunks = 50 + 10.0 * np.floor(t)                             # 10 MB once a second: a staircase leak
    y = np.stack([leak, step_middle, step_early, flat, chunks * MB], axis=1)
    slope, sd, seen = memory.sustained_slope(t, y.astype(np.int64))
    assert seen.all()
    assert slope[0] == pytest.approx(10.0, rel=0.01) and sd[0] < 0.1
    assert slope[1:4] == pytest.approx([0, 0, 0], abs=1e-3)
    assert slope[4] == pytest.approx(10.0, rel=0.05)
    # the plain Theil-Sen slope over the whole watch is fooled by the step in the middle
    assert memory.theil_sen(t, step_middle[:, None] / MB).slope[0] > 1.0


def test_sustained_slope_needs_samples_in_both_halves():
    t = np.arange(0, 1.2, 0.1)
    y = _rss(t, 10.0)[:, None].astype(np.int64).repeat(2, axis=1)
    y[:4, 1] = -1                                                # unknown for most of the first half
    slope, sd, seen = memory.sustained_slope(t, y)
    assert seen.tolist() == [True, False] and np.isnan(slope[1])


def test_thinning_keeps_the_slope():
    t = np.arange(0, 60, 0.05)                                   # 1200 samples: thinned to MAX_POINTS a half
    y = _rss(t, 2.5)[:, None].astype(np.int64)
    slope, _, seen = memory.sustained_slope(t, y)
    assert seen[0] and slope[0] == pytest.approx(2.5, rel=0.01)


def test_growth_term_contrast_is_bounded_by_the_weights():
    priors = load_priors()
    w = priors.memory_growth
    bound = np.log(w["useful_bad"][1] / w["useful"][1])
    slopes = np.array([0.0, 0.01, -0.05, 2.0, 10.0, 100.0, 1e4, -10.0])
    sd = np.full(len(slopes), 0.01)
    terms = memory.growth_terms(slopes, sd, np.ones(len(slopes), bool), priors)
    bad_vs_useful = terms[:, USEFUL_BAD] - terms[:, USEFUL]
    assert np.isfinite(terms).all()
    assert (bad_vs_useful <= bound + 1e-9).all()
    # flat: no evidence of harm (a little toward useful: harm is often growth)
    assert abs(bad_vs_useful[0]) < 1.0 and abs(bad_vs_useful[1]) < 1.0
    # sustained growth of 2 MB/s and more is (nearly) the full contrast, 6.9 bits
    assert (bad_vs_useful[3:7] / LN2 > 6.5).all()
    # memory given back is nobody's mark
    assert abs(bad_vs_useful[7]) < 0.5
    # a leftover is flat: growth moves it toward useful, not toward abandoned
    assert terms[4, ABANDONED] < terms[4, USEFUL]


def test_growth_term_not_observed_is_zero_and_uncertainty_weakens_it():
    priors = load_priors()
    terms = memory.growth_terms(np.array([10.0, np.nan, 0.3, 0.3]), np.array([0.01, np.nan, 0.01, 1.0]),
                                np.array([False, False, True, True]), priors)
    assert (terms[:2] == 0).all()
    strong, vague = (terms[2:, USEFUL_BAD] - terms[2:, USEFUL])
    assert strong > vague                                   # the same slope, known poorly, says less


def test_memory_pressure_adds_weight_to_growth_only():
    priors = load_priors()
    slopes, sd = np.array([10.0, 0.0]), np.array([0.05, 0.05])
    calm = memory.growth_terms(slopes, sd, np.ones(2, bool), priors, np.array([0.0, 0.0]))
    tight = memory.growth_terms(slopes, sd, np.ones(2, bool), priors, np.array([0.5, 0.5]))
    lift = (tight[:, USEFUL_BAD] - tight[:, USEFUL]) - (calm[:, USEFUL_BAD] - calm[:, USEFUL])
    assert lift[0] == pytest.approx(np.log(2.0), rel=0.01)       # growing useful work is half as likely
    assert abs(lift[1]) < 0.01                                   # a steady process is not blamed


def test_priors_validation_names_the_bad_key(tmp_path):
    import json

    from pt.config_errors import ConfigError
    bad = {"version": 1, "timeseries": {"memory_growth": {"useful": [1.0, 0.0, 0.0]}}}
    path = tmp_path / "priors.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="memory_growth.useful"):
        load_priors(path)
    bad["timeseries"]["memory_growth"] = {"growth_scale_mb_s": -1}
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="growth_scale_mb_s"):
        load_priors(path)


def test_a_candidate_settled_early_is_fitted_on_its_own_samples():
    t = np.arange(0, 4, 0.1)
    y = _rss(t, 10.0)[:, None].astype(np.int64).repeat(2, axis=1)
    y[12:, 1] = -1                                               # dropped after 12 samples: halves of 6
    slope, _, seen = memory.sustained_slope(t, y)
    assert seen.all() and slope == pytest.approx([10.0, 10.0], rel=0.02)


def test_growth_that_lasts_is_a_leak_loading_ends():
    priors = load_priors()
    episode = priors.memory_growth["episode_s"]
    slopes, sd, seen = np.full(3, 10.0), np.full(3, 0.01), np.ones(3, bool)
    terms = memory.growth_terms(slopes, sd, seen, priors, watch_s=np.array([0.0, episode, 3 * episode]))
    harm = terms[:, USEFUL_BAD] - terms[:, USEFUL]
    assert np.diff(harm) == pytest.approx([1.0, 2.0], abs=0.02)       # e^-w/episode of useful's growing weight
    flat = memory.growth_terms(np.zeros(2), np.full(2, 0.01), np.ones(2, bool), priors,
                               watch_s=np.array([0.0, 3 * episode]))
    assert abs(np.diff(flat[:, USEFUL_BAD] - flat[:, USEFUL])[0]) < 0.01   # a flat process gains nothing


def test_sustained_slope_is_the_smaller_half_fit_on_either_path():
    """Columns known throughout (split at one row) and columns with gaps
    (split at their own middle known sample) against scipy on each half."""
    rng = np.random.default_rng(11)
    t = np.sort(rng.uniform(0, 20, 70))
    y = (500 + rng.normal(0, 1, (70, 4)).cumsum(axis=0) + rng.normal(0, 2, 4) * t[:, None]) * MB
    y[rng.choice(70, 9, replace=False), 2] = np.nan
    y[50:, 3] = np.nan
    slope, sd, seen = memory.sustained_slope(t, np.where(np.isfinite(y), y, -1).astype(np.int64))
    assert seen.all()
    for c in range(4):
        ok = np.flatnonzero(np.isfinite(y[:, c]))
        halves = (ok[:len(ok) // 2], ok[len(ok) // 2:])
        ref = [stats.theilslopes(np.floor(y[h, c]) / MB, t[h]).slope for h in halves]
        assert slope[c] == pytest.approx(min(ref), rel=1e-9, abs=1e-9), c


def test_rising_looks_at_the_last_samples_only():
    class Series:
        def __init__(self, pages):
            self.pages = np.asarray(pages, dtype=np.int64)

        def __getitem__(self, name):
            assert name == "rss_pages"
            return self.pages
    mb = int(MB // 4096)
    pages = np.array([[100, 100, 100, 100],
                      [100, 100 + 2 * mb, 100, -1],
                      [100, 100 + 2 * mb, 100 + mb, -1],
                      [100, 100 + 2 * mb, 100 + 2 * mb, 100 + 5 * mb]])
    # flat; a step two samples ago; rising now; unknown at the start of the window
    assert memory.rising(Series(pages), np.arange(4), samples=1).tolist() == [False, False, True, False]
    assert memory.rising(Series(pages), np.arange(4), samples=3).tolist() == [False, True, True, True]
    assert memory.rising(Series(pages[:1]), np.arange(4), samples=3).tolist() == [False] * 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000).map(lambda k: k * 0.05), st.one_of(st.none(), st.floats(-1e6, 1e6))), min_size=0, max_size=25))
def test_theil_sen_is_the_median_of_pairwise_slopes_for_any_samples(points):
    """Ties in time, unknown values, one or no point (at sample times, 50 ms apart): the definition, or NaN."""
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([np.nan if p[1] is None else p[1] for p in points], dtype=np.float64)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    fit = memory.theil_sen(x, y[:, None])
    keep = np.isfinite(y)
    pairs = [(i, j) for i, j in itertools.combinations(np.flatnonzero(keep), 2) if x[j] > x[i]]
    if not pairs:
        assert np.isnan(fit.slope[0])
        return
    assert fit.slope[0] == pytest.approx(brute_force_slope(x[keep], y[keep]), rel=1e-9, abs=1e-9)
    assert fit.low[0] <= fit.slope[0] <= fit.high[0]


def test_growth_suspects_from_rss_over_age_and_from_the_lake():
    from pt.infer.memory import SUSPECT_MB_S, suspects
    mb = float(1 << 20)
    rss = np.array([300 * mb, 300 * mb, 10 * mb, 300 * mb, -1, 0])
    age = np.array([30.0, 86400.0, 1.0, 0.0, 5.0, 5.0])
    score = suspects(rss, age)
    assert score[0] == pytest.approx(10.0)                 # 300 MB in 30 s
    assert score[1:].tolist() == [0.0] * 5                  # old and steady; small; no age; unreadable
    lake = np.array([False, True, False, False, False, False])
    assert suspects(rss, age, lake)[1] == SUSPECT_MB_S      # growing across earlier scans


def test_two_observations_of_one_behaviour_are_bounded_and_an_unobserved_one_changes_nothing():
    priors = load_priors()
    one = memory.growth_terms(np.array([10.0]), np.array([0.1]), np.array([True]), priors, watch_s=np.array([20.0]))
    same = memory.growth_terms(np.array([[10.0, np.nan]]), np.array([[0.1, np.nan]]), np.array([[True, False]]),
                               priors, watch_s=np.array([[20.0, 0.0]]))
    np.testing.assert_allclose(same, one, rtol=1e-12)
    both = memory.growth_terms(np.array([[10.0, 0.2]]), np.array([[0.1, 0.001]]), np.array([[True, True]]),
                               priors, watch_s=np.array([[20.0, 3600.0]]))
    w = priors.memory_growth
    ub, u = CLASSES.index("useful_bad"), CLASSES.index("useful")
    bound = np.log(w["useful_bad"][1] / (w["useful"][1] * w["lasting_floor"]))
    assert one[0, ub] - one[0, u] < both[0, ub] - both[0, u] <= bound + 1e-9    # more evidence, still bounded


def test_steady_is_bounded_so_a_sustained_slope_over_hours_is_growth():
    priors = load_priors()
    ub, u = CLASSES.index("useful_bad"), CLASSES.index("useful")
    s, sd, seen = np.array([10 / 60.0]), np.array([0.001]), np.array([True])            # 10 MB/min
    watch = memory.growth_terms(s, sd, seen, priors, watch_s=np.array([30.0]))
    hours = memory.growth_terms(s, sd, seen, priors, watch_s=np.array([3 * 3600.0]))
    assert watch[0, ub] - watch[0, u] < 0 < hours[0, ub] - hours[0, u]
