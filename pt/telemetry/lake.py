"""The lake on disk: where it is, how files are published, listed, quarantined,
pruned, compacted and exported.

Layout (hive-style, readable by DuckDB, Spark, Trino)::

    <lake>/<table>/date=YYYY-MM-DD/run_id=<id>/part-N.parquet     one scan's rows
    <lake>/<table>/date=YYYY-MM-DD/compacted-<id>.parquet          many runs, after compaction
    <lake>/_quarantine/...                                         corrupt files, moved aside

A file is written under a hidden temporary name in its final directory and
published with ``os.link`` to the first free ``part-N.parquet``: the link is
atomic and never replaces an existing file, so concurrent writers never
collide and a writer killed mid-write leaves only a hidden ``.tmp`` file that
no reader globs (``pt lake prune`` and ``compact`` remove stale ones).
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from pt.telemetry.redact import data_dir

LAKE_ENV = "PT_LAKE"
QUARANTINE = "_quarantine"
MAGIC = b"PAR1"
TMP_PREFIX = ".tmp-"
#: Temporary files older than this are debris of a killed writer.
STALE_TMP_S = 3600.0
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_RUN_DIR = re.compile(r"run_id=([A-Za-z0-9._-]+)")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class LakeError(OSError):
    """The lake cannot be used (not writable, not a lake, ...); the message says why."""


def lake_root(lake: str | os.PathLike | None = None) -> Path:
    """``--lake``, else ``$PT_LAKE``, else ``$XDG_DATA_HOME/pt/lake``."""
    if lake:
        return Path(lake).expanduser()
    if os.environ.get(LAKE_ENV):
        return Path(os.environ[LAKE_ENV]).expanduser()
    return data_dir() / "lake"


def day(ts: float) -> str:
    """The UTC date partition of a unix time."""
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%d")


def check_id(run_id: str) -> str:
    """A run or plan id safe as a path component, or ``ValueError`` naming it."""
    if not _SAFE_ID.fullmatch(run_id or "") or run_id in (".", ".."):
        raise ValueError(f"run id must be 1-128 of [A-Za-z0-9._-], got {run_id!r}")
    return run_id


def partition(root: Path, table: str, ts: float, run_id: str) -> Path:
    return root / table / f"date={day(ts)}" / f"run_id={check_id(run_id)}"


def publish(directory: Path, write, *, stem: str = "part") -> Path:
    """Write a file with ``write(tmp_path)`` and publish it as the first free
    ``<stem>-N.parquet`` in ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        write(str(tmp))
        n = 0
        while True:
            final = directory / f"{stem}-{n}.parquet"
            try:
                os.link(tmp, final)
                return final
            except FileExistsError:
                n += 1
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


# --- listing and checking -------------------------------------------------------------

def table_files(root: Path, table: str) -> tuple[list[Path], list[Path]]:
    """``(per-run files, compacted files)`` of ``table``, sorted, temporaries excluded."""
    raw, compacted = [], []
    base = root / table
    try:
        dates = sorted(os.scandir(base), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return raw, compacted
    for date in dates:
        if not (date.is_dir() and _DATE_DIR.fullmatch(date.name)):
            continue
        for entry in sorted(os.scandir(date.path), key=lambda e: e.name):
            if entry.is_dir() and _RUN_DIR.fullmatch(entry.name):
                raw += [Path(f.path) for f in sorted(os.scandir(entry.path), key=lambda e: e.name)
                        if f.name.endswith(".parquet") and not f.name.startswith(".")]
            elif entry.name.endswith(".parquet") and not entry.name.startswith("."):
                compacted.append(Path(entry.path))
    return raw, compacted


def looks_complete(path: Path) -> bool:
    """Cheap integrity check: Parquet magic at both ends and room for a footer."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            size = os.fstat(f.fileno()).st_size
            if size < 12:
                return False
            f.seek(size - 4)
            return head == MAGIC and f.read(4) == MAGIC
    except OSError:
        return False


def quarantine(root: Path, path: Path, reason: str) -> Path:
    """Move a corrupt file out of the lake's tables into ``_quarantine`` (kept
    for inspection, never read again), with a note saying why."""
    rel = Path(path).resolve().relative_to(Path(root).resolve())
    dest_dir = root / QUARANTINE / rel.parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{rel.name}.{int(time.time())}"
    os.replace(path, dest)
    (dest_dir / f"{dest.name}.reason").write_text(reason + "\n")
    return dest


def quarantined(root: Path) -> list[Path]:
    q = root / QUARANTINE
    return sorted(p for p in q.rglob("*") if p.is_file() and not p.name.endswith(".reason")) \
        if q.is_dir() else []


def clean_temporaries(root: Path, *, older_than_s: float = STALE_TMP_S, now: float | None = None) -> int:
    """Remove writers' temporary files older than ``older_than_s``; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for tmp in root.glob(f"*/date=*/**/{TMP_PREFIX}*"):
        try:
            if now - tmp.stat().st_mtime > older_than_s:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


# --- retention ----------------------------------------------------------------------------

def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``2w``, ``90m`` or plain days to seconds; ``ValueError`` naming the text."""
    units = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
    body = text.strip()
    try:
        value = float(body[:-1]) * units[body[-1]] if body and body[-1] in units else float(body) * 86400
    except (ValueError, KeyError):
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"--keep wants an age like 30d, 12h or 2w, got {text!r}")
    return value


def prune(root: Path, keep_s: float, *, now: float | None = None, dry_run: bool = False) -> dict:
    """Delete the date partitions (every table) older than ``keep_s``: a
    partition goes when its whole day ended before ``now - keep_s``."""
    from pt.telemetry.schemas import TABLES

    now = time.time() if now is None else now
    cutoff = _dt.datetime.fromtimestamp(now - keep_s, _dt.timezone.utc).date()
    removed, files = [], 0
    for table in TABLES:
        base = root / table
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            m = _DATE_DIR.fullmatch(entry.name)
            if not (m and entry.is_dir()):
                continue
            if _dt.date.fromisoformat(m.group(1)) < cutoff:
                files += sum(1 for p in entry.rglob("*.parquet"))
                removed.append(str(entry.relative_to(root)))
                if not dry_run:
                    shutil.rmtree(entry)
    if not dry_run:
        clean_temporaries(root, now=now)
    return {"cutoff_date": cutoff.isoformat(), "partitions_removed": removed, "files_removed": files,
            "dry_run": dry_run}
