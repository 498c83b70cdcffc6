"""Plans: the frozen, versioned list of actions a user confirms.

A plan is a JSON document. Its ``plan_id`` is a hash of everything else in
it, so a plan cannot change after it was shown without changing its id: the
id a user (or an agent) passes to ``pt apply`` names exactly what was
confirmed. ``pt plan`` writes it, and ``pt apply``, ``pt verify``,
``pt undo`` and ``pt explain --plan`` read the same format.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt import safefs
from pt.act.identity import Identity, cmd_hash, read_exe, read_write_bytes
from pt.act.journal import state_dir
from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES, Policy
from pt.telemetry.redact import mask_secrets

PLAN_VERSION = 1
PLAN_ID_RE = re.compile(r"^[0-9a-f]{16}$")


class PlanError(Exception):
    """A plan that cannot be used, with the reason (missing, corrupt, tampered, expired)."""


def plan_id(body: dict) -> str:
    """Content hash of a plan without its ``plan_id``: 16 hex digits of SHA-256
    over the canonical JSON (sorted keys, no whitespace)."""
    content = {k: v for k, v in body.items() if k != "plan_id"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def action_params(action: str, category: str, policy: Policy) -> dict:
    """What exactly the action will do, shown before confirmation."""
    a = policy.actions
    if action == "kill":
        return {"signal": a.signal_for(category), "grace_s": a.kill_grace_s, "then": "SIGKILL"}
    if action == "renice":
        return {"nice": a.renice_to}
    if action == "throttle":
        params = {"cpu": a.throttle_cpu}
        if a.throttle_memory_high_bytes:
            params["memory_high_bytes"] = a.throttle_memory_high_bytes
        return params
    if action == "quarantine":
        return {"cpus": 1}
    if action == "pause":
        return {"method": a.pause_method}
    return {}


@dataclass(frozen=True)
class Selection:
    """Which processes a plan covers (``pt plan`` filters); empty means all."""

    pids: tuple[int, ...] = ()
    match: re.Pattern | None = None
    uids: tuple[int, ...] | None = None
    classes: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    min_age_s: float = 0.0

    def as_dict(self) -> dict:
        return {"pids": list(self.pids), "match": self.match.pattern if self.match else None,
                "uids": None if self.uids is None else list(self.uids), "classes": list(self.classes),
                "actions": list(self.actions), "min_age_s": self.min_age_s}

    def rows(self, t, action: np.ndarray) -> np.ndarray:
        """Rows of triage ``t`` selected, given each row's planned ``action`` index."""
        snap = t.snapshot
        mask = ~snap["kernel_thread"]
        if self.pids:
            mask &= np.isin(snap["pid"], self.pids)
        if self.uids is not None:
            mask &= np.isin(snap["uid"], self.uids)
        if self.match is not None:            # one search per distinct command line still in the running
            rows = np.flatnonzero(mask)
            text = np.array([" ".join(c) if c else "" for c in snap["cmdline"][rows]], dtype=object)
            unique, inverse = np.unique(text.astype(str), return_inverse=True)
            hit = np.array([bool(self.match.search(u)) for u in unique], dtype=bool)
            mask[rows] = hit[inverse] if len(rows) else False
        if self.classes:
            best = t.inference.posterior.argmax(axis=1)
            mask &= np.isin(best, [CLASSES.index(c) for c in self.classes])
        if self.actions:
            mask &= np.isin(action, [ACTIONS.index(a) for a in self.actions])
        if self.min_age_s:
            mask &= snap["elapsed_s"] >= self.min_age_s
        return mask


def make_plan(t, selection: Selection, *, do: str | None = None, now: float | None = None) -> dict:
    """The plan for triage ``t``: one action per selected process whose
    recommended action (or ``do``, the user's explicit choice) is not keep.

    A protected process is never planned (its recommendation is always keep;
    an explicit ``do`` is refused with the veto as the reason, in ``refused``).
    """
    from pt.infer.ledger import ledger_rows, why

    now = time.time() if now is None else now
    snap, policy = t.snapshot, t.policy
    action = t.decision.action if do is None else np.full(len(snap), ACTIONS.index(do))
    rows = np.flatnonzero(selection.rows(t, t.decision.action))
    categories = CATEGORICAL_LEVELS["command"]
    actions, refused = [], []
    for row in rows.tolist():
        pid = int(snap["pid"][row])
        reason = t.protected_by[row]
        if reason is not None:
            if do is not None or selection.pids:
                refused.append({"pid": pid, "comm": str(snap["comm"][row]), "reason": f"protected: {reason}"})
            continue
        if do is not None and not t.context.available[row, ACTIONS.index(do)]:
            refused.append({"pid": pid, "comm": str(snap["comm"][row]),
                            "reason": f"{do} does nothing to this process (state {chr(snap['state'][row])})"})
            continue
        name = ACTIONS[int(action[row])]
        if name == "keep":
            continue
        argv = list(snap["cmdline"][row] or ())
        category = categories[int(t.context.command_category[row])]
        identity = Identity(snap.host.boot_id, pid, int(snap["start_ticks"][row]), int(snap["uid"][row]),
                            read_exe(pid), cmd_hash(argv))
        params = action_params(name, category, policy)
        if name == "restart":
            params.update(unit=t.context.units.unit[row], user_unit=bool(t.context.units.user_unit[row]))
        actions.append({
            "index": len(actions),
            "target": identity.as_dict(),
            "comm": str(snap["comm"][row]),
            "command": " ".join(mask_secrets(argv))[:400] or f"[{snap['comm'][row]}]",
            "category": category,
            "state": chr(snap["state"][row]),
            "ppid": int(snap["ppid"][row]),
            "start_time": float(snap["start_time"][row]),
            "age_s": float(snap["elapsed_s"][row]),
            "write_bytes": read_write_bytes(pid),
            "action": name,
            "requested": do is not None,
            "params": params,
            "posterior": {c: round(float(p), 6) for c, p in zip(CLASSES, t.inference.posterior[row])},
            "expected_loss": {a: (round(float(v), 4) if np.isfinite(v) else None)
                              for a, v in zip(ACTIONS, t.decision.expected_loss[row])},
            "why": why(t.inference, t.evidence, row),
            "ledger": ledger_rows(t.inference, t.evidence, row),
        })
    body = {
        "pt_plan_version": PLAN_VERSION,
        "created_at": now,
        "expires_at": now + policy.actions.plan_ttl_s,
        "host": {"hostname": snap.host.hostname, "boot_id": snap.host.boot_id},
        "policy_digest": policy.digest,
        "priors_digest": t.priors.digest,
        "selection": selection.as_dict(),
        "at_s": t.at_s,
        "do": do,
        "actions": actions,
        "refused": refused,
    }
    return {"plan_id": plan_id(body), **body}


