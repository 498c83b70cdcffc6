"""Lifecycle incidents: trouble that lives in a process tree's births and deaths.

One process at a time, a fork loop looks calm (its parent sleeps between
forks) and a respawning supervisor looks useful. Over two or more reads of
the process table (the quick scan's window, the samples of ``pt
incidents``) pt sees *lives*: each process identity ``(pid, start_ticks)``
with its exact birth time (``start_ticks``, man 5 proc field 22), when it
was last seen and whether it was gone from a later read. From the lives it
detects four kinds of incident (docs/model.md, Lifecycle incidents):

- ``fork_storm``: a burst of recent births under one older process that
  propagates itself: the Galton–Watson offspring mean of the burst's
  generations past the first, with a conjugate Gamma–Poisson posterior, is
  above 1 with high probability, and births per second are above a floor;
- ``runaway_tree``: at least two descendants busy, under two or more of the
  root's children, their summed CPU demand above a number of cores, while
  the root itself is calm (not a live build: a build tool someone still
  waits for, whose busy workers read and write as they go);
- ``short_job_flood``: many children that lived less than a second;
- ``respawn_loop``: the same command line reborn under the same parent, one
  after the other's exit.

Detection is observation: a protected process is detected too. The remedy
is on the tree's root (the parent or supervisor): pause or throttle the
tree, not kill each child; a hard veto on the root turns it into keep with
the rule named.

Input is hostile: a parent that is missing or was born after its child
(pid reuse within the window) is no parent, so the forest of lives has no
cycle; a reused pid is another life.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pt import kernels
from pt.collect.snapshot import Snapshot, Window

KINDS = ("fork_storm", "runaway_tree", "short_job_flood", "respawn_loop")
#: The remedy for each kind, on the root of the tree (docs/model.md).
REMEDY = {"fork_storm": "pause", "runaway_tree": "throttle", "short_job_flood": "throttle",
          "respawn_loop": "pause"}
#: Severity levels: severity is the observed rate in multiples of the
#: detection threshold (1 = just detected); a level starts at these multiples.
LEVELS = (("high", 5.0), ("medium", 2.0), ("low", 0.0))


@dataclass(frozen=True)
class Thresholds:
    """Detection thresholds and the offspring prior (``incidents`` of priors.json)."""

    lookback_s: float = 2.0
    storm_births_per_s: float = 10.0
    storm_probability: float = 0.95
    offspring_prior: tuple[float, float] = (2.0, 2.0)
    runaway_cores: float = 1.5
    busy_share: float = 0.5
    calm_share: float = 0.2
    short_s: float = 1.0
    flood_min: int = 5
    flood_per_s: float = 2.0
    respawn_min: int = 3

    @classmethod
    def of(cls, priors) -> Thresholds:
        """The thresholds of validated priors (:func:`pt.config.load_priors`)."""
        return cls(**(priors.incidents or {}))


@dataclass(frozen=True)
class Lives:
    """Every process identity seen in any read, one row each (columns).

    Times are seconds from the first read (``born_s`` negative: born before
    it). ``first_s`` and ``last_s`` are the first and last times it was seen alive; ``gone_s`` the time
    of the first read that found it gone (inf: never). ``parent`` is the row
    of the life it was born under (-1: none seen, or not a possible parent).
    ``row0`` is its row in the first read's snapshot (-1: born later).
    ``forks`` is how many processes and threads the kernel created from
    ``forks_span[0]`` to ``forks_span[1]`` (its fork counter, -1: not read),
    so births no read saw can be counted (:func:`unseen_births`).
    """

    pid: np.ndarray
    start_ticks: np.ndarray
    ppid: np.ndarray
    parent: np.ndarray
    born_s: np.ndarray
    first_s: np.ndarray
    last_s: np.ndarray
    gone_s: np.ndarray
    row0: np.ndarray
    kernel: np.ndarray
    comm: np.ndarray
    argv: np.ndarray
    end_s: float
    forks: int = -1
    forks_span: tuple[float, float] = (0.0, 0.0)
    hz: float = 100.0

    def __len__(self) -> int:
        return len(self.pid)


def lives(samples: list[Snapshot], window: Window | None = None) -> Lives:
    """The lives seen in ``samples`` (full table reads, the first being the
    one ``window`` observed; later ones in any order)."""
    if not samples:
        raise ValueError("lives needs at least one snapshot")
    first = samples[0]
    t = np.array([s.host.monotonic - first.host.monotonic for s in samples])
    order = np.argsort(t, kind="stable")
    samples, t = [samples[i] for i in order], t[order]
    col = {name: np.concatenate([s[name] for s in samples]) for name in
           ("pid", "ppid", "start_ticks", "kernel_thread", "comm", "cmdline")}
    seen_at = np.repeat(t, [len(s) for s in samples])
    key = (col["start_ticks"].astype(np.uint64) << np.uint64(23)) | col["pid"].astype(np.uint64)
    uniq, first_at, inverse = np.unique(key, return_index=True, return_inverse=True)
    n = len(uniq)
    last_at = np.zeros(n, dtype=np.intp)
    np.maximum.at(last_at, inverse, np.arange(len(key)))
    last_s = np.full(n, -np.inf)
    np.maximum.at(last_s, inverse, seen_at)
    first_s = np.full(n, np.inf)
    np.minimum.at(first_s, inverse, seen_at)
    # Gone: absent from the first full read after it was last seen.
    later = np.searchsorted(t, last_s, side="right")
    gone_s = np.where(later < len(t), t[np.minimum(later, len(t) - 1)], np.inf)
    row0 = np.full(n, -1, dtype=np.intp)
    row0[inverse[:len(first)]] = np.arange(len(first))
    return _made(first, window, col["pid"][first_at], col["start_ticks"][first_at], col["ppid"][first_at],
                 first_s, last_s, gone_s, row0, col["kernel_thread"][first_at], col["comm"][last_at],
                 col["cmdline"][last_at], float(t[-1]))


def lives_of_ticks(first: Snapshot, ticks: dict, window: Window | None = None, forks: int = -1,
                   forks_span: tuple[float, float] = (0.0, 0.0)) -> Lives:
    """The lives a :class:`pt.collect.lifecycle.LifeWatch` followed from
    ``first`` (its seed), as :func:`lives` makes them from full reads:
    ``ticks`` is :meth:`pt.collect._lifecycle.LifeSampler.lives`, ``forks``
    the fork counter's rise over ``forks_span`` (seconds from ``first``)."""
    t = ticks["times"] - first.host.monotonic
    if not len(t):
        raise ValueError("lives_of_ticks needs at least the seed's tick")
    gone = ticks["gone"]
    gone_s = np.where(gone >= 0, t[np.maximum(gone, 0)], np.inf)
    return _made(first, window, ticks["pid"], ticks["start_ticks"], ticks["ppid"], t[ticks["first"]],
                 t[ticks["last"]], gone_s, ticks["row0"].astype(np.intp), ticks["kernel_thread"], ticks["comm"],
                 ticks["cmdline"], float(t[-1]), forks, forks_span)


