"""The lake on disk: where it is, how files are published, listed, quarantined,
pruned, compacted and exported.

Layout (hive-style, readable by DuckDB, Spark, Trino)::

    <lake>/<table>/date=YYYY-MM-DD/run_id=<id>/part-N.parquet     one scan's rows
    <lake>/<table>/month=YYYY-MM/compacted-<id>.parquet            a month of runs, after compaction
    <lake>/_quarantine/...                                         corrupt files, moved aside

A fleet lake (one shared directory many hosts write to; it has a ``_fleet``
marker file, :func:`make_fleet`) puts every host's rows under its own
partition, ``<lake>/<table>/host=<name>/date=YYYY-MM-DD/run_id=<id>/...``,
the name from ``$PT_HOST`` or the machine's host name, validated as a path
component (:func:`check_host`). Readers take both layouts: files written
before the lake became a fleet lake have no host.

Compaction merges a month, not a day: what makes a query over a month slow
is the number of files (each costs an open and a footer parse), so a month
of hourly scans becomes one file per table, sorted by time. Row groups are
131,072 rows: measured on a month of 500-process scans, they compress the
repeated values of a month far better than small ones (proc_inference 1.5 MB
against 6.9 MB at 8,192 rows) and a query for one run, which min/max
statistics on run_id send to one row group, is faster too (15 ms against 37).

A file is written under a hidden temporary name in its final directory and
published with ``os.link`` to the first free ``part-N.parquet``: the link is
atomic and never replaces an existing file, so concurrent writers never
collide and a writer killed mid-write leaves only a hidden ``.tmp`` file that
no reader globs (``pt lake prune`` and ``compact`` remove stale ones).

Every directory of the lake is opened through :mod:`pt.safefs`: created
0700, refused if another user owns it or can write to it, never followed if
it is a symbolic link; files are created 0600.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import secrets
import socket
import time
from pathlib import Path

from pt import safefs
from pt.telemetry.redact import data_dir

LAKE_ENV = "PT_LAKE"
#: Tables whose rows belong to a scan: they count only once the scan's ``runs`` row is on disk.
SCAN_TABLES = ("system_samples", "proc_samples", "proc_features", "proc_inference", "decisions", "deep_series")
QUARANTINE = "_quarantine"
MAGIC = b"PAR1"
TMP_PREFIX = safefs.TMP_PREFIX
#: Temporary files older than this are debris of a killed writer.
STALE_TMP_S = 3600.0
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_MONTH_DIR = re.compile(r"month=(\d{4}-\d{2})")
#: Rows per row group of a compacted file (see the module docstring).
ROW_GROUP = 131_072
_RUN_DIR = re.compile(r"run_id=([A-Za-z0-9._-]+)")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
FLEET_MARKER = "_fleet"
HOST_ENV = "PT_HOST"
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_HOST_DIR = re.compile(r"host=([A-Za-z0-9][A-Za-z0-9._-]{0,62})")
#: A keyed hash as stored inside redacted tokens and texts: kind, colon, 16 hex digits.
_HASHED = re.compile(r"(?<![0-9A-Za-z])([puh]):([0-9a-f]{16})(?![0-9a-f])")


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


def check_host(name: str) -> str:
    """A host name safe as a partition value (a path component DuckDB, Spark
    and Trino read back unchanged), or ``LakeError`` naming it."""
    if not isinstance(name, str) or not _HOST.fullmatch(name):
        shown = name.encode("unicode_escape", "backslashreplace").decode("ascii") if isinstance(name, str) else name
        raise LakeError(f"host name must be 1-63 of [A-Za-z0-9._-], starting with a letter or digit, "
                        f"got {shown!r} (set ${HOST_ENV})")
    return name


def host_name() -> str:
    """This host's name in a fleet lake: ``$PT_HOST``, else the whole host
    name (web1.eu and web1.us are two hosts: their first labels are not),
    shortened past 63 characters to its first 46 and a hash of the whole."""
    if os.environ.get(HOST_ENV):
        return check_host(os.environ[HOST_ENV])
    name = socket.gethostname()
    if len(name) > 63:
        import hashlib
        name = f"{name[:46]}-{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"
    return check_host(name)


def is_fleet(root: Path) -> bool:
    """Whether ``root`` is a fleet lake (its ``_fleet`` marker is a regular file)."""
    import stat
    try:
        return stat.S_ISREG(os.lstat(Path(root) / FLEET_MARKER).st_mode)
    except OSError:
        return False


def make_fleet(root: Path) -> Path:
    """Mark ``root`` (created, private, if needed) as a fleet lake."""
    with safefs.private_dir(root) as d:
        d.replace(FLEET_MARKER, b'{"format": 1}\n')
    return Path(root) / FLEET_MARKER


def partition(root: Path, table: str, ts: float, run_id: str) -> Path:
    """Where one run's (or batch's) file of ``table`` goes: under this host's
    partition in a fleet lake."""
    base = root / table / f"host={host_name()}" if is_fleet(root) else root / table
    return base / f"date={day(ts)}" / f"run_id={check_id(run_id)}"


def _rel(root: Path, path: Path) -> tuple[str, ...]:
    """``path``'s components below ``root`` (a ``ValueError`` if it is not below it)."""
    return Path(path).relative_to(root).parts


