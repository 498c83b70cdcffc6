"""Memory of the cgroups that have a limit (containers, systemd units with ``MemoryMax=``).

A workload under a cgroup memory limit reaches its OOM when its cgroup's
usage reaches the limit, long before the host's MemAvailable says anything,
and the kernel's OOM killer then chooses only among that cgroup's processes.
So ``pt watch`` forecasts each limited cgroup on its own, with the same
estimator as host memory (pt.watch.pressure.MemoryForecast).

``limited_cgroups`` walks the cgroup v2 hierarchy (``memory.max``,
``memory.current``, ``memory.events``, ``memory.pressure``) and, on hosts
where the memory controller is still on cgroup v1 (hybrid mounts), the v1
one (``memory.limit_in_bytes``, ``memory.usage_in_bytes``,
``memory.oom_control``). The headroom is MemAvailable-like: limit minus
usage plus the inactive file cache, which the kernel reclaims before it
OOM-kills. The walk is per cgroup, never per process, and bounded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

#: A limit at or above this is "no limit" (v1 writes PAGE_COUNTER_MAX pages, about 2^63).
UNLIMITED = 1 << 60
#: At most this many cgroup directories are looked at per sample (a host with
#: thousands of units still costs one bounded walk).
MAX_DIRS = 2000


@dataclass(frozen=True)
class CgroupMemory:
    """One limited cgroup at one instant; ``path`` as in /proc/PID/cgroup."""

    path: str
    version: int
    limit: int
    usage: int
    reclaimable: int = 0
    oom: int = 0
    oom_kill: int = 0
    psi: dict = field(default_factory=dict)       # memory.pressure avg10 {"some", "full"} (v2 only)
    pids: tuple = ()                              # every process in it and its descendants

    @property
    def available(self) -> int:
        """Bytes it may still use before reclaim fails and its OOM killer runs."""
        return max(0, min(self.limit, self.limit - self.usage + self.reclaimable))

    def as_dict(self) -> dict:
        return {"path": self.path, "cgroup_version": self.version, "limit_bytes": self.limit,
                "usage_bytes": self.usage, "available_bytes": self.available, "oom": self.oom,
                "oom_kill": self.oom_kill, "psi": self.psi, "processes": len(self.pids)}


def _read(path: str, limit: int = 65536) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("ascii", "replace")


def _keyed(path: str) -> dict:
    """``key value`` lines (memory.stat, memory.events, memory.oom_control) as ints; bad lines skipped."""
    out = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def _pids(directory: str, budget: list) -> list:
    """Process ids in ``directory`` and every cgroup below it (bounded by ``budget``)."""
    out = []
    for base, dirs, _ in os.walk(directory):
        budget[0] -= 1
        if budget[0] < 0:
            dirs.clear()
            break
        try:
            out += [int(x) for x in _read(os.path.join(base, "cgroup.procs"), 1 << 20).split() if x.isdigit()]
        except OSError:
            pass
    return out


def _group(mount: str, directory: str, version: int, budget: list) -> CgroupMemory | None:
    """The memory of the cgroup at ``directory`` if it has a limit of its own; None otherwise or unreadable."""
    v2 = version == 2
    try:
        raw = _read(os.path.join(directory, "memory.max" if v2 else "memory.limit_in_bytes"), 64).strip()
        if raw == "max" or not raw.isdigit() or int(raw) >= UNLIMITED:
            return None
        limit = int(raw)
        usage = int(_read(os.path.join(directory, "memory.current" if v2 else "memory.usage_in_bytes"), 64))
    except (OSError, ValueError):
        return None
    try:
        stat = _keyed(os.path.join(directory, "memory.stat"))
    except OSError:
        stat = {}
    try:
        events = _keyed(os.path.join(directory, "memory.events" if v2 else "memory.oom_control"))
    except OSError:
        events = {}
    psi = {}
    if v2:
        from pt.watch.pressure import _psi_file
        try:
            psi = _psi_file(os.path.join(directory, "memory.pressure"))
        except (OSError, ValueError):
            pass
    return CgroupMemory(path="/" + os.path.relpath(directory, mount), version=version, limit=limit, usage=max(usage, 0),
                        reclaimable=stat.get("inactive_file" if v2 else "total_inactive_file", 0),
                        oom=events.get("oom", events.get("under_oom", 0)), oom_kill=events.get("oom_kill", 0),
                        psi=psi, pids=tuple(_pids(directory, budget)))


def _mounts(root: str) -> list:
    """(mount, version) of the hierarchies with the memory controller under ``root``."""
    out = []
    for mount in (root, os.path.join(root, "unified")):
        try:
            if "memory" in _read(os.path.join(mount, "cgroup.controllers"), 4096).split():
                out.append((mount, 2))
                break
        except OSError:
            continue
    if os.path.exists(os.path.join(root, "memory", "memory.usage_in_bytes")):
        out.append((os.path.join(root, "memory"), 1))
    return out


def limited_cgroups(root: str = "/sys/fs/cgroup", below_bytes: int | None = None) -> list:
    """Every cgroup under ``root`` with a memory limit of its own (below
    ``below_bytes``, e.g. the host's RAM, where given: a larger limit is
    never the one reached first); the root cgroup itself is never limited."""
    budget = [MAX_DIRS]
    out = []
    for mount, version in _mounts(root):
        for base, dirs, _ in os.walk(mount):
            budget[0] -= 1
            if budget[0] < 0:
                dirs.clear()
                return out
            if base == mount:
                continue
            group = _group(mount, base, version, budget)
            if group is not None and (below_bytes is None or group.limit < below_bytes):
                out.append(group)
    return out
