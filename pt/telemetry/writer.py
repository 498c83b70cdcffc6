"""Write one scan (or one batch of journal records) to the lake.

Arrow columns are built straight from the scan's numpy columns
(``pa.array`` on arrays, ``take`` for per-distinct-value redactions), never
row by row; every table of a run is one zstd Parquet file published
atomically (:func:`pt.telemetry.lake.publish`).

Nothing here raises on lake trouble: :func:`write_scan` and
:func:`write_action_records` return a :class:`TelemetryResult` whose
``reason`` says why telemetry was skipped (unwritable directory, full disk,
a bug), so a broken lake never breaks a scan.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pt import __version__
from pt.config import ACTIONS, CATEGORICAL_LEVELS, CLASSES
from pt.fields import FIELDS, VERDICT_FIELDS, user_names
from pt.infer.posterior import FEATURES
from pt.telemetry import lake as lakes
from pt.telemetry.redact import POLICY_VERSION, Redactor
from pt.telemetry.redact import redactor as default_redactor
from pt.telemetry.result import TelemetryResult
from pt.telemetry.schemas import COLUMNS, EVIDENCE_COLUMNS, SCHEMA_VERSION, TREATMENT, schema

COMPRESSION = "zstd"
_NUMPY = {"bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "uint64": np.uint64, "float64": np.float64}


def new_run_id(ts: float) -> str:
    """Sortable and unique: ``YYYYMMDDTHHMMSSZ-<8 hex>``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts)) + "-" + secrets.token_hex(4)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


# --- Arrow columns from numpy ------------------------------------------------------------

def _arr(values, dtype: str) -> pa.Array:
    """One column, from a numpy array (or object array of str/None)."""
    if dtype in _NUMPY:
        values = np.asarray(values)
        if values.dtype == object:
            return pa.array(values, type=pa.from_numpy_dtype(_NUMPY[dtype]), from_pandas=True)
        return pa.array(values.astype(_NUMPY[dtype], copy=False))
    return pa.array(values, type=pa.string() if dtype == "string" else pa.list_(pa.string()))


def _nullable_float(values: np.ndarray) -> pa.Array:
    """Floats with non-finite values stored as null (``loss__*``: unavailable)."""
    values = np.asarray(values, dtype=np.float64)
    return pa.array(np.where(np.isfinite(values), values, np.nan), from_pandas=True)


def _const(value, n: int, dtype: str) -> pa.Array:
    return pc.take(pa.array([value], type=schema_type(dtype)), pa.array(np.zeros(n, dtype=np.int32)))