def publish(root: Path, directory: Path, write, *, stem: str = "part") -> Path:
    """Write a file with ``write(binary file)`` and publish it as the first free
    ``<stem>-N.parquet`` in ``directory``, a directory of the lake ``root``
    (both created, 0700, if needed; the file is 0600)."""
    parts = _rel(root, directory)
    attempts = 3
    while True:
        try:
            with safefs.private_dir(root) as base, base.walk(*parts, create=True) as d:
                return directory / d.publish(write, stem, ".parquet")
        except FileNotFoundError:
            # Compaction removes the day directories it empties; one may go
            # between our mkdir and our write: make it again.
            attempts -= 1
            if not attempts:
                raise


@contextlib.contextmanager
def maintenance(root: Path):
    """Exclusive hold on the lake for compaction, pruning and export (an
    advisory ``flock`` on ``<lake>/.maintenance.lock``): two compactions at
    once would both merge the same files. Scans do not take it: they only add
    new files, which maintenance never touches unless it listed them first."""
    with safefs.private_dir(root) as base:
        try:
            with base.locked(".maintenance.lock", blocking=False):
                yield
        except BlockingIOError:
            raise LakeError(f"another pt lake compact, prune or export is running on {root}") from None


# --- listing and checking -------------------------------------------------------------

def open_root(root: Path) -> safefs.Dir | None:
    """The lake's root directory, verified, or None if there is no lake yet."""
    try:
        return safefs.private_dir(root, create=False)
    except FileNotFoundError:
        return None


def table_files(root: Path, table: str, skipped: list | None = None, *,
                host: str | None = None) -> tuple[list[Path], list[Path]]:
    """``(per-run files, compacted files)`` of ``table`` (of its partition
    ``host=<host>/`` if ``host`` is given, else those written without a
    host), sorted, temporaries and anything but regular files excluded. A
    directory pt will not use (a symbolic link, another user's) raises
    :class:`pt.safefs.UnsafeDirectory`, or, if ``skipped`` is a list, is
    appended to it as ``{"file", "reason"}`` and left out."""
    raw, compacted = [], []

    def files(d: safefs.Dir) -> list[Path]:
        return [d.path / e.name for e in d.entries()
                if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file(follow_symlinks=False)]

    def sub(d: safefs.Dir, name: str) -> safefs.Dir | None:
        return _subdir(d, name, skipped)

    base = open_root(root)
    if base is None:
        return raw, compacted
    with base:
        tdir = sub(base, table)
        if tdir is not None and host is not None:
            with tdir:
                tdir = sub(tdir, f"host={check_host(host)}")
        if tdir is None:
            return raw, compacted
        with tdir:
            for part in tdir.entries():
                if _MONTH_DIR.fullmatch(part.name) and (month := sub(tdir, part.name)):
                    with month:
                        compacted += files(month)
                elif _DATE_DIR.fullmatch(part.name) and (day_dir := sub(tdir, part.name)):
                    with day_dir:
                        for entry in day_dir.entries():
                            if _RUN_DIR.fullmatch(entry.name) and (run := sub(day_dir, entry.name)):
                                with run:
                                    raw += files(run)
    return sorted(raw), sorted(compacted)


