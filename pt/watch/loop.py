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

from pt.config import ACTIONS, CLASSES, load_policy
from pt.watch.guardrail import EDetector, ForecastDetector
from pt.watch.modes import ModeController
from pt.watch.pressure import MemoryForecast, Urgency, read_pressure
from pt.watch.tail import JumpTail

#: CPU ticks a process must add between two scans to count as having resumed
#: (one tick is the accounting noise of an idle process woken by a signal).
RESUME_TICKS = 2
#: Observe mode lists at most this many of canary's candidates (most loss saved first).
PREVIEW_MAX = 20


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
    cgroups: list = field(default_factory=list)      # limited cgroups: headroom, forecast, rescue
    preview: dict | None = None                      # observe: what canary would do, deep-checked


@dataclass
class Watcher:
    """State carried from one interval to the next."""

    controller: ModeController
    selection: object                  # pt.act.plan.Selection: what the watcher may act on
    interval_s: float = 30.0
    allow_kill: bool = False
    kill_switch: object = None         # callable -> str | None (why the switch is on)
    guardrail: EDetector = field(default_factory=EDetector)
    forecast_check: ForecastDetector = field(default_factory=ForecastDetector)
    forecast: MemoryForecast = field(default_factory=lambda: MemoryForecast(floor_bytes=0.0))
    urgency: Urgency = field(default_factory=Urgency)
    jumps: JumpTail = field(default_factory=JumpTail)
    p_jump: float | None = None
    policy: object = None
    lake: str | None = None
    telemetry: bool = True
    record_every: int = 10             # write every Nth scan to the lake (and every scan that acted)
    deep_check: bool = True            # confirm by a deep scan before acting (see _confirmed)
    deep_max_s: float = 15.0
    procfs: str = "/proc"              # where pressure and memory are read (a recorded series in tests)
    cgroup_root: str | None = "/sys/fs/cgroup"      # where limited cgroups are found (None: host memory only)
    cgroups: dict = field(default_factory=dict)      # cgroup path -> (CgroupMemory, its MemoryForecast)
    clock: object = time.monotonic    # system-wide since boot: the budget survives a restart of the watcher
    followups: dict = field(default_factory=dict)    # (pid, start_ticks) -> (q, ticks)
    observed: set = field(default_factory=set)       # identities the guardrail has already counted
    acted_on: set = field(default_factory=set)       # identities this watcher acted on, ever (this boot)
    previewed: dict = field(default_factory=dict)    # observe: (identity, quick action) -> deep verdict
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
            self._check_forecast("host", sample.time, sample.mem_available, self.forecast)
            self.jumps.update(float(sample.mem_available))
            intervals = max(1, round(self.urgency.horizon_s / self.interval_s))
            self.p_jump = self.jumps.p_exceed(sample.mem_available - self.forecast.floor_bytes, intervals)
        self.urgency.update(sample, self.forecast, self.p_jump)
        self._sample_cgroups(sample)
        self.pressure = sample

    def _sample_cgroups(self, sample) -> None:
        """Each cgroup with a memory limit below the host's RAM gets its own
        forecast of its headroom (floor 5 % of its limit, as the host's of
        RAM; 5 samples over 4 intervals at least). One heading to its floor
        within the horizon raises the urgency as the host's would."""
        if self.cgroup_root is None:
            return
        from pt.watch.cgroup import limited_cgroups
        seen = {}
        for group in limited_cgroups(self.cgroup_root, below_bytes=sample.mem_total or None):
            _, forecast = self.cgroups.get(group.path, (None, None))
            if forecast is None or forecast.floor_bytes != 0.05 * group.limit:     # new, or its limit changed
                forecast = MemoryForecast(floor_bytes=0.05 * group.limit, min_span_s=4 * self.interval_s)
            forecast.update(sample.time, float(group.available))
            self._check_forecast(group.path, sample.time, group.available, forecast)
            seen[group.path] = (group, forecast)
            tte = forecast.seconds_to_floor()
            if tte is not None and tte <= self.urgency.horizon_s:
                self.urgency.value = max(self.urgency.value, 0.7)
        self.cgroups = seen
        self.forecast_check.forget_except({"host", *seen})

    def _check_forecast(self, scope: str, now: float, available: float, forecast: MemoryForecast) -> None:
        """Feed the forecast-calibration guardrail: forecasts within the horizon only."""
        tte = forecast.seconds_to_floor()
        within = tte if tte is not None and tte <= self.urgency.horizon_s else None
        self.forecast_check.observe(scope, now, float(available), forecast.floor_bytes, within)

    def next_interval(self) -> float:
        return self.urgency.interval(self.interval_s)

    def step(self) -> Step:
        """One interval: pressure, scan, follow-up, mode, maybe act."""
        from pt.decide.stability import verdict_memory
        from pt.triage import triage

        now = self.clock()
        wall = time.time()
        self.reap()
        self.sample_pressure()
        why_off = self.kill_switch() if self.kill_switch else None
        if why_off:
            self.controller.demote(f"kill switch: {why_off}")
        started = time.perf_counter()
        t = self._with_queueing(triage(policy=self.policy, memory=verdict_memory()))
        scan_s = time.perf_counter() - started
        self._follow_up(t)
        alarm = self.guardrail.alarm
        if alarm:
            self.controller.demote(f"guardrail: pt's leftovers resumed more often than it predicted "
                                   f"(detector {self.guardrail.value:.1f} >= {self.guardrail.threshold:g})")
            self.guardrail.reset()
        check = self.forecast_check
        if check.alarm:
            alarm = True
            self.controller.demote(f"guardrail: the memory forecast is systematically wrong ({check.early} of "
                                   f"{check.resolved} forecast floors did not come by their time; detector "
                                   f"{check.value:.1f} >= {check.threshold:g})")
            check.reset()
        best = t.inference.posterior.argmax(axis=1)
        action = t.decision.action
        live = ~t.snapshot["kernel_thread"]
        step = Step(time=wall, scan_s=scan_s, processes=int(live.sum()), contention=contention(t.window),
                    by_class={c: int(np.count_nonzero(best[live] == i)) for i, c in enumerate(CLASSES)},
                    recommended={a: int(np.count_nonzero(action[live] == i))
                                 for i, a in enumerate(ACTIONS) if a != "keep"})
        acted_ids = self._rescue(t, step)
        self.acted_on |= acted_ids                    # not acted on again in the same interval
        acted_ids |= self._act(t, step, now)
        self.acted_on |= acted_ids
        self._preview(t, step)
        if acted_ids:
            self.forecast_check.drop()                # memory freed by the watcher: no forecast can be judged
        self.controller.record(now, acted=sum(a["result"] in ("done", "exited") for a in step.acted),
                               failed=step.failed, wanted_more=step.note == "canary budget reached")
        self._remember_leftovers(t)
        self.controller.window(now, clean=not (why_off or alarm or step.failed))
        if self.telemetry and (acted_ids or self.steps % self.record_every == 0):
            self._record({"kind": "scan", "triage": t, "scan_s": scan_s})
        self.steps += 1
        self.totals["scans"] += 1
        self.totals["failed"] += step.failed
        for a in step.acted:
            self.totals["acted"][a["action"]] = self.totals["acted"].get(a["action"], 0) + 1
        self.last = step
        return step

    def _with_queueing(self, t):
        """The scan decided again with the CPU wait each process adds for
        everyone in the loss of keeping it (pt.watch.queueing, the
        ``queueing`` policy): a runaway costs more on a loaded machine. On
        an idle one the added waits are negligible and the scan's own
        decision stands."""
        from pt.decide.loss import decide
        from pt.watch.queueing import keep_wait
        wait = keep_wait(t.window, os.cpu_count() or 1)
        if not len(wait) or float(np.max(wait)) * t.policy.queueing.scale < 1e-3:
            return t
        decision = decide(t.inference, t.policy, impact=t.decision.impact, available=t.context.available,
                          protected=np.not_equal(t.protected_by, None), previous=t.previous, queueing=wait,
                          kill_gate=t.kill_gate)
        return dataclasses.replace(t, decision=decision)

    def _follow_up(self, t) -> None:
        """Did last interval's leftovers resume? One guardrail observation
        for the interval, over the processes seen for the first time."""
        if not self.followups:
            self.guardrail.update([], [])
            return
        snap = t.snapshot
        ticks = (snap["utime"] + snap["stime"]).astype(np.int64)
        now = dict(zip(zip(snap["pid"].tolist(), snap["start_ticks"].tolist()), ticks.tolist()))
        qs, ys = [], []
        for key, (q, before) in self.followups.items():
            after = now.get(key)
            if after is not None and key not in self.acted_on:   # an exit is not a resumption
                qs.append(q)
                ys.append(int(after - before >= RESUME_TICKS))
                self.observed.add(key)
        self.guardrail.update(qs, ys)
        self.followups = {}
        self.observed &= set(now)                     # forget processes that are gone

    def _remember_leftovers(self, t) -> None:
        """Processes recommended for action (selected, never acted on by the
        watcher, not counted before) are followed up next interval with
        q = P(in use)."""
        snap, post = t.snapshot, t.inference.posterior
        rows = np.flatnonzero(self.selection.rows(t, t.decision.action) & (t.decision.action != 0))
        in_use = post[:, CLASSES.index("useful")] + post[:, CLASSES.index("useful_bad")]
        ticks = (snap["utime"] + snap["stime"]).astype(np.int64)
        for row in rows.tolist():
            key = (int(snap["pid"][row]), int(snap["start_ticks"][row]))
            if key not in self.acted_on and key not in self.observed:
                self.followups[key] = (float(min(1.0, max(0.0, in_use[row]))), int(ticks[row]))

    def may_kill(self, step: Step) -> bool:
        """``--allow-kill``, and the learning loop's false-kill bound (from
        ``pt calibrate``) not above its target where there is one."""
        if not self.allow_kill:
            return False
        from pt.learn.gate import kill_gate
        why = kill_gate(self.policy or load_policy())
        if why:
            step.note = why
            return False
        return True

    def _rescue(self, t, step: Step) -> set:
        """Under a forecast of memory running out: the cheapest kills that
        free enough (pt.watch.rescue), carried out only where the mode allows
        kill; always reported. The host when MemAvailable is low now and
        forecast to reach the floor within the horizon; each limited cgroup,
        whose OOM killer chooses among its own processes only, when its
        headroom is forecast to reach its floor before the watcher's
        next-but-one look (acting later could be too late)."""
        from pt.watch.rescue import shortfall
        eligible = self.selection.rows(t, t.decision.action)
        low_now = self.pressure is not None and self.pressure.mem_available_fraction < self.urgency.target
        need = shortfall(self.forecast, self.urgency.horizon_s) if low_now else 0.0
        done = self._propose(t, step, need, eligible, None, "MemAvailable forecast to reach the floor")
        act_by = 2 * self.next_interval() + step.scan_s
        from pt.watch.cgroup import ancestor_rows, members
        index = ancestor_rows(t.context.units.cgroup) if self.cgroups else {}
        for path, (group, forecast) in self.cgroups.items():
            within = members(group, t.snapshot["pid"], index)
            entry = {**group.as_dict(), "processes": int(within.sum()), "forecast": forecast.as_dict(),
                     "rescue": None}
            step.cgroups.append(entry)
            need = shortfall(forecast, act_by)
            if need > 0 and within.any():
                done |= self._propose(t, step, need, eligible & within, within,
                                      f"cgroup {path[:200]} forecast to reach its memory limit", entry)
        return done

    def _propose(self, t, step: Step, need: float, eligible, oom_candidates, why: str, report: dict | None = None):
        """Price a rescue of ``need`` bytes, report it (in ``report``, else
        the step's host rescue) and carry it out where worth it and allowed."""
        from pt.watch.rescue import rescue
        r = rescue(t, need, eligible, oom_candidates, procfs=self.procfs) if need > 0 else None
        if r is None:
            return set()
        pids = [int(p) for p in t.snapshot["pid"][r.rows]]
        proposal = {"need_bytes": r.need_bytes, "pids": pids, "freed_bytes": r.freed_bytes, "cost": r.cost,
                    "oom_pid": r.oom_pid, "oom_cost": r.oom_cost, "worth_it": r.worth_it}
        if report is None:
            step.rescue = proposal
        else:
            report["rescue"] = proposal
        if not r.worth_it or "kill" not in self.controller.allowed(self.may_kill(step)):
            return set()
        from pt.act.plan import Selection
        reason = (f"pt watch memory rescue: {why}; frees {r.freed_bytes / 2**20:.0f} MB at expected loss "
                  f"{r.cost:.2f}, below {r.oom_cost:.2f} for the OOM killer's likely pick (pid {r.oom_pid})")
        return self._apply(t, step, Selection(pids=tuple(pids)), do="kill", reason=reason)

    def _act(self, t, step: Step, now: float) -> set:
        """Plan and apply what the mode allows; the identities acted on. A
        process the watcher already acted on is not acted on again: one
        action each until a person undoes it (or it exits)."""
        allowed = self.controller.allowed(self.allow_kill and self.may_kill(step))
        if not allowed:
            return set()
        snap = t.snapshot
        done = np.array([(int(p), int(s)) in self.acted_on for p, s in zip(snap["pid"], snap["start_ticks"])],
                        dtype=bool) if self.acted_on else np.zeros(len(snap), dtype=bool)
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
        if not len(rows):
            return set()
        rows = self._confirmed(t, rows, step, allowed)
        if not len(rows):
            return set()
        selection = dataclasses.replace(self.selection, pids=tuple(int(p) for p in t.snapshot["pid"][rows]),
                                        actions=tuple(allowed))
        return self._apply(t, step, selection)

    def _preview(self, t, step: Step) -> None:
        """Observe: what canary would do and why, without acting. Canary's
        candidates (selected, a reversible action recommended, no veto) are
        deep-scanned as canary would before acting, within the same time
        budget; each (process, quick action) once, the most loss saved
        first and at most canary's hourly budget of new ones an interval,
        so a calm watch deep-scans nothing. Nothing is signalled."""
        from pt.watch.modes import REVERSIBLE
        if self.controller.mode != "observe" or not self.deep_check:
            return
        snap, action = t.snapshot, t.decision.action
        wanted = self.selection.rows(t, action) & np.isin(action, [ACTIONS.index(a) for a in REVERSIBLE]) \
            & np.equal(t.protected_by, None)
        rows = np.flatnonzero(wanted)
        keys = [((int(snap["pid"][r]), int(snap["start_ticks"][r])), ACTIONS[int(action[r])]) for r in rows]
        saved = t.decision.expected_loss[rows, 0] - t.decision.expected_loss[rows, action[rows]]
        fresh = [i for i in np.argsort(-saved, kind="stable").tolist() if keys[i] not in self.previewed]
        fresh = fresh[:self.controller.budget_per_hour]
        seconds = 0.0
        if fresh:
            verdict, seconds = self._deep_verdicts(t, rows[fresh])
            for i in fresh:
                self.previewed[keys[i]] = verdict.get(keys[i][0]) or "not watched"
        self.previewed = {k: v for k, v in self.previewed.items() if k in set(keys)}   # gone, or verdict changed
        order = np.argsort(-saved, kind="stable")[:PREVIEW_MAX].tolist()
        candidates = [{"pid": keys[i][0][0], "quick": keys[i][1], "deep": self.previewed.get(keys[i], "not yet watched"),
                       "loss_saved": round(float(saved[i]), 3)} for i in order]
        step.preview = {"deep_seconds": round(seconds, 2), "candidates": candidates,
                        "would_do": [c for c in candidates if c["deep"] in REVERSIBLE]}

    def _deep_verdicts(self, t, rows: np.ndarray) -> tuple[dict, float]:
        """Deep-scan ``rows`` (at most ``deep_max_s``): identity -> the deep
        verdict's action, and the seconds it took."""
        from pt.act.plan import Selection
        from pt.deep import deep_scan
        quick = t.snapshot
        deep = deep_scan(Selection(pids=tuple(int(p) for p in quick["pid"][rows])), max_time_s=self.deep_max_s,
                         policy=self.policy)
        snap = deep.quick.snapshot
        return ({(int(snap["pid"][r]), int(snap["start_ticks"][r])): ACTIONS[int(a)]
                 for r, a in zip(deep.rows, deep.decision.action)}, deep.elapsed_s)

    def _added_wait(self, t, rows: np.ndarray) -> np.ndarray:
        """Mean CPU wait (in service times) each row's demand adds for others (M/M/c)."""
        from pt.watch.queueing import keep_wait
        return np.minimum(keep_wait(t.window, os.cpu_count() or 1)[rows], 1e6)

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
        quick = t.snapshot
        verdict, seconds = self._deep_verdicts(t, rows)
        said = [verdict.get((int(quick["pid"][r]), int(quick["start_ticks"][r]))) for r in rows]
        agree = np.array([a in allowed for a in said], dtype=bool)
        step.deep = {"seconds": round(seconds, 2),
                     "verdicts": {int(quick["pid"][r]): a or "not watched" for r, a in zip(rows, said)},
                     "overturned": [int(quick["pid"][r]) for r in rows[~agree]]}
        return rows[agree]

    def _apply(self, t, step: Step, selection, do: str | None = None, reason: str | None = None) -> set:
        """Make, save and apply a plan, as `pt plan` + `pt apply --yes` would;
        the identities it acted on (added to ``step``)."""
        from pt.act.apply import apply_plan
        from pt.act.journal import Journal
        from pt.act.plan import PlanError, make_plan, save_plan
        why_off = self.kill_switch() if self.kill_switch else None
        if why_off:                                   # switched on during the scan: not a single action
            self.controller.demote(f"kill switch: {why_off}")
            return set()
        plan = make_plan(t, selection, do=do, chosen_by=reason)
        if not plan["actions"]:
            return set()
        try:
            save_plan(plan)
        except (PlanError, OSError) as exc:           # too large, or the plans directory unusable: not acted
            step.failed += 1
            step.note = f"plan not saved, nothing done: {exc}"
            return set()
        journal = Journal()
        records = apply_plan(plan, journal=journal, policy=self.policy)
        if self.telemetry and journal.written:
            self._record({"kind": "actions", "records": journal.written})
        step.plan_id = plan["plan_id"]
        step.failed += sum(r["result"] == "failed" for r in records)
        step.acted += [{"pid": r["pid"], "action": r["action"], "result": r["result"]} for r in records]
        return {(r["pid"], r["start_ticks"]) for r in records}

    def _record(self, payload: dict) -> None:
        """Hand a lake write to a child process (see pt.watch.record); a
        failure to start it is noted, never fatal to the watch."""
        from pt.act.journal import state_dir
        from pt.safefs import private_dir
        from pt.watch import record
        self.reap()
        try:
            with private_dir(state_dir() / "watch") as directory:
                self.recorders.append(record.start({**payload, "lake": self.lake}, directory))
        except Exception as exc:                      # pickling, disk full, fork: the scan goes on
            self.telemetry_note = f"lake writer not started: {exc}"

    def reap(self, wait: bool = False) -> None:
        """Collect finished lake writers (each interval, so none lingers as a
        zombie); with ``wait``, give the running ones until
        ``record.STOP_WAIT_S`` and stop those still running then."""
        from pt.watch.record import STOP_WAIT_S
        running = []
        for child in self.recorders:
            if wait:
                try:
                    child.wait(timeout=STOP_WAIT_S)
                except Exception:                     # stopped, or hung: do not hang the watcher's exit
                    child.kill()
                    child.wait()
            if child.poll() is None:
                running.append(child)
                continue
            err = child.stderr.read().decode("utf-8", "replace").strip()
            child.stderr.close()
            if child.returncode:
                self.telemetry_note = err.splitlines()[-1] if err else f"lake writer exited {child.returncode}"
        self.recorders = running

    def memory(self, boot_id: str | None) -> dict:
        """What a restarted watcher must not forget (this boot): whom it acted
        on, when (the budget), a demotion, and the guardrail."""
        return {"boot_id": boot_id, "acted_on": sorted(self.acted_on),
                "acted_at": self.controller.acted_at, "demoted_because": self.controller.demoted_because,
                "guardrail": self.guardrail.state()}

    def restore(self, doc: dict | None, boot_id: str | None) -> None:
        """Take back :meth:`memory` from an earlier watcher on this boot; a
        memory from another boot, or not well formed, is ignored."""
        if not isinstance(doc, dict) or boot_id is None or doc.get("boot_id") != boot_id:
            return
        acted = doc.get("acted_on")
        if isinstance(acted, list):
            self.acted_on = {(p[0], p[1]) for p in acted if isinstance(p, list) and len(p) == 2
                             and all(isinstance(v, int) and v >= 0 for v in p)}
        times = doc.get("acted_at")
        now = self.clock()
        if isinstance(times, list):
            self.controller.acted_at = [float(x) for x in times
                                        if isinstance(x, (int, float)) and now - 3600.0 < x <= now]
        why = doc.get("demoted_because")
        if isinstance(why, str) and why:
            self.controller.demote(f"still, from the previous watcher: {why[:300]}")
        self.guardrail.restore(doc.get("guardrail"))

    def status(self, now: float | None = None) -> dict:
        """The watcher's state for ``--status``, the status file and metrics."""
        now = self.clock() if now is None else now
        p = self.pressure
        return {
            "time": time.time(),
            **self.controller.as_dict(now),
            "interval_s": self.interval_s,
            "next_interval_s": round(self.next_interval(), 3),
            "steps": self.steps,
            "guardrail": self.guardrail.as_dict(),
            "forecast_guardrail": self.forecast_check.as_dict(),
            "urgency": round(self.urgency.value, 4),
            "pressure": None if p is None else {
                "psi": p.psi, "mem_available_bytes": p.mem_available, "mem_total_bytes": p.mem_total,
                "cpu_pressure": round(p.cpu_pressure(), 4), "note": p.note},
            "forecast": {**self.forecast.as_dict(), "p_jump_to_floor": self.p_jump},
            "cgroups": [{"path": path, "limit_bytes": g.limit, "available_bytes": g.available,
                         "oom_kill": g.oom_kill, "forecast": f.as_dict()} for path, (g, f) in self.cgroups.items()],
            "last": None if self.last is None else dataclasses.asdict(self.last),
            "totals": self.totals,
            "telemetry_note": self.telemetry_note,
        }

