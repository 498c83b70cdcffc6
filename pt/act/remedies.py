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
from pt.act.identity import IdentityMismatch, Target, read_comm, read_stat
from pt.collect.procfs import LIVE


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


def pause(target: Target, params: dict, group_name: str, before: dict) -> Outcome:
    if params.get("method") == "freeze":
        return _cgroup_action(target, "freezer", group_name, before,
                              lambda h, g: (cgroups.set_frozen(h, g, True), "frozen")[1], thaw=True)
    if target.check().state in "Tt":
        return Outcome("done", "already stopped (by someone else); nothing changed, nothing to undo")
    target.send(signal.SIGSTOP)
    if not _wait_state(target, "Tt"):
        return Outcome("failed", "sent SIGSTOP but the process did not stop within 1 s")
    return Outcome("done", "stopped with SIGSTOP; `pt undo` sends SIGCONT", undo={"action": "resume"})


def resume(target: Target) -> Outcome:
    """SIGCONT to a process pt paused; a zombie (it was killed while
    stopped) has nothing to continue, and the outcome says so."""
    stat = target.check()
    if stat.state == "Z":
        return Outcome("aborted", f"nothing to undo: the process has exited (zombie, not yet reaped "
                                  f"by its parent {stat.ppid}); no signal sent")
    target.send(signal.SIGCONT)
    return Outcome("done", "continued with SIGCONT")


def nice_floor() -> int:
    """The lowest nice this process may set (root: -20; else from RLIMIT_NICE)."""
    if os.geteuid() == 0:
        return -20
    soft = resource.getrlimit(resource.RLIMIT_NICE)[0]
    return 20 - soft if soft != resource.RLIM_INFINITY else -20


def _tasks(pid: int) -> list[int]:
    return LIVE.tasks(pid) or [pid]


def _set_nice(target: Target, value: int) -> str:
    """setpriority every thread of the verified process; returns a note on
    threads that exited meanwhile ('' if none)."""
    vanished = []

    def set_all(pid: int) -> None:
        for tid in _tasks(pid):
            try:
                os.setpriority(os.PRIO_PROCESS, tid, value)
            except ProcessLookupError:
                vanished.append(tid)
                continue
            if not LIVE.has_task(pid, tid):
                vanished.append(tid)      # exited meanwhile: its tid may have named another task
    target.by_number(set_all)
    return f" ({len(vanished)} thread(s) exited during the change)" if vanished else ""


def renice(target: Target, params: dict, before: dict) -> Outcome:
    """Set every thread's nice (Linux nice is per thread) to ``params['nice']``;
    ``before['nice']`` is the value to restore, read when the intent was written."""
    old, new = int(before["nice"]), int(params["nice"])
    if new <= old:
        return Outcome("done", f"already at nice {old} (asked {new}); nothing changed")
    try:
        note = _set_nice(target, new)
    except PermissionError as exc:
        return Outcome("failed", f"setpriority refused: {exc.strerror}")
    reversible = old >= nice_floor()
    undo = {"action": "renice", "nice": old} if reversible else None
    if not reversible:
        note += f" (not reversible: lowering nice below {nice_floor()} needs privileges)"
    return Outcome("done", f"nice {old} → {new}{note}", undo=undo)


def renice_back(target: Target, undo: dict) -> Outcome:
    old = int(undo["nice"])
    try:
        note = _set_nice(target, old)
    except PermissionError as exc:
        return Outcome("failed", f"setpriority refused: {exc.strerror}")
    return Outcome("done", f"nice back to {old}{note}")


def before_state(target: Target, action: str, params: dict) -> dict:
    """What an action changes, read before it acts, journalled with the intent
    so an interrupted apply that resumes still knows what to restore."""
    if action == "renice":
        return {"nice": target.check().nice}
    controller = CGROUP_CONTROLLER.get(action)
    if action == "pause" and params.get("method") == "freeze":
        controller = "freezer"
    if controller is None:
        return {}
    try:
        h = cgroups.find(controller)
        return {"origin": cgroups.current_cgroup(target.identity.pid, h)}
    except cgroups.CgroupUnavailable:
        return {}                 # the action itself reports why it cannot run


CGROUP_CONTROLLER = {"throttle": "cpu", "quarantine": "cpuset"}


def _cgroup_action(target: Target, controller: str, group_name: str, before: dict, configure, *,
                   thaw=False) -> Outcome:
    """Create pt's group for ``controller``, ``configure(h, group)`` it, move the target in."""
    group = None
    try:
        h = cgroups.find(controller)
        origin = before.get("origin") or cgroups.current_cgroup(target.identity.pid, h)
        if origin == "/pt" or origin.startswith("/pt/"):
            # Stacked, the second action's undo would point into the first's
            # group, which the first's undo removes: one pt group at a time.
            return Outcome("refused", f"already in pt's cgroup {origin} from an earlier action; "
                                      "`pt undo` that one first")
        group = cgroups.make_group(h, group_name, controller)
        what = configure(h, group)
        target.by_number(lambda pid: cgroups.move(h, group, pid))
        now = cgroups.current_cgroup(target.identity.pid, h)
        if now != "/" + str(group.relative_to(h.mount)):
            raise cgroups.CgroupUnavailable(f"wrote the pid to {group}/cgroup.procs but the kernel "
                                            f"reports the process still in {now}")
    except cgroups.CgroupUnavailable as exc:
        if group is not None:
            cgroups.remove_group(group)
        return Outcome("unavailable", str(exc))
    undo = {"action": "uncgroup", "version": h.version, "mount": str(h.mount), "origin": origin,
            "group": str(group), "thaw": thaw}
    return Outcome("done", f"moved into {group} ({what}); `pt undo` moves it back to {origin}", undo=undo)