def schema_type(dtype: str) -> pa.DataType:
    from pt.telemetry.schemas import ARROW_TYPES
    return ARROW_TYPES[dtype]


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The columns in schema order; a missing or extra column is a bug, named."""
    sch = schema(name)
    missing = [n for n in sch.names if n not in columns]
    extra = [n for n in columns if n not in sch.names]
    if missing or extra:
        raise KeyError(f"{name}: columns missing {missing}, unexpected {extra}")
    return pa.Table.from_arrays([columns[n].cast(sch.field(n).type) for n in sch.names], schema=sch)


def _argv_columns(red: Redactor, cmdlines: np.ndarray) -> dict[str, pa.Array]:
    inverse, distinct = red.argv_column(cmdlines)
    index = pa.array(inverse)

    def take(fn, type_):
        return pc.take(pa.array([None if d is None else fn(d) for d in distinct], type=type_), index)

    return {
        "exe": take(lambda d: d.exe, pa.string()),
        "args": take(lambda d: list(d.args), pa.list_(pa.string())),
        "arg_flags": take(lambda d: list(d.flags), pa.list_(pa.string())),
        "cmd_hash": take(lambda d: d.cmd_hash, pa.string()),
        "secrets_dropped": take(lambda d: d.secrets_dropped, pa.int16()),
        "cmdline_readable": take(lambda d: True, pa.bool_()).fill_null(False),
    }


def _identity(run_id: str, ts: float, boot_id: str | None, n: int) -> dict[str, pa.Array]:
    return {"run_id": _const(run_id, n, "string"), "ts": _const(ts, n, "float64"),
            "boot_id": _const(boot_id, n, "string")}


def proc_samples(snapshot, triage, red: Redactor, run_id: str, ts: float) -> tuple[pa.Table, dict]:
    """The process table, redacted; also returns the argv columns for ``decisions``."""
    n = len(snapshot)
    cols = _identity(run_id, ts, snapshot.host.boot_id, n)
    argv = {}
    for f in FIELDS:
        where, how = TREATMENT[f.name]
        if how == "keep":
            cols[f.name] = _arr(f.compute(snapshot), f.dtype)
        elif how == "token":
            cols[f.name] = _arr(red.column(f.compute(snapshot), "token"), "string")
        elif how == "hash":
            values = user_names(snapshot["uid"]) if f.name == "user" else f.compute(snapshot)
            cols[f"{f.name}_hash"] = _arr(red.column(values, "hash"), "string")
        elif how == "argv":
            argv = _argv_columns(red, snapshot[f.name])
            cols.update(argv)
    if triage is not None:
        c, w = triage.context, triage.window
        cols.update({
            "cwd_hash": _arr(red.column(c.cwd, "hash"), "string"),
            "fd_count": _arr(c.fd_count, "int32"), "listening": _arr(c.listening, "int32"),
            "established": _arr(c.established, "int32"),
            "children": _arr(c.genealogy.children, "int32"),
            "window_cpu_ticks": _arr(w.ticks, "int64"),
            "window_ticks": _const(int(w.window_ticks), n, "int64"),
            "alive": _arr(w.alive, "bool"), "io_read_bytes": _arr(w.io_read_bytes, "int64"),
            "io_write_bytes": _arr(w.io_write_bytes, "int64"), "io_syscalls": _arr(w.io_syscalls, "int64"),
        })
    else:
        for col in COLUMNS["proc_samples"]:
            if col.name not in cols:
                cols[col.name] = pa.nulls(n, schema_type(col.dtype))
    return _table("proc_samples", cols), argv


def _process_key(t, run_id: str, ts: float) -> dict[str, pa.Array]:
    n = len(t)
    return {**_identity(run_id, ts, t.snapshot.host.boot_id, n),
            "pid": _arr(t.snapshot["pid"], "int32"), "start_ticks": _arr(t.snapshot["start_ticks"], "uint64")}


def proc_features(t, run_id: str, ts: float) -> pa.Table:
    cols = _process_key(t, run_id, ts)
    for name, dtype, _, _ in EVIDENCE_COLUMNS:
        cols[name] = _arr(getattr(t.evidence, name), dtype)
    cols["active_children"] = _arr(t.context.active_children, "int32")
    return _table("proc_features", cols)


def proc_inference(t, run_id: str, ts: float) -> pa.Table:
    inf = t.inference
    n = len(t)
    cols = _process_key(t, run_id, ts)
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
    cols["log_odds"] = _arr(t.decision.log_odds, "float64")
    cols["lfdr"] = _arr(t.decision.lfdr, "float64")
    return _table("proc_inference", cols)


def decisions(t, argv: dict[str, pa.Array], run_id: str, ts: float) -> pa.Table:
    d = t.decision
    cols = _process_key(t, run_id, ts)
    cols["uid"] = _arr(t.snapshot["uid"], "int64")
    cols["exe"], cols["cmd_hash"] = argv["exe"], argv["cmd_hash"]
    for f in VERDICT_FIELDS:
        where, how = TREATMENT[f.name]
        if where == "decisions" and how == "keep":
            cols[f.name] = _arr(f.compute(t), f.dtype)
    for k, a in enumerate(ACTIONS):
        cols[f"loss__{a}"] = _nullable_float(d.expected_loss[:, k])
    for k, c in enumerate(CLASSES):
        cols[f"post_lower__{c}"] = _arr(d.posterior_lower[:, k], "float64")
        cols[f"post_upper__{c}"] = _arr(d.posterior_upper[:, k], "float64")
    return _table("decisions", cols)


def capabilities(root: str | os.PathLike | None) -> dict:
    proc = Path(root) if root is not None else Path("/proc")
    return {"psi": (proc / "pressure" / "cpu").exists(),
            "cgroup2": Path("/sys/fs/cgroup/cgroup.controllers").exists(),
            "pidfd": hasattr(os, "pidfd_open"), "root": os.geteuid() == 0}


def runs_row(snapshot, triage, red: Redactor, run_id: str, ts: float, *, scan_s: float | None,
             procfs: str | os.PathLike | None) -> pa.Table:
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
    return pa.Table.from_pylist([row], schema=schema("runs"))


def system_row(run_id: str, ts: float, boot_id: str | None, procfs) -> pa.Table:
    from pt.collect._linux import procfs_root
    from pt.collect.system import read_system
    values = read_system(procfs_root(procfs))
    return pa.Table.from_pylist([{"run_id": run_id, "ts": ts, "boot_id": boot_id, **values}],
                                schema=schema("system_samples"))


def scan_tables(snapshot=None, triage=None, *, red: Redactor, run_id: str, ts: float,
                scan_s: float | None = None, procfs=None) -> dict[str, pa.Table]:
    """Every table of one scan, built but not written (``triage`` None: raw scan)."""
    snapshot = triage.snapshot if triage is not None else snapshot
    samples, argv = proc_samples(snapshot, triage, red, run_id, ts)
    tables = {"runs": runs_row(snapshot, triage, red, run_id, ts, scan_s=scan_s, procfs=procfs),
              "system_samples": system_row(run_id, ts, snapshot.host.boot_id, procfs),
              "proc_samples": samples}
    if triage is not None:
        tables["proc_features"] = proc_features(triage, run_id, ts)
        tables["proc_inference"] = proc_inference(triage, run_id, ts)
        tables["decisions"] = decisions(triage, argv, run_id, ts)
    return tables


#: Columns with min/max statistics (what queries filter on); others skip the cost.
STATISTICS = ("run_id", "ts", "boot_id", "pid", "start_ticks", "plan_id", "action_id")


def write_parquet(table: pa.Table, path: str) -> None:
    """zstd Parquet; dictionary encoding for strings only (floats gain nothing
    from it but cost time), statistics only on the identity columns."""
    strings = [f.name for f in table.schema if pa.types.is_string(f.type)
               or pa.types.is_list(f.type)]
    pq.write_table(table, path, compression=COMPRESSION, use_dictionary=strings or False,
                   write_statistics=[n for n in STATISTICS if n in table.column_names] or False)


def write_tables(root: Path, tables: dict[str, pa.Table], run_id: str, ts: float) -> list[str]:
    """Publish each table as one Parquet file of the run's partition, two at a
    time (pyarrow writes without the GIL); ``runs`` last, so a reader that sees
    the run sees all of its tables."""
    import threading

    names = sorted(tables, key=lambda t: (t == "runs", -tables[t].nbytes))
    files: dict[str, str] = {}
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            table = tables[name]
            files[name] = str(lakes.publish(lakes.partition(root, name, ts, run_id),
                                            lambda tmp: write_parquet(table, tmp)))
        except BaseException as exc:   # noqa: BLE001 - re-raised below, in the caller
            errors.append(exc)

    body = names[:-1] if names and names[-1] == "runs" else names
    helper = threading.Thread(target=lambda: [write(n) for n in body[1::2]])
    helper.start()
    for name in body[0::2]:
        write(name)
    helper.join()
    if errors:
        raise errors[0]
    if "runs" in tables:
        write("runs")
        if errors:
            raise errors[0]
    return [files[n] for n in names]


def write_scan(triage=None, *, snapshot=None, lake: str | os.PathLike | None = None,
               red: Redactor | None = None, scan_s: float | None = None, procfs=None,
               ts: float | None = None, run_id: str | None = None) -> TelemetryResult:
    """Record one scan (a :class:`pt.triage.Triage`, or a raw ``snapshot``).
    Never raises: a failure is reported in the result's ``reason``."""
    started = time.perf_counter()
    result = TelemetryResult(lake="?")
    try:
        root = lakes.lake_root(lake)
        result.lake = str(root)
        snap = triage.snapshot if triage is not None else snapshot
        ts = snap.host.taken_at if ts is None else ts
        run_id = run_id or new_run_id(ts)
        red = red or default_redactor()
        tables = scan_tables(snap, triage, red=red, run_id=run_id, ts=ts, scan_s=scan_s, procfs=procfs)
        result.files = write_tables(root, tables, run_id, ts)
        result.rows = {name: t.num_rows for name, t in tables.items()}
        result.written, result.run_id = True, run_id
    except Exception as exc:   # noqa: BLE001 - telemetry must never break a scan
        result.reason = _reason(exc)
    result.seconds = time.perf_counter() - started
    return result