def _made(first: Snapshot, window: Window | None, pid, start, ppid, first_s, last_s, gone_s, row0, kernel,
          comm, argv, end_s: float, forks: int = -1, forks_span: tuple[float, float] = (0.0, 0.0)) -> Lives:
    """Lives from their columns, with what ``window`` saw of the first read's
    processes (alive at its end: seen until then; gone: gone by then)."""
    if window is not None:
        in0 = row0 >= 0
        alive = np.zeros(len(row0), dtype=bool)
        alive[in0] = window.alive[row0[in0]]
        end = window.duration_s
        last_s = np.where(alive, np.maximum(last_s, end), last_s)
        gone_s = np.where(in0 & ~alive, np.minimum(gone_s, end), gone_s)
        end_s = max(end_s, end)
    pid, start = np.asarray(pid, dtype=np.int64), np.asarray(start, dtype=np.int64)
    ppid = np.asarray(ppid, dtype=np.int64)                  # the parent it was born under
    born_s = start / float(first.host.clock_ticks) - first.host.uptime_s
    return Lives(pid, start, ppid, _parents(pid, start, ppid), born_s, first_s, last_s, gone_s, row0,
                 np.asarray(kernel, dtype=bool), comm, argv, end_s, int(forks), forks_span,
                 float(first.host.clock_ticks))


