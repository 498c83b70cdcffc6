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
    index: dict[str, int] = {"": 0}
    rows = np.array([index.setdefault(text or "", len(index)) for text in texts], dtype=np.int32)
    return units_of(list(index), rows)


def units_of(texts: list[str], rows: np.ndarray) -> Units:
    """Units of rows whose cgroup file reads ``texts[rows[i]]`` ("" where it
    was unreadable): each distinct text is parsed once."""
    unit = np.empty(len(texts), dtype=object)
    user = np.zeros(len(texts), dtype=bool)
    system = np.zeros(len(texts), dtype=bool)
    paths = np.empty(len(texts), dtype=object)
    for i, text in enumerate(texts):
        unit[i], user[i], system[i] = parse_cgroup(text)
        paths[i] = cgroup_path(text)
    return Units(unit[rows], user[rows], system[rows], paths[rows])
