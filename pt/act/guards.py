"""Guards re-checked at action time, whatever the plan says (docs/design.md, safety invariants 3-4).

A plan can be old, hand-edited or written by another program; so just before
acting pt re-reads the machine and refuses any action that a hard veto, the
minimum age, a data-loss gate, a rate limit, the per-run cap or a respawn
cooldown forbids. Each refusal carries the reason that is journalled.
"""
from __future__ import annotations

import os
import re
import stat as stat_mod
from pathlib import Path

import numpy as np

from pt.act.identity import read_write_bytes
from pt.act.journal import ACTED_RESULTS
from pt.collect.procfs import LIVE
from pt.config import RATE_PERIODS, ActionPolicy, Policy

#: Actions that can lose a process's unsaved work.
DESTRUCTIVE = ("kill", "restart")
#: Open files that mean "in the middle of something": VCS and package-manager locks.
LOCK_FILE = re.compile(r"(\.lock|/lock|/LOCK|\.lck)$")


def vetoes(targets: list[dict], policy: Policy, root: str = LIVE.root) -> list[str | None]:
    """Per planned action, the hard veto that protects its target *now*
    (None if none), from a fresh snapshot: the same rules as the scan."""
    from pt.collect import collect
    from pt.collect.units import read_units
    from pt.decide.vetoes import protected_by
    from pt.features.genealogy import genealogy

    snapshot = collect(root)
    units = read_units(root, snapshot["pid"])
    protected = protected_by(snapshot, genealogy(snapshot), policy, units.system_slice)
    by_identity = {(p, s): i for i, (p, s) in enumerate(zip(snapshot["pid"].tolist(),
                                                           snapshot["start_ticks"].tolist()))}
    out = []
    for t in targets:
        row = by_identity.get((t["pid"], t["start_ticks"]))
        # Not in a fresh table (exited, or its stat could not be parsed): unknown is not safe.
        out.append("not in a fresh process table, so the vetoes cannot be checked" if row is None
                   else protected[row])
    return out


def host_clock(root: str = LIVE.root):
    """Boot time, uptime and clock ticks now: ages come from the verified
    start ticks, never from a plan's own fields."""
    from pathlib import Path as _Path

    from pt.collect.host import read_host
    return read_host(_Path(root))


def ignores(pid: int, sig: int) -> bool:
    """True if ``pid`` ignores ``sig`` (SigIgn in /proc/PID/status)."""
    mask = LIVE.status_value(pid, "SigIgn")
    try:
        return bool(int(mask or "0", 16) >> (sig - 1) & 1)
    except ValueError:
        return False


def locked_pids(path: str = "/proc/locks") -> set[int]:
    """Pids holding POSIX or flock locks (``/proc/locks``; OFD locks show pid -1)."""
    pids = set()
    try:
        for line in Path(path).read_text(errors="backslashreplace").splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[1] != "->" and fields[4].lstrip("-").isdigit():
                pids.add(int(fields[4]))
    except OSError:
        pass
    return pids


def _writable_files(pid: int) -> tuple[list[tuple], str | None]:
    """The regular files ``pid`` holds open, as ``(fd, path, flags, dev,
    inode, pos)``, and why they could not all be inspected (None if they
    could). Any filesystem counts (ext4, tmpfs under /dev/shm, ...); pseudo
    files under /proc and /sys, deleted files, devices, pipes, sockets and
    ttys are not data."""
    try:
        fds = LIVE.fds(pid)
    except OSError as exc:
        return [], f"its open files cannot be inspected ({exc.strerror})"
    out = []
    for fd in fds:
        target = LIVE.link(pid, f"fd/{fd}")
        if target is None:
            continue                                  # closed meanwhile
        if not target.startswith("/") or target.startswith(("/proc/", "/sys/")) or target.endswith(" (deleted)"):
            continue
        try:
            st = os.stat(LIVE.path(pid, "fd", str(fd)))
        except FileNotFoundError:
            continue
        except OSError as exc:
            return [], f"its open file {fd} cannot be inspected ({exc.strerror})"
        if not stat_mod.S_ISREG(st.st_mode):
            continue
        info = LIVE.fdinfo(pid, fd)
        if info is None:
            if LIVE.link(pid, f"fd/{fd}") is None:
                continue                              # closed meanwhile
            return [], f"its open file {fd} cannot be inspected (fdinfo unreadable)"
        flags, pos = info
        out.append((fd, target, flags, st.st_dev, st.st_ino, pos))
    return out, None


