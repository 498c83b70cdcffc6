"""Where a process sits in the PPID forest and its sessions, as columns.

The orphan signal of the spec (idea P) is more than ``ppid == 1``: on a
developer machine an abandoned process is usually *reparented to a
subreaper* (``systemd --user``, tmux/screen servers, tini...) after its
launching shell or session went away. These columns let the model tell that
apart from a service its reaper started on purpose (a session leader of its
own) and from a shell in a live tmux pane.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pt.collect.snapshot import Snapshot

#: Processes that adopt orphans besides PID 1: child subreapers
#: (prctl PR_SET_CHILD_SUBREAPER) and container inits. Matched on comm,
#: or on argv[0]'s base name plus arguments for systemd's user manager.
SUBREAPER_COMM = re.compile(
    r"^(tini|dumb-init|catatonit|docker-init|s6-svscan|runsvdir|supervisord|"
    r"containerd-shim.*|conmon|tmux: server|SCREEN|screen|zellij|init|launchd)$")
SUBREAPER_ARGV = re.compile(r"^(\S*/)?systemd\s+--user\b")


@dataclass(frozen=True)
class Genealogy:
    """Per-row structural facts (all numpy arrays of the snapshot's length).

    ``parent_row``: row of the parent, -1 if not in the snapshot.
    ``parent_is_reaper``: parent is PID 1 or a subreaper.
    ``session_leader``: the process leads its own session (pid == sid).
    ``session_alive``: the leader of its session is still alive.
    ``orphaned``: reparented to a reaper, not in init's own session, and
    either its session's leader is gone, or it leads a session of its own
    with no terminal (``setsid cmd &`` from a shell that has since exited) —
    it outlived whatever started it. (A service manager's units are told
    apart by their cgroup, in :mod:`pt.features.quick`.)
    ``has_tty``: a controlling terminal; ``tty_alive``: that terminal's
    session leader (the login shell) is alive; ``foreground``: it is in its
    terminal's foreground process group.
    ``children``: number of live children.
    """

    parent_row: np.ndarray
    parent_is_reaper: np.ndarray
    session_leader: np.ndarray
    session_alive: np.ndarray
    orphaned: np.ndarray
    has_tty: np.ndarray
    tty_alive: np.ndarray
    foreground: np.ndarray
    children: np.ndarray


def rows_of(snapshot: Snapshot, pids: np.ndarray) -> np.ndarray:
    """Row index of each pid in ``pids``, -1 where absent (vectorised lookup)."""
    all_pids = snapshot["pid"]
    if len(all_pids) == 0:
        return np.full(len(pids), -1, dtype=np.intp)
    order = np.argsort(all_pids, kind="stable")
    rows = order[np.minimum(np.searchsorted(all_pids, pids, sorter=order), len(all_pids) - 1)]
    return np.where(all_pids[rows] == pids, rows, -1)


def reaper_rows(snapshot: Snapshot) -> np.ndarray:
    """Boolean column: is this process PID 1 or a known subreaper?"""
    comm_hit = np.fromiter((bool(SUBREAPER_COMM.match(c)) for c in snapshot["comm"]),
                           dtype=bool, count=len(snapshot))
    argv_hit = np.fromiter((bool(argv) and bool(SUBREAPER_ARGV.match(" ".join(argv[:2])))
                            for argv in snapshot["cmdline"]), dtype=bool, count=len(snapshot))
    return (snapshot["pid"] == 1) | comm_hit | argv_hit


def genealogy(snapshot: Snapshot) -> Genealogy:
    """Compute :class:`Genealogy` for every row, without a per-process loop
    beyond the subreaper name match."""
    pid, ppid, sid = snapshot["pid"], snapshot["ppid"], snapshot["sid"]
    parent_row = rows_of(snapshot, ppid)
    reaper = reaper_rows(snapshot)
    parent_is_reaper = (ppid == 1) | ((parent_row >= 0) & reaper[np.maximum(parent_row, 0)])
    session_leader = pid == sid
    session_alive = rows_of(snapshot, sid) >= 0
    tty = snapshot["tty_nr"]
    has_tty = tty != 0
    init_rows = np.flatnonzero(pid == 1)
    in_init_session = sid == (sid[init_rows[0]] if len(init_rows) else -2)
    detached_leader = session_leader & ~has_tty
    orphaned = parent_is_reaper & ~in_init_session & ~snapshot["kernel_thread"] & (pid != 1) \
        & ((~session_leader & ~session_alive) | detached_leader)

    tty_alive = has_tty & np.isin(tty, tty[session_leader & has_tty])
    foreground = has_tty & (snapshot["pgid"] == snapshot["tpgid"])

    children = np.bincount(parent_row[parent_row >= 0], minlength=len(snapshot)).astype(np.int32)
    return Genealogy(parent_row, parent_is_reaper, session_leader, session_alive, orphaned,
                     has_tty, tty_alive, foreground, children)


def terminal_hosts(snapshot: Snapshot, g: Genealogy) -> np.ndarray:
    """Boolean column: the process holds a terminal for a live session — one
    of its children leads a session on a terminal that is not the process's
    own (it opened that terminal for it: a tmux or screen server, a terminal
    emulator, an sshd session). The sessions' existence is the evidence: a
    host whose sessions all ended has no such child."""
    tty = snapshot["tty_nr"]
    child = np.flatnonzero(g.session_leader & g.has_tty & (g.parent_row >= 0))
    parent = g.parent_row[child]
    hosted = parent[tty[child] != tty[parent]]
    out = np.zeros(len(snapshot), dtype=bool)
    out[hosted] = True
    return out


def live_terminal_shells(g: Genealogy, command_category: np.ndarray, shell_code: int) -> np.ndarray:
    """Boolean column: a shell (command category ``shell``) on a terminal
    whose session is alive — someone's prompt, in use whenever they come
    back. A shell whose terminal is gone lost it at the hangup (no terminal)
    or sits on a terminal whose session leader exited (not alive)."""
    return (np.asarray(command_category) == shell_code) & g.has_tty & g.tty_alive
