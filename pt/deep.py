"""The deep scan: watch the quick scan's candidates until watching stops paying.

``deep_scan()`` runs a quick :func:`~pt.triage.triage`, ranks the selected
processes by the value of information of watching them (idea K, 5.9: VOI
per unit of time), samples the best ``candidates`` every ``interval_s``
(:class:`~pt.collect.series.Sampler`), and every ``voi_every_s`` re-derives
each one's posterior from everything seen so far (cumulative CPU and IO
counts plus the CPU regime and wake-up terms, :mod:`pt.infer.timeseries`,
and the RSS growth term, :mod:`pt.infer.memory`), coupled with every other
process in the forest as the quick scan's is (:mod:`pt.infer.forest`).
A candidate whose VOI (of its CPU ticks, and for an idle one of its
wake-ups) over every horizon no longer exceeds the cost of waiting is
settled and dropped from sampling — an idle one about to be acted on only
after ``min_idle_watch_s`` of idleness or a wake-up, one whose memory
clearly grows, or grew over the last VOI step, not at all (a leak's
evidence grows with the watch); the scan ends when
none is left or at ``max_time_s`` (idea Y), where a still-undecided
candidate whose best action is kill or restart is paused instead.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from pt.collect.series import Sampler, Series
from pt.collect.snapshot import io_events
from pt.config import ACTIONS, CLASSES, Policy, Priors, load_policy, load_priors
from pt.decide.loss import Decision, decide, dependency_impact, loss_matrix
from pt.decide.voi import effective_loss, value_of_information, wakeup_voi
from pt.infer import forest
from pt.infer import memory as rss
from pt.infer import timeseries as ts
from pt.infer.posterior import Evidence, Inference, ModelTables, infer
from pt.triage import Triage, remember, triage

KEEP, PAUSE, RESTART, KILL = (ACTIONS.index(a) for a in ("keep", "pause", "restart", "kill"))
#: Outcome bins for VOI: exact below 32 ticks, then ~3% wide (a lower bound within 0.1% here).
VOI_RESOLUTION = 32
DEMOTED_TIMEOUT = "time-to-decision bound: still undecided at the deep scan's end; pause and observe"


@dataclass(frozen=True)
class DeepScan:
    """A deep scan's result; arrays are per candidate, ``rows`` indexes the
    quick scan's snapshot. ``settled_at_s`` is when VOI stopped the sampling
    (NaN: watched to the end), ``voi`` the last net value of watching
    (loss units), ``timed_out`` whether the time bound decided."""

    quick: Triage
    rows: np.ndarray
    series: Series
    counts: ts.Counts
    regime: ts.Regime
    wakes: ts.Wakeups
    notes: ts.Annotations
    growth: rss.Growth
    evidence: Evidence
    inference: Inference
    decision: Decision
    settled_at_s: np.ndarray
    voi: np.ndarray
    timed_out: np.ndarray
    elapsed_s: float
    skipped: list[dict]
    lake_note: str | None = None      # why the lake's earlier runs were not read (None: read, or no lake)

    def __len__(self) -> int:
        return len(self.rows)


def _candidate_evidence(t: Triage, rows: np.ndarray, c: ts.Counts | None,
                        current: ts.Counts | None = None, changed: np.ndarray | None = None,
                        older_s: float = 0.0) -> Evidence:
    """The quick evidence of ``rows``, with the deep counts added to the
    window's; where the CPU regime ``changed``, the CPU counts are those of
    the ``current`` regime alone (what the process does now). Ages are
    those at the last sample, ``older_s`` after the quick scan: the verdict
    is about the process as it is at the end of the watch (a young leaker
    watched for 30 s is 30 s older, and has grown all that time)."""
    ev = Evidence(**{k: v[rows] for k, v in t.evidence.__dict__.items()})
    # Growth across earlier scans joins the watch's in the memory-growth column (one bounded term).
    ev = replace(ev, growth_mb_s=np.full(len(rows), np.nan))
    if older_s > 0:
        ev = replace(ev, age_s=ev.age_s + older_s)
    if c is None:
        return ev
    io_seen = np.where(c.io_syscalls >= 0, (c.io_syscalls > 0).astype(np.int8), -1)
    io = np.where(io_seen == 1, 1, np.where(ev.io_active == 1, 1, np.maximum(io_seen, ev.io_active)))
    cpu, elapsed = ev.cpu_ticks + c.cpu_ticks, ev.window_ticks + c.elapsed_ticks
    watched_s = c.elapsed_ticks / float(t.snapshot.host.clock_ticks)
    span = ev.span_s + watched_s                                  # NaN stays NaN: no span
    events = np.where(c.io_syscalls >= 0, ev.io_events + io_events(c.io_syscalls, watched_s), np.nan)
    if current is not None:
        cpu, elapsed = np.where(changed, current.cpu_ticks, cpu), np.where(changed, current.elapsed_ticks, elapsed)
    # The IO rate needs the span it was counted over: where the CPU regime
    # changed, that span is gone, and IO is the window's and the watch's draw.
    gone = np.isnan(span) | (changed if current is not None else False)
    return replace(ev, cpu_ticks=cpu, window_ticks=elapsed, io_active=io.astype(np.int8),
                   span_s=np.where(gone, np.nan, span), io_events=np.where(gone, np.nan, events))


def deep_evidence(t: Triage, rows: np.ndarray, series: Series, priors: Priors, idx: np.ndarray | None = None):
    """``(evidence, counts, regime, wakes)`` of candidates ``idx`` (all by
    default) from the series so far. A stop (a CPU change point to a lower
    share, more probable than not, with at least ``MIN_SAMPLES`` samples
    after it) splits the series: the CPU evidence is then the regime after
    it (what the process does now; the busy past would otherwise keep
    calling a stopped process busy), while the regime term says that it
    stopped. A start needs no split: the busy present dominates the counts
    as the watch goes on, and one burst of a periodic worker is not a new
    regime."""
    c = ts.counts(series)
    regime, wakes = ts.regime(series, priors, idx), ts.wakeups(series, priors, idx)
    changed = (regime.p_change >= 0.5) & (regime.tau >= 0) & (regime.share_after < regime.share_before) \
        & (len(series) - 1 - regime.tau >= ts.MIN_SAMPLES)
    current = ts.counts(series, since=np.where(changed, regime.tau, -1) if idx is None else
                        _spread(np.where(changed, regime.tau, -1), idx, len(series.pids)))
    if idx is not None:
        c, current = c.take(idx), current.take(idx)
    older = float(series.times[-1]) - t.snapshot.host.monotonic if len(series) else 0.0
    ev = _candidate_evidence(t, rows if idx is None else rows[idx], c, current, changed, older)
    return ev, c, regime, wakes


def _spread(values: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -1, dtype=np.int64)
    out[idx] = values
    return out


class _Model:
    """The decision for a fixed set of candidates, re-run as samples arrive.

    Candidates are judged in the process forest, as the quick scan judges
    every process: ``nodes`` holds every process's node potential, the quick
    scan's, with each candidate's replaced by its deep one whenever it is
    re-derived, so a settled candidate pulls on its open neighbours with
    what was last seen of it."""

    def __init__(self, t: Triage, rows: np.ndarray, tables: ModelTables):
        ctx = t.context
        self.t, self.rows, self.tables = t, rows, tables
        self.parent = forest.edges(ctx.genealogy)
        self.nodes = forest.potentials(t.inference)
        self.impact = dependency_impact(t.policy, ctx.listening[rows], ctx.established[rows],
                                        ctx.genealogy.children[rows], ctx.fd_count[rows])
        self.available = ctx.available[rows]
        self.protected = np.not_equal(t.protected_by[rows], None)
        self.loss = effective_loss(loss_matrix(t.policy), self.impact, self.available, KILL, RESTART)
        category = ctx.command_category[rows].astype(np.intp)
        self.a, self.b = tables.cpu_alpha[category], tables.cpu_beta[category]
        self.wake_a, self.wake_b = (np.array([t.priors.wakeups[c][j] for c in CLASSES]) for j in (0, 1))

    def infer(self, evidence: Evidence, regime: ts.Regime | None, wakes: ts.Wakeups | None = None,
              growth: rss.Growth | None = None, idx: np.ndarray | None = None) -> Inference:
        """The quick model's terms on ``evidence`` of candidates ``idx`` (all
        by default), plus the deep terms given (the CPU regime, the wake-ups,
        then the memory growth) as extra columns, coupled in the forest (the
        ``tree`` column, :func:`pt.infer.forest.couple`)."""
        own = infer(evidence, self.tables)
        extra = [x for x in (regime, wakes, growth) if x is not None]
        if extra:
            terms = np.concatenate([own.terms] + [x.terms[:, None, :] for x in extra], axis=1)
            observed = np.concatenate([own.observed] + [x.observed[:, None] for x in extra], axis=1)
            own = Inference.from_terms(terms, observed, own.log_prior)
        rows = self.rows if idx is None else self.rows[idx]
        coupled = forest.couple(own, self.parent, self.t.priors.tree_coupling, rows, self.nodes)
        self.nodes[rows] = forest.potentials(coupled)
        return coupled

    def best(self, inference: Inference, idx: np.ndarray) -> np.ndarray:
        """The least-expected-loss action of candidates ``idx`` (no gates: a cheap look)."""
        loss = np.where(np.isfinite(self.loss[idx]), self.loss[idx], 1e300)
        return np.argmin(np.einsum("nc,nac->na", inference.posterior, loss), axis=1)

    def decide(self, inference: Inference) -> Decision:
        return decide(inference, self.t.policy, impact=self.impact, available=self.available,
                      protected=self.protected, kill_gate=self.t.kill_gate)

    def net_voi(self, inference: Inference, evidence: Evidence, idx: np.ndarray, horizons_s: list[float],
                cost_per_s: float, hz: int, wake: tuple[np.ndarray, np.ndarray, np.ndarray],
                wake_horizon_s: float = 0.0) -> np.ndarray:
        """max over horizons of VOI(h) - cost * h for candidates ``idx`` (whose
        inference and evidence are given): positive means keep watching.

        VOI(h) is the larger of two lower bounds on the value of watching:
        the CPU ticks of the next h seconds, and, for a candidate idle now,
        whether it wakes up within them (``wake``: wake-ups so far, idle
        seconds so far, idle now), also over ``wake_horizon_s`` (the time
        left: this bound is cheap at any horizon). The second is what keeps
        an idle process watched until a periodic worker would have shown a
        burst."""
        best = np.full(len(idx), -np.inf)
        k = np.minimum(evidence.cpu_ticks, evidence.window_ticks).astype(np.float64)
        n = evidence.window_ticks.astype(np.float64)
        onsets, idle_s, idle_now = wake
        for h in horizons_s:
            voi = value_of_information(inference.log_posterior, k, n, self.a[idx], self.b[idx], self.loss[idx],
                                       int(round(h * hz)), resolution=VOI_RESOLUTION)
            best = np.maximum(best, voi - cost_per_s * h)
        if idle_now.any():
            for h in sorted(set(horizons_s) | {wake_horizon_s} - {0.0}):
                woken = wakeup_voi(inference.log_posterior[idle_now], onsets[idle_now], idle_s[idle_now],
                                   self.wake_a, self.wake_b, self.loss[idx][idle_now], h)
                best[idle_now] = np.maximum(best[idle_now], woken - cost_per_s * h)
        return best


def rank_candidates(t: Triage, selection_mask: np.ndarray, tables: ModelTables, limit: int,
                    named: np.ndarray | None = None, lake_growing: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Rows to watch, best first, and their net VOI: selected, not zombies
    (nothing to watch) and with positive net VOI over the deep scan's
    horizon, or growing memory the quick scan can see
    (:func:`pt.infer.memory.suspects`; ``lake_growing``: rows clearly
    growing across the lake's earlier runs or the quick scans remembered), after those with value;
    processes the user named are always watched.

    Vetoes restrict actions, never observation: a protected process the user
    named is watched like any other (its evidence and posterior move; its
    action stays pinned to keep). Unnamed protected processes are not ranked:
    no observation can change their action, so watching them has no value.
    """
    snap, deep = t.snapshot, t.policy.deep_scan
    watchable = selection_mask & (snap["state"] != ord("Z")) & ~snap["kernel_thread"]
    must_all = np.zeros(len(t), dtype=bool) if named is None else np.isin(snap["pid"], named)
    rows = np.flatnonzero(watchable & (np.equal(t.protected_by, None) | must_all))
    if not len(rows):
        return rows, np.zeros(0)
    model = _Model(t, rows, tables)
    ev = _candidate_evidence(t, rows, None)
    hz = snap.host.clock_ticks
    horizon = min(deep.horizon_max_s, deep.max_time_s)
    idle_now = t.evidence.cpu_ticks[rows] == 0
    wake = (np.zeros(len(rows)), np.where(idle_now, t.window.duration_s, 0.0), idle_now)
    net = model.net_voi(model.infer(ev, None), ev, np.arange(len(rows)), [horizon], deep.wait_cost_per_s, hz,
                        wake, deep.max_time_s)
    must = must_all[rows]
    # The VOI prices CPU only; growth the quick scan can already see (RSS
    # over age, or across the lake's earlier scans) is worth a look too.
    growth = rss.suspects(snap["rss_bytes"][rows], snap["elapsed_s"][rows],
                          None if lake_growing is None else lake_growing[rows])
    suspect = growth > 0
    keep = (net > 0) | must | suspect
    order = np.lexsort((-growth, -net, ~(net > 0), ~must))    # named, then by VOI, then growth
    order = order[keep[order]][:limit]
    return rows[order], net[order]


