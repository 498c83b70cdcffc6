"""Model inputs for a quick scan: a snapshot, a short window, and context.

Turns the collector's columns into the :class:`~pt.infer.posterior.Evidence`
the model scores, plus the context the decision needs (dependency counts,
which actions are possible). Everything is computed on whole columns.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pt.collect._procfs import read_process_files
from pt.collect.net import SocketTable, count_per_process, read_sockets
from pt.collect.snapshot import TPGID_UNKNOWN
from pt.collect.snapshot import Activity, Snapshot, Window
from pt.collect.units import Units, units_of
from pt.config import ACTIONS, CATEGORICAL_LEVELS
from pt.features.categories import classify_cwd, load_rules
from pt.features.genealogy import Genealogy, genealogy
from pt.infer.posterior import LIFETIME_MIN_AGE_S, SPINNING, SUSTAINED, Evidence

#: Lifetime CPU share bin edges: idle < 0.1%, low < 5%, moderate < 50%, high.
LIFETIME_EDGES = (0.001, 0.05, 0.5)
#: A process wanting at least this share of a CPU in the window is busy, and
#: whether it made progress while busy is observed (the ``progress`` term).
BUSY_SHARE = 0.5
#: Over a history of earlier scans, a busy process makes progress when it
#: has at least this many IO events a second (one every 10 s: the mean
#: wake-up rate of useful work in the deep scan's priors); a spinner's
#: start-up reads then stop counting within seconds of history.
PROGRESS_RATE = 0.1
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
    stdio_null: np.ndarray         # int8: 1 stdin and stdout on /dev/null, 0 not, -1 unreadable
    tty_idle_s: np.ndarray         # float: seconds since its terminal's last input/output, NaN unknown


def read_observed(snapshot: Snapshot, root: str | os.PathLike = "/proc", rules=None,
                  files: dict | None = None) -> Observed:
    """Read and classify :class:`Observed` for every row of ``snapshot``
    (``files``: what :func:`read_process_files` returned for its rows, if read already)."""
    rules = rules if rules is not None else load_rules()
    command = rules.classify(snapshot["comm"], snapshot["cmdline"]).astype(np.int8)
    if files is None:
        files = read_process_files(os.fsencode(root), snapshot["pid"])
    cwd = files["cwd"]
    # A terminal's device times only mean something for the live /proc (a
    # recorded tree's tty numbers name no device here).
    live = os.path.realpath(root) == "/proc"
    idle = tty_idle_seconds(snapshot["tty_nr"], snapshot.host.taken_at) if live \
        else np.full(len(snapshot), np.nan)
    return Observed(command, cwd, classify_cwd(cwd, snapshot["uid"]).astype(np.int8), files["fd_count"],
                    files["socket_row"], files["socket_inode"], read_sockets(root),
                    units_of(files["cgroup"], files["cgroup_index"]), files["stdio_null"], idle)


def tty_idle_seconds(tty_nr: np.ndarray, now: float, dev: str = "/dev") -> np.ndarray:
    """Seconds since the last input or output on each row's terminal: the
    later of the device's atime and mtime, as ``w`` reads idle time (the
    kernel stamps them on reads and writes). NaN with no terminal, or a
    device that cannot be stat'ed (one ``stat`` per distinct terminal)."""
    from pt.fields import tty_names
    out = np.full(len(tty_nr), np.nan)
    unique, inverse = np.unique(tty_nr, return_inverse=True)
    names = tty_names(unique)
    idle = np.full(len(unique), np.nan)
    for i, name in enumerate(names.tolist()):
        if name is None or ":" in name:
            continue
        try:
            st = os.stat(os.path.join(dev, name))
        except OSError:
            continue
        idle[i] = max(now - max(st.st_atime, st.st_mtime), 0.0)
    if len(unique):
        out = idle[inverse]
    return out