def throttle(target: Target, params: dict, group_name: str, before: dict) -> Outcome:
    def configure(h, group):
        what = cgroups.set_cpu_limit(h, group, float(params["cpu"]))
        if params.get("memory_high_bytes"):
            try:
                what += ", " + cgroups.set_memory_high(h, group, int(params["memory_high_bytes"]))
            except cgroups.CgroupUnavailable as exc:
                what += f", memory limit skipped: {exc}"
        return what
    return _cgroup_action(target, "cpu", group_name, before, configure)


def quarantine(target: Target, params: dict, group_name: str, before: dict) -> Outcome:
    return _cgroup_action(target, "cpuset", group_name, before, cgroups.set_one_cpu)


def uncgroup(undo: dict, pid: int) -> Outcome:
    """Move every process in pt's group back to the target's original cgroup
    and remove the group (thawing it first if pt froze it). The group's
    membership is the identity: it holds the target, if still alive, and the
    children it forked while inside — those must not stay throttled, even
    once the target has exited. Done only once the group is gone; otherwise
    ``failed`` with the reason, and the next ``pt undo`` tries again.

    A tree's members share one group: a member's undo (``undo['member']``)
    moves only the member ``pid`` back to its own original cgroup, if it is
    still in the group; the root's, run after theirs, dissolves the group."""
    group = Path(undo["group"])
    if not group.is_dir():
        return Outcome("done", f"nothing to move back: pt's group {group} is already gone")
    try:
        h = cgroups.mounted_at(int(undo["version"]), Path(undo["mount"]))
        origin = h.mount / undo["origin"].lstrip("/")
        if undo.get("thaw"):
            cgroups.set_frozen(h, group, False)
        if undo.get("member"):
            moved = cgroups.move_member(h, group, origin, pid)
            if not cgroups.members(group):
                cgroups.remove_group(group)           # the root's own action did not stay in it
            if moved:
                return Outcome("done", f"moved back to {undo['origin']} from the tree's group {group}")
            return Outcome("done", f"nothing to move back: not in the tree's group {group} any more")
        moved = cgroups.dissolve(h, group, origin)
    except cgroups.CgroupUnavailable as exc:
        return Outcome("failed", f"{exc}; `pt undo` again retries")
    return Outcome("done", f"moved {moved} process(es) back to {undo['origin']} (the target and any "
                           f"children it forked since) and removed {group}")


def restart(target: Target, params: dict, allow_system_services: bool) -> Outcome:
    """``systemctl [--user] restart UNIT`` for a process in a service unit. The
    unit is read again from the live process's cgroup: a plan naming a
    different unit than the one the target runs in is refused."""
    from pt.collect.units import parse_cgroup
    text = LIVE.text(target.identity.pid, "cgroup")
    if text is None:
        return Outcome("failed", "cannot read the process's cgroup (/proc/PID/cgroup)")
    target.check()
    unit, user, system_slice = parse_cgroup(text)
    if not unit:
        return Outcome("unavailable", "the process is not in a systemd unit")
    if params.get("unit") != unit or bool(params.get("user_unit")) != user:
        return Outcome("refused", f"the plan names unit {params.get('unit')!r} but the process runs in {unit!r}")
    if system_slice and not allow_system_services:
        return Outcome("refused", f"{unit} is a system service (policy guards.allow_system_services is off)")
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
    try:
        stat = target.check()
    except IdentityMismatch as exc:
        if exc.gone:
            return Outcome("exited", "the zombie was reaped before pt acted")
        raise
    parent_pid = stat.ppid
    try:
        parent = _open_parent(parent_pid)
    except IdentityMismatch as exc:
        return Outcome("failed", f"cannot reach the zombie's parent {parent_pid}: {exc}")
    with parent:
        # Still that zombie's parent? (If the parent died the zombie was reparented.)
        try:
            now = target.check()
        except IdentityMismatch as exc:
            if exc.gone:
                return Outcome("exited", "the zombie was reaped before pt acted")
            raise
        if now.ppid != parent_pid:
            return Outcome("failed", "the zombie's parent changed while pt acted; not retried")
        parent.send(signal.SIGCHLD)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_stat(target.identity.pid)
        if now is None or now.start_ticks != target.identity.start_ticks:
            return Outcome("exited", f"reaped by its parent {parent_pid} after SIGCHLD")
        time.sleep(0.01)
    comm = read_comm(parent_pid)
    return Outcome("still_running", f"its parent {parent_pid} ({comm}) does not reap it; ending the parent "
                   f"would (the zombie is then reaped by init): plan that with `pt plan --pid {parent_pid}`",
                   extra={"parent_pid": parent_pid})


def _open_parent(pid: int) -> Target:
    from pt.act.identity import read_identity
    identity = read_identity(pid)
    if identity is None:
        raise IdentityMismatch("it has exited")
    return Target.open(identity)
