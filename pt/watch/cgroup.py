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
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

#: A limit at or above this is "no limit" (v1 writes PAGE_COUNTER_MAX pages, about 2^63).
UNLIMITED = 1 << 60
#: At most this many cgroup directories are looked at per sample to find the
#: limited ones, and about as many again to list their processes (a host with
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


def _breadth_first(top: str, budget: int):
    """``top`` and the directories below it, shallowest first, at most ``budget`` of them.

    Shallowest first so a subtree with thousands of cgroups (any user can make
    them in a delegated subtree) cannot use up the walk before the containers
    and system units beside it are seen."""
    queue = deque([top])
    while queue and budget > 0:
        directory = queue.popleft()
        budget -= 1
        yield directory
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if len(queue) >= budget:
                        break
                    if entry.is_dir(follow_symlinks=False):
                        queue.append(entry.path)
        except OSError:
            continue


def _pids(directory: str, budget: int) -> tuple:
    """Process ids in ``directory`` and the cgroups below it, shallowest first (at most ``budget`` directories)."""
    out = []
    for base in _breadth_first(directory, budget):
        try:
            out += [int(x) for x in _read(os.path.join(base, "cgroup.procs"), 1 << 20).split() if x.isdigit()]
        except OSError:
            pass
    return tuple(out)


def _group(mount: str, directory: str, version: int) -> CgroupMemory | None:
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
                        psi=psi)


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


def ancestor_rows(paths) -> dict:
    """Each cgroup path of ``paths`` (per process: the unified path from
    /proc/PID/cgroup, None if unknown) and every ancestor of it -> the rows
    whose cgroup is it or below it. Built once per step from the process
    table, so membership costs a lookup per limited cgroup."""
    distinct: dict = {}
    for row, path in enumerate(paths.tolist() if hasattr(paths, "tolist") else paths):
        if isinstance(path, str) and path.startswith("/"):
            distinct.setdefault(path.rstrip("/") or "/", []).append(row)
    out: dict = {}
    for path, rows in distinct.items():
        while True:
            out.setdefault(path, []).extend(rows)
            if path == "/":
                break
            path = path.rsplit("/", 1)[0] or "/"
    return out


def members(group: CgroupMemory, pids: np.ndarray, index: dict) -> np.ndarray:
    """Rows of the process table in ``group``: listed by its bounded walk of
    cgroup.procs files, or (cgroup v2) whose unified cgroup path, read with
    the process, is the group's or below it. The second is complete however
    many cgroups a user makes: the walk's share per group shrinks with them."""
    within = np.isin(pids, np.asarray(group.pids, dtype=pids.dtype))
    if group.version == 2:
        within[np.asarray(index.get(group.path, ()), dtype=np.intp)] = True
    return within


def limited_cgroups(root: str = "/sys/fs/cgroup", below_bytes: int | None = None) -> list:
    """Every cgroup under ``root`` with a memory limit of its own (below
    ``below_bytes``, e.g. the host's RAM, where given: a larger limit is
    never the one reached first); the root cgroup itself is never limited.

    Both walks are breadth-first and bounded: the limited cgroups are found
    among the shallowest ``MAX_DIRS`` directories, then each lists its
    processes from an equal share of another ``MAX_DIRS`` (at least its own
    directory), so no one subtree can hide the others."""
    found = []
    for mount, version in _mounts(root):
        for directory in _breadth_first(mount, MAX_DIRS):
            if directory == mount:
                continue
            group = _group(mount, directory, version)
            if group is not None and (below_bytes is None or group.limit < below_bytes):
                found.append((directory, group))
    share = max(1, MAX_DIRS // max(1, len(found)))
    return [replace(group, pids=_pids(directory, share)) for directory, group in found]
