"""Hard vetoes: rules no posterior can overrule.

Each protected process carries the name of the first rule that protects it,
so the report can say *why* pt will not touch it.
"""
from __future__ import annotations

import os
import re

import numpy as np

from pt.bounded_regex import GaveUp, bounded
from pt.collect.snapshot import Snapshot
from pt.config import CATEGORICAL_LEVELS, Policy
from pt.features.genealogy import Genealogy, live_terminal_shells, terminal_hosts
from pt.features.services import system_services, workspace


def ancestors_of(pid: int, snapshot: Snapshot, genealogy: Genealogy) -> np.ndarray:
    """Boolean column: ``pid`` itself and every ancestor of it in the snapshot."""
    mask = np.zeros(len(snapshot), dtype=bool)
    rows = np.flatnonzero(snapshot["pid"] == pid)
    row = int(rows[0]) if len(rows) else -1
    while row >= 0 and not mask[row]:
        mask[row] = True
        row = int(genealogy.parent_row[row])
    return mask


def _pattern_hits(values: np.ndarray, patterns: tuple[re.Pattern, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first matching pattern per value, -1 for none, and whether
    that pattern gave up on the value (one match per distinct value, not per
    process). Each match is bounded (:mod:`pt.bounded_regex`): a pattern that
    gives up on a value counts as matching it, so a name made to defeat a
    pattern is protected rather than exposed."""
    unique, inverse = np.unique(values.astype(str), return_inverse=True)
    hits = np.full(len(unique), -1, dtype=np.int64)
    gave_up = np.zeros(len(unique), dtype=bool)
    if patterns:
        with bounded() as run:
            for j, value in enumerate(unique.tolist()):
                for i, pattern in enumerate(patterns):
                    try:
                        found = run(pattern.search, value) is not None
                    except GaveUp:
                        found = gave_up[j] = True
                    if found:
                        hits[j] = i
                        break
    return hits[inverse], gave_up[inverse]


def _live_cgroups(snapshot: Snapshot, system_slice: np.ndarray) -> np.ndarray:
    """Cgroup paths for a caller that has only ``system_slice`` (the apply-time
    re-check): read from the live /proc when the snapshot is of this boot's
    live /proc, so the apply-time rules are the scan's; otherwise (a recorded
    tree) only ``system_slice`` is cgroup evidence."""
    from pt.collect import host
    from pt.collect.units import read_units
    live = None if os.environ.get(host.PROCFS_ENV) else host.boot_id(host.LIVE)
    if live is not None and live == snapshot.host.boot_id:
        cgroups = read_units(str(host.LIVE), snapshot["pid"]).cgroup.copy()
    else:
        cgroups = np.full(len(snapshot), None, dtype=object)
    cgroups[np.asarray(system_slice, bool) & np.equal(cgroups, None)] = "/system.slice/unknown.service"
    return cgroups


def protected_by(snapshot: Snapshot, genealogy: Genealogy, policy: Policy, system_slice: np.ndarray,
                 *, me: int | None = None, my_uid: int | None = None, cgroups: np.ndarray | None = None,
                 command_category: np.ndarray | None = None, environ=None,
                 fs_root: str = "/") -> np.ndarray:
    """Object column: None, or the rule that protects the process.

    A system service is known by evidence, not uid
    (:func:`pt.features.services.system_services`): a service cgroup,
    started by init, started at boot, or under such a service — or a process
    of a system account (uid below ``min_user_uid``) that is not a user pt
    triages for. The users triaged are pt's effective uid, and under ``sudo``
    also ``SUDO_UID`` (:func:`pt.features.services.workspace`): root's own
    work in a container, a CI job or a sudo session is triaged like anyone's.
    Another user's process is one whose real or effective uid is not one of them.

    ``cgroups`` (cgroup path per row, None where unreadable) and
    ``command_category`` come from the scan; without them only
    ``system_slice`` is cgroup evidence and the categories are classified
    here. ``me``/``my_uid``/``environ`` default to this process, its
    effective uid and ``os.environ`` (tests pass others for recorded trees).
    """
    me = os.getpid() if me is None else me
    my_uid = os.geteuid() if my_uid is None else my_uid
    if command_category is None:
        from pt.features.categories import load_rules
        command_category = load_rules().classify(snapshot["comm"], snapshot["cmdline"])
    if cgroups is None:
        cgroups = _live_cgroups(snapshot, system_slice)
    ws = workspace(snapshot, cgroups, me=me, euid=my_uid, environ=environ, fs_root=fs_root)
    triaged = np.array(ws.uids)
    uid, comm = snapshot["uid"], snapshot["comm"]
    argv0 = np.array([os.path.basename(a[0]) if a else "" for a in snapshot["cmdline"]], dtype=object)
    by_comm, comm_gave_up = _pattern_hits(comm, policy.protected_patterns)
    by_argv0, argv0_gave_up = _pattern_hits(argv0, policy.protected_patterns)
    pattern = np.where(by_comm >= 0, by_comm, by_argv0)
    pattern_gave_up = np.where(by_comm >= 0, comm_gave_up, argv0_gave_up)
    lineage = ancestors_of(me, snapshot, genealogy)
    my_rows = np.flatnonzero(snapshot["pid"] == me)
    my_sid = int(snapshot["sid"][my_rows[0]]) if len(my_rows) else -1
    login_shell = np.array([a[0].startswith("-") if a else False for a in snapshot["cmdline"]])
    euid = snapshot["euid"]
    # Our own: real and effective uid both triaged (a setuid program run by us is not).
    own = np.isin(uid, triaged) & (np.isin(euid, triaged) | (euid < 0))
    other_user = ~own & (not (policy.allow_other_users and my_uid == 0))
    # A system account that is not a triaged user (postgres, www-data; root unless pt runs as root).
    system_account = (((uid < policy.min_user_uid) & ~np.isin(uid, triaged))
                      | ((euid >= 0) & (euid < policy.min_user_uid) & ~np.isin(euid, triaged)))
    services = system_services(snapshot, genealogy, cgroups, np.asarray(command_category), ws,
                               policy.boot_grace_s)
    system = (services | system_account) & (not policy.allow_system_services)

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
        (terminal_hosts(snapshot, genealogy), "hosts live terminal sessions"),
        (live_terminal_shells(genealogy, command_category, CATEGORICAL_LEVELS["command"].index("shell")),
         "shell on a live terminal"),
    ]
    out = np.full(len(snapshot), None, dtype=object)
    for mask, reason in reversed(rules):          # first rule wins: apply it last
        out[mask] = reason
    has_pattern = pattern >= 0
    undecided = has_pattern & np.equal(out, None)
    for i in np.flatnonzero(undecided):
        out[i] = f"protected pattern {policy.protected_patterns[pattern[i]].pattern!r}" + (
            " (too slow to match this name; protected to be safe)" if pattern_gave_up[i] else "")
    return out
