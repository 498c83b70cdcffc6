"""Write one scan (or one batch of journal records) to the lake.

Columns are built straight from the scan's numpy columns (a redaction made
once per distinct value stays a dictionary: the distinct values and each
row's index into them), never row by row; every table of a run is one
Parquet file written by pt's own writer (:mod:`pt.telemetry.parquet`, no
pyarrow) and published atomically (:func:`pt.telemetry.lake.publish`).

Nothing here raises on lake trouble: :func:`write_scan` and
:func:`write_action_records` return a :class:`TelemetryResult` whose
``reason`` says why telemetry was skipped (unwritable directory, full disk,
a bug), so a broken lake never breaks a scan.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pt import __version__
from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES
from pt.fields import DEEP_CLASS_FIELDS, DEEP_FIELDS, FIELDS, VERDICT_FIELDS, user_names
from pt.infer.posterior import FEATURES
from pt.telemetry import followup
from pt.telemetry import lake as lakes
from pt.telemetry import parquet
from pt.telemetry.parquet import Lists, Numbers, Strings
from pt.telemetry.redact import POLICY_VERSION, Redactor
from pt.telemetry.redact import redactor as default_redactor
from pt.telemetry.result import TelemetryResult
from pt.telemetry.schemas import COLUMNS, EVIDENCE_COLUMNS, SCHEMA_VERSION, TREATMENT

COMPRESSION = parquet.GZIP


def new_run_id(ts: float) -> str:
    """Sortable and unique: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts)) + "-" + secrets.token_hex(4)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


# --- columns from numpy ------------------------------------------------------------------

def _arr(values, dtype: str):
    """One column, from a numpy array or a sequence (None: null)."""
    return parquet.column(values, dtype)


