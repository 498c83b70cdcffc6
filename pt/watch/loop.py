"""The ``pt watch`` loop: scan, follow up, decide within the mode, act through plans.

Every interval the watcher samples pressure, quick-scans the machine (with
the verdict memory, as ``pt scan``), follows up the processes it called
leftovers last time (did they resume? that feeds the guardrail), and, if the
mode allows, acts on the selected processes through the same path as
``pt plan`` + ``pt apply --yes``: a saved plan with a plan id, the journal
and every guard of apply. A watcher is a user who pre-approved a policy,
never more: vetoes, identity checks and rate limits all still apply.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from pt.config import ACTIONS, CLASSES
from pt.watch.guardrail import EProcess
from pt.watch.modes import ModeController
from pt.watch.pressure import MemoryForecast, Urgency, read_pressure

#: CPU ticks a process must add between two scans to count as having resumed
#: (one tick is the accounting noise of an idle process woken by a signal).
RESUME_TICKS = 2


def contention(window) -> dict:
    """The machine's CPU contention over the scan window, as an M/M/c queue."""
    from pt.watch.queueing import erlang_c, mean_wait, offered_load
    cpus = os.cpu_count() or 1
    load = offered_load(window)
    wait = mean_wait(cpus, load)
    return {"cpus": cpus, "offered_load": round(load, 4), "utilisation": round(load / cpus, 4),
            "p_wait": round(erlang_c(cpus, load), 4), "mean_wait": None if math.isinf(wait) else round(wait, 4)}


@dataclass
class Step:
    """What one interval saw and did (for the status file, metrics and --json)."""

    time: float
    scan_s: float
    processes: int
    by_class: dict
    recommended: dict
    acted: list = field(default_factory=list)
    failed: int = 0
    plan_id: str | None = None
    note: str | None = None
    contention: dict | None = None
    rescue: dict | None = None
    deep: dict | None = None


