"""Outcomes without asking: later scans follow up each scan's verdicts.

Every recorded quick scan adds the processes it flagged (an action other than
keep, or a class other than useful) to a small watch list,
``<lake>/_followup/pending.npz`` (numpy columns), with what they looked like at the
verdict (lifetime CPU seconds, time). Every later scan matches the list
against its own process table by identity (boot id, pid, start ticks) in
numpy, and writes one ``outcomes`` row per watched process, ``observed_by =
'rescan'``:

===========  ====================================================  =============
result       what the later scan saw                               label
===========  ====================================================  =============
exited       the identity is gone (on its own, or ended by          none
             someone else: /proc cannot tell)
resumed      it used ``RESUME_CPU_S`` CPU seconds since the verdict useful (none if
                                                                    the verdict was
                                                                    useful_bad: busy)
zombie       it is a zombie now                                     zombie
stopped      it is stopped (``T``) now                               none
idle         still there, no CPU to speak of                        abandoned once
                                                                    ``IDLE_HORIZON_S``
                                                                    has passed
lost         the machine rebooted since the verdict                 none
===========  ====================================================  =============

A process leaves the list at its first final result (everything but idle
and stopped before the horizon). This is shadow mode: pt records what it
would have done and what then happened, and acts on nothing. Two scans
running at once may both follow up the same list (the calibration keeps the
latest row of each identity); the watch list is replaced atomically.
"""
from __future__ import annotations

from pathlib import Path

import io

import numpy as np

from pt import safefs
from pt.config import ACTIONS, CLASSES

FOLLOWUP_DIR = "_followup"
PENDING_FILE = "pending.npz"            # numpy columns: no pyarrow in the scan's writer
#: CPU seconds used since the verdict that count as resumed activity.
RESUME_CPU_S = 1.0
#: Idle this long after the verdict: labelled abandoned, and no longer watched.
IDLE_HORIZON_S = 86_400.0
#: At most this many watched processes (the oldest verdicts are kept).
MAX_PENDING = 5000
#: Final results: the process leaves the watch list.
FINAL = ("exited", "resumed", "zombie", "lost")
#: Results that are labels, and the class each says.
LABELS = {"resumed": "useful", "zombie": "zombie"}

#: The watch list's columns and their numpy types (object: str or None).
PENDING_COLUMNS = {"boot_id": object, "pid": np.int32, "start_ticks": np.uint64, "verdict_run_id": object,
                   "verdict_ts": np.float64, "action": object, "class": object, "cpu_time_s": np.float64,
                   "last_seen_ts": np.float64}


def pending_table(**columns) -> dict[str, np.ndarray]:
    """A watch list (a dict of equally long numpy columns) from sequences;
    a missing column is an error."""
    missing = [k for k in PENDING_COLUMNS if k not in columns]
    if missing:
        raise KeyError(f"watch list columns missing: {missing}")
    table = {}
    for name, dtype in PENDING_COLUMNS.items():
        values = columns[name]
        if dtype is object:
            table[name] = np.empty(len(values), dtype=object)
            table[name][:] = list(values)
        else:
            table[name] = np.asarray(values, dtype=dtype).reshape(-1)
    if len({len(v) for v in table.values()}) != 1:
        raise ValueError("watch list columns of different lengths")
    return table


def empty() -> dict[str, np.ndarray]:
    return pending_table(**{k: [] for k in PENDING_COLUMNS})


def identity_key(pid: np.ndarray, start_ticks: np.ndarray) -> np.ndarray:
    """One uint64 per (pid, start ticks): pids are below 2**22 (``pid_max``)."""
    return (np.asarray(start_ticks, dtype=np.uint64) << np.uint64(22)) | np.asarray(pid, dtype=np.uint64)


def pending_file(root: Path) -> str:
    """The watch list's name: one per host in a fleet lake (a host follows up
    only its own processes; another's would all look gone)."""
    from pt.telemetry import lake as lakes
    return f"pending-host={lakes.host_name()}.npz" if lakes.is_fleet(root) else PENDING_FILE


def read_pending(root: Path) -> dict[str, np.ndarray]:
    """The watch list, or an empty one (none yet, or unreadable: it is
    rebuilt from the next scans, a watch list is never worth failing a scan)."""
    try:
        with safefs.private_dir(root, create=False) as base, base.sub(FOLLOWUP_DIR) as d:
            data = d.read_bytes(pending_file(root))
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            columns = {}
            for name, dtype in PENDING_COLUMNS.items():
                values = stored[name]
                if dtype is object:
                    values = np.where(stored[name + ".null"], None, values.astype(str).astype(object))
                columns[name] = values
        return pending_table(**columns)
    except Exception:   # noqa: BLE001 - missing or corrupt: start a new list
        return empty()


