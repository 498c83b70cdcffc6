"""The remedies short of kill, each returning its outcome and its reversal.

Every function takes an open, verified :class:`~pt.act.identity.Target` and
returns an :class:`Outcome`; ``undo`` describes how ``pt undo`` reverts it
(None when nothing can or need be reverted). Kill is batched across targets
in :mod:`pt.act.apply` so one grace period covers them all.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from pt.act import cgroups
from pt.act.identity import IdentityMismatch, Target, read_stat


@dataclass
class Outcome:
    result: str                      # see pt.act.journal
    detail: str
    undo: dict | None = None
    exit_status: int | None = None
    extra: dict = field(default_factory=dict)


def _wait_state(target: Target, states: str, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = read_stat(target.identity.pid)
        if stat is None or stat.start_ticks != target.identity.start_ticks:
            return False
        if stat.state in states:
            return True
        time.sleep(0.005)
    return False


def pause(target: Target, params: dict, group_name: str) -> Outcome:
    if params.get("method") == "freeze":
        return _cgroup_action(target, "freezer", group_name, lambda h, g: (cgroups.set_frozen(h, g, True),
                                                                           "frozen")[1], thaw=True)
    target.send(signal.SIGSTOP)
    if not _wait_state(target, "Tt"):
        return Outcome("failed", "sent SIGSTOP but the process did not stop within 1 s")
    return Outcome("done", "stopped with SIGSTOP; `pt undo` sends SIGCONT", undo={"action": "resume"})


def resume(target: Target) -> Outcome:
    target.send(signal.SIGCONT)
    return Outcome("done", "continued with SIGCONT")


def nice_floor() -> int:
    """The lowest nice this process may set (root: -20; else from RLIMIT_NICE)."""
    if os.geteuid() == 0:
        return -20
    soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
    return 20 - soft if soft != resource.RLIM_INFINITY else -20


def _tasks(pid: int) -> list[int]:
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]


def renice(target: Target, params: dict) -> Outcome:
    """Set every thread's nice (Linux nice is per thread) to ``params['nice']``."""
    stat = read_stat(target.identity.pid)
    old, new = stat.nice, int(params["nice"])
    if new <= old:
        return Outcome("done", f"already at nice {old} (asked {new}); nothing changed")

    def set_all(pid: int) -> None:
        for tid in _tasks(pid):
            try:
                os.setpriority(os.PRIO_PROCESS, tid, new)
            except ProcessLookupError:
                continue             # a thread that just exited
    try:
        target.by_number(set_all)
    except PermissionError as exc:
        return Outcome("failed", f"setpriority refused: {exc.strerror}")
    reversible = old >= nice_floor()
    undo = {"action": "renice", "nice": old} if reversible else None
    note = "" if reversible else f" (not reversible: lowering nice below {nice_floor()} needs privileges)"
    return Outcome("done", f"nice {old} → {new}{note}", undo=undo)


def renice_back(target: Target, undo: dict) -> Outcome:
    old = int(undo["nice"])

    def set_all(pid: int) -> None:
        for tid in _tasks(pid):
            try:
                os.setpriority(os.PRIO_PROCESS, tid, old)
            except ProcessLookupError:
                continue
    try:
        target.by_number(set_all)
    except PermissionError as exc:
        return Outcome("failed", f"setpriority refused: {exc.strerror}")
    return Outcome("done", f"nice back to {old}")


def _cgroup_action(target: Target, controller: str, group_name: str, configure, *, thaw=False) -> Outcome:
    """Create pt's group for ``controller``, ``configure(h, group)`` it, move the target in."""
    try:
        h = cgroups.find(controller)
        origin = cgroups.current_cgroup(target.identity.pid, h)
        group = cgroups.make_group(h, group_name, controller)
        what = configure(h, group)
        target.by_number(lambda pid: cgroups.move(h, group, pid))
    except cgroups.CgroupUnavailable as exc:
        return Outcome("unavailable", str(exc))
    undo = {"action": "uncgroup", "version": h.version, "mount": str(h.mount), "origin": origin,
            "group": str(group), "thaw": thaw}
    return Outcome("done", f"moved into {group} ({what}); `pt undo` moves it back to {origin}", undo=undo)