def deep_scan(selection=None, *, max_time_s: float | None = None, interval_s: float | None = None,
              limit: int | None = None, priors: Priors | None = None, policy: Policy | None = None,
              root=None, on_progress=None, memory=None, at_s: float = 0.0, lake=None) -> DeepScan:
    """Quick scan, then watch the best candidates; see the module docstring.

    ``selection`` is a :class:`pt.act.plan.Selection` (None: every process);
    ``on_progress(open, settled, samples, elapsed_s, max_time_s)`` is called
    after every tick for a progress display. ``at_s``: as ``pt scan --at``
    (the quick evidence as if that much more time had passed; what the
    series show is added as seen). ``memory``: the file of
    previous recommendations (see :func:`pt.triage.triage`); the deep
    verdicts of the watched candidates are remembered over the quick ones.
    ``lake``: the telemetry lake (None: not read) whose earlier runs give
    each process's RSS growth across scans (:mod:`pt.telemetry.history`):
    growth there makes a candidate, and joins the watch's growth evidence.
    """
    priors = priors or load_priors()
    policy = policy or load_policy()
    deep = policy.deep_scan
    max_time_s = deep.max_time_s if max_time_s is None else max_time_s
    interval_s = deep.interval_s if interval_s is None else interval_s
    policy = replace(policy, deep_scan=replace(deep, max_time_s=max_time_s, interval_s=interval_s))
    tables = ModelTables(priors)
    t = triage(root=root, priors=priors, policy=policy, tables=tables, memory=memory, at_s=at_s)
    mask = np.ones(len(t), dtype=bool) if selection is None else selection.rows(t, t.decision.action)
    named = np.array(selection.pids) if selection is not None and selection.pids else None
    earlier, lake_note = _earlier_growth(t, lake) if lake is not None else (None, None)
    growing = np.isfinite(t.evidence.growth_mb_s)            # sustained growth across the quick scans
    rows, _ = rank_candidates(t, mask, tables, limit or deep.candidates, named,
                              growing if earlier is None else growing | earlier.growing)
    earlier = None if earlier is None else rss.take(earlier, rows)
    ev = t.evidence
    scans = rss.across_scans(ev.growth_mb_s[rows], ev.growth_sd_mb_s[rows], ev.growth_span_s[rows],
                             t.snapshot["rss_bytes"][rows], priors)
    skipped = _skipped(t, named, rows)
    model = _Model(t, rows, tables)
    hz, page_size = t.snapshot.host.clock_ticks, t.snapshot.host.page_size
    settled_at = np.full(len(rows), np.nan)
    last_voi = np.full(len(rows), np.nan)
    open_ = np.ones(len(rows), dtype=bool)
    every = max(1, int(round(deep.voi_every_s / interval_s)))
    started = time.monotonic()

    def on_tick(series: Series, tick: int):
        alive = series.alive[-1] if len(series) else np.zeros(len(rows), dtype=bool)
        open_[~alive & open_] = False
        if tick and tick % every == 0 and open_.any():
            idx = np.flatnonzero(open_)                     # settled candidates are not re-derived
            ev, _, regime_now, wakes = deep_evidence(t, rows, series, priors, idx)
            growth_now = rss.growth(series, priors, idx, page_size,
                                    None if earlier is None else rss.take(earlier, idx), rss.take(scans, idx))
            inference = model.infer(ev, regime_now, wakes, growth_now, idx)
            k_last = ts.per_sample(series)[0][-1, idx] if len(series) > 1 else np.zeros(len(idx))
            elapsed = time.monotonic() - started
            left = max(max_time_s - elapsed, 0.0)
            horizons = sorted({min(1.0, left), min(deep.horizon_max_s, left)} - {0.0})
            net = model.net_voi(inference, ev, idx, horizons, deep.wait_cost_per_s, hz,
                                (wakes.onsets, wakes.idle_s, k_last == 0), left) if horizons \
                else np.full(len(idx), -np.inf)
            last_voi[idx] = net
            # An idle candidate about to be acted on is not settled before a
            # periodic worker of period <= min_idle_watch_s would have woken.
            acting = model.best(inference, idx) != KEEP
            unproven = acting & (k_last == 0) & (wakes.onsets == 0) & (wakes.idle_s < deep.min_idle_watch_s)
            # Growing memory is watched on: the longer growth lasts, the less
            # it looks like loading and the more like a leak (pt/infer/memory.py).
            unproven |= growth_now.growing | rss.rising(series, idx, every, page_size)
            done = idx[(net <= 0) & ~unproven]
            settled_at[done] = elapsed
            open_[done] = False
            sampler.drop(done)
        if on_progress is not None:
            on_progress(int(open_.sum()), int(np.isfinite(settled_at).sum()), tick + 1,
                        time.monotonic() - started, max_time_s)
        return not open_.any()

    n_ticks = int(math.ceil(max_time_s / interval_s)) + 1
    # status (context switches) is half of a sampling pass: schedstat's
    # timeslices count the same scheduling events; extras every 2 s.
    with Sampler(t.snapshot["pid"][rows], t.snapshot["start_ticks"][rows], interval_s=interval_s,
                 root=root, ctx_switches=False, extras_every=max(1, int(round(2.0 / interval_s)))) as sampler:
        series = sampler.run(n_ticks if len(rows) else 0, on_tick)
    evidence, c, regime, wakes = deep_evidence(t, rows, series, priors)
    growth = rss.growth(series, priors, page_size=page_size, earlier=earlier, scans=scans)
    inference = model.infer(evidence, regime, wakes, growth)
    decision = model.decide(inference)
    timed_out = open_ & np.isnan(settled_at)
    if deep.pause_on_timeout:
        decision = time_bound(decision, timed_out, model.available)
    if memory is not None and not at_s:
        remember(t, memory, rows, decision.action)
    return DeepScan(t, rows, series, c, regime, wakes, ts.annotations(series), growth, evidence, inference,
                    decision, settled_at, last_voi, timed_out, time.monotonic() - started, skipped, lake_note)