def serving_counts(n: int, rows: np.ndarray, inodes: np.ndarray, sockets: SocketTable) -> np.ndarray:
    """Per process, established TCP connections on a port it listens on:
    clients connected to *its* server socket (outgoing connections excluded)."""
    if not len(sockets.inode) or not len(inodes):
        return np.zeros(n, dtype=np.int32)
    order = np.argsort(sockets.inode, kind="stable")
    at = np.minimum(np.searchsorted(sockets.inode, inodes, sorter=order), len(order) - 1)
    hit = sockets.inode[order[at]] == inodes
    table = order[at][hit]
    row = rows[hit].astype(np.int64)
    key = row * 65536 + sockets.local_port[table]
    listen = np.isin(sockets.inode[table], sockets.listening())
    est = np.isin(sockets.inode[table], sockets.established())
    serving = est & np.isin(key, key[listen])
    return np.bincount(row[serving], minlength=n).astype(np.int32)


def daemon_shape(cwd: np.ndarray, stdio_null: np.ndarray, listening: np.ndarray,
                 has_tty: np.ndarray) -> np.ndarray:
    """none / detached (cwd ``/``, stdin and stdout on /dev/null, no terminal) /
    daemon (detached and listening); -1 where cwd or stdio was unreadable."""
    detached = (cwd == "/") & (stdio_null == 1) & ~has_tty
    code = np.where(detached, np.where(listening > 0, 2, 1), 0).astype(np.int8)
    unknown = (stdio_null < 0) | np.equal(cwd, None)
    return np.where(unknown, -1, code).astype(np.int8)


def progress_codes(busy: np.ndarray, moving: np.ndarray, known: np.ndarray, alive: np.ndarray,
                   lifetime: np.ndarray) -> np.ndarray:
    """idle (not ``busy``: wanting under :data:`BUSY_SHARE` of a CPU); busy
    with progress (``moving``: it does IO or drives a busy child); busy
    spinning (CPU with nothing to show for it); or sustained spinning
    (spinning, and busy for most of a life of a minute or more:
    ``lifetime`` is the lifetime CPU share's bin, -1 when younger). -1 (not
    observed) where the window was not, or for a busy process whose IO is
    not ``known`` (another user's)."""
    spinning = np.where(lifetime == len(LIFETIME_EDGES), SUSTAINED, SPINNING)
    code = np.where(busy, np.where(moving, 1, np.where(known, spinning, -1)), 0)
    return np.where(alive, code, -1).astype(np.int8)


@dataclass(frozen=True)
class Static:
    """The evidence and context that do not depend on the CPU window, from the
    snapshot and the files read beside it: a scan computes them while its
    window runs (:func:`static_features`), the rest after it (:func:`build`)."""

    genealogy: Genealogy
    listening: np.ndarray
    established: np.ndarray
    network: np.ndarray
    orphaned: np.ndarray
    parent: np.ndarray
    lifetime: np.ndarray
    tty: np.ndarray
    state: np.ndarray
    daemon: np.ndarray
    available: np.ndarray          # (n, len(ACTIONS)) bool


def static_features(snapshot: Snapshot, observed: Observed) -> Static:
    """The window-free part of :func:`build`, for every row of ``snapshot``."""
    n = len(snapshot)
    g = genealogy(snapshot)
    sockets, rows, inodes = observed.sockets, observed.socket_row, observed.socket_inode
    listening = count_per_process(n, rows, inodes, sockets.listening())
    established = count_per_process(n, rows, inodes, sockets.established())
    serving = serving_counts(n, rows, inodes, sockets)
    network = np.select([serving > 0, established > 0, listening > 0], [3, 2, 1], 0).astype(np.int8)
    network[observed.fd_count < 0] = -1                          # fds unreadable: not observed
    # A unit was started on purpose by its service manager: not orphaned.
    in_unit = np.not_equal(observed.units.unit, None)
    orphaned = (g.orphaned & ~in_unit).astype(np.int8)
    # A detached session leader is an orphan only if no unit started it: unknown cgroup, unknown.
    orphaned[g.orphaned & g.session_leader & np.equal(observed.units.cgroup, None)] = -1
    parent = np.where(g.parent_is_reaper, 0, 1).astype(np.int8)
    parent[(g.parent_row < 0) & (snapshot["ppid"] != 1)] = -1     # parent not seen: unknown
    lifetime = np.digitize(np.where(snapshot["elapsed_s"] > 0,
                                    snapshot["cpu_time_s"] / np.maximum(snapshot["elapsed_s"], 1e-9), 0.0),
                           LIFETIME_EDGES).astype(np.int8)
    lifetime[snapshot["elapsed_s"] < LIFETIME_MIN_AGE_S] = -1
    tty = np.where(g.has_tty & (snapshot["tpgid"] == TPGID_UNKNOWN), -1, tty_codes(g)).astype(np.int8)
    daemon = daemon_shape(observed.cwd, observed.stdio_null, listening, g.has_tty)

    units = observed.units
    available = np.ones((n, len(ACTIONS)), dtype=bool)
    zombie = snapshot["state"] == ord("Z")
    for action in NO_EFFECT_ON_ZOMBIES:
        available[zombie, ACTIONS.index(action)] = False
    # Restart goes through the service manager: only for processes in a unit
    # (system units need root; user units need only `systemctl --user`).
    has_unit = np.not_equal(units.unit, None)
    available[:, ACTIONS.index("restart")] &= has_unit & (units.user_unit | (os.geteuid() == 0))
    return Static(g, listening, established, network, orphaned, parent, lifetime, tty,
                  state_codes(snapshot["state"]), daemon, available)


