"""pt's own child cgroups: CPU throttle, cpuset quarantine, freezer.

pt never writes to a cgroup it did not create. For each action it makes one
group, ``<hierarchy>/pt/<plan_id>-<index>``, sets its limit, and moves the
target in; the reversal moves every process in that group (the target and
the children it forked since, which the kernel put there too) back to the
cgroup the target came from and removes the group. A whole-tree decision
has one group for all its members, ``<plan_id>-tree<id>`` (one limit for
the tree); its reversal moves each member back to its own cgroup, then the
rest to the root's, and removes the group. Both cgroup v2
(``cpu.max``, ``memory.high``, ``cpuset.cpus``, ``cgroup.freeze``) and v1
(``cpu.cfs_quota_us``, ``cpuset.cpus``/``cpuset.mems``, ``freezer.state``)
are handled; where
neither offers the controller, or pt may not write there, the action is
reported unavailable with the reason.

``PT_CGROUP_ROOT`` replaces the mount table with one v2 hierarchy at that
path (for tests and unusual layouts).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pt.collect.procfs import LIVE

CPU_PERIOD_US = 100_000


class CgroupUnavailable(Exception):
    """The machine cannot perform this cgroup action; the message says why."""


@dataclass(frozen=True)
class Hierarchy:
    version: int                 # 1 or 2
    mount: Path
    controllers: frozenset[str]  # v1: those mounted here; v2: those the root offers


def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> list[Hierarchy]:
    """cgroup mounts of this machine, v2 first."""
    override = os.environ.get("PT_CGROUP_ROOT")
    if override:
        return [Hierarchy(2, Path(override), _v2_controllers(Path(override)))]
    out = []
    try:
        lines = Path(mountinfo).read_text(errors="backslashreplace").splitlines()
    except OSError:
        return []
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        mount, fstype = Path(fields[4]), rfields[0]
        if fstype == "cgroup2":
            out.append(Hierarchy(2, mount, _v2_controllers(mount)))
        elif fstype == "cgroup":
            opts = set(rfields[2].split(","))
            names = {"cpu", "cpuacct", "cpuset", "memory", "freezer", "pids", "blkio", "devices"}
            out.append(Hierarchy(1, mount, frozenset(opts & names)))
    return sorted(out, key=lambda h: -h.version)


def _v2_controllers(mount: Path) -> frozenset[str]:
    try:
        return frozenset((mount / "cgroup.controllers").read_text().split()) | {"freezer"}
    except OSError:
        return frozenset()


def find(controller: str) -> Hierarchy:
    """The hierarchy to use for ``controller`` (v2 preferred)."""
    for h in hierarchies():
        if controller in h.controllers:
            return h
    found = ", ".join(f"v{h.version} at {h.mount}" for h in hierarchies()) or "none"
    raise CgroupUnavailable(f"no cgroup hierarchy offers the {controller} controller (mounted: {found})")


def mounted_at(version: int, mount: Path) -> Hierarchy:
    """The hierarchy of ``version`` mounted at ``mount`` (as a journalled
    reversal names it), with its controllers."""
    for h in hierarchies():
        if h.version == version and h.mount == mount:
            return h
    raise CgroupUnavailable(f"no cgroup v{version} hierarchy is mounted at {mount} any more")


def current_cgroup(pid: int, h: Hierarchy) -> str:
    """The process's cgroup path (relative to the mount) in hierarchy ``h``."""
    rows = LIVE.cgroup(pid)
    if rows is None:
        raise CgroupUnavailable(f"cannot read /proc/{pid}/cgroup")
    for _, names, path in rows:
        if h.version == 2 and names == "":
            return path
        if h.version == 1 and h.controllers & set(names.split(",")):
            return path
    raise CgroupUnavailable(f"pid {pid} is in no cgroup of {h.mount}")


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot write {text.strip()!r} to {path}: {exc.strerror}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise CgroupUnavailable(f"cannot read {path}: {exc.strerror}") from None


def make_group(h: Hierarchy, name: str, controller: str) -> Path:
    """Create ``<mount>/pt/<name>`` with ``controller`` enabled for it."""
    base = h.mount / "pt"
    if not h.mount.is_dir():
        raise CgroupUnavailable(f"cgroup root {h.mount} does not exist")
    try:
        base.mkdir(exist_ok=True)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot create {base}: {exc.strerror}") from None
    if h.version == 2 and controller != "freezer":
        # pt writes only to groups it made: the hierarchy must already offer
        # the controller to its children (systemd's delegation does this).
        if controller not in _read(h.mount / "cgroup.subtree_control").split():
            raise CgroupUnavailable(f"the {controller} controller is not enabled for children of {h.mount} "
                                    "(cgroup.subtree_control)")
        if controller not in _read(base / "cgroup.subtree_control").split():
            _write(base / "cgroup.subtree_control", f"+{controller}")
    group = base / name
    try:
        group.mkdir(exist_ok=True)
    except OSError as exc:
        raise CgroupUnavailable(f"cannot create {group}: {exc.strerror}") from None
    if h.version == 1 and controller == "cpuset":
        # A v1 cpuset group (and pt's parent group) accepts no task and no
        # child settings until both of these are set.
        for path in (base, group):
            for name in ("cpuset.mems", "cpuset.cpus"):
                if not _read(path / name):
                    _write(path / name, _read(h.mount / name))
    return group


