"""Where a running watcher keeps its lock, status and kill switch.

All three live in ``$XDG_STATE_HOME/pt/watch/`` (private, through safefs):
``lock`` is held (flock) for the watcher's life, so a second watcher on the
same state directory refuses to start; ``status.json`` is rewritten after
every interval for ``pt watch --status``; a file named ``kill-switch``
there (or ``PT_WATCH_KILL_SWITCH=1`` in the watcher's environment) stops it
acting at once.
"""
from __future__ import annotations

import json
import os

from pt import safefs

KILL_SWITCH_ENV = "PT_WATCH_KILL_SWITCH"
KILL_SWITCH_FILE = "kill-switch"
STATUS_FILE = "status.json"
MEMORY_FILE = "memory.json"
LOCK_FILE = "lock"


def watch_dir() -> safefs.Dir:
    from pt.act.journal import state_dir
    return safefs.private_dir(state_dir() / "watch")


def kill_switch(directory: safefs.Dir):
    """A callable saying why the kill switch is on (None when off)."""
    def check() -> str | None:
        if os.environ.get(KILL_SWITCH_ENV, "").strip().lower() in ("1", "yes", "on", "true"):
            return f"{KILL_SWITCH_ENV} is set"
        try:
            directory.stat(KILL_SWITCH_FILE)
        except FileNotFoundError:
            return None
        return f"{directory.path / KILL_SWITCH_FILE} exists"
    return check


def write_status(directory: safefs.Dir, status: dict) -> None:
    directory.replace(STATUS_FILE, json.dumps({**status, "pid": os.getpid()}, default=str).encode(), sync=False)


def _read_json(directory: safefs.Dir, name: str) -> dict | None:
    try:
        doc = json.loads(directory.read_bytes(name)[:1 << 20])
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


#: What --status needs from the status file, and of what type.
STATUS_KEYS = {"pid": int, "mode": str, "totals": dict, "guardrail": dict, "forecast": dict,
               "urgency": (int, float), "next_interval_s": (int, float)}


def read_status(directory: safefs.Dir) -> dict | None:
    """The last status a watcher wrote, or None when there is none or it is
    not one a watcher wrote (missing keys, wrong types)."""
    doc = _read_json(directory, STATUS_FILE)
    if doc is None or not all(isinstance(doc.get(k), t) for k, t in STATUS_KEYS.items()):
        return None
    g, f, totals = doc["guardrail"], doc["forecast"], doc["totals"]
    if not (isinstance(g.get("value"), (int, float)) and isinstance(g.get("threshold"), (int, float))
            and isinstance(g.get("followed_up"), int) and isinstance(f.get("reliable"), bool)
            and isinstance(f.get("samples"), int) and isinstance(f.get("confidence"), (int, float))
            and isinstance(f.get("seconds_to_floor"), (int, float, type(None)))
            and isinstance(totals.get("scans"), int) and isinstance(totals.get("failed"), int)
            and isinstance(totals.get("acted"), dict)
            and all(isinstance(v, int) for v in totals["acted"].values())):
        return None
    fg, groups = doc.get("forecast_guardrail"), doc.get("cgroups", [])
    if fg is not None and not (isinstance(fg, dict) and all(isinstance(fg.get(k), (int, float))
                                                            for k in ("value", "threshold", "resolved"))):
        return None
    if not (isinstance(groups, list) and all(_cgroup_entry(c) for c in groups)):
        return None
    return doc


def _cgroup_entry(c) -> bool:
    number = (int, float)
    return (isinstance(c, dict) and isinstance(c.get("path"), str) and isinstance(c.get("limit_bytes"), number)
            and isinstance(c.get("available_bytes"), number) and isinstance(c.get("forecast"), dict)
            and isinstance(c["forecast"].get("seconds_to_floor"), (int, float, type(None))))


def write_memory(directory: safefs.Dir, memory: dict) -> None:
    directory.replace(MEMORY_FILE, json.dumps(memory).encode(), sync=True)


def read_memory(directory: safefs.Dir) -> dict | None:
    return _read_json(directory, MEMORY_FILE)


def running(directory: safefs.Dir) -> bool:
    """Whether a watcher holds the lock now."""
    try:
        with directory.locked(LOCK_FILE, blocking=False):
            return False
    except BlockingIOError:
        return True
