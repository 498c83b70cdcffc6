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

import numpy as np

from pt.act import guards, remedies
from pt.act.identity import (
    NOT_OWN_PIDNS,
    Identity,
    IdentityMismatch,
    Target,
    boot_id,
    cmd_hash,
    wait_exited,
)
from pt.act.journal import ACTED_RESULTS, Journal, outcomes_by_action, pending_intents, uptime_ticks
from pt.act.plan import PlanError
from pt.collect.host import pid_namespace, procfs_is_own_pidns
from pt.collect.procfs import LIVE
from pt.config import Policy, load_policy

#: How long a process may take to die after SIGKILL before pt reports it still running.
SIGKILL_WAIT_S = 2.0


@dataclass
class Step:
    """One planned action on its way through apply: its plan entry, open
    target, what it will change (``before``), and the outcome once known."""

    entry: dict
    target: Target | None = None
    outcome: remedies.Outcome | None = None
    resumed: dict | None = None          # the intent an interrupted apply left open
    before: dict | None = None
    live_state: str = "?"

    @property
    def action_id(self) -> str:
        return self.entry["action_id"]


def check_usable(plan: dict, now: float, policy: Policy) -> None:
    """Refuse a whole plan that expired (by its own date or the policy's TTL,
    whichever is sooner), claims to be from the future, or was made on
    another boot."""
    expires = min(plan["expires_at"], plan["created_at"] + policy.actions.plan_ttl_s)
    if now > expires:
        age = now - plan["created_at"]
        raise PlanError(f"plan {plan['plan_id']} expired {now - expires:.0f} s ago "
                        f"(made {age:.0f} s ago; policy actions.plan_ttl_s); make a new one with `pt plan`",
                        "plan_unusable")
    if plan["created_at"] > now + 60:
        raise PlanError(f"plan {plan['plan_id']} says it was made in the future; refusing it", "plan_unusable")
    current = boot_id()
    if current and any(b != current for b in
                       [plan["host"].get("boot_id")] + [a["target"]["boot_id"] for a in plan["actions"]]):
        raise PlanError(f"plan {plan['plan_id']} was not made on this boot of this machine (boot id differs)",
                        "plan_unusable")
    check_namespace(plan)


def check_namespace(plan: dict) -> None:
    """Refuse to act when ``/proc`` is not this pid namespace's, or when the
    plan was made in another pid namespace: its pids are numbers there and
    name other processes here."""
    if not procfs_is_own_pidns():
        raise PlanError(f"refusing plan {plan['plan_id']}: {NOT_OWN_PIDNS}", "plan_unusable")
    here, made = pid_namespace(), plan["host"].get("pid_ns")
    if made != here:
        raise PlanError(f"plan {plan['plan_id']} was made in another pid namespace ({made}; pt runs in "
                        f"{here}): its pids name other processes here; make the plan where you apply it", "plan_unusable")


def _record(plan_id: str, entry: dict, kind: str, **extra) -> dict:
    t = entry["target"]
    tree = {"tree": entry["tree"]} if "tree" in entry else {}
    return {"kind": kind, "plan_id": plan_id, "action_id": entry["action_id"], "action": entry["action"],
            "boot_id": t["boot_id"], "pid": t["pid"], "start_ticks": t["start_ticks"], "uid": t["uid"],
            "cmd_hash": t["cmd_hash"], **tree, **extra}


def _depth(entry: dict) -> int:
    """A tree member's depth (0 for the root and for single targets)."""
    return entry["tree"]["depth"] if "tree" in entry else 0


def _intent(plan: dict, step: Step) -> dict:
    """The intent record carries the justification, so ``pt explain --plan``
    can show why from the journal alone, and the state the action changes,
    so a resumed apply can still undo it."""
    entry = step.entry
    why = {k: entry[k] for k in ("comm", "command", "category", "posterior", "expected_loss", "why",
                                 "ledger", "requested", "reason") if k in entry}
    return _record(plan["plan_id"], entry, "intent", params={**entry["params"], "before": step.before or {}},
                   justification=why)


