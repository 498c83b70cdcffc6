"""Plans: the frozen, versioned list of actions a user confirms.

A plan is a JSON document. Its ``plan_id`` is a hash of everything else in
it, so a plan cannot change after it was shown without changing its id: the
id a user (or an agent) passes to ``pt apply`` names exactly what was
confirmed. ``pt plan`` writes it, and ``pt apply``, ``pt verify``,
``pt undo`` and ``pt explain --plan`` read the same format.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt import safefs
from pt.act.guards import write_baseline
from pt.act.identity import cmd_hash, read_identity
from pt.act.journal import state_dir
from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES, Policy
from pt.errors import CommandError
from pt.telemetry.redact import mask_secrets

PLAN_VERSION = 1
PLAN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
#: The largest pid Linux hands out (PID_MAX_LIMIT, 2^22).
PID_MAX = 1 << 22
#: Plans are small (a few KB per action); anything larger is not one of pt's.
MAX_PLAN_BYTES = 16 << 20


class PlanError(CommandError):
    """A plan that cannot be used, with the reason; ``code`` says how:
    plan_not_found (no such plan), plan_invalid (corrupt, tampered, not
    trusted), plan_unusable (expired, another boot or pid namespace),
    plan_too_large."""

    def __init__(self, message: str, code: str = "plan_invalid"):
        super().__init__(code, message)


def plan_id(body: dict) -> str:
    """Content hash of a plan without its ``plan_id``: 16 hex digits of SHA-256
    over the canonical JSON (sorted keys, no whitespace)."""
    content = {k: v for k, v in body.items() if k != "plan_id"}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def host_info(hostname: str, boot: str | None) -> dict:
    """The plan's ``host``: where its pids mean something (machine, boot, pid namespace)."""
    from pt.collect.host import pid_namespace
    return {"hostname": hostname, "boot_id": boot, "pid_ns": pid_namespace()}


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


def make_plan(t, selection: Selection, *, do: str | None = None, now: float | None = None,
              chosen_by: str | None = None, tree: int | None = None, group: int | None = None,
              trees: bool = False) -> dict:
    """The plan for triage ``t``: one action per selected process whose
    recommended action (or ``do``, the user's explicit choice) is not keep.
    ``chosen_by``: who chose ``do`` and why when not the user (``pt watch``'s
    memory rescue); recorded in each action as its ``reason`` instead of
    "requested".

    ``tree``: plan the process with this pid and its descendants as one
    decision (:mod:`pt.act.trees`) instead of the selection; ``group``: the
    same for the members of that process group (its leader present). ``trees``
    (``pt plan``): a selected process the scan recommends acting on as a
    whole tree (its ``tree_action``) is planned as one tree decision and its
    members do not appear separately.

    A protected process is never planned (its recommendation is always keep;
    an explicit ``do`` is refused with the veto as the reason, in ``refused``);
    a tree with a protected member is not planned whole: the refusal names
    the member and rule, and what is still safe is planned (see :func:`_plan_tree`).
    """
    from pt.act import trees as forest

    now = time.time() if now is None else now
    snap, policy = t.snapshot, t.policy
    action = t.decision.action if do is None else np.full(len(snap), ACTIONS.index(do))
    actions, refused = [], []
    if tree is not None or group is not None:
        root = int(np.flatnonzero(snap["pid"] == (tree if group is None else group))[0])
        tree_action, _ = forest.recommend(t)
        name = do or ACTIONS[int(tree_action[root] or action[root])]
        _plan_tree(t, root, name, do, chosen_by, 0, actions, refused, pgid=group)
    else:
        rows = selection.rows(t, t.decision.action)
        roots = np.zeros(len(snap), dtype=bool)
        if do is None and trees:
            tree_action, _ = forest.recommend(t)
            roots = rows & (tree_action > 0)
            rows &= ~forest.covered(t, np.flatnonzero(roots))
        tree_id = 0
        for row in np.flatnonzero(rows).tolist():
            if roots[row]:
                tree_id = _plan_tree(t, row, ACTIONS[int(tree_action[row])], None, chosen_by, tree_id, actions,
                                     refused)
            else:
                _plan_one(t, row, ACTIONS[int(action[row])], do, chosen_by, selection, actions, refused)
    body = {
        "pt_plan_version": PLAN_VERSION,
        "created_at": now,
        "expires_at": now + policy.actions.plan_ttl_s,
        "host": host_info(snap.host.hostname, snap.host.boot_id),
        "policy_digest": policy.digest,
        "priors_digest": t.priors.digest,
        "selection": {**selection.as_dict(), **({"tree": tree} if tree is not None else {}),
                      **({"group": group} if group is not None else {})},
        "at_s": t.at_s,
        "do": do,
        "actions": actions,
        "refused": refused,
    }
    return {"plan_id": plan_id(body), **body}