@dataclass
class Watcher:
    """State carried from one interval to the next."""

    controller: ModeController
    selection: object                  # pt.act.plan.Selection: what the watcher may act on
    interval_s: float = 30.0
    allow_kill: bool = False
    kill_switch: object = None         # callable -> str | None (why the switch is on)
    guardrail: EProcess = field(default_factory=EProcess)
    forecast: MemoryForecast = field(default_factory=lambda: MemoryForecast(floor_bytes=0.0))
    urgency: Urgency = field(default_factory=Urgency)
    policy: object = None
    lake: str | None = None
    telemetry: bool = True
    record_every: int = 10             # write every Nth scan to the lake (and every scan that acted)
    deep_check: bool = True            # confirm by a deep scan before acting (see _confirmed)
    deep_max_s: float = 15.0
    procfs: str = "/proc"              # where pressure and memory are read (a recorded series in tests)
    clock: object = time.time
    followups: dict = field(default_factory=dict)    # (pid, start_ticks) -> (q, ticks)
    steps: int = 0
    last: Step | None = None
    pressure: object = None
    totals: dict = field(default_factory=lambda: {"acted": {}, "failed": 0, "scans": 0})
    recorders: list = field(default_factory=list)    # lake writers still running (pt.watch.record)
    telemetry_note: str | None = None

    def sample_pressure(self) -> None:
        sample = read_pressure(self.procfs, now=self.clock())
        if self.forecast.floor_bytes == 0.0 and sample.mem_total:
            self.forecast.floor_bytes = 0.05 * sample.mem_total     # the kernel OOM-kills near here
        if sample.mem_total:
            self.forecast.update(sample.time, float(sample.mem_available))
        self.urgency.update(sample, self.forecast)
        self.pressure = sample

    def next_interval(self) -> float:
        return self.urgency.interval(self.interval_s)

    def step(self) -> Step:
        """One interval: pressure, scan, follow-up, mode, maybe act."""
        from pt.commands.scan import verdict_memory
        from pt.triage import triage

        now = time.time()
        self.sample_pressure()
        why_off = self.kill_switch() if self.kill_switch else None
        if why_off:
            self.controller.demote(f"kill switch: {why_off}")
        started = time.perf_counter()
        t = triage(policy=self.policy, memory=verdict_memory())
        scan_s = time.perf_counter() - started
        self._follow_up(t)
        if self.guardrail.alarm:
            self.controller.demote(f"guardrail: pt's leftovers resumed more often than it predicted "
                                   f"(e-value {self.guardrail.value:.1f} >= {self.guardrail.threshold:g})")
        best = t.inference.posterior.argmax(axis=1)
        action = t.decision.action
        live = ~t.snapshot["kernel_thread"]
        step = Step(time=now, scan_s=scan_s, processes=int(live.sum()), contention=contention(t.window),
                    by_class={c: int(np.count_nonzero(best[live] == i)) for i, c in enumerate(CLASSES)},
                    recommended={a: int(np.count_nonzero(action[live] == i))
                                 for i, a in enumerate(ACTIONS) if a != "keep"})
        acted_ids = self._rescue(t, step)
        acted_ids |= self._act(t, step, now, exclude=acted_ids)
        self.controller.record(now, acted=sum(a["result"] in ("done", "exited") for a in step.acted),
                               failed=step.failed, wanted_more=step.note == "canary budget reached")
        self._remember_leftovers(t, exclude=acted_ids)
        self.controller.window(now, clean=not (why_off or self.guardrail.alarm or step.failed))
        if self.telemetry and (acted_ids or self.steps % self.record_every == 0):
            self._record({"kind": "scan", "triage": t, "scan_s": scan_s})
        self.steps += 1
        self.totals["scans"] += 1
        self.totals["failed"] += step.failed
        for a in step.acted:
            self.totals["acted"][a["action"]] = self.totals["acted"].get(a["action"], 0) + 1
        self.last = step
        return step

    def _follow_up(self, t) -> None:
        """Did last interval's leftovers resume? One guardrail observation each."""
        if not self.followups:
            return
        snap = t.snapshot
        ticks = (snap["utime"] + snap["stime"]).astype(np.int64)
        now = {(int(p), int(s)): int(k) for p, s, k in zip(snap["pid"], snap["start_ticks"], ticks)}
        for key, (q, before) in self.followups.items():
            after = now.get(key)
            if after is not None:                # an exit is not a resumption: no observation
                self.guardrail.update(q, int(after - before >= RESUME_TICKS))
        self.followups = {}

    def _remember_leftovers(self, t, exclude: set) -> None:
        """Processes recommended for action (selected, not acted on by the
        watcher) are followed up next interval with q = P(in use)."""
        snap, post = t.snapshot, t.inference.posterior
        rows = np.flatnonzero(self.selection.rows(t, t.decision.action) & (t.decision.action != 0))
        in_use = post[:, CLASSES.index("useful")] + post[:, CLASSES.index("useful_bad")]
        ticks = (snap["utime"] + snap["stime"]).astype(np.int64)
        for row in rows.tolist():
            key = (int(snap["pid"][row]), int(snap["start_ticks"][row]))
            if key not in exclude:
                self.followups[key] = (float(min(1.0, max(0.0, in_use[row]))), int(ticks[row]))

    def _rescue(self, t, step: Step) -> set:
        """Under a forecast of memory running out within the horizon: the
        cheapest kills that free enough (pt.watch.rescue), carried out only
        where the mode allows kill; always reported."""
        from pt.watch.rescue import rescue, shortfall
        need = shortfall(self.forecast, self.urgency.horizon_s)
        r = rescue(t, need, self.selection.rows(t, t.decision.action)) if need > 0 else None
        if r is None:
            return set()
        pids = [int(p) for p in t.snapshot["pid"][r.rows]]
        step.rescue = {"need_bytes": r.need_bytes, "pids": pids, "freed_bytes": r.freed_bytes,
                       "cost": r.cost, "oom_pid": r.oom_pid, "oom_cost": r.oom_cost, "worth_it": r.worth_it}
        if not r.worth_it or "kill" not in self.controller.allowed(self.allow_kill):
            return set()
        from pt.act.plan import Selection
        reason = (f"pt watch memory rescue: MemAvailable forecast to reach the floor; frees "
                  f"{r.freed_bytes / 2**20:.0f} MB at expected loss {r.cost:.2f}, below {r.oom_cost:.2f} "
                  f"for the OOM killer's likely pick (pid {r.oom_pid})")
        return self._apply(t, step, Selection(pids=tuple(pids)), do="kill", reason=reason)

    def _act(self, t, step: Step, now: float, exclude: set = frozenset()) -> set:
        """Plan and apply what the mode allows; the identities acted on."""
        allowed = self.controller.allowed(self.allow_kill)
        if not allowed:
            return set()
        snap = t.snapshot
        done = np.array([(int(p), int(s)) in exclude for p, s in zip(snap["pid"], snap["start_ticks"])],
                        dtype=bool) if exclude else np.zeros(len(snap), dtype=bool)
        wanted = ~done & self.selection.rows(t, t.decision.action) & np.isin(
            t.decision.action, [ACTIONS.index(a) for a in allowed]) & np.equal(t.protected_by, None)
        rows = np.flatnonzero(wanted)
        if not len(rows):
            return set()
        budget = self.controller.budget_left(now)
        if budget is not None and len(rows) > budget:
            # Most loss saved first, weighted by the CPU wait each one adds for everyone else.
            saved = t.decision.expected_loss[rows, 0] - t.decision.expected_loss[rows, t.decision.action[rows]]
            rows = rows[np.argsort(-saved * (1.0 + self._added_wait(t, rows)), kind="stable")[:budget]]
            step.note = "canary budget reached"
        rows = self._confirmed(t, rows, step, allowed)
        if not len(rows):
            return set()
        selection = dataclasses.replace(self.selection, pids=tuple(int(p) for p in t.snapshot["pid"][rows]),
                                        actions=tuple(allowed))
        return self._apply(t, step, selection)

    def _added_wait(self, t, rows: np.ndarray) -> np.ndarray:
        """Mean CPU wait (in service times) each row's demand adds for others (M/M/c)."""
        from pt.watch.queueing import added_wait, offered_load
        w = t.window
        demand = (w.ticks[rows] + np.maximum(w.wait_ticks[rows], 0)) / max(w.window_ticks, 1)
        load = max(offered_load(w), float(demand.sum()))
        return np.minimum(added_wait(os.cpu_count() or 1, load, demand), 1e6)

    def _confirmed(self, t, rows: np.ndarray, step: Step, allowed: tuple[str, ...]) -> np.ndarray:
        """The rows a deep scan confirms: before acting on its own, the
        watcher watches the candidates (at most ``deep_max_s``, less once
        their value of information is spent) and acts only where the deep
        verdict also calls for an action it may take, so a worker that merely
        looked idle in the quick window is left alone. The deep scan is a
        gate, not a re-chooser: the action carried out is the quick scan's,
        whose plan holds its ledger."""
        if not self.deep_check:
            return rows
        from pt.act.plan import Selection
        from pt.deep import deep_scan
        quick = t.snapshot
        deep = deep_scan(Selection(pids=tuple(int(p) for p in quick["pid"][rows])), max_time_s=self.deep_max_s,
                         policy=self.policy)
        snap = deep.quick.snapshot
        verdict = {(int(snap["pid"][r]), int(snap["start_ticks"][r])): ACTIONS[int(a)]
                   for r, a in zip(deep.rows, deep.decision.action)}
        said = [verdict.get((int(quick["pid"][r]), int(quick["start_ticks"][r]))) for r in rows]
        agree = np.array([a in allowed for a in said], dtype=bool)
        step.deep = {"seconds": round(deep.elapsed_s, 2),
                     "verdicts": {int(quick["pid"][r]): a or "not watched" for r, a in zip(rows, said)},
                     "overturned": [int(quick["pid"][r]) for r in rows[~agree]]}
        return rows[agree]

    def _apply(self, t, step: Step, selection, do: str | None = None, reason: str | None = None) -> set:
        """Make, save and apply a plan, as `pt plan` + `pt apply --yes` would;
        the identities it acted on (added to ``step``)."""
        from pt.act.apply import apply_plan
        from pt.act.journal import Journal
        from pt.act.plan import make_plan, save_plan
        plan = make_plan(t, selection, do=do, chosen_by=reason)
        if not plan["actions"]:
            return set()
        save_plan(plan)
        journal = Journal()
        records = apply_plan(plan, journal=journal, policy=self.policy)
        if self.telemetry and journal.written:
            self._record({"kind": "actions", "records": journal.written})
        step.plan_id = plan["plan_id"]
        step.failed += sum(r["result"] == "failed" for r in records)
        step.acted += [{"pid": r["pid"], "action": r["action"], "result": r["result"]} for r in records]
        return {(r["pid"], r["start_ticks"]) for r in records}

    def _record(self, payload: dict) -> None:
        """Hand a lake write to a child process (see pt.watch.record)."""
        from pt.watch import record
        self.reap()
        self.recorders.append(record.start({**payload, "lake": self.lake}))

    def reap(self, wait: bool = False) -> None:
        """Collect finished lake writers; keep the last failure's reason."""
        running = []
        for child in self.recorders:
            if wait:
                child.wait()
            if child.poll() is None:
                running.append(child)
                continue
            err = child.stderr.read().decode("utf-8", "replace").strip()
            child.stderr.close()
            if child.returncode:
                self.telemetry_note = err.splitlines()[-1] if err else f"lake writer exited {child.returncode}"
        self.recorders = running

    def status(self, now: float | None = None) -> dict:
        """The watcher's state for ``--status``, the status file and metrics."""
        now = time.time() if now is None else now
        p = self.pressure
        return {
            "time": now,
            **self.controller.as_dict(now),
            "interval_s": self.interval_s,
            "next_interval_s": round(self.next_interval(), 3),
            "steps": self.steps,
            "guardrail": self.guardrail.as_dict(),
            "urgency": round(self.urgency.value, 4),
            "pressure": None if p is None else {
                "psi": p.psi, "mem_available_bytes": p.mem_available, "mem_total_bytes": p.mem_total,
                "cpu_pressure": round(p.cpu_pressure(), 4), "note": p.note},
            "forecast": self.forecast.as_dict(),
            "last": None if self.last is None else dataclasses.asdict(self.last),
            "totals": self.totals,
            "telemetry_note": self.telemetry_note,
        }