def _writing(flags: int) -> bool:
    return flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)


def read_write_calls(pid: int) -> list[int] | None:
    """``[wchar, syscw]`` of ``/proc/PID/io`` (bytes passed to write()-like
    calls and their number, read through the collector's reader); None if
    unreadable."""
    io = LIVE.io(pid)
    return None if io is None else [io["wchar"], io["syscw"]]


def write_baseline(pid: int) -> dict:
    """What the data-loss gate compares against at apply time, read when the
    plan is made (the plan entry's fields of these names): ``write_bytes``
    of /proc/PID/io (storage writes through block devices); ``write_calls``,
    its ``[wchar, syscw]`` — every write()-like call, on any filesystem
    (tmpfs included) and whether or not the file is still open; and
    ``write_files``, ``[fd, dev, inode, pos]`` of every regular file open for
    writing, to name the file. None where unreadable (the gate then refuses)."""
    files, problem = _writable_files(pid)
    positions = None if problem else [[fd, dev, ino, pos] for fd, _, flags, dev, ino, pos in files
                                      if _writing(flags)]
    return {"write_bytes": read_write_bytes(pid), "write_calls": read_write_calls(pid),
            "write_files": positions}


def data_at_risk(pid: int, baseline: dict, locked: set[int]) -> str | None:
    """Why killing ``pid`` could lose data, or None; ``baseline`` holds the
    plan entry's :func:`write_baseline` fields.

    Looks at what matters: a regular file open for writing that is not a log
    (not O_APPEND), a file lock, an open VCS/package-manager lock file, or
    writes since the plan was made — to any file it holds open for writing
    (the file position moved, or the file was opened since), to storage
    (``write_bytes``), or any write()-like call at all (``wchar``/``syscw``:
    a loop that opens, appends and closes holds nothing open, and tmpfs
    writes never reach ``write_bytes``). The last is conservative by design:
    writes to pipes, sockets and terminals, and the writes of children it
    reaped, count too. stdio (fds 0-2, e.g. ``cmd > out.log &``) and
    append-only logs may be open, if they were not written since. What
    cannot be inspected counts as a risk, and so does a plan without these
    baselines (made by an older pt, or hand-written): a gate that cannot
    look must not pass.
    """
    if pid in locked:
        return "holds a file lock (/proc/locks)"
    files, problem = _writable_files(pid)
    if problem:
        return problem
    planned_files = baseline.get("write_files")
    if planned_files is None:
        return "the plan has no baseline of its open files, so recent writes cannot be ruled out"
    before = {fd: (dev, ino, pos) for fd, dev, ino, pos in planned_files}
    for fd, target, flags, dev, ino, pos in files:
        if LOCK_FILE.search(target):
            return f"has the lock file {target} open"
        if not _writing(flags):
            continue
        if fd > 2 and not flags & os.O_APPEND:
            return f"has {target} open for writing"
        then = before.get(fd)
        if then is None or then[:2] != (dev, ino):
            return f"opened {target} for writing since the plan was made"
        if pos != then[2]:
            return f"wrote {pos - then[2]} bytes to {target} since the plan was made"
    now, planned = read_write_bytes(pid), baseline.get("write_bytes")
    if now is None:
        return "its write counter (/proc/PID/io) cannot be read, so recent writes cannot be ruled out"
    if planned is None or planned > now:
        return "the plan has no usable write-counter baseline, so recent writes cannot be ruled out"
    if now > planned:
        return f"wrote {now - planned} bytes to storage since the plan was made"
    return _calls_moved(read_write_calls(pid), baseline.get("write_calls"))