# --- the action journal ------------------------------------------------------------------

_OUTCOME_RESULTS = ("done", "exited", "still_running", "aborted", "unavailable", "failed")


def _journal_columns(records: list[dict], table: str, red: Redactor) -> pa.Table:
    rows = []
    for r in records:
        params = r.get("params") or {}
        row = {
            "run_id": lakes.check_id(str(r["plan_id"])), "plan_id": str(r["plan_id"]),
            "action_id": str(r["action_id"]), "ts": float(r["ts"]), "boot_id": r.get("boot_id"),
            "pid": int(r["pid"]), "start_ticks": r.get("start_ticks"), "uid": r.get("uid"),
            "action": str(r["action"]),
            "params": json.dumps({k: red.text(v) if isinstance(v, str) else v
                                  for k, v in params.items()}, sort_keys=True),
            "cmd_hash": _journal_cmd_hash(r.get("cmd_hash"), red),
        }
        if table == "outcomes":
            result = str(r.get("result"))
            if result not in _OUTCOME_RESULTS:
                raise ValueError(f"outcome result must be one of {', '.join(_OUTCOME_RESULTS)}, "
                                 f"got {result!r}")
            row.update({"result": result, "detail": red.text(r.get("detail") or "") or None,
                        "exit_status": r.get("exit_status")})
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema(table))