def write_pending(root: Path, table: dict[str, np.ndarray]) -> None:
    arrays = {}
    for name, dtype in PENDING_COLUMNS.items():
        values = np.asarray(table[name], dtype=dtype)
        if dtype is object:
            null = np.array([v is None for v in values], dtype=bool)
            arrays[name + ".null"] = null
            values = np.array(["" if v is None else v for v in values], dtype=str)
        arrays[name] = values
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with safefs.private_dir(root) as base, base.sub(FOLLOWUP_DIR, create=True) as d:
        d.replace(pending_file(root), buf.getvalue(), sync=False)


def _col(table: dict, name: str) -> np.ndarray:
    return table[name]


def follow_up(pending: dict, t, run_id: str, ts: float) -> tuple[dict, dict]:
    """Follow up the watch list ``pending`` with the scan ``t`` (a Triage).

    Returns the ``outcomes`` columns (a dict of arrays, one row per watched
    process) and the new watch list (survivors plus this scan's flagged
    processes not already watched).
    """
    snap = t.snapshot
    boot = snap.host.boot_id
    key_now = identity_key(snap["pid"], snap["start_ticks"])
    order = np.argsort(key_now, kind="stable")
    sorted_keys = key_now[order]

    p_boot = _col(pending, "boot_id").astype(object)
    p_key = identity_key(_col(pending, "pid"), _col(pending, "start_ticks"))
    pos = np.minimum(np.searchsorted(sorted_keys, p_key), max(len(sorted_keys) - 1, 0))
    same_boot = p_boot == boot
    found = same_boot & (sorted_keys[pos] == p_key) if len(sorted_keys) else np.zeros(len(p_key), bool)
    row = order[pos] if len(order) else np.zeros(len(p_key), np.int64)

    cpu_now = np.asarray(snap["cpu_time_s"], dtype=np.float64)[row] if len(order) else np.zeros(len(p_key))
    state_now = np.asarray(snap["state"]).view("S1")[row] if len(order) else np.zeros(len(p_key), "S1")
    cpu_since = np.where(found, cpu_now - _col(pending, "cpu_time_s"), np.nan)
    after = ts - _col(pending, "verdict_ts")

    result = np.full(len(p_key), "idle", dtype=object)
    result[found & (state_now == b"T")] = "stopped"
    result[found & (cpu_since >= RESUME_CPU_S)] = "resumed"
    result[found & (state_now == b"Z")] = "zombie"
    result[~found] = "exited"
    result[~same_boot] = "lost"
    label = np.full(len(p_key), None, dtype=object)
    for outcome, cls in LABELS.items():
        label[result == outcome] = cls
    # A busy verdict (useful_bad) that stays busy says nothing of usefulness.
    label[(result == "resumed") & (_col(pending, "class").astype(object) == "useful_bad")] = None
    idle_done = (result == "idle") & (after >= IDLE_HORIZON_S)
    label[idle_done] = "abandoned"

    n = len(p_key)
    outcomes = {
        "run_id": [run_id] * n, "ts": np.full(n, ts), "boot_id": p_boot,
        "pid": _col(pending, "pid"), "start_ticks": _col(pending, "start_ticks"),
        "uid": np.where(found, np.asarray(snap["uid"], dtype=object)[row] if len(order) else None, None),
        "action": _col(pending, "action").astype(object), "result": result,
        "observed_by": ["rescan"] * n, "label": label,
        "verdict_run_id": _col(pending, "verdict_run_id").astype(object),
        "after_s": after, "seen_until_s": _col(pending, "last_seen_ts") - _col(pending, "verdict_ts"),
        "cpu_s_since": cpu_since,
    }

    keep = ~(np.isin(result, FINAL) | idle_done | ((result == "stopped") & (after >= IDLE_HORIZON_S)))
    survivors = {k: v[keep] for k, v in pending.items()}
    survivors["last_seen_ts"] = np.full(int(keep.sum()), ts)
    flagged = (np.asarray(t.decision.action) != ACTIONS.index("keep")) | \
              (t.inference.log_posterior.argmax(axis=1) != CLASSES.index("useful"))
    new = flagged & ~np.isin(key_now, p_key[same_boot])          # not again in the scan that closed it
    room = max(MAX_PENDING - len(survivors["pid"]), 0)
    idx = np.flatnonzero(new)[:room]
    added = pending_table(
        boot_id=[boot] * len(idx), pid=np.asarray(snap["pid"])[idx],
        start_ticks=np.asarray(snap["start_ticks"])[idx], verdict_run_id=[run_id] * len(idx),
        verdict_ts=np.full(len(idx), ts),
        action=np.asarray(ACTIONS, dtype=object)[np.asarray(t.decision.action)[idx]],
        cpu_time_s=np.asarray(snap["cpu_time_s"], dtype=np.float64)[idx], last_seen_ts=np.full(len(idx), ts),
        **{"class": np.asarray(CLASSES, dtype=object)[t.inference.log_posterior.argmax(axis=1)[idx]]})
    return outcomes, {k: np.concatenate([survivors[k], added[k]]) for k in PENDING_COLUMNS}