def _outcome(plan_id: str, step: Step) -> dict:
    o = step.outcome
    params = dict(step.entry["params"])
    if o.undo:
        params["undo"] = o.undo
    params.update(o.extra)
    return _record(plan_id, step.entry, "outcome", params=params, result=o.result, detail=o.detail,
                   exit_status=o.exit_status)


def apply_plan(plan: dict, *, journal: Journal | None = None, policy: Policy | None = None,
               now: float | None = None) -> list[dict]:
    """Apply ``plan``; returns one outcome record per action (those an earlier
    apply finished come from the journal, marked ``earlier``)."""
    now = time.time() if now is None else now
    journal = journal or Journal()
    policy = policy or load_policy()
    check_usable(plan, now, policy)
    plan_id = plan["plan_id"]
    entries = [{**a, "action_id": f"{plan_id}:{a['index']}"} for a in plan["actions"]]
    written: dict[str, dict] = {}

    def finish(steps: list[Step]) -> None:
        """Journal (fsync) the outcomes of ``steps`` as soon as they are known."""
        records = [_outcome(plan_id, s) for s in steps if s.outcome is not None and s.action_id not in written]
        journal.append(records)
        written.update((r["action_id"], r) for r in records)

    with journal.locked():
        history = journal.records()
        mine = [r for r in history if r.get("plan_id") == plan_id]
        finished = outcomes_by_action(mine)
        pending = pending_intents(mine)
        steps = [Step(e, resumed=pending.get(e["action_id"])) for e in entries
                 if e["action_id"] not in finished]
        try:
            _guard(steps, policy, guards.Budget(policy.actions, history, now), now)
            finish(steps)                                   # refusals and aborts
            # Tree members deepest first: a parent never sees its workers
            # signalled after it (and cannot respawn them in between).
            ready = sorted((s for s in steps if s.outcome is None), key=lambda s: -_depth(s.entry))
            # Write-ahead: every intent durable before the first signal.
            journal.append([_intent(plan, s) for s in ready])
            _execute(ready, plan_id, policy, finish)
        finally:
            for s in steps:
                if s.target is not None:
                    s.target.close()
            finish(steps)
    earlier = {aid: {**r, "earlier": True} for aid, r in finished.items()}
    return [earlier.get(e["action_id"]) or written[e["action_id"]] for e in entries]


def _guard(steps: list[Step], policy: Policy, budget: guards.Budget, now: float) -> None:
    """Open and verify each target and apply every guard, from the live
    machine (never from fields of the plan other than the identity); a step
    that fails one gets its final outcome here and is never acted on."""
    live = []
    host = guards.host_clock()
    for step in steps:
        identity = Identity.from_dict(step.entry["target"])
        try:
            step.target = Target.open(identity)
            step.live_state = step.target.opened.state
        except IdentityMismatch as exc:
            if step.resumed and step.entry["action"] == "kill" and exc.gone:
                step.outcome = remedies.Outcome("exited", "gone after the interrupted apply's signal")
            else:
                step.outcome = remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")
            continue
        except Exception as exc:                       # noqa: BLE001 - every step ends journalled
            step.outcome = _failure("verify", exc)
            continue
        live.append(step)
    protected = guards.vetoes([s.entry["target"] for s in live], policy) if live else []
    # A tree is one decision: a member protected now keeps the whole tree.
    vetoed_trees = {}
    for step, veto in zip(live, protected):
        if veto is not None and "tree" in step.entry:
            vetoed_trees.setdefault(step.entry["tree"]["id"], (step.entry["target"]["pid"], veto))
    locked = guards.locked_pids()
    for step, veto in zip(live, protected):
        entry, action, target = step.entry, step.entry["action"], step.entry["target"]
        age = host.uptime_s - target["start_ticks"] / host.clock_ticks
        reason = None
        tree_veto = vetoed_trees.get(entry["tree"]["id"]) if "tree" in entry else None
        if veto is not None:
            reason = f"protected: {veto}"
        elif tree_veto is not None:
            reason = f"protected: tree member {tree_veto[0]} is protected ({tree_veto[1]}), so the whole tree is kept"
        elif age < policy.actions.min_age_s:
            reason = f"too young: {age:.0f} s old, policy actions.min_age_s is {policy.actions.min_age_s:.0f} s"
        elif action in guards.DESTRUCTIVE and step.live_state != "Z":
            risk = guards.data_at_risk(target["pid"], entry, locked)
            reason = f"data-loss gate: {risk}" if risk else None
        if reason is None:
            reason = budget.refuse(action, target)
        if reason is not None:
            step.outcome = remedies.Outcome("refused", reason)
            continue
        try:
            step.before = (step.resumed or {}).get("params", {}).get("before") \
                or remedies.before_state(step.target, action, entry["params"])
        except IdentityMismatch as exc:
            step.outcome = remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")


