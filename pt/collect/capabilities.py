"""What this machine offers pt, probed once per boot (the capability cache).

:func:`probe` looks: pidfd, cgroup v1/v2 and the controllers pt could use as
this user, pressure stall information, systemd, whether ``/proc`` is this pid
namespace's, root or not, container markers. :func:`capabilities` returns the
probe cached in pt's private state directory under the boot id, so later
calls in the same boot read one small file instead of probing again; a cache
from another boot, of another format or unreadable is probed anew and
replaced. :func:`features` says which pt features each finding enables.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pt.collect import host

#: Bumped when the probe's fields change: an older cache is probed anew.
FORMAT = 2
CACHE_NAME = "capabilities.json"

#: The controllers pt's actions use (pt.act.cgroups).
_PT_CONTROLLERS = ("cpu", "cpuset", "freezer", "memory")
_CONTAINER_MARKERS = (("/.dockerenv", "docker"), ("/run/.containerenv", "podman"))


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(65536).decode("utf-8", "backslashreplace")
    except OSError:
        return None


def _pidfd() -> bool:
    """pidfd_open and pidfd_send_signal exist and the kernel grants a pidfd."""
    import signal
    if not (hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


def _cgroups() -> dict:
    """cgroup version, mounts, controllers offered, and those pt could use as
    this user: it makes ``<mount>/pt/<group>`` and writes the controller's file
    there, so it needs the mount (or ``pt/`` in it) writable and, on v2, the
    controller enabled for children (``cgroup.subtree_control``)."""
    from pt.act.cgroups import hierarchies
    found = hierarchies()
    offered: set[str] = set()
    usable: set[str] = set()
    usable_v2: set[str] = set()
    for h in found:
        mine = h.mount / "pt"
        writable = os.access(mine if mine.is_dir() else h.mount, os.W_OK)
        offered |= set(h.controllers) & set(_PT_CONTROLLERS)
        if not writable:
            continue
        if h.version == 2:
            children = set((_read(str(h.mount / "cgroup.subtree_control")) or "").split()) | {"freezer"}
            usable_v2 |= set(h.controllers) & children & set(_PT_CONTROLLERS)
            usable |= usable_v2
        else:
            usable |= set(h.controllers) & set(_PT_CONTROLLERS)
    return {"versions": sorted({h.version for h in found}),
            "mounts": [f"v{h.version} {h.mount}" for h in found],
            "controllers": sorted(offered), "writable": sorted(usable), "writable_v2": sorted(usable_v2)}


def _container() -> str | None:
    """A container runtime's marker, or the ``container`` variable systemd
    reads (``/run/systemd/container``); None when no marker is found."""
    for path, name in _CONTAINER_MARKERS:
        if os.path.exists(path):
            return name
    named = _read("/run/systemd/container")
    return named.strip() or None if named else None


def probe() -> dict:
    """Look at this machine now (no cache); see the module docstring."""
    from pt.collect.host import procfs_is_own_pidns
    linux = sys.platform.startswith("linux")
    return {
        "format": FORMAT,
        "boot_id": host.boot_id(host.LIVE),
        "platform": sys.platform,
        "procfs": linux and os.path.isdir("/proc/self"),
        "pidfd": _pidfd(),
        "cgroup": _cgroups() if linux else {"versions": [], "mounts": [], "controllers": [], "writable": [],
                                            "writable_v2": []},
        "psi": _read("/proc/pressure/cpu") is not None,
        "systemd": os.path.isdir("/run/systemd/system"),
        "pid_namespace": ("own" if procfs_is_own_pidns() else "foreign") if linux else None,
        "uid": os.geteuid(),
        "root": os.geteuid() == 0,
        "container": _container(),
    }


_OPT_STR = (str, type(None))
#: Every field of a probe and its JSON types: a cache is used only if it has exactly these.
_SCHEMA = {"format": int, "boot_id": str, "platform": str, "procfs": bool, "pidfd": bool, "cgroup": dict, "psi": bool,
           "systemd": bool, "pid_namespace": _OPT_STR, "uid": int, "root": bool, "container": _OPT_STR}
_CGROUP_LISTS = ("versions", "mounts", "controllers", "writable", "writable_v2")


def _valid(doc: object, boot_id: str | None) -> bool:
    """A cache of this boot and format with every field of the right type."""
    if not (isinstance(doc, dict) and doc.keys() == _SCHEMA.keys() and boot_id is not None):
        return False
    if doc["format"] != FORMAT or doc["boot_id"] != boot_id:
        return False
    if not all(isinstance(doc[k], t) for k, t in _SCHEMA.items()):
        return False
    cg = doc["cgroup"]
    return cg.keys() == set(_CGROUP_LISTS) and all(isinstance(cg[k], list) for k in _CGROUP_LISTS)


def _with_collector(caps: dict) -> dict:
    """``caps`` with the collector this process would use (``$PT_COLLECTOR``
    may differ between runs of one boot, so it is never cached)."""
    try:
        from pt.collect import backend
        return {**caps, "collector": backend(), "collector_error": None}
    except OSError as exc:
        return {**caps, "collector": None, "collector_error": str(exc)}


def capabilities(*, refresh: bool = False, state: Path | None = None) -> tuple[dict, bool]:
    """``(capabilities, cached)``: this boot's probe from the cache in pt's state
    directory (``state``, default :func:`pt.act.journal.state_dir`), or a new
    probe written there, plus the collector in use. ``refresh`` probes anew.
    A cache that cannot be read or written is skipped: the probe is still
    returned."""
    caps, cached = _cached_probe(refresh, state)
    return _with_collector(caps), cached


def _cached_probe(refresh: bool, state: Path | None) -> tuple[dict, bool]:
    from pt import safefs
    boot = host.boot_id(host.LIVE)
    try:
        if state is None:
            from pt.act.journal import state_dir
            state = state_dir()
        with safefs.private_dir(state) as d:
            if not refresh:
                try:
                    doc = json.loads(d.read_bytes(CACHE_NAME))
                except (OSError, ValueError, RecursionError):
                    doc = None                    # absent or mangled: probe anew
                if _valid(doc, boot):
                    return doc, True
            found = probe()
            if found["boot_id"] is not None:
                d.replace(CACHE_NAME, json.dumps(found, sort_keys=True).encode())
            return found, False
    except OSError:
        return probe(), False


def features(caps: dict) -> list[dict]:
    """Which pt features this machine's capabilities enable: one entry per
    feature with ``available`` and the finding it rests on (``because``)."""
    cg = caps.get("cgroup") or {}
    writable = set(cg.get("writable") or [])
    own_ns = caps.get("pid_namespace") == "own"

    def entry(name, ok, because):
        return {"feature": name, "available": bool(ok), "because": because}

    return [
        entry("scan", caps.get("collector") is not None,
              f"collector {caps.get('collector')}" if caps.get("collector") else caps.get("collector_error")),
        entry("full evidence (cgroups, stdio, foreground group, run-queue delay)",
              caps.get("collector") == "procfs",
              "procfs collector" if caps.get("collector") == "procfs" else "the psutil collector sees less"),
        entry("act on processes (plan, apply)", own_ns,
              "/proc is this pid namespace's" if own_ns else "/proc is not this pid namespace's (or absent)"),
        entry("exact signals through a pidfd", caps.get("pidfd"),
              "pidfd_open works" if caps.get("pidfd") else "no pidfd: identity re-checked just before kill()"),
        entry("throttle (cgroup cpu)", "cpu" in writable, _cgroup_reason("cpu", cg)),
        entry("quarantine (cgroup cpuset)", "cpuset" in writable, _cgroup_reason("cpuset", cg)),
        entry("freeze a process tree (cgroup freezer)", "freezer" in writable, _cgroup_reason("freezer", cg)),
        entry("memory limit (cgroup v2 memory.high)", "memory" in (cg.get("writable_v2") or []),
              _cgroup_reason("memory", cg, v2=True)),
        entry("machine pressure in telemetry (PSI)", caps.get("psi"),
              "/proc/pressure readable" if caps.get("psi") else "no /proc/pressure"),
        entry("service units known by systemd cgroups", caps.get("systemd"),
              "systemd is the service manager" if caps.get("systemd") else "no /run/systemd/system"),
    ]


def _cgroup_reason(controller: str, cg: dict, v2: bool = False) -> str:
    if controller in (cg.get("writable_v2" if v2 else "writable") or []):
        return f"{controller} controller writable by this user"
    if v2 and controller in (cg.get("writable") or []):
        return f"{controller} controller writable only on cgroup v1"
    if controller in (cg.get("controllers") or []):
        return f"{controller} controller present, not writable by this user (or not enabled for children)"
    return f"no {controller} controller mounted"
