"""Erlang B/C and the M/M/c wait against independent references: the
textbook sums in exact rational arithmetic, M/M/1's closed form, and a
discrete-event simulation of an M/M/2 queue."""
from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np
import pytest

from pt.watch.queueing import added_wait, erlang_b, erlang_c, keep_wait, mean_wait, mean_waits


def erlang_c_exact(c: int, load: Fraction) -> Fraction:
    """C(c, A) = (A^c/c! * c/(c-A)) / (sum_{k<c} A^k/k! + A^c/c! * c/(c-A)), exactly."""
    top = load ** c / math.factorial(c) * Fraction(c) / (c - load)
    return top / (sum(load ** k / math.factorial(k) for k in range(c)) + top)


def erlang_b_exact(c: int, load: Fraction) -> Fraction:
    return (load ** c / math.factorial(c)) / sum(load ** k / math.factorial(k) for k in range(c + 1))


@pytest.mark.parametrize("c", [1, 2, 3, 8, 32, 64])
@pytest.mark.parametrize("utilisation", [0.0, 0.1, 0.5, 0.9, 0.99])
def test_erlang_formulas_match_the_exact_sums(c, utilisation):
    load = Fraction(utilisation).limit_denominator(1000) * c
    assert erlang_b(c, float(load)) == pytest.approx(float(erlang_b_exact(c, load)), rel=1e-12, abs=1e-300)
    assert erlang_c(c, float(load)) == pytest.approx(float(erlang_c_exact(c, load)), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.75, 0.999])
def test_mm1_closed_form(rho):
    assert erlang_c(1, rho) == pytest.approx(rho)
    assert mean_wait(1, rho) == pytest.approx(rho / (1 - rho))


def test_saturation_is_infinite_wait():
    assert erlang_c(2, 2.0) == 1.0 and mean_wait(2, 2.0) == math.inf and mean_wait(2, 5.0) == math.inf