def _execute(steps: list[Step], plan_id: str, policy: Policy, finish) -> None:
    kills = []
    for step in steps:
        entry, target = step.entry, step.target
        action, params = entry["action"], entry["params"]
        # A tree's cgroup action is one group for the whole tree: one limit, one freezer.
        group = f"{plan_id}-tree{entry['tree']['id']}" if "tree" in entry else f"{plan_id}-{entry['index']}"
        try:
            if action == "kill" and step.live_state == "Z":
                step.outcome = remedies.reap_zombie(target)
            elif step.live_state == "Z" and "tree" in entry:
                # A member that exited since the plan (its parent has not
                # reaped it yet): nothing left to pause, renice or move.
                step.outcome = remedies.Outcome("aborted", "the process has exited (a zombie, not yet reaped "
                                                           "by its parent); nothing done")
            elif action == "kill":
                kills.append(step)
                continue
            elif action == "pause":
                step.outcome = remedies.pause(target, params, group, step.before)
            elif action == "renice":
                step.outcome = remedies.renice(target, params, step.before)
            elif action == "throttle":
                step.outcome = remedies.throttle(target, params, group, step.before)
            elif action == "quarantine":
                step.outcome = remedies.quarantine(target, params, group, step.before)
            elif action == "restart":
                step.outcome = remedies.restart(target, params, policy.allow_system_services)
            else:
                step.outcome = remedies.Outcome("done", "keep: nothing to do")
        except Exception as exc:                       # noqa: BLE001 - every step ends journalled
            step.outcome = _failure(action, exc)
        undo = step.outcome.undo
        if undo is not None and undo["action"] == "uncgroup" and "tree" in entry:
            # Its member moves only itself back; the root's undo, last, dissolves the group.
            undo["member"] = entry["tree"]["depth"] != 0
        finish([step])
    try:
        _kill(kills)
    except Exception as exc:                           # noqa: BLE001
        for step in kills:
            if step.outcome is None:
                step.outcome = _failure("kill", exc)
    finish(kills)


def _failure(action: str, exc: Exception) -> remedies.Outcome:
    """The outcome of a step that raised: aborted for identity trouble, failed otherwise."""
    if isinstance(exc, IdentityMismatch):
        if getattr(exc, "after", False):
            return remedies.Outcome("failed", f"{action}: {exc}")
        return remedies.Outcome("aborted", f"identity check failed: {exc}; not retried")
    if isinstance(exc, ProcessLookupError):
        return remedies.Outcome("aborted", "the process exited before pt acted")
    if isinstance(exc, OSError):
        return remedies.Outcome("failed", f"{action}: {exc.strerror or exc}")
    return remedies.Outcome("failed", f"{action}: {type(exc).__name__}: {exc}")


