"""CPU contention as an M/M/c queue: what a busy process costs everyone else.

With ``c`` CPUs and an offered load of ``A`` CPUs of demand (time on a CPU
plus time runnable but waiting, from the scan window), Erlang's C formula
gives the probability that work has to wait, and the mean wait in units of
the mean service time is ``W = C(c, A) / (c - A)``. A process whose own
demand is ``d`` lengthens everyone's wait by ``W(A) - W(A - d)``: near
saturation that grows without bound, so a runaway costs more on a loaded
machine than on an idle one.

C is computed through Erlang B's recurrence ``B_k = A B_{k-1} / (k + A B_{k-1})``
(every term in [0, 1], no factorials or powers to overflow) and
``C = c B / (c - A (1 - B))``.
"""
from __future__ import annotations

import math

import numpy as np


def _check(c: int, load: float) -> None:
    if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or c < 1:
        raise ValueError(f"c (servers) must be an integer >= 1, got {c!r}")
    if not math.isfinite(load) or load < 0:
        raise ValueError(f"load must be finite and >= 0, got {load!r}")


def erlang_b(c: int, load: float) -> float:
    """Blocking probability of M/M/c/c with offered load ``load``."""
    _check(c, load)
    b = 1.0
    for k in range(1, int(c) + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(c: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c (1 when ``load >= c``)."""
    b = erlang_b(c, load)
    if load >= c:
        return 1.0
    return c * b / (c - load * (1.0 - b))


def mean_wait(c: int, load: float) -> float:
    """Mean wait in queue, in units of the mean service time (inf when ``load >= c``)."""
    p = erlang_c(c, load)
    return math.inf if load >= c else p / (c - load)


def mean_waits(c: int, loads: np.ndarray) -> np.ndarray:
    """:func:`mean_wait` of each of ``loads`` at once (the recurrence runs
    over the ``c`` servers, never over the loads)."""
    _check(c, 0.0)
    a = np.asarray(loads, dtype=float)
    b = np.ones_like(a)
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = c * b / (c - a * (1.0 - b))
        return np.where(a >= c, np.inf, p / (c - a))


def added_wait(c: int, load: float, demand: np.ndarray) -> np.ndarray:
    """``W(load) - W(load - d)`` for each process demand ``d`` (CPUs): the
    wait its demand adds for everyone; inf where the machine is saturated
    with it and not without it, 0 where ``d`` is 0."""
    demand = np.asarray(demand, dtype=float)
    if demand.size and (not np.isfinite(demand).all() or (demand < 0).any() or (demand > load + 1e-9).any()):
        raise ValueError("each demand must be finite, >= 0 and at most the total load")
    w = mean_wait(c, load)
    without = mean_waits(c, np.maximum(load - demand, 0.0))
    with np.errstate(invalid="ignore"):
        out = w - without
    out[np.isnan(out)] = np.inf           # saturated with and without: its share of an unbounded wait
    out[demand == 0] = 0.0
    return out


def offered_load(window) -> float:
    """CPUs of demand over a scan window (``pt.collect.snapshot.Window``):
    ticks used plus ticks spent runnable and waiting, over the window."""
    if window.window_ticks <= 0:
        return 0.0
    alive = np.asarray(window.alive, dtype=bool)
    wait = np.maximum(np.asarray(window.wait_ticks, dtype=float), 0.0)
    return float((np.asarray(window.ticks, dtype=float)[alive] + wait[alive]).sum() / window.window_ticks)


def keep_wait(window, cpus: int) -> np.ndarray:
    """Per process of a scan window: the CPU wait its demand adds for
    everyone (:func:`added_wait`; 0 for processes gone or idle), which is
    what keeping it costs the others (pt.decide.loss, ``queueing``)."""
    alive = np.asarray(window.alive, dtype=bool)
    if window.window_ticks <= 0:
        return np.zeros(len(alive))
    demand = (np.asarray(window.ticks, dtype=float) + np.maximum(np.asarray(window.wait_ticks, dtype=float), 0.0))
    demand = np.where(alive, demand / window.window_ticks, 0.0)
    load = max(offered_load(window), float(demand.sum()))
    return added_wait(cpus, load, demand)
