"""The memory-jump tail against scipy's generalized Pareto: the
probability-weighted-moment fit recovers known parameters from simulated
samples, and the tail probabilities match scipy's."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pt.watch.tail import MIN_EXCEEDANCES, JumpTail, fit_gpd, gpd_sf


@pytest.mark.parametrize("xi,sigma", [(0.0, 1.0), (0.2, 5.0), (0.45, 2.0), (-0.3, 3.0)])
def test_pwm_fit_recovers_simulated_parameters(xi, sigma):
    rng = np.random.default_rng(3)
    sample = stats.genpareto.rvs(xi, scale=sigma, size=20_000, random_state=rng)
    est_xi, est_sigma = fit_gpd(sample)
    assert est_xi == pytest.approx(xi, abs=0.05)
    assert est_sigma == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("xi", [-0.4, -1e-12, 0.0, 0.3, 0.9])
@pytest.mark.parametrize("y", [0.0, 0.5, 2.0, 10.0])
def test_survival_matches_scipy(xi, y):
    assert gpd_sf(y, xi, 2.0) == pytest.approx(stats.genpareto.sf(y, xi, scale=2.0), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("bad", [[], [1.0], [1.0, -1.0], [1.0, math.nan], [0.0, 1.0]])
def test_fit_refuses_bad_samples(bad):
    with pytest.raises(ValueError):
        fit_gpd(np.array(bad))


def test_sigma_must_be_positive():
    with pytest.raises(ValueError):
        gpd_sf(1.0, 0.1, 0.0)


def test_jump_tail_says_nothing_until_it_has_seen_enough_then_matches_the_truth():
    rng = np.random.default_rng(11)
    tail = JumpTail()
    level = 1e12
    drops = rng.exponential(1e6, 100)                  # 1 MB per interval on average
    for d in drops:
        level -= d
        tail.update(level)
    assert tail.p_exceed(5e6) is None                   # too few exceedances to trust a tail
    for d in rng.exponential(1e6, 3000):
        level -= d
        tail.update(level)
    assert len(tail.drops) == 2000                      # a rolling window
    # Exponential drops: P(drop > 5 MB) = exp(-5) (the tail fit on 200
    # exceedances lands within 0.8-1.4 of it over seeds 0-7); over 10
    # intervals 1 - (1 - p)^10.
    p = tail.p_exceed(5e6)
    assert 0.6 * math.exp(-5) < p < 1.6 * math.exp(-5)
    assert tail.p_exceed(5e6, intervals=10) == pytest.approx(1 - (1 - p) ** 10)
    assert tail.p_exceed(1e9) < 1e-12
    assert MIN_EXCEEDANCES >= 20
