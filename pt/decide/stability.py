"""What pt last recommended for each process, for hysteresis between scans.

A scan's decision (:func:`pt.decide.loss.decide`) holds a process's previous
action unless the least-loss one saves more than the policy's stability
margin. The previous actions live in one small per-user file, ``verdicts``
in pt's state directory, rewritten (atomically) by every scan that is not
hypothetical: a header line ``pt-verdicts 1 <boot_id>`` and then one packed
record per process (pid, start_ticks, action, unix time of that scan).

The file is a hint, never a requirement: missing, from another boot,
corrupt, oversized, not a regular file, not ours, or writable by others —
then no action is held and the scan goes on (:attr:`Remembered.note` says
why). Reading it is one ``read`` and a ``frombuffer``: well under a
millisecond for thousands of processes.
"""
from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt import safefs
from pt.config import ACTIONS

HEADER = re.compile(rb"pt-verdicts 1 ([0-9a-f-]{1,64})\n")
RECORD = np.dtype([("pid", "<i4"), ("start_ticks", "<u8"), ("action", "i1"), ("at", "<f8")])
#: Largest file read: ~400,000 processes.
MAX_BYTES = 8 << 20
FILE_NAME = "verdicts"


@dataclass(frozen=True)
class Remembered:
    """Previous recommendations, sorted by pid (``records`` of :data:`RECORD`);
    ``note`` says why there are none when the file could not be used."""

    records: np.ndarray
    note: str | None = None

    def previous(self, pids: np.ndarray, start_ticks: np.ndarray, *, now: float | None = None,
                 memory_s: float = float("inf")) -> np.ndarray:
        """``(n,)`` int64: the action last recommended for each process
        (same pid and start time), -1 where none or older than ``memory_s``."""
        out = np.full(len(pids), -1, dtype=np.int64)
        r = self.records
        if not len(r) or not len(pids):
            return out
        now = time.time() if now is None else now
        at = np.minimum(np.searchsorted(r["pid"], pids), len(r) - 1)
        same = (r["pid"][at] == pids) & (r["start_ticks"][at] == start_ticks) & (now - r["at"][at] <= memory_s)
        return np.where(same, r["action"][at].astype(np.int64), -1)


NOTHING = Remembered(np.zeros(0, dtype=RECORD))


def path_in(directory: str | os.PathLike) -> Path:
    return Path(directory) / FILE_NAME


def load(path: str | os.PathLike, boot_id: str | None) -> Remembered:
    """The recommendations remembered at ``path`` for this boot, or none (with the reason)."""
    if not boot_id:
        return Remembered(NOTHING.records, "boot id unknown: processes cannot be recognised across scans")
    path = Path(path)
    try:
        with safefs.private_dir(path.parent, create=False) as d:
            fd = d.open(path.name, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return Remembered(NOTHING.records, "no previous scan remembered")
    except OSError as exc:
        return Remembered(NOTHING.records, f"verdict memory {path} unreadable: {exc.strerror or exc}")
    try:
        st = os.fstat(fd)
        problem = ("not a regular file" if not stat.S_ISREG(st.st_mode) else
                   "not owned by this user" if st.st_uid != os.geteuid() else
                   "writable by others" if st.st_mode & 0o022 else
                   "too large" if st.st_size > MAX_BYTES else None)
        data = b"" if problem else os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        problem = f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if problem:
        return Remembered(NOTHING.records, f"verdict memory {path} ignored: {problem}")
    head = HEADER.match(data)
    body = data[head.end():] if head else b""
    if head is None or len(body) % RECORD.itemsize:
        return Remembered(NOTHING.records, f"verdict memory {path} ignored: not a pt verdicts file")
    if head.group(1).decode() != boot_id:
        return Remembered(NOTHING.records, "previous scan was on another boot")
    records = np.frombuffer(body, dtype=RECORD)
    valid = (records["pid"] > 0) & (records["action"] >= 0) & (records["action"] < len(ACTIONS)) \
        & np.isfinite(records["at"])
    records = records[valid]
    return Remembered(records[np.argsort(records["pid"], kind="stable")])


def save(path: str | os.PathLike, boot_id: str | None, pids: np.ndarray, start_ticks: np.ndarray,
         actions: np.ndarray, *, now: float | None = None) -> None:
    """Replace the file at ``path`` with these recommendations (0600, written
    to a temporary file and renamed into place, so a reader never sees half
    of it), in pt's verified state directory (:mod:`pt.safefs`). Raises
    ``OSError`` when it cannot be written; callers ignore it."""
    if not boot_id or not HEADER.fullmatch(b"pt-verdicts 1 " + boot_id.encode() + b"\n"):
        return
    records = np.zeros(len(pids), dtype=RECORD)
    records["pid"], records["start_ticks"], records["action"] = pids, start_ticks, actions
    records["at"] = time.time() if now is None else now
    path = Path(path)
    data = b"pt-verdicts 1 " + boot_id.encode() + b"\n" + records.tobytes()
    with safefs.private_dir(path.parent) as d:
        d.replace(path.name, data, sync=False)        # a hint: a crash may lose it, never tear it