def throttle(target: Target, params: dict, group_name: str) -> Outcome:
    def configure(h, group):
        what = cgroups.set_cpu_limit(h, group, float(params["cpu"]))
        if params.get("memory_high_bytes"):
            try:
                what += ", " + cgroups.set_memory_high(h, group, int(params["memory_high_bytes"]))
            except cgroups.CgroupUnavailable as exc:
                what += f", memory limit skipped: {exc}"
        return what
    return _cgroup_action(target, "cpu", group_name, configure)


def quarantine(target: Target, params: dict, group_name: str) -> Outcome:
    return _cgroup_action(target, "cpuset", group_name, cgroups.set_one_cpu)


def uncgroup(target: Target, undo: dict) -> Outcome:
    h = cgroups.Hierarchy(int(undo["version"]), Path(undo["mount"]), frozenset())
    group = Path(undo["group"])
    try:
        if undo.get("thaw"):
            cgroups.set_frozen(h, group, False)
        origin = h.mount / undo["origin"].lstrip("/")
        target.by_number(lambda pid: cgroups.move(h, origin, pid))
    except cgroups.CgroupUnavailable as exc:
        return Outcome("failed", str(exc))
    problem = cgroups.remove_group(group)
    return Outcome("done", f"moved back to {undo['origin']}" + (f"; {problem}" if problem else ""))


def restart(target: Target, params: dict) -> Outcome:
    """``systemctl [--user] restart UNIT`` for a process in a service unit."""
    unit, user = params.get("unit"), bool(params.get("user_unit"))
    if not unit:
        return Outcome("unavailable", "the process is not in a systemd unit")
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return Outcome("unavailable", "systemctl is not installed")
    if not user and not Path("/run/systemd/system").is_dir():
        return Outcome("unavailable", "systemd is not running on this machine")
    argv = [systemctl] + (["--user"] if user else []) + ["restart", unit]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Outcome("failed", f"{' '.join(argv)} did not finish in 90 s")
    if proc.returncode != 0:
        return Outcome("failed", f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.returncode}")
    return Outcome("done", f"restarted {unit} with {' '.join(argv[1:])}")


def reap_zombie(target: Target, timeout: float = 1.0) -> Outcome:
    """A zombie is dealt with through its parent: nudge the parent with SIGCHLD
    (harmless) and see whether it reaps; if not, say which parent to deal with."""
    stat = read_stat(target.identity.pid)
    parent_pid = stat.ppid
    try:
        parent = _open_parent(parent_pid)
    except IdentityMismatch as exc:
        return Outcome("failed", f"cannot reach the zombie's parent {parent_pid}: {exc}")
    with parent:
        # Still that zombie's parent? (If the parent died the zombie was reparented.)
        now = read_stat(target.identity.pid)
        if now is None or now.start_ticks != target.identity.start_ticks:
            return Outcome("exited", "the zombie was reaped before pt acted")
        if now.ppid != parent_pid:
            return Outcome("failed", "the zombie's parent changed while pt acted; not retried")
        parent.send(signal.SIGCHLD)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_stat(target.identity.pid)
        if now is None or now.start_ticks != target.identity.start_ticks:
            return Outcome("exited", f"reaped by its parent {parent_pid} after SIGCHLD")
        time.sleep(0.01)
    comm = _comm(parent_pid)
    return Outcome("still_running", f"its parent {parent_pid} ({comm}) does not reap it; ending the parent "
                   f"would (the zombie is then reaped by init): plan that with `pt plan --pid {parent_pid}`",
                   extra={"parent_pid": parent_pid})


def _open_parent(pid: int) -> Target:
    from pt.act.identity import read_identity
    identity = read_identity(pid)
    if identity is None:
        raise IdentityMismatch("it has exited")
    return Target.open(identity)


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