def _parents(pid: np.ndarray, start: np.ndarray, ppid: np.ndarray) -> np.ndarray:
    """Row of each life's parent: the life with pid ``ppid`` that precedes it
    in (start, pid) order, the latest such. A strict order makes a cycle
    impossible; a parent born after its child (pid reuse) is none."""
    n = len(pid)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    by_pid = np.lexsort((start, pid))
    sp, ss = pid[by_pid], start[by_pid]
    # Candidate: the last life with pid == ppid and start <= the child's start.
    idx = np.searchsorted(sp * (2 ** 40) + ss, ppid * (2 ** 40) + start, side="right") - 1
    idx = np.maximum(idx, 0)
    cand = by_pid[idx]
    ok = (sp[idx] == ppid) & (ppid != pid) & ((ss[idx] < start) | ((ss[idx] == start) & (sp[idx] < pid)))
    return np.where(ok, cand, -1).astype(np.int64)


@dataclass(frozen=True)
class Incident:
    """One incident: ``row`` is its root's life; ``evidence`` the numbers,
    ``words`` the same in a sentence; ``severity`` in multiples of the
    detection threshold; ``action`` the remedy for the tree under ``pid``
    (``keep`` when ``veto`` names a rule protecting the root)."""

    kind: str
    row: int
    pid: int
    start_ticks: int
    comm: str
    argv: tuple
    evidence: dict
    words: str
    severity: float
    level: str
    action: str = "keep"
    veto: str | None = None
    members: int = 1

    def as_dict(self) -> dict:
        return {"kind": self.kind, "pid": self.pid, "start_ticks": self.start_ticks,
                "evidence": {"text": self.words, **self.evidence},
                "severity": round(self.severity, 3), "level": self.level,
                "recommendation": {"action": self.action, "pid": self.pid,
                                   "scope": "tree" if self.action != "keep" else "none",
                                   "members": self.members, "veto": self.veto}}


def level_of(severity: float) -> str:
    return next(name for name, low in LEVELS if severity >= low)


def gw_probability(offspring: np.ndarray, exposed: np.ndarray, prior: tuple[float, float]) -> np.ndarray:
    """P(offspring mean > 1) under the Gamma–Poisson posterior.

    Each exposed process has Poisson(m) children; m ~ Gamma(a, rate b), so
    after ``offspring`` children of ``exposed`` parents m ~ Gamma(a +
    offspring, rate b + exposed) and P(m > 1) is the regularised upper
    incomplete gamma Q(a + offspring, b + exposed).
    """
    a, b = prior
    return kernels.gammaincc(a + np.asarray(offspring, dtype=float), b + np.asarray(exposed, dtype=float))