def _comm(t, row: int) -> str:
    return str(t.snapshot["comm"][row])


def _verified(t, row: int):
    """The identity of the process at ``row`` read again now (with the
    executable, which the scan does not read); None if it exited or exec'd
    since the scan: then it is not the one decided about."""
    snap = t.snapshot
    argv = list(snap["cmdline"][row] or ())
    identity = read_identity(int(snap["pid"][row]), snap.host.boot_id)
    if identity is None or identity.start_ticks != int(snap["start_ticks"][row]) \
            or identity.uid != int(snap["uid"][row]) or identity.cmd_hash != cmd_hash(argv):
        return None
    return identity


CHANGED = "it exited or changed (exec) since the scan; plan again"


def _plan_one(t, row: int, name: str, do: str | None, chosen_by: str | None, selection: Selection,
              actions: list, refused: list) -> None:
    """Append the action for one process (or why it is refused) to ``actions`` / ``refused``."""
    snap = t.snapshot
    pid = int(snap["pid"][row])
    reason = t.protected_by[row]
    if reason is not None:
        if do is not None or selection.pids:
            refused.append({"pid": pid, "comm": _comm(t, row), "reason": f"protected: {reason}"})
        return
    if do is not None and not t.context.available[row, ACTIONS.index(do)]:
        refused.append({"pid": pid, "comm": _comm(t, row),
                        "reason": f"{do} does nothing to this process (state {chr(snap['state'][row])})"})
        return
    if name == "keep":
        return
    identity = _verified(t, row)
    if identity is None:
        refused.append({"pid": pid, "comm": _comm(t, row), "reason": CHANGED})
        return
    actions.append(_entry(t, row, name, identity, do, chosen_by, len(actions)))


def _plan_tree(t, root: int, name: str, do: str | None, chosen_by: str | None, tree_id: int,
               actions: list, refused: list, *, pgid: int | None = None) -> int:
    """Append one tree decision (``name`` on the process at row ``root`` and
    its descendants now, or with ``pgid`` on the members of that process
    group, whose leader is at ``root``; leaves first) or its refusal; returns
    the next free tree id. Zombie members are left to their parents; a member
    that exited or exec'd since the scan is left out with its own descendants
    (they were reparented), and said so.

    A protected member stops the whole decision, and the refusal names it and
    its rule. What is still safe is planned instead: every largest subtree
    with no protected member and no ancestor of one, each its own tree
    decision (its root's parent stays, so a protected process never loses
    its parent or session to the action). A protected root, or a protected
    member of a process group, leaves nothing planned."""
    from pt.act import trees

    snap = t.snapshot
    root_pid, root_comm = int(snap["pid"][root]), _comm(t, root)

    def refuse(reason: str) -> int:
        refused.append({"pid": root_pid, "comm": root_comm, "reason": reason})
        return tree_id

    if name not in trees.TREE_ACTIONS:
        return refuse(f"{name} is not a whole-tree action (one of {', '.join(trees.TREE_ACTIONS)}); "
                      "pt recommends keep for the root, name one with --do" if name == "keep" else
                      f"{name} is not a whole-tree action (one of {', '.join(trees.TREE_ACTIONS)})")
    rows, depth = trees.subtree(t.context.genealogy.parent_row, root) if pgid is None else \
        trees.group(snap, t.context.genealogy.parent_row, pgid)
    if len(rows) > trees.MAX_TREE_MEMBERS:
        return refuse(f"the tree has more than {trees.MAX_TREE_MEMBERS} processes; not one decision")
    keep = snap["state"][rows] != ord("Z")
    keep[0] = True
    rows, depth = rows[keep], depth[keep]
    guarded = [row for row in rows.tolist() if t.protected_by[row] is not None]
    if guarded:
        return _plan_around(t, root, rows, guarded, name, do, chosen_by, tree_id, actions, refused, pgid)
    for row in rows.tolist():
        if not t.context.available[row, ACTIONS.index(name)]:
            return refuse(f"tree of {len(rows)}: {name} does nothing to member {int(snap['pid'][row])} "
                          f"(state {chr(snap['state'][row])})")
    parent = t.context.genealogy.parent_row
    dropped = np.zeros(len(snap), dtype=bool)
    members = []
    for row, d in zip(rows.tolist(), depth.tolist()):         # level by level: parents come first
        if d and dropped[parent[row]]:
            dropped[row] = True
            continue
        identity = _verified(t, row)
        if identity is None:
            if d == 0:
                return refuse(CHANGED)
            dropped[row] = True
            refused.append({"pid": int(snap["pid"][row]), "comm": _comm(t, row),
                            "reason": f"tree member of {root_pid}: {CHANGED}; left out with its descendants"})
            continue
        members.append((row, d, identity))
    members.sort(key=lambda m: -m[1])                           # leaves first
    for row, d, identity in members:
        entry = _entry(t, row, name, identity, do, chosen_by, len(actions))
        entry["tree"] = {"id": tree_id, "root": root_pid, "depth": d, "size": len(members),
                         **({"pgid": pgid} if pgid is not None else {})}
        actions.append(entry)
    return tree_id + 1