def _subdir(d: safefs.Dir, name: str, skipped: list | None) -> safefs.Dir | None:
    """``d``'s subdirectory ``name``, or None where there is none; an unsafe
    one raises, or (``skipped`` a list) is recorded there and left out."""
    try:
        return d.sub(name)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except safefs.UnsafeDirectory as exc:
        if skipped is None:
            raise
        skipped.append({"file": str(d.path / name), "reason": str(exc)})
        return None


def table_hosts(root: Path, table: str) -> list[str]:
    """The hosts with a partition ``host=<name>/`` of ``table``, sorted."""
    base = open_root(root)
    if base is None:
        return []
    with base:
        try:
            with base.sub(table) as d:
                return sorted(m.group(1) for e in d.entries()
                              if (m := _HOST_DIR.fullmatch(e.name)) and e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []


def host_files(root: Path, table: str, hosts: frozenset[str] | None = None,
               skipped: list | None = None) -> tuple[list[Path], list[Path]]:
    """``(per-run files, compacted files)`` of ``table`` in host partitions
    (of ``hosts``, else every host); directories as :func:`table_files`
    treats them."""
    raw: list[Path] = []
    compacted: list[Path] = []
    for host in table_hosts(root, table):
        if hosts is None or host in hosts:
            r, c = table_files(root, table, skipped, host=host)
            raw += r
            compacted += c
    return raw, compacted


def hosts_in(root: Path) -> list[str]:
    """The hosts with a partition of ``runs``."""
    return table_hosts(root, "runs")


def maintained(root: Path, all_hosts: bool = False) -> frozenset[str] | None:
    """The host partitions ``pt lake compact`` and ``prune`` act on: every
    host's with ``all_hosts`` (None), else this host's in a fleet lake and
    none in a lake that is not one. Files written without a host are always
    included: they belong to no other host."""
    if all_hosts:
        return None
    return frozenset({host_name()}) if is_fleet(root) else frozenset()


def _units(root: Path, table: str, hosts: frozenset[str] | None) -> list[str | None]:
    """The partitions of ``table`` maintenance walks: None (files without a
    host), then each host partition of ``hosts`` (None: every host)."""
    return [None] + [h for h in table_hosts(root, table) if hosts is None or h in hosts]


def _prefix(host: str | None) -> tuple[str, ...]:
    return () if host is None else (f"host={host}",)


def committed_runs(root: Path, hosts: frozenset[str] | None = None) -> set[str]:
    """The run ids whose ``runs`` row is on disk (written without a host or
    by ``hosts``; None: every host). The writer publishes ``runs``
    last, so it is a scan's commit marker: rows of the other scan tables
    whose run is not in this set (a scan killed, or out of disk space,
    mid-write; or still writing) are read by no view and merged by no
    compaction."""
    raw, compacted = table_files(root, "runs", skipped=[])
    hosted = host_files(root, "runs", hosts, skipped=[])
    raw += hosted[0]
    compacted += hosted[1]
    done = {_RUN_DIR.fullmatch(f.parent.name).group(1) for f in raw}
    for f in compacted:
        try:
            done |= _source_runs(f)[0]
        except Exception:   # noqa: BLE001 - an unreadable runs file commits nothing
            continue
    return done


def only_committed(table: str, files: list[Path], committed: set[str]) -> list[Path]:
    """The per-run ``files`` of ``table`` whose run is committed (all of them
    for tables that are not a scan's: actions, outcomes, runs itself)."""
    if table not in SCAN_TABLES:
        return files
    return [f for f in files if _RUN_DIR.fullmatch(f.parent.name).group(1) in committed]


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


def parquet_problem(path: Path) -> str | None:
    """None if pt reads every page of every column of ``path`` as Parquet
    (page checksums verified where the file has them), else why not. This is
    the only test that sends a file to quarantine."""
    import pyarrow.parquet as pq

    if not looks_complete(path):
        return "not a complete Parquet file (magic bytes missing)"
    try:
        f = pq.ParquetFile(path, page_checksum_verification=True)
        for group in range(f.num_row_groups):
            for column in f.schema_arrow.names:          # one column at a time: bounded memory
                f.read_row_group(group, columns=[column], use_threads=False)
    except Exception as exc:   # noqa: BLE001 - whatever pyarrow raises, the file is unreadable
        return f"pt could not read it as Parquet: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
    return None


def footer_problem(path: Path) -> bool:
    """True if ``path`` has gone or pt cannot parse its Parquet footer (cheap)."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
        return False
    except Exception:   # noqa: BLE001 - whatever pyarrow raises, the footer is unreadable
        return True


def quarantine(root: Path, path: Path, reason: str) -> Path:
    """Move a file pt could not read out of the lake's tables into
    ``_quarantine`` (kept for inspection, never read again), with a note
    saying why; returns where it went. ``OSError`` if it cannot be moved (a
    read-only lake)."""
    parts = _rel(root, path)
    with safefs.private_dir(root, create=False) as base, base.walk(*parts[:-1]) as src, \
            base.walk(QUARANTINE, *parts[:-1], create=True) as dest:
        name = src.move(parts[-1], dest, f"{parts[-1]}.{int(time.time())}")
        dest.create(f"{name}.reason", (reason + "\n").encode())
    return root.joinpath(QUARANTINE, *parts[:-1], name)


def quarantined(root: Path) -> list[Path]:
    """The files in ``_quarantine`` (not followed if it is a symbolic link)."""
    q = root / QUARANTINE
    return sorted(p for p in q.rglob("*") if p.is_file() and not p.name.endswith(".reason")) \
        if q.is_dir() and not q.is_symlink() else []


def _lake_dirs(base: safefs.Dir, hosts: frozenset[str] | None = None):
    """Yield every open partition directory of the lake (day, run and month
    directories, and those of the host partitions of ``hosts``, None: every host)."""
    def walk(d: safefs.Dir, top: bool):
        for part in d.entries():
            if not part.is_dir(follow_symlinks=False):
                continue
            m = _HOST_DIR.fullmatch(part.name)
            if m and not (top and (hosts is None or m.group(1) in hosts)):
                continue
            with d.sub(part.name) as pdir:
                if m:
                    yield from walk(pdir, False)
                    continue
                yield pdir
                if _DATE_DIR.fullmatch(part.name):
                    for run in pdir.entries():
                        if run.is_dir(follow_symlinks=False):
                            with pdir.sub(run.name) as rdir:
                                yield rdir

    for table in base.entries():
        if not table.is_dir(follow_symlinks=False) or table.name.startswith(("_", ".")):
            continue
        with base.sub(table.name) as tdir:
            yield from walk(tdir, True)


def clean_temporaries(root: Path, *, older_than_s: float = STALE_TMP_S, now: float | None = None,
                      hosts: frozenset[str] | None = frozenset()) -> int:
    """Remove writers' temporary files older than ``older_than_s`` (in the
    partitions without a host and those of ``hosts``, None: every host's);
    returns how many."""
    now = time.time() if now is None else now
    removed = 0
    base = open_root(root)
    if base is None:
        return 0
    with base:
        for d in _lake_dirs(base, hosts):
            for entry in d.entries():
                if entry.name.startswith(TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                    try:
                        if now - d.stat(entry.name).st_mtime > older_than_s:
                            d.unlink(entry.name, missing_ok=False)
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


def prune(root: Path, keep_s: float, *, now: float | None = None, dry_run: bool = False,
          hosts: frozenset[str] | None = frozenset()) -> dict:
    """Delete what is older than ``keep_s``: whole day partitions whose day
    ended before the cutoff, whole month files whose month did, and, in a
    month file that straddles the cutoff, the older rows (the file is
    rewritten without them, published before the old one is removed). In
    the files without a host and the host partitions of ``hosts`` (None:
    every host; :func:`maintained`): a host does not delete another's."""
    from pt.telemetry.schemas import TABLES

    now = time.time() if now is None else now
    cutoff_ts = now - keep_s
    cutoff = _dt.datetime.fromtimestamp(cutoff_ts, _dt.timezone.utc).date()
    removed, files, rows, seen = [], 0, 0, set()
    base = open_root(root)
    for table in TABLES if base is not None else ():
        for host in _units(root, table, hosts):
            try:
                tdir = base.walk(table, *_prefix(host))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if host is not None:
                seen.add(host)
            where = "/".join((table, *_prefix(host)))
            with tdir:
                for entry in tdir.entries():
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                    day_match, month_match = _DATE_DIR.fullmatch(entry.name), _MONTH_DIR.fullmatch(entry.name)
                    if day_match and _dt.date.fromisoformat(day_match.group(1)) < cutoff:
                        files += sum(1 for _ in (tdir.path / entry.name).rglob("*.parquet"))
                        removed.append(f"{where}/{entry.name}")
                        if not dry_run:
                            tdir.remove_tree(entry.name)
                    elif month_match:
                        first = _dt.date.fromisoformat(month_match.group(1) + "-01")
                        nxt = (first.replace(day=28) + _dt.timedelta(days=4)).replace(day=1)
                        if nxt <= cutoff:
                            files += sum(1 for _ in (tdir.path / entry.name).glob("*.parquet"))
                            removed.append(f"{where}/{entry.name}")
                            if not dry_run:
                                tdir.remove_tree(entry.name)
                        elif first < cutoff:
                            with tdir.sub(entry.name) as month_dir:
                                rows += _drop_rows_before(month_dir, cutoff_ts, dry_run)
    if base is not None:
        base.close()
        if not dry_run:
            clean_temporaries(root, now=now, hosts=hosts)
    return {"cutoff_date": cutoff.isoformat(), "partitions_removed": removed, "files_removed": files,
            "rows_removed_from_month_files": rows, "hosts": sorted(seen), "dry_run": dry_run}


def _drop_rows_before(month_dir: safefs.Dir, cutoff_ts: float, dry_run: bool) -> int:
    import pyarrow.parquet as pq

    dropped = 0
    for entry in month_dir.entries():
        if not entry.name.endswith(".parquet") or not entry.is_file(follow_symlinks=False):
            continue
        table = pq.read_table(month_dir.path / entry.name)
        keep = table.filter(pq.filters_to_expression([("ts", ">=", cutoff_ts)]))
        if keep.num_rows == table.num_rows:
            continue
        dropped += table.num_rows - keep.num_rows
        if dry_run:
            continue
        if keep.num_rows:
            month_dir.publish(lambda f: pq.write_table(keep, f, compression="zstd", row_group_size=ROW_GROUP,
                                                       write_page_checksum=True),
                              Path(entry.name).stem.rsplit("-", 1)[0] + "-pruned", ".parquet")
        month_dir.unlink(entry.name)
    return dropped


# --- compaction -------------------------------------------------------------------------

def _read_checked(root: Path, path: Path, report: dict):
    """The table in ``path``, or None after quarantining it."""
    import pyarrow.parquet as pq

    problem = "not a complete Parquet file (magic bytes missing)" if not looks_complete(path) else None
    if problem is None:
        try:
            return pq.read_table(path, page_checksum_verification=True)
        except Exception:   # noqa: BLE001 - any unreadable file is quarantined, not fatal
            problem = parquet_problem(path)
            if problem is None:
                raise
    report["quarantined"].append(str(quarantine(root, path, problem)))
    return None


def _source_runs(path: Path) -> tuple[set[str], set[str]]:
    """The run ids and compacted file names a compacted file says it replaced."""
    import json

    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return (set(json.loads(meta.get(b"pt.source_runs", b"[]"))),
            set(json.loads(meta.get(b"pt.replaces", b"[]"))))


def _remove(root: Path, path: Path, *, empty_parents: int = 0) -> None:
    """Remove the lake file ``path``, then up to ``empty_parents`` of its
    directories that it leaves empty (its run directory, then its day)."""
    parts = _rel(root, path)
    with safefs.private_dir(root, create=False) as base:
        with base.walk(*parts[:-1]) as d:
            d.unlink(parts[-1])
        for k in range(1, empty_parents + 1):
            with base.walk(*parts[:-1 - k]) as d:
                if not d.rmdir(parts[-1 - k]):
                    break


def compact(root: Path, *, tables=None, min_files: int = 2, hosts: frozenset[str] | None = frozenset()) -> dict:
    """Merge each table's files of each month (per-run files and earlier
    compacted files) into one ``month=YYYY-MM/compacted-*.parquet``, sorted
    by time, without losing rows: the files without a host into
    ``<table>/month=...``, each host partition of ``hosts`` (None: every
    host; :func:`maintained`) into its own ``<table>/host=<name>/month=...``.

    The merged file is published first (atomically), then its sources are
    removed; it records in its metadata the run ids and files it replaces, so
    if compaction dies between the two steps the next one removes the
    leftovers instead of counting their rows twice. Row counts are checked
    before anything is removed. Unreadable files are quarantined.
    """
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pt.telemetry.schemas import TABLES
    from pt.telemetry.schemas import schema as table_schema

    report = {"tables": {}, "quarantined": [], "temporaries_removed": clean_temporaries(root, hosts=hosts),
              "hosts": set()}
    committed = committed_runs(root)
    for table in tables or TABLES:
        months: dict[tuple[str, str], tuple[list[Path], list[Path]]] = {}
        for host in _units(root, table, hosts):
            raw, compacted = table_files(root, table, host=host)
            if host is not None and (raw or compacted):
                report["hosts"].add(host)
            where = "/".join(_prefix(host))
            for f in only_committed(table, raw, committed):
                month = _DATE_DIR.fullmatch(f.parent.parent.name).group(1)[:7]
                months.setdefault((where, month), ([], []))[0].append(f)
            for f in compacted:
                months.setdefault((where, _MONTH_DIR.fullmatch(f.parent.name).group(1)), ([], []))[1].append(f)
        stats = {"files_in": 0, "files_out": 0, "rows": 0, "leftovers_removed": 0}
        for (where, month), (runs, merged) in sorted(months.items()):
            month_dir = root.joinpath(table, where, f"month={month}") if where else root / table / f"month={month}"
            # Recovery: files a compacted file already holds are leftovers of a crash.
            done_runs, done_files = set(), set()
            for f in merged:
                try:
                    r, d = _source_runs(f)
                except Exception:   # noqa: BLE001 - unreadable: quarantined when read below
                    continue
                done_runs |= r
                done_files |= d
            for f in list(runs):
                if _RUN_DIR.fullmatch(f.parent.name).group(1) in done_runs:
                    _remove(root, f, empty_parents=1)
                    runs.remove(f)
                    stats["leftovers_removed"] += 1
            for f in list(merged):
                if f.name in done_files:
                    _remove(root, f)
                    merged.remove(f)
                    stats["leftovers_removed"] += 1
            sources = runs + merged
            if len(sources) < min_files:
                continue
            parts, used = [], []
            for f in sources:
                t = _read_checked(root, f, report)
                if t is not None:
                    parts.append(t.replace_schema_metadata(None))
                    used.append(f)
            if not parts:
                continue
            combined = pa.concat_tables(parts, promote_options="permissive")
            expected = sum(p.num_rows for p in parts)
            if combined.num_rows != expected:
                raise RuntimeError(f"compaction of {table} {month} would lose rows: "
                                   f"{combined.num_rows} != {expected}")
            if "ts" in combined.column_names:
                combined = combined.sort_by([("ts", "ascending")])
            run_ids = sorted(set(combined.column("run_id").to_pylist())) \
                if "run_id" in combined.column_names else []
            meta = dict(table_schema(table).metadata or {})
            meta.update({b"pt.source_runs": json.dumps(run_ids).encode(),
                         b"pt.replaces": json.dumps([f.name for f in used if f in merged]).encode()})
            combined = combined.replace_schema_metadata(meta)

            def write(f, combined=combined):
                pq.write_table(combined, f, compression="zstd", row_group_size=ROW_GROUP,
                               write_page_checksum=True)

            out = publish(root, month_dir, write, stem=f"compacted-{int(time.time())}-{secrets.token_hex(4)}")
            if pq.read_metadata(out).num_rows != expected:
                raise RuntimeError(f"compacted file {out} does not hold the {expected} rows written")
            for f in used:               # per-run files take their run and day directories if left empty
                _remove(root, f, empty_parents=0 if f in merged else 2)
            stats["files_in"] += len(used)
            stats["files_out"] += 1
            stats["rows"] += expected
        report["tables"][table] = stats
    report["hosts"] = sorted(report["hosts"])
    return report


# --- export ----------------------------------------------------------------------------------

def _rekey_strings(array, fn):
    """Apply ``fn`` to each distinct string of an Arrow string array (nulls kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array).combine_chunks() if isinstance(array, pa.ChunkedArray) \
        else pc.dictionary_encode(array)
    dictionary = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.take(dictionary, encoded.indices)


def export(root: Path, dest: Path, *, mode: str, key: bytes | None = None) -> dict:
    """A shareable copy of the lake at ``dest``: every keyed hash re-keyed with
    a fresh key (``mode="rekey"``; grouping preserved, unlinkable to this
    install's hashes) or dropped (``mode="drop"``: hash columns null, hashed
    tokens reduced to their kind), in the hash columns and wherever a hash
    sits inside a value (argv tokens, parameters, details, and ``exe``,
    ``comm`` and flag names that were hashed because they were not safe
    tokens), and a fleet lake's ``host=<name>`` folders renamed the same
    way. The install key is never copied;
    quarantined files are not exported."""
    import secrets as _secrets

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from pt.telemetry.redact import Redactor
    from pt.telemetry.schemas import TABLES, redacted_columns

    if mode not in ("rekey", "drop"):
        raise ValueError(f"export mode must be 'rekey' or 'drop', got {mode!r}")
    dest = Path(dest)
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise LakeError(f"export destination {dest} is inside the lake {root}")
    with safefs.private_dir(dest) as out:
        if out.entries():
            raise LakeError(f"export destination {dest} is not empty")
    red = Redactor(key or _secrets.token_bytes(32))
    new_id = red.key_id if mode == "rekey" else "dropped"

    def hashed(value: str) -> str:
        """A hash column's value re-keyed, in the same form (``k:hex`` or bare hex)."""
        if len(value) == 18 and value[1] == ":":
            return f"{value[0]}:{red.digest(value)}"
        return red.digest(value)

    def token(value: str) -> str:
        """Every ``p:abcd…`` inside a value (an argv token, a JSON parameter, a
        detail text) re-keyed, or reduced to ``p:``."""
        if mode == "drop":
            return _HASHED.sub(lambda m: m.group(1) + ":", value)
        return _HASHED.sub(lambda m: f"{m.group(1)}:{red.digest(m.group(0))}", value)

    hosts: dict[str, str] = {}

    def unnamed(part: str) -> str:
        """A fleet partition ``host=<name>`` under a name that does not say
        which host it is: the name's keyed hash, or ``host=h<n>`` when hashes
        are dropped (the lake keeps host names only as keyed hashes)."""
        if not part.startswith("host="):
            return part
        name = part[len("host="):]
        if name not in hosts:
            hosts[name] = "host=" + (red.digest(name)[:16] if mode == "rekey" else f"h{len(hosts) + 1}")
        return hosts[name]

    counts = {"files": 0, "rows": 0}
    committed = committed_runs(root)
    for table in TABLES:
        # "safe" columns (exe, comm, flag names) hold a keyed hash where the value was not a safe token.
        hash_cols = redacted_columns(table, "hash")
        token_cols = redacted_columns(table, "tokens") + redacted_columns(table, "safe")
        raw, compacted = table_files(root, table)
        hosted = host_files(root, table)
        for path in only_committed(table, raw + hosted[0], committed) + compacted + hosted[1]:
            if not looks_complete(path):
                continue
            try:
                t = pq.read_table(path)
            except Exception:   # noqa: BLE001 - unreadable files are not exported
                continue
            for name in t.column_names:
                col = t.column(name)
                if name in hash_cols:
                    new = pa.nulls(len(col), pa.string()) if mode == "drop" else _rekey_strings(col, hashed)
                elif name in token_cols and pa.types.is_list(col.type):
                    flat = pc.list_flatten(col)
                    values = _rekey_strings(flat, token)
                    combined = col.combine_chunks()
                    new = pa.ListArray.from_arrays(combined.offsets, values, type=col.type,
                                                   mask=combined.is_null())
                elif name in token_cols:
                    new = _rekey_strings(col, token)
                elif name == "key_id":
                    new = pa.array([new_id] * len(col), type=pa.string())
                else:
                    continue
                t = t.set_column(t.column_names.index(name), t.schema.field(name), new)
            out_dir = dest.joinpath(*(unnamed(part) for part in _rel(root, path.parent)))
            publish(dest, out_dir, lambda f, t=t: pq.write_table(t, f, compression="zstd", write_page_checksum=True),
                    stem=path.stem.rsplit("-", 1)[0] if path.stem.startswith("part-") else path.stem)
            counts["files"] += 1
            counts["rows"] += t.num_rows
    return {"destination": str(dest), "mode": mode, "key_id": new_id, **counts,
            "note": "the export key is not stored anywhere" if mode == "rekey" else
            "keyed hashes removed"}


def info(root: Path) -> dict:
    """Where the lake is and what it holds (``pt lake info``): its files and
    bytes per table, hosts, quarantined files and the hashing key's id."""
    from pt.telemetry.redact import key_id, key_path, load_key
    from pt.telemetry.schemas import SCHEMA_VERSION, TABLES

    tables = {}
    for table in TABLES:
        raw, compacted = table_files(root, table)
        hosted = host_files(root, table)
        raw, compacted = raw + hosted[0], compacted + hosted[1]
        tables[table] = {"run_files": len(raw), "compacted_files": len(compacted),
                         "bytes": sum(f.stat().st_size for f in raw + compacted)}
    try:
        kid = key_id(load_key(create=False))
    except (OSError, ValueError):
        kid = None
    return {"lake": str(root), "exists": root.is_dir(), "schema_version": SCHEMA_VERSION,
            "fleet": is_fleet(root), "hosts": hosts_in(root),
            "tables": tables, "quarantined": [str(p) for p in quarantined(root)],
            "key_file": str(key_path()), "key_id": kid}


def check(root: Path, hosts: frozenset[str] | None = frozenset()) -> dict:
    """Read every page of every column of every file (CRCs verified), those
    without a host and those of ``hosts`` (None: every host); quarantine
    those pt cannot read as Parquet."""
    from pt.telemetry.schemas import TABLES

    checked, moved = 0, []
    for table in TABLES:
        raw, compacted = table_files(root, table)
        hosted = host_files(root, table, hosts) if hosts != frozenset() else ([], [])
        for f in raw + compacted + hosted[0] + hosted[1]:
            checked += 1
            reason = parquet_problem(f)
            if reason:
                moved.append({"file": str(f), "moved_to": str(quarantine(root, f, reason)),
                              "reason": reason})
    return {"files_checked": checked, "quarantined": moved}