def _nullable_float(values: np.ndarray) -> Numbers:
    """Floats with non-finite values stored as null (``loss__*``: unavailable)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    return Numbers(np.where(finite, values, 0.0), None if finite.all() else ~finite)


_const = parquet.const


def _take_strings(distinct: list, inverse: np.ndarray) -> Strings:
    """Row ``i`` is ``distinct[inverse[i]]`` (str or None)."""
    return Strings(list(distinct), np.asarray(inverse))


def _take_lists(distinct: list, inverse: np.ndarray) -> Lists:
    """Row ``i`` is the list ``distinct[inverse[i]]`` (of str, or None)."""
    return Lists(list(distinct), np.asarray(inverse))


@dataclass
class Table:
    """One lake table ready to write: its name and its columns in schema order."""

    name: str
    columns: dict[str, object]

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    @property
    def num_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def value(self, name: str, row: int):
        """One cell (for the few places that need one, e.g. a batch's ``ts``)."""
        col = self.columns[name]
        if isinstance(col, Numbers):
            return None if col.null is not None and col.null[row] else col.values[row].item()
        return col.values[col.index[row]]


def _table(name: str, columns: dict) -> Table:
    """The columns in schema order; a missing or extra column is a bug, named."""
    names = [c.name for c in COLUMNS[name]]
    if len(columns) != len(names) or not all(n in columns for n in names):
        missing = [n for n in names if n not in columns]
        extra = [n for n in columns if n not in set(names)]
        raise KeyError(f"{name}: columns missing {missing}, unexpected {extra}")
    return Table(name, {c.name: _arr(columns[c.name], c.dtype) for c in COLUMNS[name]})


def _rows(name: str, rows: list[dict]) -> Table:
    """A table from row dicts (a key that is absent is null)."""
    return _table(name, {c.name: [r.get(c.name) for r in rows] for c in COLUMNS[name]})


def _nulls(name: str, n: int) -> dict:
    return {c.name: _const(None, n, c.dtype) for c in COLUMNS[name]}


def _argv_columns(red: Redactor, cmdlines: np.ndarray) -> dict:
    inverse, distinct = red.argv_column(cmdlines)
    readable = np.array([d is not None for d in distinct], dtype=bool)
    dropped = np.array([0 if d is None else d.secrets_dropped for d in distinct], dtype=np.int16)
    return {
        "exe": _take_strings([None if d is None else d.exe for d in distinct], inverse),
        "args": _take_lists([None if d is None else d.args for d in distinct], inverse),
        "arg_flags": _take_lists([None if d is None else d.flags for d in distinct], inverse),
        "cmd_hash": _take_strings([None if d is None else d.cmd_hash for d in distinct], inverse),
        "secrets_dropped": Numbers(dropped[inverse], None if readable.all() else ~readable[inverse]),
        "cmdline_readable": Numbers(readable[inverse]),
    }


@dataclass
class Prepared:
    """What a scan's telemetry can build before its verdicts (:func:`prepare`):
    the run's id and time, and its snapshot's columns (redacted command
    lines, comms and user names; the process key) as encoded Parquet chunks,
    with the redactor that made them."""

    snapshot: object
    red: Redactor
    run_id: str
    ts: float
    columns: dict
    claimed: bool = False                # a write took the run id (the next one makes its own)
    posteriors: tuple | None = None      # (window, evidence, context, inference) of the chunks below
    early: dict | None = None            # table -> column -> chunk, from prepare_posteriors()

    def claim(self) -> tuple[float, str] | None:
        """``(ts, run_id)`` for the first write of these chunks, None after:
        writing the same scan twice (a retry, a second lake) makes two runs."""
        if self.claimed:
            return None
        self.claimed = True
        return self.ts, self.run_id

    def ready(self, snapshot, run_id: str) -> dict:
        """The chunks of ``snapshot`` (none for another), the run's own
        (``run_id``, ``ts``) only in run ``run_id``."""
        if snapshot is not self.snapshot:
            return {}
        if run_id == self.run_id:
            return self.columns
        return {k: v for k, v in self.columns.items() if k not in ("run_id", "ts")}

    def early_columns(self, t, table: str) -> dict | None:
        """The chunks :func:`prepare_posteriors` encoded of ``table`` for the
        scan ``t`` (None when they are another scan's)."""
        if self.early is None or t.snapshot is not self.snapshot or self.posteriors is None \
                or any(a is not b for a, b in zip(self.posteriors, t.posteriors())):
            return None
        return self.early[table]


def prepare(snapshot, red: Redactor | None = None) -> Prepared:
    """Redact the snapshot's command lines, comms and user names and encode
    them, with every other column the snapshot alone decides, as Parquet
    chunks now (the per-install key loaded if ``red`` is None), so the write
    after the scan has only the verdicts left to convert. A telemetry child
    does this while the scan's CPU window runs."""
    red = red or default_redactor()
    ts = snapshot.host.taken_at
    run_id = new_run_id(ts)
    n = len(snapshot)
    columns = _identity(run_id, ts, snapshot.host.boot_id, n)
    columns.update(pid=snapshot["pid"], start_ticks=snapshot["start_ticks"], uid=snapshot["uid"])
    columns.update(_argv_columns(red, snapshot["cmdline"]))
    columns["comm"] = red.column(snapshot["comm"], "token")
    columns["user_hash"] = red.column(user_names(snapshot["uid"]), "hash")
    for f in FIELDS:
        if TREATMENT[f.name][1] == "keep":
            columns[f.name] = f.compute(snapshot)
    dtypes = {c.name: c.dtype for c in COLUMNS["proc_samples"]}
    dtypes.update(uid="int64")                        # decisions' uid (proc_samples keeps the user's hash)
    encoded = {name: parquet.encode(name, dtypes[name], values, stats=name in STATISTICS, codec=COMPRESSION)
               for name, values in columns.items()}
    parquet.warm_schema((c.name, c.dtype) for table in QUICK_SCAN_TABLES for c in COLUMNS[table])
    return Prepared(snapshot, red, run_id, ts, encoded)


#: The tables a quick scan writes (``lake.SCAN_TABLES`` names those with a row per process).
QUICK_SCAN_TABLES = ("runs", "system_samples", "proc_samples", "proc_features", "proc_inference", "decisions",
                     "outcomes")


def prepare_posteriors(prepared: Prepared, window, evidence, context, inference) -> Prepared:
    """``prepared`` with the columns a scan's posteriors decide (before its
    verdicts) encoded too: ``proc_features``, ``proc_inference`` but for the
    decision's two, and ``proc_samples``' window and context columns. A
    telemetry child does this while the scan decides."""
    n = len(prepared.snapshot)
    parts = {"proc_samples": _sample_columns(context, window, prepared.red, n),
             "proc_features": _feature_columns(evidence, context),
             "proc_inference": _inference_columns(inference, n)}
    early = {}
    for table, columns in parts.items():
        dtypes = {c.name: c.dtype for c in COLUMNS[table]}
        early[table] = {name: parquet.encode(name, dtypes[name], values, stats=name in STATISTICS,
                                             codec=COMPRESSION) for name, values in columns.items()}
    return dataclasses.replace(prepared, posteriors=(window, evidence, context, inference), early=early)


_IDENTITY = ("run_id", "ts", "boot_id")


def _identity(run_id: str, ts: float, boot_id: str | None, n: int) -> dict:
    return {"run_id": _const(run_id, n, "string"), "ts": _const(ts, n, "float64"),
            "boot_id": _const(boot_id, n, "string")}


def proc_samples(snapshot, triage, red: Redactor, run_id: str, ts: float,
                 prepared: Prepared | None = None) -> tuple[Table, dict]:
    """The process table, redacted; also returns the argv columns for ``decisions``."""
    n = len(snapshot)
    ready = prepared.ready(snapshot, run_id) if prepared is not None else {}
    cols = {**_identity(run_id, ts, snapshot.host.boot_id, n), **{k: ready[k] for k in _IDENTITY if k in ready}}
    argv = {}
    for f in FIELDS:
        where, how = TREATMENT[f.name]
        if how == "keep":
            cols[f.name] = ready[f.name] if f.name in ready else _arr(f.compute(snapshot), f.dtype)
        elif how == "token":
            cols[f.name] = ready[f.name] if f.name in ready else \
                _arr(red.column(f.compute(snapshot), "token"), "string")
        elif how == "hash":
            name = f"{f.name}_hash"
            if name not in ready:
                values = user_names(snapshot["uid"]) if f.name == "user" else f.compute(snapshot)
                ready = {**ready, name: _arr(red.column(values, "hash"), "string")}
            cols[name] = ready[name]
        elif how == "argv":
            argv = {k: ready[k] for k in ("exe", "args", "arg_flags", "cmd_hash", "secrets_dropped",
                                          "cmdline_readable")} if "exe" in ready \
                else _argv_columns(red, snapshot[f.name])
            cols.update(argv)
    if triage is not None:
        early = prepared.early_columns(triage, "proc_samples") if prepared is not None else None
        cols.update(early if early is not None else _sample_columns(triage.context, triage.window, red, n))
    else:
        cols = {**_nulls("proc_samples", n), **cols}
    return _table("proc_samples", cols), argv


def _process_key(t, run_id: str, ts: float, prepared: Prepared | None = None) -> dict:
    ready = prepared.ready(t.snapshot, run_id) if prepared is not None else {}
    key = _IDENTITY + ("pid", "start_ticks")
    if all(k in ready for k in key):
        return {k: ready[k] for k in key}
    return {**_identity(run_id, ts, t.snapshot.host.boot_id, len(t)),
            "pid": _arr(t.snapshot["pid"], "int32"), "start_ticks": _arr(t.snapshot["start_ticks"], "uint64"),
            **{k: ready[k] for k in key if k in ready}}


def _sample_columns(context, window, red: Redactor, n: int) -> dict:
    """``proc_samples``' columns from the scan's context and CPU window."""
    c, w = context, window
    return {
        "cwd_hash": _arr(red.column(c.cwd, "hash"), "string"),
        "fd_count": _arr(c.fd_count, "int32"), "listening": _arr(c.listening, "int32"),
        "established": _arr(c.established, "int32"),
        "children": _arr(c.genealogy.children, "int32"),
        "window_cpu_ticks": _arr(w.ticks, "int64"),
        "window_ticks": _const(int(w.window_ticks), n, "int64"),
        "alive": _arr(w.alive, "bool"), "io_read_bytes": _arr(w.io_read_bytes, "int64"),
        "io_write_bytes": _arr(w.io_write_bytes, "int64"), "io_syscalls": _arr(w.io_syscalls, "int64"),
    }


def _feature_columns(evidence, context) -> dict:
    """``proc_features``' columns but the process key."""
    cols = {name: _arr(getattr(evidence, name), dtype) for name, dtype, _, _ in EVIDENCE_COLUMNS}
    cols["active_children"] = _arr(context.active_children, "int32")
    return cols


def proc_features(t, run_id: str, ts: float, prepared: Prepared | None = None) -> Table:
    cols = _process_key(t, run_id, ts, prepared)
    early = prepared.early_columns(t, "proc_features") if prepared is not None else None
    cols.update(early if early is not None else _feature_columns(t.evidence, t.context))
    return _table("proc_features", cols)


def proc_inference(t, run_id: str, ts: float, prepared: Prepared | None = None) -> Table:
    cols = _process_key(t, run_id, ts, prepared)
    early = prepared.early_columns(t, "proc_inference") if prepared is not None else None
    cols.update(early if early is not None else _inference_columns(t.inference, len(t)))
    cols["log_odds"] = _arr(t.decision.log_odds, "float64")
    cols["lfdr"] = _arr(t.decision.lfdr, "float64")
    return _table("proc_inference", cols)


def _inference_columns(inf, n: int) -> dict:
    """``proc_inference``'s columns but the process key and the decision's (``log_odds``, ``lfdr``)."""
    cols = {}
    for k, c in enumerate(CLASSES):
        cols[f"log_prior__{c}"] = _const(float(inf.log_prior[k]), n, "float64")
        cols[f"loglik__{c}"] = _arr(inf.log_likelihood[:, k], "float64")
        cols[f"log_post__{c}"] = _arr(inf.log_posterior[:, k], "float64")
        cols[f"post__{c}"] = _arr(inf.posterior[:, k], "float64")
    terms = inf.terms
    bits = inf.bits()
    for j, feature in enumerate(FEATURES):
        for k, c in enumerate(CLASSES):
            cols[f"ll__{feature}__{c}"] = _arr(np.ascontiguousarray(terms[:, j, k]), "float64")
        cols[f"obs__{feature}"] = _arr(inf.observed[:, j], "bool")
        cols[f"bits__{feature}"] = _arr(np.ascontiguousarray(bits[:, j]), "float64")
    cols["bits_total"] = _arr(bits.sum(axis=1), "float64")
    return cols


def decisions(t, argv: dict, red: Redactor, run_id: str, ts: float, prepared: Prepared | None = None) -> Table:
    d = t.decision
    cols = _process_key(t, run_id, ts, prepared)
    ready = prepared.ready(t.snapshot, run_id) if prepared is not None else {}
    cols["uid"] = ready["uid"] if "uid" in ready else _arr(t.snapshot["uid"], "int64")
    cols["exe"], cols["cmd_hash"] = argv["exe"], argv["cmd_hash"]
    for f in VERDICT_FIELDS:
        where, how = TREATMENT[f.name]
        if where == "decisions" and how == "keep":
            cols[f.name] = _arr(f.compute(t), f.dtype)
        elif where == "decisions" and how == "text":
            cols[f.name] = _arr(red.column(f.compute(t), "text"), "string")
    for k, a in enumerate(ACTIONS):
        cols[f"loss__{a}"] = _nullable_float(d.expected_loss[:, k])
    for k, c in enumerate(CLASSES):
        cols[f"post_lower__{c}"] = _arr(d.posterior_lower[:, k], "float64")
        cols[f"post_upper__{c}"] = _arr(d.posterior_upper[:, k], "float64")
    return _table("decisions", cols)


def capabilities(root: str | os.PathLike | None) -> dict:
    """What the run's procfs and this machine offered (the ``runs`` row); the
    procfs is the scan's (``root``, else ``$PT_PROCFS_PATH``, else ``/proc``)."""
    from pt.collect.host import procfs_root
    proc = procfs_root(root)
    return {"psi": (proc / "pressure" / "cpu").exists(),
            "cgroup2": Path("/sys/fs/cgroup/cgroup.controllers").exists(),
            "pidfd": hasattr(os, "pidfd_open"), "root": os.geteuid() == 0}


def runs_row(snapshot, triage, red: Redactor, run_id: str, ts: float, *, scan_s: float | None,
             procfs: str | os.PathLike | None) -> Table:
    host, errors = snapshot.host, snapshot.errors
    row = {
        "run_id": run_id, "ts": ts, "boot_id": host.boot_id, "schema_version": SCHEMA_VERSION,
        "redaction_version": POLICY_VERSION, "key_id": red.key_id, "pt_version": __version__,
        "mode": "raw" if triage is None else "quick", "host_hash": red.hash(host.hostname),
        "system": host.system, "kernel": host.kernel, "cpu_count": host.cpu_count,
        "clock_ticks": host.clock_ticks, "page_size": host.page_size, "boot_time": host.boot_time,
        "uptime_s": host.uptime_s, "n_procs": len(snapshot), "scan_s": scan_s,
        "window_s": None, "at_s": None, "priors_digest": None, "policy_digest": None,
        "priors_source_hash": None, "policy_source_hash": None, "fdr_alpha": None,
        "fdr_kill_set_size": None, "fdr_estimate": None,
        "vanished": errors.vanished, "denied": errors.denied, "malformed": errors.malformed,
        "classes": list(CLASSES), "actions": list(ACTIONS), "features": list(FEATURES),
        "categorical_levels": json.dumps({k: list(v) for k, v in CATEGORICAL_LEVELS.items()}),
        "capabilities": json.dumps(capabilities(procfs)),
    }
    if triage is not None:
        row.update({
            "window_s": triage.window.duration_s, "at_s": triage.at_s,
            "priors_digest": triage.priors.digest, "policy_digest": triage.policy.digest,
            "priors_source_hash": red.hash(str(triage.priors.source)),
            "policy_source_hash": red.hash(str(triage.policy.source)),
            "fdr_alpha": triage.policy.fdr_alpha, "fdr_kill_set_size": triage.decision.fdr_kill_set_size,
            "fdr_estimate": triage.decision.fdr_estimate,
        })
    return _rows("runs", [row])


def system_row(run_id: str, ts: float, boot_id: str | None, procfs) -> Table:
    from pt.collect._linux import procfs_root
    from pt.collect.system import read_system
    values = read_system(procfs_root(procfs))
    return _rows("system_samples", [{"run_id": run_id, "ts": ts, "boot_id": boot_id, **values}])


def scan_tables(snapshot=None, triage=None, *, red: Redactor, run_id: str, ts: float,
                scan_s: float | None = None, procfs=None, prepared: Prepared | None = None) -> dict[str, Table]:
    """Every table of one scan, built but not written (``triage`` None: raw scan)."""
    snapshot = triage.snapshot if triage is not None else snapshot
    samples, argv = proc_samples(snapshot, triage, red, run_id, ts, prepared)
    tables = {"runs": runs_row(snapshot, triage, red, run_id, ts, scan_s=scan_s, procfs=procfs),
              "system_samples": system_row(run_id, ts, snapshot.host.boot_id, procfs),
              "proc_samples": samples}
    if triage is not None:
        tables["proc_features"] = proc_features(triage, run_id, ts, prepared)
        tables["proc_inference"] = proc_inference(triage, run_id, ts, prepared)
        tables["decisions"] = decisions(triage, argv, red, run_id, ts, prepared)
    return tables


#: Columns with min/max statistics (what queries filter on); others skip the cost.
STATISTICS = ("run_id", "ts", "boot_id", "pid", "start_ticks", "plan_id", "action_id")


def write_parquet(table: Table, where) -> None:
    """One Parquet file (:mod:`pt.telemetry.parquet`) to a binary file or a
    path: strings dictionary-encoded, statistics only on the identity
    columns, a CRC on every page (so ``pt lake check`` finds a damaged page,
    not only a damaged footer), the table and schema version in the metadata.
    A pyarrow table with pt's schema metadata is accepted too (tests build
    some that way)."""
    if not isinstance(table, Table):
        table = _from_arrow(table)
    dtypes = {c.name: c.dtype for c in COLUMNS[table.name]}
    columns = [(name, dtypes[name], col) for name, col in table.columns.items()]
    meta = {"pt.table": table.name, "pt.schema_version": str(SCHEMA_VERSION)}
    if hasattr(where, "write"):
        parquet.write_table(where, columns, metadata=meta, statistics=STATISTICS, codec=COMPRESSION,
                            created_by=f"pt version {__version__}")
        return
    with open(where, "wb") as f:
        write_parquet(table, f)


def _from_arrow(table) -> Table:
    """A :class:`Table` from a pyarrow table whose metadata names its lake table."""
    name = (table.schema.metadata or {}).get(b"pt.table", b"").decode()
    if name not in COLUMNS:
        raise ValueError(f"not a lake table (schema metadata pt.table is {name!r})")
    return _table(name, {c: table.column(c).to_pylist() for c in table.column_names})


def write_tables(root: Path, tables: dict[str, Table], run_id: str, ts: float) -> list[str]:
    """Publish each table as one Parquet file of the run's partition; ``runs``
    last, so a reader that sees the run sees all of its tables."""
    names = sorted(tables, key=lambda t: t == "runs")
    return [str(lakes.publish(root, lakes.partition(root, name, ts, run_id),
                              lambda f, table=tables[name]: write_parquet(table, f))) for name in names]


def write_scan(triage=None, *, snapshot=None, lake: str | os.PathLike | None = None,
               red: Redactor | None = None, scan_s: float | None = None, procfs=None,
               ts: float | None = None, run_id: str | None = None,
               prepared: Prepared | None = None, extra=None, follow: bool = False) -> TelemetryResult:
    """Record one scan (a :class:`pt.triage.Triage`, or a raw ``snapshot``),
    using the ``prepared`` redactions of its snapshot if given; ``extra(red,
    run_id, ts)`` may add tables of the same run (the deep scan's). With
    verdicts and ``follow``, the scan also follows up earlier verdicts
    (:mod:`pt.telemetry.followup`) and adds its own to the watch list.
    Never raises: a failure is reported in the result's ``reason``."""
    started = time.perf_counter()
    result = TelemetryResult(lake="?")
    try:
        root = lakes.lake_root(lake)
        result.lake = str(root)
        snap = triage.snapshot if triage is not None else snapshot
        if prepared is not None and prepared.snapshot is snap and ts is None and run_id is None:
            ts, run_id = prepared.claim() or (None, None)  # the run its chunks were encoded for
        ts = snap.host.taken_at if ts is None else ts
        run_id = run_id or new_run_id(ts)
        red = red or (prepared.red if prepared is not None else None) or default_redactor()
        tables = scan_tables(snap, triage, red=red, run_id=run_id, ts=ts, scan_s=scan_s, procfs=procfs,
                             prepared=prepared)
        if extra is not None:
            tables.update(extra(red, run_id, ts))
        watched = None
        if triage is not None and follow:
            try:      # a follow-up that fails loses the follow-up, never the scan
                outcomes, watched = followup.follow_up(followup.read_pending(root), triage, run_id, ts)
                if len(outcomes["pid"]):
                    tables["outcomes"] = outcome_table(outcomes)
            except Exception as exc:   # noqa: BLE001 - reported in the result
                result.followup_error, watched = _reason(exc), None
        result.files = write_tables(root, tables, run_id, ts)
        if watched is not None:
            followup.write_pending(root, watched)
        result.rows = {name: t.num_rows for name, t in tables.items()}
        result.written, result.run_id = True, run_id
    except Exception as exc:   # noqa: BLE001 - telemetry must never break a scan
        result.reason = _reason(exc)
    result.seconds = time.perf_counter() - started
    return result


def outcome_table(columns: dict) -> Table:
    """An ``outcomes`` table from some of its columns (numpy arrays or lists;
    the others null)."""
    n = len(columns["pid"])
    cols = _nulls("outcomes", n)
    for col in COLUMNS["outcomes"]:
        if col.name in columns:
            values = columns[col.name]
            cols[col.name] = _nullable_float(np.asarray(values, dtype=np.float64)) \
                if col.dtype == "float64" else _arr(values, col.dtype)
    return _table("outcomes", cols)


def write_labels(rows: list[dict], *, lake: str | os.PathLike | None = None,
                 red: Redactor | None = None) -> TelemetryResult:
    """Append label rows (feedback, confirmations in ``pt apply``) to
    ``outcomes``, one file; notes go through the text redaction. Keys:
    ``ts``, ``boot_id``, ``pid``, ``start_ticks``, ``uid``, ``action``,
    ``result``, ``observed_by``, ``label``, ``verdict_run_id``, ``after_s``,
    ``note``. Never raises: the result's ``reason`` says why nothing was written."""
    started = time.perf_counter()
    result = TelemetryResult(lake="?")
    try:
        root = lakes.lake_root(lake)
        result.lake = str(root)
        if not rows:
            return result
        red = red or default_redactor()
        ts = float(rows[0]["ts"])
        batch = new_run_id(ts)
        names = ("boot_id", "pid", "start_ticks", "uid", "action", "result", "observed_by", "label",
                 "verdict_run_id", "after_s")
        columns = {k: [r.get(k) for r in rows] for k in names}
        columns.update({"run_id": [batch] * len(rows), "ts": [float(r["ts"]) for r in rows],
                        "note": [red.text(r["note"]) if r.get("note") else None for r in rows]})
        columns["after_s"] = [np.nan if v is None else float(v) for v in columns["after_s"]]
        table = outcome_table(columns)
        path = lakes.publish(root, lakes.partition(root, "outcomes", ts, batch),
                             lambda f: write_parquet(table, f))
        result.files, result.rows = [str(path)], {"outcomes": table.num_rows}
        result.written, result.run_id = True, batch
    except Exception as exc:   # noqa: BLE001 - a label that cannot be stored is reported, not raised
        result.reason = _reason(exc)
    result.seconds = time.perf_counter() - started
    return result


# --- the action journal ------------------------------------------------------------------

def _redact_json(value, red: Redactor):
    """A JSON value with every string in it redacted as free text (nested
    objects too: a reversal's cgroup path is as private as the action's)."""
    if isinstance(value, str):
        return red.text(value)
    if isinstance(value, dict):
        return {str(k): _redact_json(v, red) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_json(v, red) for v in value]
    return value


def _journal_columns(records: list[dict], table: str, red: Redactor, now: float) -> Table:
    rows = []
    for r in records:
        row = {
            "run_id": lakes.check_id(str(r["plan_id"])), "plan_id": str(r["plan_id"]),
            "action_id": str(r["action_id"]), "ts": float(r.get("ts", now)),
            "uptime_ticks": r.get("uptime_ticks"),
            "boot_id": r.get("boot_id"), "pid": int(r["pid"]), "start_ticks": r.get("start_ticks"),
            "uid": r.get("uid"), "action": str(r["action"]),
            "params": json.dumps(_redact_json(r.get("params") or {}, red), sort_keys=True),
            # The journal's cmd_hash is an unkeyed sha256 (guessable for a known
            # command line): only its keyed hash goes to the lake.
            "cmd_hash": None if r.get("cmd_hash") is None else red.digest(str(r["cmd_hash"])),
        }
        if table == "outcomes":
            if r.get("result") is None:
                raise ValueError(f"outcome record {r.get('action_id')!r} has no result")
            row.update({"result": str(r["result"]), "detail": red.text(r.get("detail") or "") or None,
                        "exit_status": r.get("exit_status"), "observed_by": "journal"})
        rows.append(row)
    return _rows(table, rows)


def write_action_records(records: list[dict], *, lake: str | os.PathLike | None = None,
                         red: Redactor | None = None) -> TelemetryResult:
    """Append action-journal records (``kind`` ``intent`` -> ``actions``,
    ``outcome`` -> ``outcomes``) to the lake, one file per table and plan.
    Keys other than the journal's identity, action, params and outcome fields
    (an intent's ``justification``, which quotes the raw command line) are
    not stored; a record without ``ts`` (not yet through ``Journal.append``)
    gets the current time.

    Never raises: on lake trouble or a malformed record nothing is written
    and the result's ``reason`` says why (callers log it and carry on).
    """
    started, now = time.perf_counter(), time.time()
    result = TelemetryResult(lake="?")
    try:
        root = lakes.lake_root(lake)
        result.lake = str(root)
        red = red or default_redactor()
        by_kind: dict[tuple[str, str, str], list[dict]] = {}
        for r in records:
            kind = r.get("kind")
            if kind not in ("intent", "outcome"):
                raise ValueError(f"journal record kind must be 'intent' or 'outcome', got {kind!r}")
            table = "actions" if kind == "intent" else "outcomes"
            plan = lakes.check_id(str(r.get("plan_id")))
            by_kind.setdefault((table, plan, lakes.day(float(r.get("ts", now)))), []).append(r)
        tables = {key: _journal_columns(rs, key[0], red, now) for key, rs in by_kind.items()}
        for (table, plan, _), tbl in tables.items():
            ts = float(tbl.value("ts", 0))
            path = lakes.publish(root, lakes.partition(root, table, ts, plan),
                                 lambda f, tbl=tbl: write_parquet(tbl, f))
            result.files.append(str(path))
            result.rows[table] = result.rows.get(table, 0) + tbl.num_rows
        result.written = bool(result.files)
    except Exception as exc:   # noqa: BLE001 - the journal's caller must not fail on telemetry
        result.reason = _reason(exc)
    result.seconds = time.perf_counter() - started
    return result



# --- the deep scan ------------------------------------------------------------------------

def deep_table(d, red: Redactor, run_id: str, ts: float) -> Table:
    """The ``deep_series`` rows of a :class:`pt.deep.DeepScan`, from its columns."""
    snap, rows = d.quick.snapshot, d.rows
    argv = [red.argv(tuple(a or ())).cmd_hash for a in snap["cmdline"][rows]]
    cols = {
        **_identity(run_id, ts, snap.host.boot_id, len(rows)),
        "pid": _arr(snap["pid"][rows], "int32"), "start_ticks": _arr(snap["start_ticks"][rows], "uint64"),
        "cmd_hash": parquet.strings(argv),
    }
    for f in DEEP_FIELDS:                  # floats: null where not finite
        values = f.compute(d)
        cols[f.name] = _nullable_float(values) if f.dtype == "float64" else _arr(values, f.dtype)
    for prefix, _unit, _text, matrix in DEEP_CLASS_FIELDS:
        m = matrix(d)
        for j, k in enumerate(CLASSES):
            cols[f"{prefix}__{k}"] = _arr(m[:, j], "float64")
    return _table("deep_series", cols)


def write_deep(d, *, lake: str | os.PathLike | None = None, red: Redactor | None = None) -> TelemetryResult:
    """Record a deep scan: its quick scan as a run (every table a scan writes)
    plus ``deep_series``, one row per watched candidate. Never raises."""
    return write_scan(d.quick, lake=lake, red=red,
                      extra=lambda red, run_id, ts: {"deep_series": deep_table(d, red, run_id, ts)})