def _plan_around(t, root: int, rows: np.ndarray, guarded: list[int], name: str, do: str | None,
                 chosen_by: str | None, tree_id: int, actions: list, refused: list, pgid: int | None) -> int:
    """The fallback of a tree decision stopped by the protected members at
    rows ``guarded``: refuse the whole tree naming the first and its rule,
    then plan each largest subtree of ``rows`` that holds no protected
    member and no ancestor of one; returns the next free tree id."""
    from pt.act import trees

    snap, parent = t.snapshot, t.context.genealogy.parent_row
    first = guarded[0]
    stopper = (f"member {int(snap['pid'][first])} ({_comm(t, first)}) is protected: {t.protected_by[first]}"
               + (f" (and {len(guarded) - 1} more)" if len(guarded) > 1 else ""))
    member = np.zeros(len(snap), dtype=bool)
    member[rows] = True
    blocked = np.zeros(len(snap), dtype=bool)
    for row in guarded:
        below, _ = trees.subtree(parent, row)
        blocked[below[member[below]]] = True
        up = row
        while up != root:                           # its ancestors up to the root
            up = int(parent[up])
            if up < 0 or not member[up] or blocked[up]:
                break
            blocked[up] = True
    has_parent = parent >= 0
    subroots = [r for r in rows.tolist() if not blocked[r] and has_parent[r] and blocked[parent[r]]] \
        if pgid is None else []
    sizes = [int(member[trees.subtree(parent, r)[0]].sum()) for r in subroots]
    kept = int(blocked.sum())
    if not subroots:
        what = "nothing else in it is safe to act on" if pgid is None else \
            "a process group is one decision; plan members one by one with --pid"
        refused.append({"pid": int(snap["pid"][root]), "comm": _comm(t, root),
                        "reason": f"tree of {len(rows)}: {stopper}; the whole tree is kept ({what})"})
        return tree_id
    refused.append({"pid": int(snap["pid"][root]), "comm": _comm(t, root),
                    "reason": f"tree of {len(rows)}: {stopper}; not planned whole: {name} planned for the "
                              f"{len(subroots)} unprotected subtree(s) beside it ({sum(sizes)} processes), "
                              f"kept {kept} (the protected, their descendants and their ancestors up to "
                              f"{int(snap['pid'][root])})"})
    for r in subroots:
        tree_id = _plan_tree(t, r, name, do, chosen_by, tree_id, actions, refused)
    return tree_id


def _entry(t, row: int, name: str, identity, do: str | None, chosen_by: str | None, index: int) -> dict:
    """One plan entry: the target's identity, what it is, the action and why."""
    from pt.infer.ledger import ledger_rows, why

    snap = t.snapshot
    argv = list(snap["cmdline"][row] or ())
    category = CATEGORICAL_LEVELS["command"][int(t.context.command_category[row])]
    params = action_params(name, category, t.policy)
    if name == "restart":
        params.update(unit=t.context.units.unit[row], user_unit=bool(t.context.units.user_unit[row]))
    return {
        "index": index,
        "target": identity.as_dict(),
        "comm": _comm(t, row),
        "command": " ".join(mask_secrets(argv))[:400] or f"[{snap['comm'][row]}]",
        "category": category,
        "state": chr(snap["state"][row]),
        "ppid": int(snap["ppid"][row]),
        "start_time": float(snap["start_time"][row]),
        "age_s": float(snap["elapsed_s"][row]),
        **write_baseline(identity.pid),
        "action": name,
        "requested": do is not None and chosen_by is None,
        **({"reason": chosen_by} if chosen_by else {}),
        "params": params,
        "posterior": {c: round(float(p), 6) for c, p in zip(CLASSES, t.inference.posterior[row])},
        "expected_loss": {a: (round(float(v), 4) if np.isfinite(v) else None)
                          for a, v in zip(ACTIONS, t.decision.expected_loss[row])},
        "why": why(t.inference, t.evidence, row),
        "ledger": ledger_rows(t.inference, t.evidence, row),
    }


