"""DuckDB over the lake: one view per table, the shipped report macros, and the
reports ``pt duck`` prints.

Views read the Parquet files in place (``read_parquet(..., hive_partitioning=true)``:
``date`` and ``run_id`` come from the directory names), per-run and compacted
files together (``UNION ALL BY NAME``), so a table reads the same before and
after ``pt lake compact``. A run is committed when its ``runs`` row is on
disk (the writer publishes it last): the views of the other scan tables read
only files of committed runs (:func:`pt.telemetry.lake.committed_runs`), so
a scan killed or out of disk space mid-write leaves nothing a reader sees.

Every file is checked before it is put in a view (Parquet magic at both
ends). A file is quarantined (moved to ``_quarantine`` with a note) only when
pt itself fails to read it as Parquet: never because a query's error message
quotes its path. In a lake pt cannot write to, such a file is left in place
and skipped, and ``pt duck`` says which.

The connection is a sandbox for user SQL (``pt duck --sql`` may be given SQL
nobody reviewed): once the views and macros exist, DuckDB may open only the
files in the views (``allowed_paths``), external access, extension loading
and configuration changes are off (``lock_configuration``), and
:meth:`Lake.user_query` runs exactly one SELECT statement. Its time, memory
and threads are bounded too (:data:`SQL_TIME_LIMIT_S`, :func:`resource_limits`):
a query such as ``count(*) from range(1e11)`` is stopped, not left to run.
"""
from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import duckdb

from pt.act.identity import UNKNOWN_BOOT, parse_identity
from pt.config import CLASSES
from pt.telemetry import lake as lakes
from pt.telemetry.schemas import TABLES, empty_select

LN2 = math.log(2.0)
REPORTS = ("runs", "why", "top", "calibration", "actions")
_FILE_IN_ERROR = re.compile(r"""['"]([^'"]+\.parquet)['"]""")
MAX_RETRIES = 8
#: User SQL (``pt duck --sql``) is interrupted after this many seconds.
SQL_TIME_LIMIT_S = 60.0
#: DuckDB settings applied, in order, after the views exist: they cannot be undone.
SANDBOX = ("SET enable_external_access = false", "SET autoinstall_known_extensions = false",
           "SET autoload_known_extensions = false", "SET allow_community_extensions = false",
           "SET lock_configuration = true")


class SqlRefused(ValueError):
    """User SQL that the sandbox refuses (not a query over the views, or a file outside them)."""