def set_cpu_limit(h: Hierarchy, group: Path, cpus: float) -> str:
    quota = max(1000, int(cpus * CPU_PERIOD_US))
    if h.version == 2:
        _write(group / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        return f"cpu.max {quota} {CPU_PERIOD_US}"
    _write(group / "cpu.cfs_period_us", str(CPU_PERIOD_US))
    _write(group / "cpu.cfs_quota_us", str(quota))
    return f"cpu.cfs_quota_us {quota} per {CPU_PERIOD_US}"


def set_memory_high(h: Hierarchy, group: Path, limit: int) -> str:
    if h.version != 2:
        raise CgroupUnavailable("memory.high needs cgroup v2")
    _write(group / "memory.high", str(limit))
    return f"memory.high {limit}"


def set_one_cpu(h: Hierarchy, group: Path) -> str:
    """Pin the group to the last CPU of the ones the hierarchy allows."""
    allowed = _read((h.mount / "cpuset.cpus.effective") if h.version == 2 else (h.mount / "cpuset.cpus"))
    cpu = parse_cpu_list(allowed)[-1]
    _write(group / "cpuset.cpus", str(cpu))
    return f"cpuset.cpus {cpu}"


def set_frozen(h: Hierarchy, group: Path, frozen: bool) -> None:
    if h.version == 2:
        _write(group / "cgroup.freeze", "1" if frozen else "0")
    else:
        _write(group / "freezer.state", "FROZEN" if frozen else "THAWED")


def parse_cpu_list(text: str) -> list[int]:
    """``0-3,6`` → ``[0, 1, 2, 3, 6]`` (the kernel's cpu list format)."""
    cpus = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    if not cpus:
        raise CgroupUnavailable(f"empty cpu list {text!r}")
    return cpus


def move(h: Hierarchy, cgroup_dir: Path, pid: int) -> None:
    """Move process ``pid`` (all its threads) into ``cgroup_dir``."""
    _write(cgroup_dir / "cgroup.procs", str(pid))


def members(group: Path) -> list[int]:
    """The processes in ``group`` (its ``cgroup.procs``); none once it is removed."""
    try:
        return [int(p) for p in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise CgroupUnavailable(f"cannot read {group}/cgroup.procs: {getattr(exc, 'strerror', None) or exc}") \
            from None


def move_member(h: Hierarchy, group: Path, dest: Path, pid: int) -> bool:
    """Move ``pid`` from pt's ``group`` to ``dest`` if it is still in
    ``group`` when checked just before (one that left or exited meanwhile is
    not written); True if moved."""
    try:
        if current_cgroup(pid, h) != "/" + str(group.relative_to(h.mount)):
            return False
    except CgroupUnavailable:
        return False                                  # exited
    try:
        with open(dest / "cgroup.procs", "w") as f:
            f.write(str(pid))
    except ProcessLookupError:
        return False                                  # exited meanwhile
    except OSError as exc:
        raise CgroupUnavailable(f"cannot move pid {pid} from {group} to {dest}: {exc.strerror}") from None
    return True


def dissolve(h: Hierarchy, group: Path, dest: Path, passes: int = 50) -> int:
    """Move every process in pt's ``group`` to ``dest`` and remove the group;
    returns how many were moved. Membership is the identity: only the target
    and processes forked inside the group are in it. A process forked during
    a pass lands in the group and is moved on the next one; a group that is
    still not empty or removable after ``passes`` raises, naming what is left."""
    moved, problem = 0, None
    for _ in range(passes):
        pids = members(group)
        if not pids:
            problem = remove_group(group)
            if problem is None:
                return moved
            time.sleep(0.01)                          # a fork or exit in flight
            continue
        moved += sum(move_member(h, group, dest, pid) for pid in pids)
    left = members(group)
    what = f"{len(left)} process(es) still in it ({', '.join(map(str, left[:10]))})" if left else problem
    raise CgroupUnavailable(f"moved {moved} process(es) back to {dest}, but {group} remains: {what}")


def remove_group(group: Path) -> str | None:
    """rmdir a pt group; returns why it could not be removed, or None."""
    try:
        group.rmdir()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"could not remove {group}: {exc.strerror}"
    return None
