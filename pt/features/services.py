"""Who a process works for: a system service, or someone's work — by evidence, not uid.

Root is not a service manager. In a container, a devcontainer, a CI job, an
AI agent's sandbox or under ``sudo``, root's processes are the user's work,
and only evidence makes one a system service:

- its cgroup is a service's: systemd's ``system.slice`` or ``init.scope``,
  a container runtime's (docker/containerd/libpod/lxc), kubepods — unless
  pt itself runs in that same unit (a CI runner's service, a container
  without a cgroup namespace: there, the unit is the user's workspace);
- it was started by init itself: PID 1 is a real init system, and the
  process is PID 1's child and still in PID 1's session (a process
  reparented to init left its launcher's session: it was *not* started by
  init);
- it started within ``boot_grace_s`` of boot and descends from no login,
  terminal, shell, editor or agent (not in a container: boot time is the
  host's);
- or it descends from such a service with no user work in between.

Work is whatever descends from a login shell, a terminal, a shell, an
editor or an agent (:data:`USER_CATEGORIES`). A detached daemon's shape
(cwd ``/``, stdio on /dev/null, a listening socket) is *not* decided here:
it is an evidence term of the posterior (see :mod:`pt.features.quick`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt.config import CATEGORICAL_LEVELS
from pt.collect.snapshot import Snapshot
from pt.features.genealogy import Genealogy

#: PID 1 programs that are service managers (their children in their session are services).
INIT_SYSTEMS = re.compile(r"^(systemd|init|upstart|openrc-init|runit|runit-init|s6-svscan|"
                          r"launchd|busybox|sysvinit)$")
#: Cgroup path components that belong to a service manager or a container runtime.
SERVICE_CGROUP = re.compile(r"(^|/)(system\.slice|init\.scope|kubepods[^/]*|docker|lxc\.payload[^/]*|"
                            r"machine\.slice)(/|$)|(^|/)(docker|cri-containerd|crio|libpod)-[0-9a-f]+\.scope")
#: A unit: the path up to its first ``*.service``/``*.scope`` or container-id component.
UNIT_END = re.compile(r"^(.*?/(?:[^/]+\.(?:service|scope)|[0-9a-f]{64}))(?:/|$)")
#: Command categories whose descendants are someone's work.
USER_CATEGORIES = ("shell", "editor_lsp", "agent")
#: Files and cgroup names that say "inside a container" (man 5 proc; podman, docker).
CONTAINER_FILES = ("/.dockerenv", "/run/.containerenv")
CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc")


@dataclass(frozen=True)
class Workspace:
    """Who pt triages for, and where it runs.

    ``uids``: the users whose work is triaged (pt's effective uid; under
    ``sudo`` also ``SUDO_UID``). ``container``: the evidence that pt runs in
    a container (empty when none). ``init_system``: PID 1 is a service
    manager. ``my_unit``: pt's own cgroup unit (None if unreadable).
    """

    uids: tuple[int, ...]
    container: tuple[str, ...]
    init_system: bool
    my_unit: str | None


def sudo_uid(environ=None) -> int | None:
    """``SUDO_UID`` when pt runs as root under sudo: the user who asked."""
    text = (os.environ if environ is None else environ).get("SUDO_UID", "")
    return int(text) if text.isdigit() and int(text) > 0 else None


def unit_of(path: str | None) -> str | None:
    """The service or container unit a cgroup path belongs to, else the path itself."""
    if path is None:
        return None
    match = UNIT_END.match(path)
    return match.group(1) if match else path


def workspace(snapshot: Snapshot, cgroups: np.ndarray, *, me: int, euid: int,
              environ=None, fs_root: str = "/") -> Workspace:
    """Who and where: see :class:`Workspace`. ``cgroups`` is the cgroup path
    per row (None where unreadable)."""
    uids = (euid,)
    sudo = sudo_uid(environ) if euid == 0 else None
    if sudo is not None:
        uids = (0, sudo)
    pid = snapshot["pid"]
    init_rows = np.flatnonzero(pid == 1)
    names = []
    if len(init_rows):
        i = int(init_rows[0])
        argv = snapshot["cmdline"][i]
        names = [os.path.basename(argv[0]) if argv else "", str(snapshot["comm"][i])]
    init_name = next((n for n in names if n), "")
    init_system = any(INIT_SYSTEMS.match(n) for n in names)
    evidence = [f for f in CONTAINER_FILES if Path(fs_root, f.lstrip("/")).exists()]
    init_cgroup = cgroups[init_rows[0]] if len(init_rows) else None
    if init_cgroup and CONTAINER_CGROUP.search(init_cgroup):
        evidence.append(f"PID 1 cgroup {init_cgroup}")
    if len(init_rows) and not init_system:
        evidence.append(f"PID 1 is {init_name!r}, not an init system")
    mine = np.flatnonzero(pid == me)
    my_unit = unit_of(cgroups[mine[0]]) if len(mine) else None
    return Workspace(uids, tuple(evidence), init_system, my_unit)


def _inherit(mark: np.ndarray, stop: np.ndarray, parent_row: np.ndarray) -> np.ndarray:
    """label = mark | (parent's label & ~stop), down the whole forest (one
    vectorised pass per level of depth)."""
    label = mark.copy()
    has_parent = parent_row >= 0
    up = np.maximum(parent_row, 0)
    for _ in range(len(label)):
        nxt = mark | (has_parent & label[up] & ~stop)
        if np.array_equal(nxt, label):
            break
        label = nxt
    return label


def _work_marks(snapshot: Snapshot, command_category: np.ndarray) -> np.ndarray:
    """A login shell, a process on a terminal, a shell, an editor or an agent."""
    argv = snapshot["cmdline"]
    login = np.fromiter((bool(a) and a[0].startswith("-") for a in argv), dtype=bool, count=len(argv))
    levels = CATEGORICAL_LEVELS["command"]
    return (login | np.isin(command_category, [levels.index(c) for c in USER_CATEGORIES])
            | (snapshot["tty_nr"] != 0)) & ~snapshot["kernel_thread"]


def user_work(snapshot: Snapshot, genealogy: Genealogy, command_category: np.ndarray) -> np.ndarray:
    """Boolean column: the process or an ancestor is a login, a terminal, a
    shell, an editor or an agent."""
    marks = _work_marks(snapshot, command_category)
    return _inherit(marks, np.zeros(len(marks), bool), genealogy.parent_row)


def system_services(snapshot: Snapshot, genealogy: Genealogy, cgroups: np.ndarray,
                    command_category: np.ndarray, ws: Workspace, boot_grace_s: float) -> np.ndarray:
    """Boolean column: a system service by the evidence of the module docstring.
    A row whose cgroup is unreadable gets no cgroup evidence either way."""
    pid, ppid, sid = snapshot["pid"], snapshot["ppid"], snapshot["sid"]
    # One regex per distinct cgroup, not per process; None (unreadable) is no evidence.
    known = np.not_equal(cgroups, None)
    cgroup = np.zeros(len(pid), dtype=bool)
    if known.any():
        unique, inverse = np.unique(cgroups[known].astype(str), return_inverse=True)
        service = np.array([bool(SERVICE_CGROUP.search(c)) and unit_of(c) != ws.my_unit
                            for c in unique], dtype=bool)
        cgroup[known] = service[inverse]
    init_rows = np.flatnonzero(pid == 1)
    init_sid = int(sid[init_rows[0]]) if len(init_rows) else -2
    by_init = ws.init_system & (ppid == 1) & (sid == init_sid) & (pid != 1)
    # Boot time is the host's: inside a container it says nothing about what
    # the container's PID 1 started for its user, so the rule does not apply there.
    at_boot = (snapshot["start_ticks"] / float(snapshot.host.clock_ticks) < boot_grace_s) \
        & (not ws.container)
    marks = _work_marks(snapshot, command_category)
    work = _inherit(marks, np.zeros(len(pid), bool), genealogy.parent_row)
    # PID 1 has its own veto; what it adopts is not its service (by_init says what it started).
    root = (cgroup | ((by_init | at_boot) & ~work)) & ~snapshot["kernel_thread"] & (pid != 1)
    return _inherit(root, marks, genealogy.parent_row)