def resource_limits() -> tuple[str, ...]:
    """``SET`` statements bounding a query's memory (a quarter of RAM) and
    threads (half the CPUs): pt shares the machine it triages."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        memory = 4 << 30
    threads = max(1, (os.cpu_count() or 2) // 2)
    return (f"SET memory_limit = '{max(memory // 4, 256 << 20) >> 20}MiB'", f"SET threads = {threads}")


def reports_sql() -> str:
    """The shipped macros (``pt/telemetry/reports.sql``, read as package data)."""
    return resources.files("pt.telemetry").joinpath("reports.sql").read_text()


def _quote(path: Path | str) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class Lake:
    """An open lake: a DuckDB connection with the views and macros, what was
    quarantined while opening or querying it, and what was skipped (files
    that could not be quarantined, directories pt will not read)."""

    root: Path
    con: duckdb.DuckDBPyConnection
    tables: tuple[str, ...] = TABLES
    #: Host partitions read (None: every host, ``--fleet``); views of a fleet read have a ``host`` column.
    hosts: frozenset[str] | None = frozenset()
    quarantined: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    in_views: dict[str, list[str]] = field(default_factory=dict)
    #: The files the sandbox lets DuckDB open (None until it is locked).
    allowed: frozenset[str] | None = None
    _excluded: set[str] = field(default_factory=set)
    _committed: set[str] = field(default_factory=set)

    def _skip(self, path: str, reason: str) -> None:
        if all(s["file"] != path for s in self.skipped):
            self.skipped.append({"file": path, "reason": reason})

    def _view_sql(self, table: str) -> str:
        dirs: list[dict] = []
        raw, compacted = lakes.table_files(self.root, table, skipped=dirs)
        raw = lakes.only_committed(table, raw, self._committed)
        hosted, hosted_months = ([], []) if self.hosts == frozenset() else \
            lakes.host_files(self.root, table, self.hosts, skipped=dirs)
        hosted = lakes.only_committed(table, hosted, self._committed)
        for d in dirs:
            self._skip(d["file"], d["reason"])
        parts, listed = [], []
        for files, hive, select in (
                (raw, "{'date': DATE, 'run_id': VARCHAR}", "*"),
                (hosted, "{'host': VARCHAR, 'date': DATE, 'run_id': VARCHAR}", "*"),
                # month files: date from ts (UTC, like the writer's day partitions)
                (compacted, "{'month': VARCHAR}", "* EXCLUDE (month), CAST(to_timestamp(ts) AS DATE) AS date"),
                (hosted_months, "{'host': VARCHAR, 'month': VARCHAR}",
                 "* EXCLUDE (month), CAST(to_timestamp(ts) AS DATE) AS date")):
            good = []
            for f in files:
                if str(f) in self._excluded or (self.allowed is not None and str(f) not in self.allowed):
                    continue
                if lakes.looks_complete(f):
                    good.append(f)
                else:
                    self._set_aside(f, "not a complete Parquet file (magic bytes missing)")
            if good:
                listed += map(str, good)
                parts.append(f"SELECT {select} FROM read_parquet([{', '.join(map(_quote, good))}], "
                             f"hive_partitioning=true, hive_types={hive}, union_by_name=true)")
        self.files[table] = len(listed)
        self.in_views[table] = listed
        if not parts:
            parts.append(empty_select(table))
        if self.hosts is None:                       # a fleet read: every view says which host
            parts.append("SELECT NULL::VARCHAR AS host WHERE false")
        return " UNION ALL BY NAME ".join(parts)

    def _set_aside(self, path: Path, reason: str) -> None:
        """Quarantine a file pt could not read; in a lake pt cannot write to, skip it instead."""
        try:
            dest = lakes.quarantine(self.root, path, reason)
        except OSError as exc:
            self._excluded.add(str(path))
            self._skip(str(path), f"{reason}; left in place, not moved to {lakes.QUARANTINE}: "
                                  f"{exc.strerror or exc}")
            return
        self.quarantined.append({"file": str(path), "moved_to": str(dest), "reason": reason})

    def refresh(self) -> None:
        """(Re)create the views from the files on disk now (once the sandbox is
        locked, only from the files it allows). DuckDB reads the footers when
        it binds a view: a file it cannot read is checked by pt, set aside if
        pt cannot read it either, and the view made again without it."""
        self._committed = lakes.committed_runs(self.root)
        for table in self.tables:
            for _ in range(MAX_RETRIES):
                select = self._view_sql(table)
                if table == "decisions":
                    select = (f"SELECT *, coalesce(boot_id, '{UNKNOWN_BOOT}') || ':' || start_ticks || ':' "
                              f"|| pid AS identity "
                              f"FROM ({select})")
                try:
                    self.con.execute(f"CREATE OR REPLACE VIEW {table} AS {select}")
                    break
                except duckdb.Error as exc:
                    self._handle(exc)

    def lock(self) -> None:
        """Turn the connection into the sandbox (see the module docstring):
        from now on DuckDB opens only the files now in the views."""
        self.allowed = frozenset(f for files in self.in_views.values() for f in files)
        self.con.execute(f"SET allowed_paths = [{', '.join(map(_quote, sorted(self.allowed)))}]")
        for statement in resource_limits() + SANDBOX:
            self.con.execute(statement)

    def _handle(self, exc: duckdb.Error) -> None:
        """An error naming a file of the views: if the file is gone (compaction
        or prune removed it meanwhile), nothing to do but list the files again;
        if pt cannot read it as Parquet either, it is set aside. Otherwise
        (the file is healthy: the error is the query's) it is re-raised."""
        bad = self._view_file_in(str(exc))
        if bad is None:
            if isinstance(exc, (duckdb.ParserException, duckdb.CatalogException, duckdb.BinderException,
                                duckdb.PermissionException)):
                raise exc
            # DuckDB does not always name the file ("Couldn't deserialize thrift"):
            # the footers of the views' files are cheap to read; one pt cannot read is it.
            bad = next((Path(f) for files in self.in_views.values() for f in files
                        if lakes.footer_problem(Path(f))), None)
            if bad is None:
                raise exc
        if not bad.exists():
            return
        problem = lakes.parquet_problem(bad)
        if problem is None:
            raise exc
        self._set_aside(bad, problem)

    def query(self, sql: str, params=None) -> tuple[list[str], list[tuple]]:
        """Run pt's own ``sql``; a file pt finds corrupt is set aside, and the
        query retried (also when a file vanished under it)."""
        for _ in range(MAX_RETRIES):
            try:
                cur = self.con.execute(sql, params) if params is not None else self.con.execute(sql)
                columns = [d[0] for d in cur.description] if cur.description else []
                return columns, cur.fetchall()
            except duckdb.InterruptException:
                raise
            except duckdb.Error as exc:
                self._handle(exc)
                self.refresh()
        raise duckdb.IOException(f"gave up after {MAX_RETRIES} unreadable or vanished files")

    def user_query(self, sql: str, *, time_limit_s: float | None = None) -> tuple[list[str], list[tuple]]:
        """Run SQL from the user (or an agent): exactly one SELECT statement
        (``FROM``, ``WITH``, ``DESCRIBE``, ``SHOW``, ``SUMMARIZE`` are SELECTs),
        in the locked sandbox. :class:`SqlRefused` names what was refused; a
        query still running after ``time_limit_s`` (default
        :data:`SQL_TIME_LIMIT_S`) is interrupted and raises
        ``duckdb.InterruptException`` naming the limit."""
        if self.allowed is None:
            raise RuntimeError("the lake's sandbox is not locked")
        statements = self.con.extract_statements(sql)
        if len(statements) != 1:
            raise SqlRefused(f"pt duck --sql runs exactly one query, got {len(statements)} statements")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise SqlRefused(f"pt duck --sql runs only read-only queries (SELECT, FROM, WITH, DESCRIBE, "
                             f"SHOW, SUMMARIZE) over the lake's views; refused a {kind.name} statement")
        limit = SQL_TIME_LIMIT_S if time_limit_s is None else time_limit_s
        fired = threading.Event()

        def stop():
            fired.set()
            self.con.interrupt()
        timer = threading.Timer(limit, stop)
        timer.daemon = True
        timer.start()
        try:
            return self.query(sql)
        except duckdb.PermissionException as exc:
            raise SqlRefused(f"refused: {str(exc).splitlines()[0]} (pt duck --sql reads only the lake's "
                             f"views, no other file)") from None
        except duckdb.InterruptException:
            if not fired.is_set():          # not the time limit's interrupt: as it was
                raise
            raise duckdb.InterruptException(
                f"the query was stopped after {limit:g} s, the time limit of pt duck --sql; "
                f"narrow it (a WHERE on run_id or date, a LIMIT)") from None
        finally:
            timer.cancel()

    def _view_file_in(self, message: str) -> Path | None:
        """The first file of the views that ``message`` quotes, if any."""
        listed = {f for files in self.in_views.values() for f in files}
        for match in _FILE_IN_ERROR.finditer(message):
            quoted = match.group(1)
            # DuckDB globs a path that has gone: it quotes "<file>/**/*.parquet".
            for candidate in (quoted, quoted.split(".parquet/", 1)[0] + ".parquet"):
                if candidate in listed:
                    return Path(candidate)
        return None


def open_lake(lake=None, *, tables: tuple[str, ...] = TABLES, macros: bool = True, fleet: bool = False) -> Lake:
    """Open the lake (``--lake``, ``$PT_LAKE`` or the default) in an in-memory
    DuckDB: views of ``tables`` (all by default) and the report macros (which
    need every view). Binding a view reads its files' footers, so a command
    that needs two tables opens only those. In a fleet lake the views read
    this host's partition (and files without a host), or with ``fleet``
    every host's, with a ``host`` column."""
    root = lakes.lake_root(lake)
    base = lakes.open_root(root)                   # refused here if it is not a private directory
    if base is not None:
        base.close()
    hosts = None if fleet else frozenset({lakes.host_name()}) if lakes.is_fleet(root) else frozenset()
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    opened = Lake(root, con, tables if not macros else TABLES, hosts=hosts)
    opened.refresh()
    if macros:
        for statement in reports_sql().split("\n;\n"):
            if statement.strip() and not all(line.startswith("--") or not line.strip()
                                             for line in statement.splitlines()):
                con.execute(statement)
    opened.lock()
    return opened


# --- reports ---------------------------------------------------------------------------

def parse_target(text: str) -> dict:
    """``why`` target: ``PID``, ``PID:START_TICKS``, or an identity
    ``BOOT_ID:START_TICKS:PID``; ``ValueError`` naming the text otherwise."""
    parts = text.strip().split(":")
    try:
        if len(parts) < 3 and not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(text)      # int() takes "1_0" and "٣": another pid than the one meant
        if len(parts) == 1:
            return {"pid": int(parts[0]), "start": None, "boot": None}
        if len(parts) == 2:
            return {"pid": int(parts[0]), "start": int(parts[1]), "boot": None}
        if len(parts) == 3:
            boot, start, pid = parse_identity(text)
            return {"pid": pid, "start": start, "boot": boot}
    except ValueError:
        pass
    raise ValueError(f"why wants PID, PID:START_TICKS or BOOT_ID:START_TICKS:PID, got {text!r}")


def why(lake: Lake, target: str, run: str | None = None) -> dict | None:
    """The ledger of the latest (or ``run``'s) decision about ``target``, or None.

    Re-derives the posterior from the stored terms (log prior + sum of the
    log-likelihoods, normalised) and reports the largest difference from the
    stored posterior, so the lake proves it holds what the decision used.
    """
    t = parse_target(target)
    where = "pid = $pid AND ($start IS NULL OR start_ticks = $start) AND ($boot IS NULL OR boot_id = $boot) " \
            "AND ($run IS NULL OR run_id = $run)"
    params = {"pid": t["pid"], "start": t["start"], "boot": t["boot"], "run": run}
    # Two steps, so the wide inference row is read from the one row group of
    # that run (min/max statistics on run_id), not joined over the whole lake.
    dcols, drow = lake.query(f"SELECT * FROM decisions WHERE {where} ORDER BY ts DESC, run_id DESC LIMIT 1",
                             params)
    if not drow:
        return None
    found = dict(zip(dcols, drow[0]))
    key = {"run": found["run_id"], "pid": t["pid"], "start": found["start_ticks"]}
    icols, irow = lake.query("SELECT * FROM proc_inference WHERE run_id = $run AND pid = $pid "
                             "AND start_ticks = $start", key)
    if not irow:
        return None
    columns, rows = icols + dcols, [irow[0] + drow[0]]
    row = dict(zip(columns, rows[0]))
    # The lake describes itself: the features are those with ll__ columns, in order.
    features = list(dict.fromkeys(c.split("__")[1] for c in icols if c.startswith("ll__")))
    ledger = []
    for f in features:
        ll = {c: row[f"ll__{f}__{c}"] for c in CLASSES}
        ledger.append({"feature": f, "observed": bool(row[f"obs__{f}"]), "log_likelihood": ll,
                       "bits": row[f"bits__{f}"]})
    joint = [row[f"log_prior__{c}"] + sum(row[f"ll__{f}__{c}"] for f in features) for c in CLASSES]
    top = max(joint)
    norm = top + math.log(sum(math.exp(j - top) for j in joint))
    rederived = {c: math.exp(j - norm) for c, j in zip(CLASSES, joint)}
    posterior = {c: row[f"post__{c}"] for c in CLASSES}
    return {
        "run_id": row["run_id"], "ts": row["ts"], "identity": row["identity"], "pid": row["pid"],
        "start_ticks": row["start_ticks"], "exe": row["exe"], "cmd_hash": row["cmd_hash"],
        "command_category": row["command_category"], "cwd_category": row["cwd_category"],
        "class": row["class"], "p_class": row["p_class"], "action": row["action"],
        "confidence": row["confidence"], "demoted": row["demoted"], "protected_by": row["protected_by"],
        "log_prior": {c: row[f"log_prior__{c}"] for c in CLASSES},
        "posterior": posterior, "rederived_posterior": rederived,
        "rederivation_max_error": max(abs(rederived[c] - posterior[c]) for c in CLASSES),
        "bits_total": row["bits_total"], "log_odds": row["log_odds"], "lfdr": row["lfdr"],
        "sprt_boundary": row["sprt_boundary"],
        "expected_loss": {k.split("__", 1)[1]: v for k, v in row.items() if k.startswith("loss__")},
        "ledger": ledger,
    }


def report(lake: Lake, name: str, *, limit: int | None = None, since_days: float | None = None,
           bins: int = 10) -> tuple[list[str], list[tuple]]:
    """Run a named report (not ``why``) and return its columns and rows."""
    if name == "runs":
        return lake.query("FROM pt_runs(n := $n)", {"n": limit or 20})
    if name == "top":
        return lake.query("FROM pt_top(n := $n, since_days := $d)",
                          {"n": limit or 20, "d": since_days})
    if name == "calibration":
        return lake.query("FROM pt_calibration(bins := $b)", {"b": bins})
    if name == "actions":
        return lake.query("FROM pt_actions(n := $n)", {"n": limit or 50})
    raise ValueError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")


def outcome_count(lake: Lake) -> int:
    return lake.query("SELECT count(*) FROM outcomes")[1][0][0]
