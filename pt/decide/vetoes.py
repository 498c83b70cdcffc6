"""Hard vetoes (DESIGN.md §4.3): rules no posterior can overrule.

Each protected process carries the name of the first rule that protects it,
so the report can say *why* pt will not touch it.
"""
from __future__ import annotations

import os
import re

import numpy as np

from pt.collect.snapshot import Snapshot
from pt.config import Policy
from pt.features.genealogy import Genealogy


def ancestors_of(pid: int, snapshot: Snapshot, genealogy: Genealogy) -> np.ndarray:
    """Boolean column: ``pid`` itself and every ancestor of it in the snapshot."""
    mask = np.zeros(len(snapshot), dtype=bool)
    rows = np.flatnonzero(snapshot["pid"] == pid)
    row = int(rows[0]) if len(rows) else -1
    while row >= 0 and not mask[row]:
        mask[row] = True
        row = int(genealogy.parent_row[row])
    return mask


def _pattern_hits(values: np.ndarray, patterns: tuple[re.Pattern, ...]) -> np.ndarray:
    """Index of the first matching pattern per value, -1 for none (one match
    per distinct value, not per process)."""
    unique, inverse = np.unique(values.astype(str), return_inverse=True)
    hits = np.array([next((i for i, p in enumerate(patterns) if p.search(v)), -1) for v in unique],
                    dtype=np.int64)
    return hits[inverse] if len(unique) else np.full(len(values), -1, dtype=np.int64)


def protected_by(snapshot: Snapshot, genealogy: Genealogy, policy: Policy, system_slice: np.ndarray,
                 *, me: int | None = None, my_uid: int | None = None) -> np.ndarray:
    """Object column: None, or the rule that protects the process.

    A system service is a process in systemd's ``system.slice``, or one whose
    real or effective uid is a system account (below ``min_user_uid``) —
    unless it is pt's own regular user's. Another user's process is one whose
    real or effective uid is not pt's.

    ``me``/``my_uid`` default to this process and its effective uid (the
    tests pass others to check the rules on recorded trees).
    """
    me = os.getpid() if me is None else me
    my_uid = os.geteuid() if my_uid is None else my_uid
    uid, comm = snapshot["uid"], snapshot["comm"]
    argv0 = np.array([os.path.basename(a[0]) if a else "" for a in snapshot["cmdline"]], dtype=object)
    by_comm = _pattern_hits(comm, policy.protected_patterns)
    pattern = np.where(by_comm >= 0, by_comm, _pattern_hits(argv0, policy.protected_patterns))
    lineage = ancestors_of(me, snapshot, genealogy)
    my_rows = np.flatnonzero(snapshot["pid"] == me)
    my_sid = int(snapshot["sid"][my_rows[0]]) if len(my_rows) else -1
    login_shell = np.array([a[0].startswith("-") if a else False for a in snapshot["cmdline"]])
    euid = snapshot["euid"]
    # Our own: real and effective uid both ours (a setuid program run by us is not).
    own = (uid == my_uid) & ((euid == my_uid) | (euid < 0))
    other_user = ~own & (not (policy.allow_other_users and my_uid == 0))
    # System accounts are services, unless they are pt's own *regular* user:
    # run as root, pt protects every root-owned process by default.
    system_account = (uid < policy.min_user_uid) | ((euid >= 0) & (euid < policy.min_user_uid))
    system = (system_slice | (system_account & ~(own & (my_uid >= policy.min_user_uid)))) \
        & (not policy.allow_system_services)

    rules = [
        (snapshot["pid"] == 1, "pid 1 (init)"),
        (snapshot["kernel_thread"], "kernel thread"),
        (snapshot["pid"] == me, "pt itself"),
        (lineage, "ancestor of pt"),
        (snapshot["pid"] == my_sid, "leader of pt's login session"),
        (login_shell, "login shell"),
        (uid < 0, "owner unknown (status unreadable)"),
        (system & (uid >= 0), "system service"),
        (other_user & (uid >= 0), "another user's process"),
    ]
    out = np.full(len(snapshot), None, dtype=object)
    for mask, reason in reversed(rules):          # first rule wins: apply it last
        out[mask] = reason
    has_pattern = pattern >= 0
    undecided = has_pattern & np.equal(out, None)
    for i in np.flatnonzero(undecided):
        out[i] = f"protected pattern {policy.protected_patterns[pattern[i]].pattern!r}"
    return out