def first_signal(step: Step) -> signal.Signals:
    """The plan's first signal, unless the target ignores it (SIGINT is
    ignored by background jobs of non-interactive shells): then SIGTERM."""
    sig = signal.Signals[step.entry["params"].get("signal", "SIGTERM")]
    if sig != signal.SIGTERM and guards.ignores(step.entry["target"]["pid"], sig):
        return signal.SIGTERM
    return sig


def _kill(steps: list[Step]) -> None:
    """First signal to every target, one shared grace period, SIGKILL to the rest."""
    sent = []
    for step in steps:
        sig = first_signal(step)
        try:
            step.entry["params"]["signalled_at"] = time.time()
            step.entry["params"]["signalled_ticks"] = uptime_ticks()
            step.target.send(sig)
            sent.append((step, sig))
        except Exception as exc:                   # noqa: BLE001
            step.outcome = _failure("kill", exc)
            continue
        if step.live_state in "Tt":                # a stopped process cannot run its handler
            try:
                step.target.send(signal.SIGCONT)
            except (IdentityMismatch, ProcessLookupError):
                pass                               # gone or changed: the SIGKILL step checks again
    if not sent:
        return
    started = time.monotonic()
    grace = max(float(s.entry["params"].get("grace_s", 5.0)) for s, _ in sent)
    wait_exited([s.target for s, _ in sent], started + grace)
    stubborn = []
    for step, sig in sent:
        if step.target.exited():
            step.outcome = remedies.Outcome("exited", f"exited after {sig.name}",
                                            exit_status=step.target.exit_code())
            continue
        try:
            step.target.send(signal.SIGKILL)
            stubborn.append((step, sig))
        except ProcessLookupError:
            step.outcome = remedies.Outcome("exited", f"exited after {sig.name}")
        except IdentityMismatch as exc:
            step.outcome = (remedies.Outcome("exited", f"exited after {sig.name}") if exc.gone else
                            remedies.Outcome("aborted", f"after {sig.name}: {exc}; SIGKILL not sent"))
    wait_exited([s.target for s, _ in stubborn], time.monotonic() + SIGKILL_WAIT_S)
    for step, sig in stubborn:
        if step.target.exited():
            step.outcome = remedies.Outcome(
                "exited", f"did not exit within {grace:g} s of {sig.name}; exited after SIGKILL",
                exit_status=step.target.exit_code())
        else:
            step.outcome = remedies.Outcome(
                "still_running", f"still running {SIGKILL_WAIT_S:g} s after SIGKILL (uninterruptible sleep?)")


# --- undo ---------------------------------------------------------------------------

#: Undo outcomes after which an undo is not attempted again.
UNDO_FINAL = ("done", "aborted")


def undo_plan(plan: dict, *, journal: Journal | None = None) -> list[dict]:
    """Revert every reversible action of ``plan`` that pt carried out and has
    not undone yet; returns the undo outcome records (empty if nothing to undo).
    A failed undo may be retried; a done or aborted one is final."""
    check_namespace(plan)
    journal = journal or Journal()
    plan_id = plan["plan_id"]
    entries = {f"{plan_id}:{a['index']}": a for a in plan["actions"]}
    with journal.locked():
        finished = outcomes_by_action(journal.records(plan_id))
        todo = [r for aid, r in finished.items() if not aid.endswith(":undo")
                and r["result"] in ACTED_RESULTS and r.get("params", {}).get("undo")
                and finished.get(f"{aid}:undo", {}).get("result") not in UNDO_FINAL and aid in entries]
        # A tree's root first, except that the root of a shared cgroup dissolves it after its members.
        todo.sort(key=lambda r: (r["params"]["undo"].get("member") is False, _depth(entries[r["action_id"]])))
        out = []
        for record in todo:
            undo = record["params"]["undo"]
            planned = entries[record["action_id"]]
            entry = {"action_id": f"{record['action_id']}:undo", "action": f"undo-{record['action']}",
                     "target": planned["target"], **({"tree": planned["tree"]} if "tree" in planned else {})}
            journal.append([_record(plan_id, entry, "intent", params=undo)])
            try:
                outcome = _undo_one(Identity.from_dict(entry["target"]), undo)
            except Exception as exc:                   # noqa: BLE001
                outcome = _failure(entry["action"], exc)
            out.append(_record(plan_id, entry, "outcome", params=undo, result=outcome.result,
                               detail=outcome.detail, exit_status=None))
            journal.append([out[-1]])
        return out


