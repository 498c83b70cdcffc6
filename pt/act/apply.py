"""Carrying out a confirmed plan, undoing it, and checking what happened.

``apply_plan`` is idempotent and resumable: it holds the journal lock, skips
actions that already have an outcome, re-verifies every target's identity
and re-checks every guard, journals all intents (fsync) before the first
signal, then acts and journals the outcomes. An apply killed halfway leaves
intents without outcomes; the next apply of the same plan finishes them.
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass

from pt.act import guards, remedies
from pt.act.identity import Identity, IdentityMismatch, Target, boot_id, cmd_hash, wait_exited
from pt.act.journal import ACTED_RESULTS, Journal, outcomes_by_action, pending_intents
from pt.act.plan import PlanError
from pt.config import Policy, load_policy

#: How long a process may take to die after SIGKILL before pt reports it still running.
SIGKILL_WAIT_S = 2.0


@dataclass
class Step:
    """One planned action on its way through apply: its plan entry, open
    target, and the outcome once known."""

    entry: dict
    target: Target | None = None
    outcome: remedies.Outcome | None = None
    resumed: bool = False

    @property
    def action_id(self) -> str:
        return self.entry["action_id"]


def check_usable(plan: dict, now: float) -> None:
    """Refuse a whole plan that expired or was made on another boot."""
    if now > plan["expires_at"]:
        age = now - plan["created_at"]
        raise PlanError(f"plan {plan['plan_id']} expired {now - plan['expires_at']:.0f} s ago "
                        f"(made {age:.0f} s ago; policy actions.plan_ttl_s); make a new one with `pt plan`")
    current = boot_id()
    if plan["host"].get("boot_id") and current and plan["host"]["boot_id"] != current:
        raise PlanError(f"plan {plan['plan_id']} was made before the machine last rebooted")


def _record(plan_id: str, entry: dict, kind: str, **extra) -> dict:
    t = entry["target"]
    return {"kind": kind, "plan_id": plan_id, "action_id": entry["action_id"], "action": entry["action"],
            "boot_id": t["boot_id"], "pid": t["pid"], "start_ticks": t["start_ticks"], "uid": t["uid"],
            "cmd_hash": t["cmd_hash"], **extra}


def _intent(plan: dict, entry: dict) -> dict:
    """The intent record carries the justification, so ``pt explain --plan``
    can show why from the journal alone."""
    why = {k: entry[k] for k in ("comm", "command", "category", "posterior", "expected_loss", "why",
                                 "ledger", "requested") if k in entry}
    return _record(plan["plan_id"], entry, "intent", params=entry["params"], justification=why)


def _outcome(plan_id: str, step: Step) -> dict:
    o = step.outcome
    params = dict(step.entry["params"])
    if o.undo:
        params["undo"] = o.undo
    params.update(o.extra)
    return _record(plan_id, step.entry, "outcome", params=params, result=o.result, detail=o.detail,
                   exit_status=o.exit_status)


def apply_plan(plan: dict, *, journal: Journal | None = None, policy: Policy | None = None,
               now: float | None = None, on_outcome=None) -> list[dict]:
    """Apply ``plan``; returns one outcome record per action (earlier ones from the journal).

    ``on_outcome(record)`` is called as each outcome is known (progress display).
    """
    now = time.time() if now is None else now
    check_usable(plan, now)
    journal = journal or Journal()
    policy = policy or load_policy()
    plan_id = plan["plan_id"]
    entries = [{**a, "action_id": f"{plan_id}:{a['index']}"} for a in plan["actions"]]
    with journal.locked():
        history = journal.records()
        mine = [r for r in history if r.get("plan_id") == plan_id]
        finished = outcomes_by_action(mine)
        pending = pending_intents(mine)
        steps = [Step(e, resumed=e["action_id"] in pending) for e in entries if e["action_id"] not in finished]
        _guard(steps, policy, guards.Budget(policy.actions, history, now), now)
        # Write-ahead: every intent durable before the first signal.
        journal.append([_intent(plan, s.entry) for s in steps if s.outcome is None])
        try:
            _execute([s for s in steps if s.outcome is None], plan_id)
        finally:
            for s in steps:
                if s.target is not None:
                    s.target.close()
            written = [_outcome(plan_id, s) for s in steps if s.outcome is not None]
            journal.append(written)
        if on_outcome:
            for record in written:
                on_outcome(record)
    new = {r["action_id"]: r for r in written}
    earlier = {aid: {**r, "earlier": True} for aid, r in finished.items()}
    return [earlier.get(e["action_id"]) or new[e["action_id"]] for e in entries]


def _guard(steps: list[Step], policy: Policy, budget: guards.Budget, now: float) -> None:
    """Open and verify each target and apply every guard; a step that fails
    one gets its (final) outcome here and is never acted on."""
    live = []
    for step in steps:
        identity = Identity.from_dict(step.entry["target"])
        try:
            step.target = Target.open(identity)
        except IdentityMismatch as exc:
            if step.resumed and step.entry["action"] == "kill":
                step.outcome = remedies.Outcome("exited", "gone after the interrupted apply's signal")
            else:
                step.outcome = remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")
            continue
        live.append(step)
    protected = guards.vetoes([s.entry["target"] for s in live], policy) if live else []
    locked = guards.locked_pids()
    for step, veto in zip(live, protected):
        entry, action = step.entry, step.entry["action"]
        age = now - entry["start_time"]
        reason = None
        if veto is not None:
            reason = f"protected: {veto}"
        elif age < policy.actions.min_age_s:
            reason = f"too young: {age:.0f} s old, policy actions.min_age_s is {policy.actions.min_age_s:.0f} s"
        elif action in guards.DESTRUCTIVE and entry.get("state") != "Z":
            risk = guards.data_at_risk(entry["target"]["pid"], entry.get("write_bytes"), locked)
            reason = f"data-loss gate: {risk}" if risk else None
        if reason is None:
            reason = budget.refuse(action, entry["target"], entry["start_time"])
        if reason is not None:
            step.outcome = remedies.Outcome("refused", reason)


def _execute(steps: list[Step], plan_id: str) -> None:
    kills = []
    for step in steps:
        entry, target = step.entry, step.target
        action, params = entry["action"], entry["params"]
        group = f"{plan_id}-{entry['index']}"
        try:
            if action == "kill" and entry.get("state") == "Z":
                step.outcome = remedies.reap_zombie(target)
            elif action == "kill":
                kills.append(step)
            elif action == "pause":
                step.outcome = remedies.pause(target, params, group)
            elif action == "renice":
                step.outcome = remedies.renice(target, params)
            elif action == "throttle":
                step.outcome = remedies.throttle(target, params, group)
            elif action == "quarantine":
                step.outcome = remedies.quarantine(target, params, group)
            elif action == "restart":
                step.outcome = remedies.restart(target, params)
            else:
                step.outcome = remedies.Outcome("done", "keep: nothing to do")
        except IdentityMismatch as exc:
            step.outcome = remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")
        except (ProcessLookupError, PermissionError) as exc:
            step.outcome = remedies.Outcome("failed", f"{action}: {exc.strerror or exc}")
    _kill(kills)


def _kill(steps: list[Step]) -> None:
    """First signal to every target, one shared grace period, SIGKILL to the rest."""
    sent = []
    for step in steps:
        sig = signal.Signals[step.entry["params"].get("signal", "SIGTERM")]
        try:
            step.target.send(sig)
            sent.append(step)
        except (IdentityMismatch, ProcessLookupError) as exc:
            step.outcome = remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")
        except PermissionError as exc:
            step.outcome = remedies.Outcome("failed", f"{sig.name}: {exc.strerror}")
    if not sent:
        return
    started = time.monotonic()
    grace = max(float(s.entry["params"].get("grace_s", 5.0)) for s in sent)
    wait_exited([s.target for s in sent], started + grace)
    stubborn = []
    for step in sent:
        first = step.entry["params"].get("signal", "SIGTERM")
        if step.target.exited():
            step.outcome = remedies.Outcome("exited", f"exited after {first}",
                                            exit_status=step.target.exit_code())
            continue
        try:
            step.target.send(signal.SIGKILL)
            stubborn.append(step)
        except ProcessLookupError:
            step.outcome = remedies.Outcome("exited", f"exited after {first}")
    wait_exited([s.target for s in stubborn], time.monotonic() + SIGKILL_WAIT_S)
    for step in stubborn:
        first = step.entry["params"].get("signal", "SIGTERM")
        if step.target.exited():
            step.outcome = remedies.Outcome(
                "exited", f"ignored {first} for {grace:g} s; exited after SIGKILL",
                exit_status=step.target.exit_code())
        else:
            step.outcome = remedies.Outcome(
                "still_running", f"still running {SIGKILL_WAIT_S:g} s after SIGKILL (uninterruptible sleep?)")


# --- undo ---------------------------------------------------------------------------

def undo_plan(plan: dict, *, journal: Journal | None = None) -> list[dict]:
    """Revert every reversible action of ``plan`` that pt carried out and has
    not undone yet; returns the undo outcome records (empty if nothing to undo)."""
    journal = journal or Journal()
    plan_id = plan["plan_id"]
    with journal.locked():
        records = journal.records(plan_id)
        finished = outcomes_by_action(records)
        todo = [r for aid, r in finished.items() if not aid.endswith(":undo")
                and r["result"] in ACTED_RESULTS and r.get("params", {}).get("undo")
                and f"{aid}:undo" not in finished]
        out = []
        for record in todo:
            undo = record["params"]["undo"]
            entry = {"action_id": f"{record['action_id']}:undo", "action": f"undo-{record['action']}",
                     "target": {k: record[k] for k in ("boot_id", "pid", "start_ticks", "uid", "cmd_hash")}}
            journal.append([_record(plan_id, entry, "intent", params=undo)])
            outcome = _undo_one(record, undo)
            out.append(_record(plan_id, entry, "outcome", params=undo, result=outcome.result,
                               detail=outcome.detail, exit_status=None))
            journal.append([out[-1]])
        return out


def _undo_one(record: dict, undo: dict) -> remedies.Outcome:
    identity = Identity(record["boot_id"], record["pid"], record["start_ticks"], record["uid"], None,
                        record["cmd_hash"])
    try:
        target = Target.open(identity)
    except IdentityMismatch as exc:
        if undo["action"] == "uncgroup":
            from pathlib import Path

            from pt.act.cgroups import remove_group
            remove_group(Path(undo["group"]))
        return remedies.Outcome("aborted", f"nothing to undo: {exc}")
    with target:
        if undo["action"] == "resume":
            return remedies.resume(target)
        if undo["action"] == "renice":
            return remedies.renice_back(target, undo)
        if undo["action"] == "uncgroup":
            return remedies.uncgroup(target, undo)
    return remedies.Outcome("failed", f"unknown reversal {undo['action']!r}")


# --- verify -------------------------------------------------------------------------

def verify_plan(plan: dict, *, journal: Journal | None = None, root: str = "/proc") -> list[dict]:
    """What became of each target: the journalled outcome, whether the process
    is still there (and in what state), and for one that is gone whether its
    command came back (same command line and owner, started after pt acted)."""
    from pt.act.identity import read_stat
    from pt.collect import collect

    journal = journal or Journal()
    finished = outcomes_by_action(journal.records(plan["plan_id"]))
    snapshot = collect(root)
    hashes = {}
    for row, argv in enumerate(snapshot["cmdline"]):
        hashes.setdefault(cmd_hash(list(argv or ())), []).append(row)
    out = []
    for a in plan["actions"]:
        aid = f"{plan['plan_id']}:{a['index']}"
        t = a["target"]
        outcome = finished.get(aid)
        stat = read_stat(t["pid"])
        alive = stat is not None and stat.start_ticks == t["start_ticks"] and stat.state not in "ZX"
        row = {"index": a["index"], "pid": t["pid"], "comm": a["comm"], "action": a["action"],
               "result": outcome["result"] if outcome else "not applied",
               "detail": outcome["detail"] if outcome else "", "alive": alive,
               "state": stat.state if alive else None,
               "undone": f"{aid}:undo" in finished, "respawned_as": []}
        if outcome and not alive and outcome["result"] in ACTED_RESULTS:
            rows = [r for r in hashes.get(t["cmd_hash"], [])
                    if snapshot["uid"][r] == t["uid"] and snapshot["start_time"][r] >= outcome["ts"] - 1]
            row["respawned_as"] = [int(snapshot["pid"][r]) for r in rows]
        out.append(row)
    return out