def generations(lv: Lives, recent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each recent life, its anchor (nearest ancestor that is not recent,
    -1 if none) and its depth below it (1: a child of the anchor). One
    vectorised step per generation, at most ``len(lv)`` steps."""
    anchor = np.where(recent, lv.parent, -1)
    depth = np.where(recent, 1, 0)
    climbing = recent & (anchor >= 0)
    climbing &= recent[np.maximum(anchor, 0)]
    for _ in range(len(lv)):
        if not climbing.any():
            break
        anchor[climbing] = lv.parent[anchor[climbing]]
        depth[climbing] += 1
        climbing &= anchor >= 0
        climbing &= recent[np.maximum(anchor, 0)]
    return anchor, depth


def _storms(lv: Lives, th: Thresholds, span: float) -> list[Incident]:
    recent = (lv.born_s >= -th.lookback_s) & ~lv.kernel
    anchor, depth = generations(lv, recent)
    sel = recent & (anchor >= 0)
    out = []
    for a in sorted(set(anchor[sel].tolist())):       # np.unique would import numpy.ma (~30 ms)
        members = sel & (anchor == a)
        d = depth[members]
        births = len(d)
        rate = births / span
        z = np.bincount(d)                                  # z[k]: recent lives k generations below
        top = len(z) - 1
        offspring = int(z[2:].sum())
        # Generations above the last were exposed; so was a member of the last that has
        # exited (childless: its chance to propagate is over). A live one may yet fork.
        exposed = int(z[1:top].sum()) + int((members & (depth == top) & np.isfinite(lv.gone_s)).sum())
        if rate < th.storm_births_per_s:
            continue
        p = float(gw_probability(offspring, exposed, th.offspring_prior))
        if p < th.storm_probability:
            continue
        mean = (th.offspring_prior[0] + offspring) / (th.offspring_prior[1] + exposed)
        severity = rate / th.storm_births_per_s
        words = (f"{births} births in {span:.1f} s ({rate:.1f}/s) across {top} generations; "
                 f"offspring mean {mean:.2f} per process, P(mean > 1) = {p:.3f}")
        out.append(_incident(lv, "fork_storm", int(a), words, severity, births + 1, {
            "births": births, "births_per_s": round(rate, 3), "generations": int(top),
            "offspring_mean": round(mean, 4), "p_supercritical": round(p, 6), "span_s": round(span, 3)}))
    return out


def _churn(lv: Lives, th: Thresholds, span: float) -> list[Incident]:
    """Short-job floods and respawn loops, one incident per parent."""
    child = (lv.parent >= 0) & ~lv.kernel & (lv.born_s >= -th.lookback_s)
    short = child & np.isfinite(lv.gone_s) & (lv.gone_s - lv.born_s <= th.short_s)
    counts = np.bincount(lv.parent[child], minlength=len(lv))
    short_counts = np.bincount(lv.parent[short], minlength=len(lv))
    unseen = unseen_births(lv, short, th)
    out = []
    for p in np.flatnonzero(counts >= th.respawn_min):
        kids = np.flatnonzero(child & (lv.parent == p))
        loop = _respawns(lv, kids)
        if loop is not None and loop[0] >= th.respawn_min:
            respawns, child_row = loop
            rate = respawns / span
            words = (f"the same command (pid {lv.pid[child_row]} now) reborn {respawns} times in "
                     f"{span:.1f} s, each after the previous one exited")
            out.append(_incident(lv, "respawn_loop", int(p), words, respawns / th.respawn_min, 1, {
                "respawns": respawns, "respawns_per_s": round(rate, 3), "span_s": round(span, 3),
                "latest_child_pid": int(lv.pid[child_row])}))
            continue
        n = int(short_counts[p])
        rate = n / span
        # Seen children alone make the incident and its severity: the fork counter's share
        # (unseen_births) may hold other programs' threads, so it is reported, never decisive.
        if n >= th.flood_min and rate >= th.flood_per_s:
            est = n + float(unseen[p])
            words = f"{n} children seen living under {th.short_s:g} s in {span:.1f} s ({rate:.1f}/s)"
            words += f", about {est:.0f} with the fork counter" if est > n else ""
            out.append(_incident(lv, "short_job_flood", int(p), words, rate / th.flood_per_s,
                                 1, {"short_jobs": n, "short_jobs_per_s": round(rate, 3), "span_s": round(span, 3),
                                     "births": int(counts[p]), "short_jobs_estimated": round(est, 1)}))
    return out


#: The smallest chance of being seen a parent's seen short children are given: each
#: stands for at most 20 births, so thread churn elsewhere can inflate a flood's
#: estimate at most 20-fold (a 5 ms job between ticks 50 ms apart is seen 1 time in 10).
MIN_SEEN_SHARE = 0.05


def unseen_births(lv: Lives, short: np.ndarray, th: Thresholds) -> np.ndarray:
    """Short-lived children no read saw, per parent row (``short``: the seen
    ones): the fork counter's births over its span that no life accounts
    for, shared among parents by their seen short-lived children born in the
    span, and capped by how much the reads can have missed of each parent.

    A life of L seconds dying in a gap of g seconds between reads was seen
    with probability min(1, L / g). A parent's seen children say how long
    they live (at least from birth, plus a clock tick for the start time's
    rounding, to the last read that saw them; g is the gap they died in):
    their mean of min(1, L / g), π (at least :data:`MIN_SEEN_SHARE`: a child
    seen within a clock tick of its start has no lower bound on its life),
    bounds the parent's total at seen / π. The counter counts threads and
    every other process's births too; where children outlive the gaps (π
    near 1) nothing is added, and the estimate never makes a flood (only
    seen children do: :func:`_churn`). Zeros where the counter was not read.
    """
    n = len(lv)
    lo, hi = lv.forks_span
    in_span = (lv.born_s >= lo) & (lv.born_s <= hi)
    mine = short & in_span
    if lv.forks < 0 or not mine.any():
        return np.zeros(n)
    unseen = max(lv.forks - int(in_span.sum()), 0)
    # Every short life born in the span (any parent, kernel threads too) shares the unseen births.
    every_short = in_span & (lv.gone_s - lv.born_s <= th.short_s)
    lived = np.maximum(lv.last_s - lv.born_s - 1.0 / lv.hz, 0.0)
    seen_p = np.minimum(lived / np.maximum(lv.gone_s - lv.last_s, 1e-6), 1.0)
    parents = lv.parent[mine]
    seen = np.bincount(parents, minlength=n).astype(float)
    pi = np.bincount(parents, weights=seen_p[mine], minlength=n) / np.maximum(seen, 1.0)
    share = unseen * seen / max(int(every_short.sum()), 1)
    cap = seen / np.maximum(pi, MIN_SEEN_SHARE) - seen
    return np.minimum(share, cap)


#: Bytes of a command line that name its command: the lifecycle sampler keeps as many
#: of a new life's (pt.collect._lifecycle), a full read all of it.
COMMAND_KEY_BYTES = 4096


def command_key(argv) -> int:
    """A hash of the command line ``argv`` (NUL-joined), so a life the sampler saw
    born (its first :data:`COMMAND_KEY_BYTES` bytes) and one a full read saw have the
    same key; -1 for none (an unreadable command line; a hash is never -1).

    The key is the first COMMAND_KEY_BYTES - 3 bytes of the text encoded again: the
    sampler's cut may split a UTF-8 character (up to 3 bytes, which it decodes as
    escapes), and escapes only lengthen the text, so both sides agree that far."""
    if argv is None:
        return -1
    text = "\0".join(argv).encode("utf-8", "backslashreplace")
    return hash(text[:COMMAND_KEY_BYTES - 3].rstrip(b"\0"))


def _respawns(lv: Lives, kids: np.ndarray) -> tuple[int, int] | None:
    """The most reborn command among ``kids``, one life at a time: how many of
    its lives were first seen after the previous one was last seen and then
    found gone, and its latest life's row. A command whose lives were seen
    together (in more than one pair in ten) is not a respawn."""
    keys = np.array([command_key(a) for a in lv.argv[kids]], dtype=np.int64)
    best = None
    for k in sorted(set(keys.tolist())):
        same = kids[keys == k]
        same = same[np.argsort(lv.born_s[same], kind="stable")]
        if len(same) < 2:
            continue
        prev, nxt = same[:-1], same[1:]
        after = lv.last_s[prev] < lv.first_s[nxt]
        n = int((after & np.isfinite(lv.gone_s[prev])).sum())
        if n and (~after).sum() * 10 <= n and (best is None or n > best[0]):
            best = (n, int(same[-1]))
    return best


def _runaways(snapshot: Snapshot, window: Window, reaper: np.ndarray, th: Thresholds,
              lv: Lives, build: np.ndarray | None = None) -> list[Incident]:
    """Calm roots over at least two busy descendants, under two or more of
    its children, whose summed demand is above ``runaway_cores`` over the
    window (rows of the first read). A root in ``build`` (a build tool,
    whether or not anyone still waits for it) whose busy descendants mostly
    made read/write syscalls in the window is a build at work, not a runaway."""
    from pt import kernels
    n = len(snapshot)
    if n == 0:
        return []
    demand = window.ticks + np.maximum(window.wait_ticks, 0)
    share = np.where(window.alive, demand / window.window_ticks, 0.0)
    parent = _snapshot_parents(snapshot, reaper)
    busy = (share >= th.busy_share) & ~snapshot["kernel_thread"]
    working = busy & (window.io_syscalls > 0)                   # -1: unreadable, no evidence of work
    sums = kernels.subtree_sums(parent, np.stack([share, busy, working], axis=1).astype(float))
    below, busy_below, working_below = sums[:, 0] - share, sums[:, 1] - busy, sums[:, 2] - working
    # Busy branches: children with a busy process in their subtree. A wrapper
    # (timeout, a shell) over one busy program has one; a tree running away, two.
    linked = (parent >= 0) & (sums[:, 1] > 0)
    branches = np.bincount(parent[linked], minlength=n)
    candidate = (share < th.calm_share) & (busy_below >= 2) & (branches >= 2) & (below >= th.runaway_cores) \
        & ~snapshot["kernel_thread"] & ~reaper
    if build is not None:
        candidate &= ~(build & (2 * working_below >= busy_below))
    deepest = kernels.subtree_sums(parent, candidate.astype(float)) == 1
    out = []
    life_of_row = np.full(n, -1, dtype=np.intp)
    life_of_row[lv.row0[lv.row0 >= 0]] = np.flatnonzero(lv.row0 >= 0)
    members = kernels.subtree_sums(parent, np.ones(n))
    for r in np.flatnonzero(candidate & deepest):
        cores = float(below[r])
        words = (f"{int(busy_below[r])} descendants busy, {cores:.2f} cores of demand over "
                 f"{window.duration_s:.1f} s while the root used {share[r]:.2f}")
        out.append(_incident(lv, "runaway_tree", int(life_of_row[r]), words, cores / th.runaway_cores,
                             int(members[r]), {
                                 "busy_descendants": int(busy_below[r]), "tree_cores": round(cores, 3),
                                 "root_cores": round(float(share[r]), 3),
                                 "window_s": round(window.duration_s, 3)}))
    return out


def _snapshot_parents(snapshot: Snapshot, reaper: np.ndarray) -> np.ndarray:
    """Parent row of each row of one read; an edge to a reaper (PID 1, a
    subreaper: adoption, not parentage) is none."""
    from pt.features.genealogy import rows_of
    parent = rows_of(snapshot, snapshot["ppid"]).astype(np.int64)
    cut = (parent < 0) | reaper[np.maximum(parent, 0)] | (parent == np.arange(len(parent)))
    return np.where(cut, -1, parent)


def _incident(lv: Lives, kind: str, row: int, words: str, severity: float, members: int,
              evidence: dict) -> Incident:
    return Incident(kind, row, int(lv.pid[row]), int(lv.start_ticks[row]), str(lv.comm[row]),
                    tuple(lv.argv[row] or ()), evidence, words, float(severity), level_of(severity),
                    members=members)


def detect(samples: list[Snapshot], window: Window | None = None, *, reaper: np.ndarray | None = None,
           protected: np.ndarray | None = None, thresholds: Thresholds | None = None,
           build: np.ndarray | None = None, lv: Lives | None = None) -> list[Incident]:
    """Every incident seen in ``samples`` (the first observed by ``window``),
    or in ``lv`` when given (lives followed from ``samples[0]``, see
    :func:`lives_of_ticks`).

    ``reaper``, ``protected`` and ``build`` are columns of the first
    read (a reaper's edges are adoption, not parentage; ``protected`` names
    the veto on a row, None for none; ``build`` marks build tools, see
    :func:`_runaways`). The remedy lands on the incident's root; a vetoed
    root, or one not in the first read, is recommended keep.
    """
    th = thresholds or Thresholds()
    lv = lives(samples, window) if lv is None else lv
    span = max(lv.end_s + th.lookback_s, 1e-3)
    found = _storms(lv, th, span) + _churn(lv, th, span)
    if window is not None:
        first = samples[0]
        if reaper is None:
            from pt.features.genealogy import reaper_rows
            reaper = reaper_rows(first)
        found += _runaways(first, window, np.asarray(reaper, dtype=bool), th, lv,
                           None if build is None else np.asarray(build, dtype=bool))
    out = []
    for inc in found:
        r0 = int(lv.row0[inc.row])
        veto = ("not in the first read of the table" if r0 < 0 else
                protected[r0] if protected is not None else None)
        action = "keep" if veto else REMEDY[inc.kind]
        out.append(dataclasses.replace(inc, action=action, veto=veto))
    out.sort(key=lambda i: (-i.severity, KINDS.index(i.kind), i.pid))
    return out
