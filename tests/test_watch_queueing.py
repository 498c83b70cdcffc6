"""Erlang B/C and the M/M/c wait against independent references: the
textbook sums in exact rational arithmetic, M/M/1's closed form, and a
discrete-event simulation of an M/M/2 queue."""
from __future__ import annotations

import heapq
import math
from fractions import Fraction

import numpy as np
import pytest

from pt.watch.queueing import added_wait, erlang_b, erlang_c, mean_wait


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
