"""The write-ahead action journal (DESIGN.md §4.5).

One append-only JSON-lines file for every plan ever applied, under
``$XDG_STATE_HOME/pt/`` (default ``~/.local/state/pt/``). Before a signal its
*intent* is appended and fsync'd; afterwards its *outcome*. The journal is the
only record of what pt did: rate limits, cooldowns, resuming an interrupted
apply, ``pt undo``, ``pt verify`` and ``pt history`` all read it.

Records (one JSON object per line):
  kind        "intent" | "outcome"
  plan_id     the plan the action belongs to
  action_id   "<plan_id>:<index>" (undo steps: "<plan_id>:<index>:undo")
  ts          unix seconds when the record was written
  uptime_ticks  clock ticks since boot then (the clock of start_ticks)
  boot_id, pid, start_ticks, uid, cmd_hash   the target's identity
  action      keep/renice/throttle/quarantine/pause/restart/kill/resume/...
  params      JSON object: signal, nice, cgroup paths, grace... and the
              reversal (``undo``) when the action has one
  result      outcomes only: done | exited | still_running | aborted |
              refused | unavailable | failed
  detail      outcomes only: a sentence for people
  exit_status outcomes only: the wait status when it could be read, else null
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from pt import safefs

#: Outcomes after which an action is never attempted again for its plan.
FINAL_RESULTS = ("done", "exited", "still_running", "aborted", "refused", "unavailable", "failed")
#: Outcomes that count as "pt acted" for rate limits and undo.
ACTED_RESULTS = ("done", "exited", "still_running")


def uptime_ticks() -> int:
    """Clock ticks since boot now: the clock of ``start_ticks``, so "started
    after pt acted" is an exact comparison on one boot."""
    with open("/proc/uptime") as f:
        return int(float(f.read().split()[0]) * os.sysconf("SC_CLK_TCK"))


def state_dir() -> Path:
    """``$XDG_STATE_HOME/pt`` (plans, journal), created private on first use."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "pt"
    safefs.private_dir(path).close()          # created 0700, or refused if not private
    return path


class Journal:
    """The journal file plus an exclusive lock held while applying, so two
    ``pt apply`` runs never act on the same plan at once."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or state_dir()
        self.path = self.directory / "journal.jsonl"
        self.written: list[dict] = []       # what this object appended, as stored (telemetry reads it)

    @contextlib.contextmanager
    def locked(self):
        """Hold the journal's exclusive lock (blocks until other applies finish)."""
        with safefs.private_dir(self.directory) as d, d.locked("journal.lock"):
            yield self

    def append(self, records: list[dict]) -> None:
        """Append ``records`` and fsync before returning: after this call they survive a crash."""
        if not records:
            return
        now, ticks = time.time(), uptime_ticks()
        stored = [{"ts": now, "uptime_ticks": ticks, **r} for r in records]
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in stored).encode()
        with safefs.private_dir(self.directory) as d:
            fd = d.open(self.path.name, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data          # end a torn line so it cannot swallow this record
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.written.extend(stored)

    def records(self, plan_id: str | None = None) -> list[dict]:
        """Every record (of one plan), oldest first; a torn last line (crash
        mid-write before fsync returned) is skipped."""
        try:
            lines = self.path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if plan_id is None or record.get("plan_id") == plan_id:
                out.append(record)
        return out


def outcomes_by_action(records: list[dict]) -> dict[str, dict]:
    """The final outcome per action id (the last one written wins)."""
    return {r["action_id"]: r for r in records if r.get("kind") == "outcome"}


def pending_intents(records: list[dict]) -> dict[str, dict]:
    """Intents with no outcome yet: actions an interrupted apply left open."""
    done = outcomes_by_action(records)
    return {r["action_id"]: r for r in records if r.get("kind") == "intent" and r["action_id"] not in done}
