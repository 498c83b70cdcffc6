"""What to free memory from before the OOM killer chooses (``pt watch`` under memory pressure).

When the forecast says MemAvailable reaches the floor within the horizon,
keeping everything is not free: the kernel's OOM killer will kill a process,
most likely the one with the highest ``oom_score`` (mostly resident memory;
``oom_score_adj`` -1000 exempts a process). Under a cgroup's memory limit it
chooses among that cgroup's processes only (pt.watch.cgroup). The expected loss of
that is the expected loss of killing that process under pt's posterior,
whatever pt's vetoes say, since the kernel does not ask.

pt can do better by choosing: among the processes it may act on, take those
whose kill costs least per byte freed (expected loss of kill minus keep),
until the projected shortfall is covered, and propose them only if their
summed cost is below the OOM killer's pick. Costs count only beyond what pt
would do anyway: a kill it already recommends (negative extra loss) adds 0. An abandoned 4 GB language
server goes before a browser in use.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pt.collect.procfs import ProcFS
from pt.config import ACTIONS

KEEP, KILL = ACTIONS.index("keep"), ACTIONS.index("kill")


@dataclass(frozen=True)
class Rescue:
    """A proposal: kill ``rows`` (snapshot rows) to free ``freed_bytes`` of the
    ``need_bytes`` the forecast says will be missing; ``cost`` is their summed
    extra expected loss, ``oom_cost`` that of the OOM killer's likely pick."""

    rows: np.ndarray
    need_bytes: float
    freed_bytes: float
    cost: float
    oom_pid: int
    oom_cost: float

    @property
    def worth_it(self) -> bool:
        return len(self.rows) > 0 and self.freed_bytes >= self.need_bytes and self.cost < self.oom_cost


def shortfall(forecast, horizon_s: float) -> float:
    """Bytes to free now so MemAvailable stays above the floor until the
    horizon at the current rate (0 when the forecast is unreliable or does
    not reach the floor within the horizon). The acceleration times the
    arrival but not the amount: squared over a 30-minute horizon, a
    moment's acceleration would ask for more memory than the machine has."""
    tte = forecast.seconds_to_floor()
    if tte is None or tte > horizon_s:
        return 0.0
    return max(forecast.floor_bytes - (forecast.level + forecast.rate * horizon_s), 0.0)


def _oom_pick(rows: np.ndarray, pids: np.ndarray, procfs: str) -> int | None:
    """The row the OOM killer would take among ``rows`` (largest first): the
    highest ``oom_score`` (the kernel's own badness, RSS plus
    ``oom_score_adj``), the first where unreadable; never one with
    ``oom_score_adj`` -1000 (exempt). None if all are exempt."""
    best, best_score, proc = None, -1, ProcFS(procfs)
    for row in rows.tolist():
        pid = int(pids[row])
        if proc.int_value(pid, "oom_score_adj") == -1000:
            continue
        score = proc.int_value(pid, "oom_score")
        score = 0 if score is None else score
        if best is None or score > best_score:
            best, best_score = row, score
    return best


def rescue(t, need_bytes: float, eligible: np.ndarray, oom_candidates: np.ndarray | None = None,
           procfs: str = "/proc") -> Rescue | None:
    """The cheapest set of ``eligible`` rows of triage ``t`` to kill for
    ``need_bytes``, against the OOM killer's likely pick among
    ``oom_candidates`` (default: every user-space process). None when there
    is no need or no candidate for the OOM killer."""
    if need_bytes <= 0:
        return None
    snap = t.snapshot
    rss = snap["rss_bytes"].astype(float)
    extra = t.decision.expected_loss[:, KILL] - t.decision.expected_loss[:, KEEP]
    live = ~snap["kernel_thread"] & (snap["state"] != ord("Z"))
    pool = np.flatnonzero((oom_candidates if oom_candidates is not None else live) & live & (rss > 0))
    if not len(pool):
        return None
    victim = _oom_pick(pool[np.argsort(-rss[pool], kind="stable")[:8]], snap["pid"], procfs)
    if victim is None:
        return None
    # The kernel ignores vetoes and availability: where pt has no kill loss, price it by the posterior.
    oom_cost = float(extra[victim]) if np.isfinite(extra[victim]) else \
        float(t.inference.posterior[victim] @ _kill_minus_keep(t.policy))

    usable = np.flatnonzero(eligible & live & (rss > 0) & np.isfinite(extra)
                            & np.equal(t.protected_by, None))
    order = usable[np.argsort(extra[usable] / rss[usable], kind="stable")]
    freed = np.cumsum(rss[order])
    enough = int(np.searchsorted(freed, need_bytes)) + 1
    chosen = order[:enough]
    # A negative extra loss is a kill pt recommends anyway: it costs the rescue nothing more.
    return Rescue(rows=chosen, need_bytes=float(need_bytes), freed_bytes=float(rss[chosen].sum()),
                  cost=float(np.maximum(extra[chosen], 0.0).sum()), oom_pid=int(snap["pid"][victim]),
                  oom_cost=max(oom_cost, 0.0))


def _kill_minus_keep(policy) -> np.ndarray:
    """Per class: L(kill, class) - L(keep, class)."""
    from pt.config import CLASSES
    return np.array([policy.loss["kill"][c] - policy.loss["keep"][c] for c in CLASSES])