def _calls_moved(now: list[int] | None, planned: list[int] | None) -> str | None:
    """Why the write()-call counters say the process wrote since the plan, or None."""
    if now is None:
        return "its write-call counters (wchar, syscw of /proc/PID/io) cannot be read, so recent " \
               "writes cannot be ruled out"
    if planned is None or planned[0] > now[0] or planned[1] > now[1]:
        return ("the plan has no usable baseline of its write calls (wchar, syscw of /proc/PID/io; a plan "
                "made by an older pt has none), so recent writes cannot be ruled out; make a new plan")
    if now != planned:
        return (f"made {now[1] - planned[1]} write calls ({now[0] - planned[0]} bytes; wchar/syscw of "
                "/proc/PID/io) since the plan was made; these count writes to any file, and also to "
                "pipes, sockets and terminals (conservative by design)")
    return None


class Budget:
    """Rate limits, per-run cap and respawn cooldown, filled from the journal
    (what pt really did, across runs) and from this run as it acts."""

    def __init__(self, policy: ActionPolicy, history: list[dict], now: float):
        self.policy = policy
        self.now = now
        # What pt did, plus intents never closed (a crashed apply may have signalled).
        closed = {r["action_id"] for r in history if r.get("kind") == "outcome"}
        acted = [r for r in history if not r.get("action_id", "").endswith(":undo") and (
            (r.get("kind") == "outcome" and r.get("result") in ACTED_RESULTS)
            or (r.get("kind") == "intent" and r["action_id"] not in closed))]
        self.times = {}          # action -> np.ndarray of ts
        for r in acted:
            self.times.setdefault(r["action"], []).append(r["ts"])
        self.times = {a: np.array(ts) for a, ts in self.times.items()}
        self.kills = [(r["cmd_hash"], r["uid"], r["ts"], r["boot_id"],
                       r.get("params", {}).get("signalled_ticks", r.get("uptime_ticks", 0)),
                       (r["pid"], r["start_ticks"])) for r in acted if r["action"] == "kill"]
        self.this_run = 0
        self.counts: dict[str, int] = {}

    def _count(self, action: str, seconds: float) -> int:
        if action == "any":
            past = sum(int((ts >= self.now - seconds).sum()) for ts in self.times.values())
            return past + self.this_run
        past = int((self.times.get(action, np.empty(0)) >= self.now - seconds).sum())
        return past + self.counts.get(action, 0)

    def refuse(self, action: str, target: dict) -> str | None:
        """Why ``action`` on ``target`` must not happen now, or None (and then it is counted)."""
        if self.this_run >= self.policy.max_actions_per_run:
            return f"per-run cap reached ({self.policy.max_actions_per_run} actions; policy max_actions_per_run)"
        for key in (action, "any"):
            for period, limit in self.policy.rate_limits.get(key, {}).items():
                used = self._count(key, RATE_PERIODS[period])
                if used >= limit:
                    what = "actions" if key == "any" else f"{key} actions"
                    return f"rate limit: {used} {what} in the last {period} (limit {limit})"
        if action == "kill":
            for digest, uid, ts, boot, ticks, killed in self.kills:
                if killed == (target["pid"], target["start_ticks"]):
                    continue                          # the same process (a resumed kill), not a respawn
                if digest == target["cmd_hash"] and uid == target["uid"] and boot == target["boot_id"] \
                        and target["start_ticks"] >= ticks and self.now - ts < self.policy.respawn_cooldown_s:
                    return (f"respawn cooldown: pt killed this command {self.now - ts:.0f} s ago and it came "
                            f"back (cooldown {self.policy.respawn_cooldown_s:.0f} s)")
        self.this_run += 1
        self.counts[action] = self.counts.get(action, 0) + 1
        return None
