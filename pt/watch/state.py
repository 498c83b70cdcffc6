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
LOCK_FILE = "lock"


class AlreadyWatching(Exception):
    """Another watcher holds this state directory."""


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


def read_status(directory: safefs.Dir) -> dict | None:
    """The last status a watcher wrote, or None when there is none (or it is not one)."""
    try:
        doc = json.loads(directory.read_bytes(STATUS_FILE)[:1 << 20])
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def running(directory: safefs.Dir) -> bool:
    """Whether a watcher holds the lock now."""
    try:
        with directory.locked(LOCK_FILE, blocking=False):
            return False
    except BlockingIOError:
        return True