def build(snapshot: Snapshot, window: Window, observed: Observed,
          activity: Activity | None = None, static: Static | None = None) -> tuple[Evidence, Context]:
    """Evidence and context for every row of ``snapshot`` observed over ``window``.

    ``activity``: the CPU and IO counts to use, where earlier scans extend
    the window (:meth:`pt.decide.stability.Remembered.activity`: CPU demand
    over the history in the same Beta-Binomial, IO as a rate of events over
    it; docs/model.md, "Stable verdicts"); default the window's.
    ``static``: :func:`static_features` of the same snapshot and files, if
    computed already (a scan does, while its window runs)."""
    n = len(snapshot)
    s = static or static_features(snapshot, observed)
    g = s.genealogy
    child_busy = (window.ticks > 0) & (g.parent_row >= 0)
    active_children = np.bincount(g.parent_row[child_busy], minlength=n).astype(np.int32)
    children = np.select([g.children == 0, active_children == 0], [0, 1], 2).astype(np.int8)

    observed_cpu = window.alive
    # CPU demand in the window, not the share the scheduler granted: under
    # load a spinner gets a varying slice of a CPU but is runnable all the
    # time, so time spent waiting on a run queue counts as wanted CPU (see
    # docs/model.md). Not over the lifetime: there the run delay of a young
    # process is mostly its start-up on a busy machine.
    activity = activity or window.activity()
    demand_ticks = np.round(activity.demand).astype(np.int64)
    observed_ticks = np.maximum(np.round(activity.ticks), 1).astype(np.int64)
    history = np.isfinite(activity.span_s) & observed_cpu
    io_window = window.io_syscalls
    events = np.where(history & (activity.io_events >= 0), activity.io_events, np.nan)
    # Busy and moving over the same span as the evidence: the history where
    # there is one (a worker's bursts are not busy; a spinner's start-up
    # reads fade), else the window.
    busy = demand_ticks >= BUSY_SHARE * observed_ticks
    moving = np.where(history, events >= PROGRESS_RATE * np.where(history, activity.span_s, 1.0), io_window > 0)
    known = np.where(history, np.isfinite(events), io_window >= 0)
    evidence = Evidence(
        progress=progress_codes(busy, moving | (active_children > 0), known | (active_children > 0),
                                window.alive, s.lifetime),
        cpu_ticks=np.where(observed_cpu, demand_ticks, 0),
        window_ticks=np.where(observed_cpu, observed_ticks, 0),
        age_s=snapshot["elapsed_s"].astype(np.float64),
        orphaned=s.orphaned,
        io_active=np.where(io_window >= 0, io_window > 0, -1).astype(np.int8),
        cpu_lifetime=s.lifetime,
        tty=s.tty,
        state=s.state,
        command=observed.command_category,
        cwd=observed.cwd_category,
        children=children,
        network=s.network,
        parent=s.parent,
        daemon=s.daemon,
        tty_idle_s=observed.tty_idle_s,
        span_s=np.where(history, activity.span_s, np.nan),
        io_events=events,
    )
    context = Context(g, observed.command_category, observed.cwd, observed.cwd_category, observed.fd_count,
                      s.listening, s.established, active_children, observed.units, s.available)
    return evidence, context
