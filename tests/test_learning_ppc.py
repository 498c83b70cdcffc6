"""Posterior predictive checks: data simulated from the model gives
uniform-ish p-values, misspecified data small ones; calibration reports
them (`data.ppc`; the command line's output is checked in
tests/test_learning_gate.py on a real lake)."""

import numpy as np
import pytest
from scipy import stats

from pt.config import CLASSES, shipped_priors
from pt.learn import calibrate as cal
from pt.learn import ppc


pytestmark = pytest.mark.usefixtures("private_homes")


def _uniformish(p):
    """Not far from uniform: KS p above 0.001, and the share below 0.05
    within 4 binomial standard deviations of 0.05."""
    p = np.asarray(p)
    share, sd = (p < 0.05).mean(), np.sqrt(0.05 * 0.95 / len(p))
    return stats.kstest(p, "uniform").pvalue > 1e-3 and abs(share - 0.05) <= 4 * sd + 1 / (ppc.REPLICATES + 1)


def test_cpu_check_is_calibrated_under_the_model_and_rejects_misfit():
    rng = np.random.default_rng(4)
    n = np.full(400, 30)
    a = np.where(rng.random(400) < 0.5, 0.5, 4.0)          # two classes with different Betas
    b = np.where(a < 1, 3.0, 1.0)
    ps = [ppc.cpu_check(rng.binomial(n, rng.beta(a, b)), n, a, b, rng=rng, replicates=199)["p_value"]
          for _ in range(300)]
    assert _uniformish(ps)
    wrong = ppc.cpu_check(rng.binomial(n, rng.beta(2.0, 2.0, 400)), n, a, b, rng=rng)
    assert wrong["p_value"] < 0.01 and wrong["verdict"] == "misfit"


def test_runtime_check_is_calibrated_under_the_model_and_rejects_misfit():
    rng = np.random.default_rng(5)
    N = 300
    a, b = np.full(N, 2.0), np.full(N, 3600.0)
    ps = []
    for _ in range(400):
        life = rng.exponential(1 / rng.gamma(a, 1 / b))           # Gamma-mixed exponential = Lomax(a, b)
        censor = rng.exponential(7200, N)                          # independent censoring
        ps.append(ppc.runtime_check(np.minimum(life, censor), life <= censor, a, b)["p_value"])
    assert _uniformish(ps)
    life = rng.exponential(600, N)                                 # ends far sooner than the model says
    censor = rng.exponential(7200, N)
    wrong = ppc.runtime_check(np.minimum(life, censor), life <= censor, a, b)
    assert wrong["p_value"] < 1e-6 and wrong["z"] > 0 and wrong["verdict"] == "misfit"


def test_too_few_processes_give_no_p_value():
    assert ppc.cpu_check([1] * 5, [30] * 5, [1] * 5, [1] * 5)["p_value"] is None
    r = ppc.runtime_check([10.0] * 5, [True] * 5, [1] * 5, [1] * 5)
    assert r["p_value"] is None and r["verdict"] == "too few"


def test_calibrate_reports_ppc_of_the_model_it_will_use(tmp_path):
    """A record drawn from the shipped CPU model fits; the same record with
    every process busy does not."""
    rng = np.random.default_rng(6)
    shipped = shipped_priors()
    N = 600
    label = np.asarray(CLASSES, dtype=object)[rng.choice(4, N, p=[0.6, 0.1, 0.25, 0.05])]
    cat = np.full(N, "unknown", dtype=object)
    ab = np.array([shipped.by_category["cpu_window"].get("unknown", {}).get(c, shipped.pairs["cpu_window"][c])
                   for c in label])
    window = np.full(N, 30)
    ticks = rng.binomial(window, rng.beta(ab[:, 0], ab[:, 1]))
    rec = cal.Record(label, np.full(N, "feedback", dtype=object), np.zeros(N, bool), np.full(N, "keep", dtype=object),
                     np.full(N, 0.5), cat, ticks.astype(np.int64), window.astype(np.int64), np.full(N, np.nan),
                     np.zeros(N, bool))
    result = cal.calibrate(rec, shipped)
    assert result["ppc"]["cpu_window"]["verdict"] in ("fits", "doubtful")
    assert result["ppc"]["runtime"]["verdict"] == "too few"
    busy = cal.Record(**{**rec.__dict__, "cpu_ticks": np.full(N, 30, dtype=np.int64)})
    assert cal.calibrate(busy, shipped)["ppc"]["cpu_window"]["p_value"] < 0.01