def _earlier_growth(t: Triage, lake) -> tuple[rss.Growth | None, str | None]:
    """Every process's RSS growth across the lake's earlier runs of this
    boot, and a note if the lake could not be read (then no evidence)."""
    from pt.telemetry import history
    h = history.read(lake, t.snapshot.host.boot_id)
    if h.note is not None or not len(h):
        return None, h.note
    return history.growth_across_runs(h, t.snapshot, t.priors), None


def time_bound(decision: Decision, timed_out: np.ndarray, available: np.ndarray) -> Decision:
    """Idea Y: a candidate still undecided at the time bound whose best action
    is kill or restart is paused instead (reversible, and it keeps watching
    possible), where pause is available."""
    to_pause = timed_out & np.isin(decision.action, (KILL, RESTART)) & available[:, PAUSE]
    action = decision.action.copy()
    action[to_pause] = PAUSE
    demoted = decision.demoted.copy()
    demoted[to_pause] = DEMOTED_TIMEOUT
    return replace(decision, action=action, demoted=demoted)


def _skipped(t: Triage, named: np.ndarray | None, rows: np.ndarray) -> list[dict]:
    """Why each process the user named is not being watched."""
    out = []
    snap = t.snapshot
    for pid in ([] if named is None else named.tolist()):
        found = np.flatnonzero(snap["pid"] == pid)
        if not len(found):
            out.append({"pid": pid, "reason": "no such process (it may have exited)"})
        elif found[0] not in rows:
            i = int(found[0])
            out.append({"pid": pid, "reason": "a zombie: nothing to watch" if snap["state"][i] == ord("Z") else
                        "a kernel thread" if snap["kernel_thread"][i] else "excluded by the other filters"})
    return out