def plans_dir() -> Path:
    path = state_dir() / "plans"
    safefs.private_dir(path).close()          # created 0700, or refused if not private
    return path


def save_plan(plan: dict) -> Path:
    """Write the plan as ``plans/<plan_id>.json`` (0600, atomic rename, in a
    verified private directory), compact; a plan over :data:`MAX_PLAN_BYTES`,
    which :func:`read_plan_file` would refuse, is refused here (:class:`PlanError`)."""
    data = json.dumps(plan, separators=(",", ":"), sort_keys=True).encode()
    if len(data) > MAX_PLAN_BYTES:
        raise PlanError(f"plan {plan['plan_id']} would be {len(data)} bytes, over the {MAX_PLAN_BYTES} a plan "
                        f"may hold ({len(plan['actions'])} actions); plan fewer processes at once", "plan_too_large")
    path = plans_dir() / f"{plan['plan_id']}.json"
    with safefs.private_dir(path.parent) as d:
        d.replace(path.name, data)
    return path


def _untrusted(st: os.stat_result) -> str | None:
    """Why a plan file with status ``st`` may hold someone else's words (None
    if it cannot): owned by another user, or writable by group or others."""
    me = os.geteuid()
    if st.st_uid != me:
        return f"it belongs to uid {st.st_uid}, not to you (uid {me})"
    if st.st_mode & 0o022:
        who = {0o022: "group and others", 0o020: "group", 0o002: "others"}[st.st_mode & 0o022]
        return f"it can be written by {who} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def read_plan_file(path: Path) -> dict:
    """The JSON object in the plan file ``path``: a regular file (not a
    FIFO, device or symlink: opened with O_NONBLOCK|O_NOFOLLOW, checked with
    fstat) owned by the effective user and not writable by group or others
    (anyone else could have put another process's identity in it), of at
    most :data:`MAX_PLAN_BYTES`, holding UTF-8 JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise PlanError(f"no plan at {path}", "plan_not_found") from None
    except OSError as exc:
        reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
        raise PlanError(f"cannot read plan {path}: {reason}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PlanError(f"{path} is not a regular file, so it is not a plan")
        if st.st_size > MAX_PLAN_BYTES:
            raise PlanError(f"{path} is {st.st_size} bytes; a plan is at most {MAX_PLAN_BYTES} bytes")
        untrusted = _untrusted(st)
        if untrusted:
            raise PlanError(f"refusing plan {path}: {untrusted}, so what it says is not necessarily what "
                            "you planned; make a new plan with `pt plan`")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError(f"cannot read plan {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_PLAN_BYTES:
        raise PlanError(f"{path} is larger than {MAX_PLAN_BYTES} bytes; it is not a plan")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PlanError(f"cannot read plan {path}: it is not UTF-8 text") from None
    except ValueError as exc:
        raise PlanError(f"cannot read plan {path}: not JSON ({exc})") from None
    except RecursionError:
        raise PlanError(f"cannot read plan {path}: JSON nested too deeply") from None


def load_plan(ref: str) -> dict:
    """A plan by id (from the state dir) or by file path, checked: a regular
    file, the right version, its id matching its content (no edits after it
    was shown) and, when named by id, that id — so a plan file swapped for
    another valid plan is refused, not applied."""
    named = ref if PLAN_ID_RE.match(ref) else None
    path = plans_dir() / f"{ref}.json" if named else Path(ref)
    try:
        plan = read_plan_file(path)
    except PlanError as exc:
        if exc.code == "plan_not_found":
            raise PlanError(f"no plan {ref!r} (looked for {path})", "plan_not_found") from None
        raise
    if not isinstance(plan, dict) or plan.get("pt_plan_version") != PLAN_VERSION:
        raise PlanError(f"{path} is not a pt plan of version {PLAN_VERSION}")
    actual = plan_id(plan)
    if plan.get("plan_id") != actual:
        raise PlanError(f"{path}: plan_id {plan.get('plan_id')!r} does not match its content "
                        f"(it was edited after it was made); make a new plan with `pt plan`")
    if named is not None and actual != named:
        raise PlanError(f"{path} holds plan {actual}, not plan {named}: the file was replaced after "
                        f"the plan was made; refusing it (check it with `pt apply {path}`, or make a "
                        "new plan with `pt plan`)")
    from pt.act.trees import lineage_problem
    problem = schema_problem(plan) or lineage_problem(plan["actions"])
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
    if not isinstance(plan["host"].get("pid_ns"), str) \
            or not isinstance(plan["host"].get("boot_id"), (str, type(None))):
        return "host needs pid_ns (the pid namespace the pids belong to) and boot_id"
    if not isinstance(plan.get("plan_id"), str):
        return "plan_id must be text"
    for i, a in enumerate(plan["actions"]):
        where = f"actions[{i}]"
        if not isinstance(a, dict) or a.get("index") != i:
            return f"{where}.index must be {i}"
        if a.get("action") not in ACTIONS:
            return f"{where}.action must be one of {', '.join(ACTIONS)}"
        t, p = a.get("target"), a.get("params")
        if not isinstance(t, dict) or not isinstance(p, dict):
            return f"{where}.target and .params must be objects"
        if not (_is_int(t.get("pid"), 1, PID_MAX) and _is_int(t.get("start_ticks"), 0, 2**64 - 1)
                and _is_int(t.get("uid"), 0, 2**32 - 1)
                and isinstance(t.get("cmd_hash"), str) and isinstance(t.get("boot_id"), (str, type(None)))
                and isinstance(t.get("exe"), (str, type(None)))):
            return (f"{where}.target needs pid (1 to {PID_MAX}), start_ticks, uid (whole numbers), "
                    "cmd_hash, boot_id, exe")
        if not all(isinstance(a.get(k), str) for k in ("comm", "command", "why")):
            return f"{where}.comm, .command and .why must be text"
        if not isinstance(a.get("state", ""), str) or not _is_number(a.get("age_s")):
            return f"{where}.state must be text and .age_s a number"
        post = a.get("posterior")
        if not isinstance(post, dict) or not all(_is_number(post.get(c)) for c in CLASSES):
            return f"{where}.posterior needs a number for each of {', '.join(CLASSES)}"
        if a.get("write_bytes") is not None and not _is_int(a.get("write_bytes"), 0):
            return f"{where}.write_bytes must be a whole number or null"
        files = a.get("write_files")
        if files is not None and not (isinstance(files, list) and all(
                isinstance(f, list) and len(f) == 4 and all(_is_int(x, 0) for x in f) for f in files)):
            return f"{where}.write_files must be a list of [fd, dev, inode, pos] or null"
        calls = a.get("write_calls")
        if calls is not None and not (isinstance(calls, list) and len(calls) == 2
                                      and all(_is_int(x, 0) for x in calls)):
            return f"{where}.write_calls must be [wchar, syscw] (whole numbers) or null"
        kind = a["action"]
        if kind == "kill" and not (isinstance(p.get("signal"), str) and p["signal"] in signal.Signals.__members__
                                   and _is_number(p.get("grace_s"), 0, 600)):
            return f"{where}.params needs a signal name and grace_s in [0, 600]"
        if kind == "renice" and not _is_int(p.get("nice"), -20, 19):
            return f"{where}.params.nice must be a whole number in [-20, 19]"
        if kind == "throttle" and not (_is_number(p.get("cpu"), 0.001)
                                       and (p.get("memory_high_bytes") is None or _is_int(p["memory_high_bytes"], 1))):
            return f"{where}.params.cpu must be a positive number of CPUs (memory_high_bytes a whole number)"
        if kind == "pause" and p.get("method", "sigstop") not in ("sigstop", "freeze"):
            return f"{where}.params.method must be sigstop or freeze"
        if kind == "restart" and not isinstance(p.get("unit"), (str, type(None))):
            return f"{where}.params.unit must be a unit name"
    from pt.act.trees import tree_problem
    problem = tree_problem(plan["actions"])
    if problem:
        return problem
    refused = plan.get("refused", [])
    if not isinstance(refused, list) or not all(
            isinstance(r, dict) and _is_int(r.get("pid")) and isinstance(r.get("comm"), str)
            and isinstance(r.get("reason"), str) for r in refused):
        return "refused must be a list of {pid, comm, reason}"
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
