"""The write-ahead action journal (docs/design.md, safety invariant 5).

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
from pt.collect import host

#: Outcomes after which an action is never attempted again for its plan.
FINAL_RESULTS = ("done", "exited", "still_running", "aborted", "refused", "unavailable", "failed")
#: Outcomes that count as "pt acted" for rate limits and undo.
ACTED_RESULTS = ("done", "exited", "still_running")


def uptime_ticks() -> int:
    """Clock ticks since boot now: the clock of ``start_ticks``, so "started
    after pt acted" is an exact comparison on one boot."""
    return int(host.uptime(host.LIVE) * os.sysconf("SC_CLK_TCK"))


def state_dir() -> Path:
    """``$XDG_STATE_HOME/pt`` (plans, journal), created private on first use."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    path = Path(base) / "pt"
    safefs.private_dir(path).close()          # created 0700, or refused if not private
    return path


#: Largest journal read (a record is a few hundred bytes: millions of actions).
MAX_JOURNAL_BYTES = 1 << 30


class Journal:
    """The journal file plus an exclusive lock held while applying, so two
    ``pt apply`` runs never act on the same plan at once."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or state_dir()
        self.path = self.directory / "journal.jsonl"
        self.written: list[dict] = []       # what this object appended, as stored (telemetry reads it)
        self.skipped = 0                    # lines the last records() call skipped

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
        """Every valid record (of one plan), oldest first. A line that is not
        a record (a torn last line from a crash mid-write, or anything else
        that fails :func:`record_problem`) is skipped and counted in
        :attr:`skipped`, which commands report."""
        self.skipped = 0
        try:
            with safefs.private_dir(self.directory, create=False) as d:
                lines = d.read_bytes(self.path.name, limit=MAX_JOURNAL_BYTES).split(b"\n")
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                record = None
            if record is None or record_problem(record):
                self.skipped += 1
                continue
            if plan_id is None or record["plan_id"] == plan_id:
                out.append(record)
        return out

    def skipped_note(self) -> str | None:
        """A sentence about lines the last :meth:`records` skipped (None if none)."""
        if not self.skipped:
            return None
        return (f"skipped {self.skipped} line(s) of {self.path} that are not valid journal records "
                "(torn by a crash, or edited)")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _text_map(v, values) -> bool:
    return isinstance(v, dict) and all(isinstance(k, str) and values(x) for k, x in v.items())


def record_problem(r) -> str | None:
    """What makes ``r`` not a journal record (None if it is one): every field
    a reader uses, with its type, so no reader meets a surprise midway."""
    if not isinstance(r, dict):
        return "not an object"
    if r.get("kind") not in ("intent", "outcome"):
        return "kind must be intent or outcome"
    for key in ("plan_id", "action_id", "action", "cmd_hash"):
        if not isinstance(r.get(key), str):
            return f"{key} must be text"
    if not r["action_id"].startswith(r["plan_id"] + ":"):
        return "action_id must start with its plan_id"
    if not (_int(r.get("pid")) and _int(r.get("start_ticks")) and _int(r.get("uid"))):
        return "pid, start_ticks and uid must be whole numbers"
    if not isinstance(r.get("boot_id"), (str, type(None))) or not _num(r.get("ts")):
        return "boot_id must be text or null and ts a number"
    if not _num(r.get("uptime_ticks", 0)):
        return "uptime_ticks must be a number"
    params = r.get("params", {})
    if not isinstance(params, dict) or not _num(params.get("signalled_ticks", 0)):
        return "params must be an object"
    undo = params.get("undo")
    if undo is not None and undo_problem(r["plan_id"], undo):
        return f"params.undo: {undo_problem(r['plan_id'], undo)}"
    if r["kind"] == "outcome" and (r.get("result") not in FINAL_RESULTS or not isinstance(r.get("detail"), str)
                                   or not isinstance(r.get("exit_status"), (int, type(None)))):
        return "an outcome needs a known result, a detail text and an exit status or null"
    just = r.get("justification")
    if just is not None and not (
            isinstance(just, dict)
            and all(isinstance(just.get(k, ""), str) for k in ("comm", "command", "category", "why"))
            and _text_map(just.get("posterior", {}), _num)
            and _text_map(just.get("expected_loss", {}), lambda x: x is None or _num(x))
            and isinstance(just.get("ledger", []), list)):
        return "justification has the wrong shape"
    return None


def undo_problem(plan_id: str, undo) -> str | None:
    """What is wrong with a journalled reversal (None if nothing): it names
    only pt's own cgroup of this plan, and a nice value in range."""
    if not isinstance(undo, dict):
        return "not an object"
    kind = undo.get("action")
    if kind == "resume":
        return None
    if kind == "renice":
        return None if _int(undo.get("nice")) and -20 <= undo["nice"] <= 19 else "nice out of range"
    if kind == "uncgroup":
        fields = ("mount", "origin", "group")
        if not all(isinstance(undo.get(k), str) for k in fields) or undo.get("version") not in (1, 2):
            return "uncgroup needs version, mount, origin and group"
        group = Path(undo["group"])
        if group.parent != Path(undo["mount"]) / "pt" or not group.name.startswith(plan_id + "-") \
                or ".." in Path(undo["origin"]).parts:
            return "uncgroup names a group that is not pt's for this plan"
        return None
    return "unknown reversal"


def outcomes_by_action(records: list[dict]) -> dict[str, dict]:
    """The final outcome per action id (the last one written wins)."""
    return {r["action_id"]: r for r in records if r.get("kind") == "outcome"}


def pending_intents(records: list[dict]) -> dict[str, dict]:
    """Intents with no outcome yet: actions an interrupted apply left open."""
    done = outcomes_by_action(records)
    return {r["action_id"]: r for r in records if r.get("kind") == "intent" and r["action_id"] not in done}


def justified_actions(records: list[dict]) -> list[dict]:
    """Each action's first intent that carries its justification, with its
    final ``outcome`` (None while it has none): why a plan's actions were taken."""
    outcomes = outcomes_by_action(records)
    items, seen = [], set()
    for r in records:
        if r["kind"] == "intent" and "justification" in r and r["action_id"] not in seen:
            seen.add(r["action_id"])
            items.append({**r, "outcome": outcomes.get(r["action_id"])})
    return items
