"""Model inputs for a quick scan: a snapshot, a short window, and context.

Turns the collector's columns into the :class:`~pt.infer.posterior.Evidence`
the model scores, plus the context the decision needs (dependency counts,
which actions are possible). Everything is computed on whole columns.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pt.collect._procfs import read_fd_sockets, read_links
from pt.collect.net import SocketTable, count_per_process, read_sockets
from pt.collect.snapshot import Snapshot, Window
from pt.collect.units import Units, read_units
from pt.config import ACTIONS, CATEGORICAL_LEVELS
from pt.features.categories import classify_cwd, load_rules
from pt.features.genealogy import Genealogy, genealogy
from pt.infer.posterior import Evidence

#: Lifetime CPU share bin edges: idle < 0.1%, low < 5%, moderate < 50%, high.
LIFETIME_EDGES = (0.001, 0.05, 0.5)
STATE_CODES = {ord(letter): i for i, letter in enumerate(CATEGORICAL_LEVELS["state"][:-1])}
OTHER_STATE = len(CATEGORICAL_LEVELS["state"]) - 1
#: Actions that do nothing to a zombie (it no longer runs); it is reaped through its parent.
NO_EFFECT_ON_ZOMBIES = ("renice", "throttle", "quarantine", "pause", "restart")


@dataclass(frozen=True)
class Context:
    """What the decision needs besides the posterior, one row per process."""

    genealogy: Genealogy
    command_category: np.ndarray
    cwd: np.ndarray
    cwd_category: np.ndarray
    fd_count: np.ndarray
    listening: np.ndarray
    established: np.ndarray
    active_children: np.ndarray
    units: Units
    available: np.ndarray          # (n, len(ACTIONS)) bool


def state_codes(state: np.ndarray) -> np.ndarray:
    """State letters (uint8 ASCII) to codes of ``CATEGORICAL_LEVELS['state']``."""
    lut = np.full(256, OTHER_STATE, dtype=np.int8)
    for letter, code in STATE_CODES.items():
        lut[letter] = code
    return lut[state]


def tty_codes(g: Genealogy) -> np.ndarray:
    """none / dead / background / foreground."""
    return np.select([~g.has_tty, ~g.tty_alive, ~g.foreground], [0, 1, 2], 3).astype(np.int8)


@dataclass(frozen=True)
class Observed:
    """What a scan reads and derives besides stat/status/cmdline, while the
    CPU window is open (see :func:`pt.triage.triage`): command and cwd
    categories, cwd links, open fds and their sockets, the machine's socket
    table, and service units."""

    command_category: np.ndarray
    cwd: np.ndarray
    cwd_category: np.ndarray
    fd_count: np.ndarray
    socket_row: np.ndarray
    socket_inode: np.ndarray
    sockets: SocketTable
    units: Units


def read_observed(snapshot: Snapshot, root: str | os.PathLike = "/proc", rules=None) -> Observed:
    """Read and classify :class:`Observed` for every row of ``snapshot``."""
    path = os.fsencode(root)
    rules = rules if rules is not None else load_rules()
    command = rules.classify(snapshot["comm"], snapshot["cmdline"]).astype(np.int8)
    cwd = read_links(path, snapshot["pid"], "cwd")
    fd_count, socket_row, socket_inode = read_fd_sockets(path, snapshot["pid"])
    return Observed(command, cwd, classify_cwd(cwd, snapshot["uid"]).astype(np.int8), fd_count,
                    socket_row, socket_inode, read_sockets(root), read_units(root, snapshot["pid"]))


def build(snapshot: Snapshot, window: Window, observed: Observed) -> tuple[Evidence, Context]:
    """Evidence and context for every row of ``snapshot`` observed over ``window``."""
    n = len(snapshot)
    g = genealogy(snapshot)
    command, cwd_category = observed.command_category, observed.cwd_category

    sockets, rows, inodes = observed.sockets, observed.socket_row, observed.socket_inode
    listening = count_per_process(n, rows, inodes, sockets.listening())
    established = count_per_process(n, rows, inodes, sockets.established())
    network = np.select([established > 0, listening > 0], [2, 1], 0).astype(np.int8)
    network[observed.fd_count < 0] = -1                          # fds unreadable: not observed

    child_busy = (window.ticks > 0) & (g.parent_row >= 0)
    active_children = np.bincount(g.parent_row[child_busy], minlength=n).astype(np.int32)
    children = np.select([g.children == 0, active_children == 0], [0, 1], 2).astype(np.int8)

    observed_cpu = window.alive
    # CPU demand in the window, not the share the scheduler granted: under
    # load a spinner gets a varying slice of a CPU but is runnable all the
    # time, so time spent waiting on a run queue counts as wanted CPU (see
    # docs/model.md). Not over the lifetime: there the run delay of a young
    # process is mostly its start-up on a busy machine.
    demand_ticks = window.ticks + np.maximum(window.wait_ticks, 0)
    lifetime = np.digitize(np.where(snapshot["elapsed_s"] > 0,
                                    snapshot["cpu_time_s"] / np.maximum(snapshot["elapsed_s"], 1e-9), 0.0),
                           LIFETIME_EDGES).astype(np.int8)
    evidence = Evidence(
        cpu_ticks=np.where(observed_cpu, demand_ticks, 0),
        window_ticks=np.where(observed_cpu, window.window_ticks, 0),
        age_s=snapshot["elapsed_s"].astype(np.float64),
        orphaned=g.orphaned.astype(np.int8),
        io_active=np.where(window.io_syscalls >= 0, window.io_syscalls > 0, -1).astype(np.int8),
        cpu_lifetime=lifetime,
        tty=tty_codes(g),
        state=state_codes(snapshot["state"]),
        command=command,
        cwd=cwd_category,
        children=children,
        network=network,
    )

    units = observed.units
    available = np.ones((n, len(ACTIONS)), dtype=bool)
    zombie = snapshot["state"] == ord("Z")
    for action in NO_EFFECT_ON_ZOMBIES:
        available[zombie, ACTIONS.index(action)] = False
    # Restart goes through the service manager: only for processes in a unit
    # (system units need root; user units need only `systemctl --user`).
    has_unit = np.not_equal(units.unit, None)
    available[:, ACTIONS.index("restart")] &= has_unit & (units.user_unit | (os.geteuid() == 0))
    context = Context(g, command, observed.cwd, cwd_category, observed.fd_count, listening,
                      established, active_children, units, available)
    return evidence, context