def _journal_cmd_hash(value, red: Redactor):
    """A keyed hash from :meth:`Redactor.argv` is kept (it joins with
    ``decisions.cmd_hash``); anything else is hashed again with the key."""
    if value is None:
        return None
    value = str(value)
    if len(value) == 16 and all(c in "0123456789abcdef" for c in value):
        return value
    return red.digest(value)


def write_action_records(records: list[dict], *, lake: str | os.PathLike | None = None,
                         red: Redactor | None = None) -> TelemetryResult:
    """Append action-journal records (``kind`` ``intent`` -> ``actions``,
    ``outcome`` -> ``outcomes``) to the lake, one file per table and plan.

    Never raises: on lake trouble or a malformed record nothing is written
    and the result's ``reason`` says why (callers log it and carry on).
    """
    started = time.perf_counter()
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
            by_kind.setdefault((table, plan, lakes.day(float(r["ts"]))), []).append(r)
        tables = {key: _journal_columns(rs, key[0], red) for key, rs in by_kind.items()}
        for (table, plan, _), tbl in tables.items():
            ts = float(tbl.column("ts")[0].as_py())
            path = lakes.publish(lakes.partition(root, table, ts, plan),
                                 lambda tmp, tbl=tbl: write_parquet(tbl, tmp))
            result.files.append(str(path))
            result.rows[table] = result.rows.get(table, 0) + tbl.num_rows
        result.written = bool(result.files)
    except Exception as exc:   # noqa: BLE001 - the journal's caller must not fail on telemetry
        result.reason = _reason(exc)
    result.seconds = time.perf_counter() - started
    return result