def simulate_mmc(c: int, load: float, customers: int, rng) -> float:
    """Mean wait (in mean service times) of a FCFS M/M/c queue, by events."""
    arrivals = np.cumsum(rng.exponential(1.0 / load, customers))   # service rate 1, arrival rate = load
    service = rng.exponential(1.0, customers)
    free = [0.0] * c                                                # when each server frees up
    heapq.heapify(free)
    waits = np.empty(customers)
    for i in range(customers):
        soonest = heapq.heappop(free)
        start = max(arrivals[i], soonest)
        waits[i] = start - arrivals[i]
        heapq.heappush(free, start + service[i])
    return float(waits[customers // 10:].mean())                    # past the warm-up


def test_mean_wait_matches_a_simulated_mm2_queue():
    rng = np.random.default_rng(42)
    simulated = np.mean([simulate_mmc(2, 1.5, 40_000, rng) for _ in range(5)])
    assert mean_wait(2, 1.5) == pytest.approx(simulated, rel=0.1)


def test_added_wait_grows_toward_saturation_and_is_zero_for_no_demand():
    demand = np.array([0.0, 0.5, 1.0])
    calm = added_wait(4, 1.5, demand)
    loaded = added_wait(4, 3.5, demand)
    assert calm[0] == 0.0 and loaded[0] == 0.0
    assert (np.diff(calm) > 0).all() and (loaded[1:] > calm[1:] * 10).all()
    assert added_wait(2, 2.5, np.array([0.2]))[0] == math.inf        # saturated with and without it


@pytest.mark.parametrize("call", [lambda: erlang_c(0, 1.0), lambda: erlang_c(2.5, 1.0), lambda: erlang_c(True, 1.0),
                                  lambda: erlang_c(2, -1.0), lambda: erlang_c(2, math.nan),
                                  lambda: added_wait(2, 1.0, np.array([1.5])),
                                  lambda: added_wait(2, 1.0, np.array([math.nan]))])
def test_invalid_input_is_refused(call):
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------ the queueing cost in the loss of keep


@pytest.mark.parametrize("c", [1, 2, 8])
def test_mean_waits_is_mean_wait_for_every_load(c):
    loads = np.array([0.0, 0.1 * c, 0.5 * c, 0.99 * c, c, 1.5 * c])
    assert mean_waits(c, loads).tolist() == pytest.approx([mean_wait(c, float(a)) for a in loads], rel=1e-12)


class FakeWindow:
    """A scan window: ``demand`` CPUs of each process (half on a CPU, half waiting)."""

    def __init__(self, demand):
        demand = np.asarray(demand, dtype=float)
        self.window_ticks = 1000
        self.ticks = np.round(demand * 500).astype(np.int64)
        self.wait_ticks = np.round(demand * 500).astype(np.int64)
        self.alive = np.ones(len(demand), dtype=bool)


def test_keeping_a_runaway_costs_others_nothing_when_idle_and_much_when_loaded():
    idle = keep_wait(FakeWindow([0.3, 0.05, 0.0]), 2)
    loaded = keep_wait(FakeWindow([1.0, 0.85, 0.0]), 2)
    assert idle[0] < 0.1 and idle[2] == 0.0
    assert loaded[0] > 5.0 and loaded[0] > 50 * idle[0] and loaded[2] == 0.0
    gone = FakeWindow([1.0, 0.5])
    gone.alive[0] = False                               # an exited process adds nothing
    assert keep_wait(gone, 2)[0] == 0.0


@pytest.fixture(scope="module")
def scan():
    from pt.triage import triage
    return triage()


def test_the_queueing_term_adds_to_keep_only_capped_and_zero_is_neutral(scan):
    from pt.decide.loss import KEEP, decide
    from pt.infer.posterior import ABANDONED, USEFUL_BAD
    t = scan
    args = dict(impact=t.decision.impact, available=t.context.available,
                protected=np.not_equal(t.protected_by, None), previous=t.previous)
    base = decide(t.inference, t.policy, **args)
    zero = decide(t.inference, t.policy, queueing=np.zeros(len(t)), **args)
    assert np.array_equal(zero.action, base.action) and np.array_equal(zero.expected_loss, base.expected_loss)
    wait = np.linspace(0.0, 40.0, len(t))
    wait[-1] = np.inf                                    # saturated: the cap
    loaded = decide(t.inference, t.policy, queueing=wait, **args)
    q = t.policy.queueing
    bad = t.inference.posterior[:, USEFUL_BAD] + t.inference.posterior[:, ABANDONED]
    finite = np.isfinite(base.expected_loss)
    assert np.array_equal(finite, np.isfinite(loaded.expected_loss))
    added = np.where(finite, loaded.expected_loss - np.where(finite, base.expected_loss, 0.0), 0.0)
    assert np.allclose(added[:, KEEP], np.minimum(q.scale * wait, q.cap) * bad)
    others = np.delete(np.arange(added.shape[1]), KEEP)
    assert np.all(added[:, others] == 0)
    # Keep only gets dearer: nothing that was acted on goes back to keep.
    assert not np.any((base.action != KEEP) & (loaded.action == KEEP))


def test_on_a_loaded_machine_a_runaway_is_costlier_to_keep(scan):
    """The same posterior judged idle and loaded: a process torn between
    useful and useful_bad (p = 0.18, below renice's 1/5 break-even when
    idle) is kept on an idle machine and reniced on a saturated one."""
    from pt.decide.loss import KEEP, RENICE, decide
    from pt.infer.posterior import FEATURES, Inference
    post = np.array([[0.82, 0.18, 0.0, 0.0]])
    with np.errstate(divide="ignore"):
        log_post = np.log(post)
    inference = Inference(terms=np.zeros((1, len(FEATURES), 4)), observed=np.zeros((1, len(FEATURES)), dtype=bool),
                          log_prior=log_post, log_likelihood=np.zeros((1, 4)), log_posterior=log_post, posterior=post)
    args = dict(impact=np.zeros(1), available=np.ones((1, scan.context.available.shape[1]), dtype=bool),
                protected=np.zeros(1, dtype=bool))
    idle = decide(inference, scan.policy, queueing=np.array([0.02]), **args)
    loaded = decide(inference, scan.policy, queueing=np.array([np.inf]), **args)
    assert idle.action[0] == KEEP and loaded.action[0] == RENICE


@pytest.mark.parametrize("value", [-1, "x", None, float("nan")])
def test_a_bad_queueing_policy_is_refused_naming_the_key(tmp_path, value):
    import json

    from pt.config import load_policy
    from pt.config_errors import ConfigError
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": 1, "queueing": {"scale": value}}))
    with pytest.raises(ConfigError, match="queueing.scale"):
        load_policy(path)