def plans_dir() -> Path:
    path = state_dir() / "plans"
    safefs.private_dir(path).close()          # created 0700, or refused if not private
    return path


def save_plan(plan: dict) -> Path:
    """Write the plan as ``plans/<plan_id>.json`` (0600, atomic rename, in a
    verified private directory)."""
    path = plans_dir() / f"{plan['plan_id']}.json"
    with safefs.private_dir(path.parent) as d:
        d.replace(path.name, json.dumps(plan, indent=1, sort_keys=True).encode())
    return path


def load_plan(ref: str) -> dict:
    """A plan by id (from the state dir) or by file path, checked: readable,
    the right version, and its id matching its content (no edits after it was shown)."""
    path = plans_dir() / f"{ref}.json" if PLAN_ID_RE.match(ref) else Path(ref)
    try:
        plan = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlanError(f"no plan {ref!r} (looked for {path})") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read plan {path}: {exc}") from None
    if not isinstance(plan, dict) or plan.get("pt_plan_version") != PLAN_VERSION:
        raise PlanError(f"{path} is not a pt plan of version {PLAN_VERSION}")
    if plan.get("plan_id") != plan_id(plan):
        raise PlanError(f"{path}: plan_id {plan.get('plan_id')!r} does not match its content "
                        f"(it was edited after it was made); make a new plan with `pt plan`")
    problem = schema_problem(plan)
    if problem:
        raise PlanError(f"{path}: {problem}")
    return plan


def _is_int(value, low=None, high=None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) \
        and (low is None or value >= low) and (high is None or value <= high)


def _is_number(value, low=None, high=None) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and (low is None or value >= low) and (high is None or value <= high)


def schema_problem(plan: dict) -> str | None:
    """What is wrong with a plan's structure (None if nothing): every field
    ``pt apply`` reads is checked here, so a hand-written plan fails with a
    message naming the field instead of midway through acting."""
    import signal
    for key in ("created_at", "expires_at"):
        if not _is_number(plan.get(key)):
            return f"{key} must be a number of unix seconds"
    if not isinstance(plan.get("host"), dict) or not isinstance(plan.get("actions"), list):
        return "host must be an object and actions a list"
    for i, a in enumerate(plan["actions"]):
        where = f"actions[{i}]"
        if not isinstance(a, dict) or a.get("index") != i:
            return f"{where}.index must be {i}"
        if a.get("action") not in ACTIONS:
            return f"{where}.action must be one of {', '.join(ACTIONS)}"
        t, p = a.get("target"), a.get("params")
        if not isinstance(t, dict) or not isinstance(p, dict):
            return f"{where}.target and .params must be objects"
        if not (_is_int(t.get("pid"), 1) and _is_int(t.get("start_ticks"), 0) and _is_int(t.get("uid"), 0)
                and isinstance(t.get("cmd_hash"), str) and isinstance(t.get("boot_id"), (str, type(None)))
                and isinstance(t.get("exe"), (str, type(None)))):
            return f"{where}.target needs pid, start_ticks, uid (whole numbers), cmd_hash, boot_id, exe"
        if not isinstance(a.get("comm"), str) or not isinstance(a.get("command"), str):
            return f"{where}.comm and .command must be text"
        if a.get("write_bytes") is not None and not _is_int(a.get("write_bytes"), 0):
            return f"{where}.write_bytes must be a whole number or null"
        kind = a["action"]
        if kind == "kill" and not (p.get("signal") in signal.Signals.__members__
                                   and _is_number(p.get("grace_s"), 0, 600)):
            return f"{where}.params needs a signal name and grace_s in [0, 600]"
        if kind == "renice" and not _is_int(p.get("nice"), -20, 19):
            return f"{where}.params.nice must be a whole number in [-20, 19]"
        if kind == "throttle" and not _is_number(p.get("cpu"), 0.001):
            return f"{where}.params.cpu must be a positive number of CPUs"
        if kind == "pause" and p.get("method", "sigstop") not in ("sigstop", "freeze"):
            return f"{where}.params.method must be sigstop or freeze"
        if kind == "restart" and not isinstance(p.get("unit"), (str, type(None))):
            return f"{where}.params.unit must be a unit name"
    return None


def list_plans() -> list[dict]:
    """Every saved plan, newest first (unreadable files skipped)."""
    out = []
    for path in plans_dir().glob("*.json"):
        try:
            out.append(load_plan(str(path)))
        except PlanError:
            continue
    return sorted(out, key=lambda p: p["created_at"], reverse=True)