def _undo_one(identity: Identity, undo: dict) -> remedies.Outcome:
    if undo["action"] == "uncgroup":
        # No target to verify: pt's own group for this plan holds exactly the
        # processes to move back (the target, alive or not, and its children).
        return remedies.uncgroup(undo, identity.pid)
    try:
        target = Target.open(identity)
    except IdentityMismatch as exc:
        return remedies.Outcome("aborted", f"nothing to undo: {exc}")
    with target:
        if undo["action"] == "resume":
            return remedies.resume(target)
        if undo["action"] == "renice":
            return remedies.renice_back(target, undo)
    return remedies.Outcome("failed", f"unknown reversal {undo['action']!r}")


# --- verify -------------------------------------------------------------------------

def describe_state(stat) -> str:
    """What a target is now, in words: a zombie has exited but still holds
    its pid until its parent reaps it, and a stopped process is paused."""
    if stat is None:
        return "gone"
    if stat.state == "Z":
        return f"zombie, not yet reaped by its parent {stat.ppid}"
    if stat.state in "Tt":
        return "stopped (paused)" if stat.state == "T" else "stopped (traced)"
    return f"running ({stat.state})"


def verify_plan(plan: dict, *, journal: Journal | None = None, root: str = LIVE.root) -> list[dict]:
    """What became of each target: the journalled outcome, whether the process
    is still there (and in what state), and for one that is gone whether its
    command came back (same command line and owner, started after pt acted)."""
    from pt.act.identity import read_stat
    from pt.collect import collect

    check_namespace(plan)                         # its pids mean these processes only here
    journal = journal or Journal()
    finished = outcomes_by_action(journal.records(plan["plan_id"]))
    snapshot = collect(root)
    hashes = {}                                   # only the targets' owners can respawn them as such
    owners = [a["target"]["uid"] for a in plan["actions"]]
    for row in np.flatnonzero(np.isin(snapshot["uid"], owners)).tolist():
        hashes.setdefault(cmd_hash(list(snapshot["cmdline"][row] or ())), []).append(row)
    out = []
    for a in plan["actions"]:
        aid = f"{plan['plan_id']}:{a['index']}"
        t = a["target"]
        outcome = finished.get(aid)
        stat = read_stat(t["pid"])
        if stat is not None and stat.start_ticks != t["start_ticks"]:
            stat = None                           # its pid names another process now
        alive = stat is not None and stat.state not in "ZXx"
        row = {"index": a["index"], "pid": t["pid"], "comm": a["comm"], "action": a["action"],
               "result": outcome["result"] if outcome else "not applied",
               "detail": outcome["detail"] if outcome else "", "alive": alive,
               "state": stat.state if stat is not None else None, "now": describe_state(stat),
               "undone": finished.get(f"{aid}:undo", {}).get("result") in UNDO_FINAL, "respawned_as": [],
               **({"tree": a["tree"]} if "tree" in a else {})}
        if outcome and not alive and outcome["result"] in ACTED_RESULTS:
            since = outcome.get("params", {}).get("signalled_ticks", outcome.get("uptime_ticks", 0))
            rows = [r for r in hashes.get(t["cmd_hash"], [])
                    if snapshot["uid"][r] == t["uid"] and snapshot["start_ticks"][r] >= since]
            row["respawned_as"] = [int(snapshot["pid"][r]) for r in rows]
        out.append(row)
    return out
