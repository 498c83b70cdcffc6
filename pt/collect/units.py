"""Which service manager unit a process belongs to, from /proc/PID/cgroup.

systemd puts every service in a cgroup named after its unit:
``0::/system.slice/nginx.service`` (a system service) or
``0::/user.slice/user-1000.slice/user@1000.service/app.slice/vite.service``
(a user service, restartable with ``systemctl --user``). Login sessions
(``session-3.scope``) and the per-user manager (``user@1000.service``) are
not units a process can be restarted through.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from pt.collect._procfs import read_texts
from pt.collect.procfs import cgroup_path

_UNIT = re.compile(r"([^/]+\.service)$")
_NOT_RESTARTABLE = re.compile(r"^user@\d+\.service$")


@dataclass(frozen=True)
class Units:
    """Per process: ``unit`` (str or None), ``user_unit`` (bool: a
    ``systemctl --user`` unit), ``system_slice`` (bool: under system.slice),
    ``cgroup`` (the cgroup path, None where the file was unreadable)."""

    unit: np.ndarray
    user_unit: np.ndarray
    system_slice: np.ndarray
    cgroup: np.ndarray


def parse_cgroup(text: str | None) -> tuple[str | None, bool, bool]:
    """``(unit, user_unit, system_slice)`` from one cgroup file's text."""
    if not text:
        return None, False, False
    path = cgroup_path(text) or ""
    system_slice = path.startswith("/system.slice/")
    match = _UNIT.search(path.rstrip("/"))
    unit = match.group(1) if match and not _NOT_RESTARTABLE.match(match.group(1)) else None
    return unit, unit is not None and path.startswith("/user.slice/"), system_slice


def read_units(root: str | os.PathLike, pids: np.ndarray) -> Units:
    """Units of every pid (one small read each; distinct texts parsed once)."""
    texts = read_texts(os.fsencode(root), pids, "cgroup")
    unique, inverse = np.unique(np.array([t or "" for t in texts], dtype=object), return_inverse=True)
    unit = np.empty(len(unique), dtype=object)
    user = np.zeros(len(unique), dtype=bool)
    system = np.zeros(len(unique), dtype=bool)
    for i, text in enumerate(unique):
        unit[i], user[i], system[i] = parse_cgroup(text)
    paths = np.array([cgroup_path(t) for t in unique], dtype=object)
    return Units(unit[inverse], user[inverse], system[inverse], paths[inverse] if len(unique) else
                 np.empty(0, dtype=object))
