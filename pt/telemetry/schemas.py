"""Versioned Arrow schemas of the lake's eight tables.

The process and verdict columns are generated from :data:`pt.fields.FIELDS`
and :data:`pt.fields.VERDICT_FIELDS` (the table that drives the CLI columns
and the JSON keys), through :data:`TREATMENT`, which says for every field
whether it is stored as is, keyed-hashed, redacted as an argument vector,
flattened into per-class/per-action columns, or not stored (text renderings
of data stored elsewhere). A field missing from :data:`TREATMENT` is an error
(:func:`check_treatment`, run by the tests), so a new field can never reach
the lake without someone deciding how.

Every Arrow field carries metadata: ``unit``, ``description`` and
``redaction`` (``none``, ``hash``, ``tokens``, ``safe``); ``pt lake export``
uses ``redaction`` to re-key or drop hashes. Schema-level metadata records
``pt.table`` and ``pt.schema_version``.

Naming: per-class and per-feature columns use a double underscore between
parts so SQL can pick them apart: ``ll__<feature>__<class>``,
``post__<class>``, ``bits__<feature>``, ``loss__<action>``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from pt.collect.system import SYSTEM_KEYS
from pt.config import ACTIONS, CLASSES
from pt.fields import DEEP_CLASS_FIELDS, DEEP_FIELDS, FIELDS, VERDICT_FIELDS
from pt.infer.posterior import FEATURES

#: Bump when a column is renamed, retyped or removed (adding one is compatible).
SCHEMA_VERSION = 1
TABLES = ("runs", "system_samples", "proc_samples", "proc_features", "proc_inference",
          "decisions", "actions", "outcomes", "deep_series")

#: The same types in DuckDB, for views of tables that have no files yet.
DUCKDB_TYPES = {"bool": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER",
                "int64": "BIGINT", "uint64": "UBIGINT", "float64": "DOUBLE", "string": "VARCHAR",
                "list<string>": "VARCHAR[]"}


class _ArrowTypes(dict):
    """dtype name -> pyarrow type, built on first use (pyarrow is imported lazily)."""

    def __missing__(self, key):
        import pyarrow as pa
        self.update({
            "bool": pa.bool_(), "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(),
            "int64": pa.int64(), "uint64": pa.uint64(), "float64": pa.float64(), "string": pa.string(),
            "list<string>": pa.list_(pa.field("element", pa.string())),   # the Parquet-compliant name
        })
        return dict.__getitem__(self, key)


ARROW_TYPES = _ArrowTypes()


@dataclass(frozen=True)
class Column:
    """One stored column: name, type (a key of :data:`ARROW_TYPES`), unit,
    description and redaction (``none``: not sensitive; ``safe``: a kept safe
    token; ``hash``: a keyed hash; ``tokens``: a redacted argument vector)."""

    name: str
    dtype: str
    unit: str
    description: str
    redaction: str = "none"

    def arrow(self):
        import pyarrow as pa
        meta = {"unit": self.unit, "description": self.description, "redaction": self.redaction}
        return pa.field(self.name, ARROW_TYPES[self.dtype], nullable=True, metadata=meta)


# --- how every field of pt.fields reaches the lake ---------------------------------

#: Field name -> (table, treatment). Treatments: ``keep`` (the column as is),
#: ``hash`` (``<name>_hash``, keyed), ``token`` (kept if a safe token, else hashed),
#: ``argv`` (the argument-vector columns), ``text`` (free text: words kept, paths,
#: endpoints and secrets redacted), ``flatten`` (stored as per-class or
#: per-action columns built from the arrays the field renders), ``drop``
#: (a rendering of data stored elsewhere).
TREATMENT: dict[str, tuple[str, str]] = {
    **{name: ("proc_samples", "keep") for name in (
        "pid", "ppid", "pgid", "sid", "uid", "state", "cpu_time_s", "cpu_share", "rss_bytes",
        "rss_share", "swap_bytes", "elapsed_s", "start_time", "start_ticks", "vsize_bytes", "threads", "nice", "tty",
        "kernel_thread")},
    "user": ("proc_samples", "hash"),
    "comm": ("proc_samples", "token"),
    "cmdline": ("proc_samples", "argv"),
    "command": ("proc_samples", "drop"),          # the joined argv: stored redacted as `args`
    **{name: ("decisions", "keep") for name in (
        "class", "p_class", "action", "confidence", "cpu_window_share", "attention", "lfdr",
        "log_odds", "sprt_boundary", "dependency_impact", "demoted",
        "command_category", "cwd_category", "descendants", "subtree_cpu", "subtree_rss",
        "idle_descendants", "zombie_children")},
    "recommendation": ("decisions", "drop"),            # rendering of action, ppid and zombie_children
    "protected_by": ("decisions", "text"),              # may quote a user's pattern (a path)
    "identity": ("decisions", "drop"),                  # boot_id:start_ticks:pid, derived in the view
    "posterior": ("proc_inference", "flatten"),         # post__<class>
    "bayes_factors": ("proc_inference", "flatten"),     # bits__<feature>, bits_total
    "evidence": ("proc_inference", "flatten"),          # ll__<feature>__<class>, obs__<feature>
    "posterior_bounds": ("decisions", "flatten"),       # post_lower__/post_upper__<class>
    "expected_loss": ("decisions", "flatten"),          # loss__<action>
    "why": ("decisions", "drop"),                       # text from proc_inference
    "evidence_glyphs": ("decisions", "drop"),           # rendering of bits__*
    "reap_via": ("decisions", "drop"),                  # text; names the parent's comm
    "tree_action": ("decisions", "drop"),               # derived: action, class, descendants, idle_descendants
    "tree_size": ("decisions", "drop"),                 # derived, as tree_action
}


def check_treatment() -> None:
    """Raise ``KeyError`` naming any field of pt.fields with no telemetry treatment."""
    missing = [f.name for f in FIELDS + VERDICT_FIELDS if f.name not in TREATMENT]
    if missing:
        raise KeyError(f"fields with no telemetry treatment in pt.telemetry.schemas.TREATMENT: {missing}")


def _field_columns(fields, table: str) -> list[Column]:
    out = []
    for f in fields:
        where, how = TREATMENT[f.name]
        if where != table or how in ("drop", "flatten"):
            continue
        if how == "keep":
            out.append(Column(f.name, f.dtype, f.unit, f.description))
        elif how == "token":
            out.append(Column(f.name, f.dtype, f.unit, f.description + " (kept if a safe token, "
                              "else keyed-hashed)", "safe"))
        elif how == "text":
            out.append(Column(f.name, f.dtype, f.unit, f.description + " (paths, endpoints and "
                              "secrets redacted)", "tokens"))
        elif how == "hash":
            out.append(Column(f"{f.name}_hash", "string", "", f"keyed hash of: {f.description}", "hash"))
        elif how == "argv":
            out += [
                Column("exe", "string", "", "base name of argv[0] (a safe token, else hashed)", "safe"),
                Column("args", "list<string>", "", "argv redacted in place: flag names kept, values "
                       "keyed-hashed (p: path, u: endpoint, h: other), secrets '<secret>'", "tokens"),
                Column("arg_flags", "list<string>", "", "the flag names in argv", "safe"),
                Column("cmd_hash", "string", "", "keyed hash of the whole argv, secrets replaced first",
                       "hash"),
                Column("secrets_dropped", "int16", "", "values in argv detected as secrets and dropped"),
                Column("cmdline_readable", "bool", "", "false if the cmdline could not be read"),
            ]
    return out


IDENTITY = [
    Column("run_id", "string", "", "the scan that recorded the row"),
    Column("ts", "float64", "unix_s", "when the scan was taken"),
    Column("boot_id", "string", "", "kernel boot id; with pid and start_ticks, a process identity"),
]
_PROCESS_KEY = [
    Column("pid", "int32", "", "process id"),
    Column("start_ticks", "uint64", "ticks", "start time in clock ticks since boot (identity)"),
]


def _runs() -> list[Column]:
    c = Column
    return IDENTITY + [
        c("schema_version", "int32", "", "version of these table schemas"),
        c("redaction_version", "string", "", "version of the redaction policy applied"),
        c("key_id", "string", "", "one-way id of the key the hashes were made with"),
        c("pt_version", "string", "", "pt version"),
        c("mode", "string", "", "quick (with verdicts) or raw (process table only)"),
        c("host_hash", "string", "", "keyed hash of the host name", "hash"),
        c("system", "string", "", "operating system"),
        c("kernel", "string", "", "kernel release"),
        c("cpu_count", "int32", "", "CPUs"),
        c("clock_ticks", "int32", "Hz", "clock ticks per second"),
        c("page_size", "int32", "bytes", "memory page size"),
        c("boot_time", "float64", "unix_s", "kernel boot time"),
        c("uptime_s", "float64", "s", "uptime when the scan was taken"),
        c("n_procs", "int32", "", "processes recorded"),
        c("scan_s", "float64", "s", "wall time of the scan (collect to decide)"),
        c("window_s", "float64", "s", "length of the observation window"),
        c("at_s", "float64", "s", "extra idle time assumed (pt scan --at)"),
        c("priors_digest", "string", "", "content hash of the priors in force"),
        c("policy_digest", "string", "", "content hash of the policy in force"),
        c("priors_source_hash", "string", "", "keyed hash of the priors file path", "hash"),
        c("policy_source_hash", "string", "", "keyed hash of the policy file path", "hash"),
        c("fdr_alpha", "float64", "probability", "FDR budget of the kill set"),
        c("fdr_kill_set_size", "int32", "", "kills recommended within the FDR budget"),
        c("fdr_estimate", "float64", "probability", "estimated false-kill rate of that set"),
        c("vanished", "int32", "", "processes that exited mid-scan"),
        c("denied", "int32", "", "processes with unreadable /proc files"),
        c("malformed", "int32", "", "processes with unparseable /proc files"),
        c("classes", "list<string>", "", "the classes, in column order"),
        c("actions", "list<string>", "", "the actions, in column order"),
        c("features", "list<string>", "", "the evidence features, in column order"),
        c("categorical_levels", "string", "", "JSON: level names of each categorical feature code"),
        c("capabilities", "string", "", "JSON: what this machine let pt observe"),
    ]


def _system_samples() -> list[Column]:
    units = {"load": "tasks", "runnable": "tasks", "tasks": "tasks", "mem": "bytes", "swap": "bytes",
             "psi": "percent"}
    return IDENTITY + [Column(k, "float64", units[k.split("_")[0].rstrip("15")],
                              f"{k} (/proc/loadavg, /proc/meminfo, /proc/pressure)") for k in SYSTEM_KEYS]


def _proc_samples() -> list[Column]:
    c = Column
    return IDENTITY + _field_columns(FIELDS, "proc_samples") + [
        c("cwd_hash", "string", "", "keyed hash of the working directory", "hash"),
        c("fd_count", "int32", "", "open file descriptors (-1: unreadable)"),
        c("listening", "int32", "", "listening sockets"),
        c("established", "int32", "", "established connections"),
        c("children", "int32", "", "child processes"),
        c("window_cpu_ticks", "int64", "ticks", "CPU ticks used during the window"),
        c("window_ticks", "int64", "ticks", "length of the window in ticks"),
        c("alive", "bool", "", "still the same process when the window closed"),
        c("io_read_bytes", "int64", "bytes", "bytes read during the window (-1: unreadable)"),
        c("io_write_bytes", "int64", "bytes", "bytes written during the window (-1: unreadable)"),
        c("io_syscalls", "int64", "", "read+write syscalls during the window (-1: unreadable)"),
    ]


#: Evidence columns of proc_features: (name, dtype, unit, description).
EVIDENCE_COLUMNS = (
    ("cpu_ticks", "int64", "ticks", "CPU demand ticks counted (k of the Beta-Binomial): the window's, "
     "plus earlier scans' discounted where remembered"),
    ("window_ticks", "int64", "ticks", "ticks observed (n of the Beta-Binomial): the window, "
     "plus earlier scans' discounted where remembered"),
    ("age_s", "float64", "s", "age the evidence was evaluated at (includes --at)"),
    ("orphaned", "int8", "", "1 orphaned, 0 not, -1 not observed"),
    ("io_active", "int8", "", "1 IO in the window, 0 none, -1 not observed"),
    ("cpu_lifetime", "int8", "", "lifetime CPU share bin (runs.categorical_levels), -1 not observed"),
    ("tty", "int8", "", "terminal code (runs.categorical_levels), -1 not observed"),
    ("state", "int8", "", "state code (runs.categorical_levels), -1 not observed"),
    ("command", "int8", "", "command category code (runs.categorical_levels), -1 not observed"),
    ("cwd", "int8", "", "cwd category code (runs.categorical_levels), -1 not observed"),
    ("children", "int8", "", "children code (runs.categorical_levels), -1 not observed"),
    ("network", "int8", "", "network code (runs.categorical_levels), -1 not observed"),
)


def _proc_features() -> list[Column]:
    return IDENTITY + _PROCESS_KEY + [Column(*spec) for spec in EVIDENCE_COLUMNS] + [
        Column("active_children", "int32", "", "children that used CPU in the window"),
    ]


def _proc_inference() -> list[Column]:
    c = Column
    cols = IDENTITY + _PROCESS_KEY
    cols += [c(f"log_prior__{k}", "float64", "nats", f"log prior of {k}") for k in CLASSES]
    cols += [c(f"ll__{f}__{k}", "float64", "nats", f"log-likelihood of the {f} evidence under {k} "
               "(0 where not observed)") for f in FEATURES for k in CLASSES]
    cols += [c(f"obs__{f}", "bool", "", f"whether the {f} evidence was observed") for f in FEATURES]
    cols += [c(f"loglik__{k}", "float64", "nats", f"sum of the log-likelihood terms under {k}")
             for k in CLASSES]
    cols += [c(f"log_post__{k}", "float64", "nats", f"log posterior of {k}") for k in CLASSES]
    cols += [c(f"post__{k}", "float64", "probability", f"P({k} | evidence)") for k in CLASSES]
    cols += [c(f"bits__{f}", "float64", "bits", f"log2 Bayes factor abandoned:useful of the {f} "
               "evidence (0 where not observed)") for f in FEATURES]
    cols += [c("bits_total", "float64", "bits", "log2 Bayes factor abandoned:useful, all evidence"),
             c("log_odds", "float64", "nats", "log posterior odds abandoned:useful"),
             c("lfdr", "float64", "probability", "local false discovery rate of a kill, P(useful | x)")]
    return cols


def _decisions() -> list[Column]:
    c = Column
    cols = IDENTITY + _PROCESS_KEY + [
        c("uid", "int64", "", "real user id"),
        c("exe", "string", "", "base name of argv[0] (a safe token, else hashed)", "safe"),
        c("cmd_hash", "string", "", "keyed hash of the whole argv, secrets replaced first", "hash"),
    ]
    cols += _field_columns(VERDICT_FIELDS, "decisions")
    cols += [c(f"loss__{a}", "float64", "loss", f"expected loss of {a} (null: unavailable)") for a in ACTIONS]
    cols += [c(f"post_lower__{k}", "float64", "probability", f"lowest P({k} | x) over the credal set")
             for k in CLASSES]
    cols += [c(f"post_upper__{k}", "float64", "probability", f"highest P({k} | x) over the credal set")
             for k in CLASSES]
    return cols


_JOURNAL = [
    Column("run_id", "string", "", "the plan the record belongs to (partition key)"),
    Column("plan_id", "string", "", "plan id"),
    Column("action_id", "string", "", "<plan_id>:<index>"),
    Column("ts", "float64", "unix_s", "when the record was journalled"),
    Column("uptime_ticks", "int64", "ticks", "clock ticks since boot then (the clock of start_ticks)"),
    Column("boot_id", "string", "", "kernel boot id"),
    Column("pid", "int32", "", "process id"),
    Column("start_ticks", "uint64", "ticks", "start time in clock ticks since boot (identity)"),
    Column("uid", "int64", "", "real user id"),
    Column("action", "string", "", "keep, renice, throttle, quarantine, pause, resume, restart, kill ..."),
    Column("params", "string", "", "JSON parameters of the action, string values redacted", "tokens"),
    Column("cmd_hash", "string", "", "keyed hash of the journal's command hash", "hash"),
]


def _outcomes() -> list[Column]:
    return _JOURNAL + [
        Column("result", "string", "", "done, exited, still_running, aborted, refused, unavailable "
               "or failed"),
        Column("detail", "string", "", "what happened, paths and secrets redacted", "tokens"),
        Column("exit_status", "int32", "", "exit status if the process exited and it is known"),
    ] + OUTCOME_LABELS


#: How an outcome was observed and what it says (rows written before these
#: columns existed are journal rows: ``observed_by`` null reads as journal).
OUTCOME_LABELS = [
    Column("observed_by", "string", "", "journal (pt apply/undo), rescan (a later scan followed the "
           "verdict up), feedback (pt feedback), apply (confirmed or declined in pt apply)"),
    Column("label", "string", "", "the class this outcome is evidence of (null: not a label)"),
    Column("verdict_run_id", "string", "", "the scan whose verdict this outcome follows up"),
    Column("after_s", "float64", "s", "seconds from that verdict to this observation"),
    Column("seen_until_s", "float64", "s", "rescan: seconds from the verdict to the last scan that "
           "still saw the process"),
    Column("cpu_s_since", "float64", "s", "rescan: CPU seconds the process used since the verdict"),
    Column("note", "string", "", "feedback: the user's note, paths and secrets redacted", "tokens"),
]


def _deep_series() -> list[Column]:
    """One row per candidate of a deep scan: the series summarised, the
    time-series model outputs, and the verdict before and after."""
    c = Column
    return IDENTITY + list(_PROCESS_KEY) + [c("cmd_hash", "string", "", "keyed hash of the command line", "hash")] \
        + [c(f.name, f.dtype, f.unit, f.description, "safe" if f.dtype == "string" else "none")   # action names
           for f in DEEP_FIELDS] \
        + [c(f"{prefix}__{k}", "float64", unit, text.format(k=k)) for prefix, unit, text, _ in DEEP_CLASS_FIELDS
           for k in CLASSES]


COLUMNS: dict[str, list[Column]] = {
    "runs": _runs(), "system_samples": _system_samples(), "proc_samples": _proc_samples(),
    "proc_features": _proc_features(), "proc_inference": _proc_inference(),
    "decisions": _decisions(), "actions": list(_JOURNAL), "outcomes": _outcomes(),
    "deep_series": _deep_series(),
}


@functools.cache
def schema(table: str):
    """The Arrow schema of ``table``, with field and schema metadata."""
    import pyarrow as pa

    if table not in COLUMNS:
        raise KeyError(f"unknown telemetry table {table!r}; tables: {', '.join(TABLES)}")
    return pa.schema([col.arrow() for col in COLUMNS[table]],
                     metadata={"pt.table": table, "pt.schema_version": str(SCHEMA_VERSION)})


def empty_select(table: str) -> str:
    """A DuckDB ``SELECT`` of no rows with ``table``'s columns (a view of a table with no files)."""
    cols = ", ".join(f"CAST(NULL AS {DUCKDB_TYPES[c.dtype]}) AS {c.name}" for c in COLUMNS[table])
    return f"SELECT {cols}, CAST(NULL AS DATE) AS date WHERE false"


def redacted_columns(table: str, kind: str) -> list[str]:
    """Names of ``table``'s columns with redaction ``kind`` (``hash``, ``tokens``, ``safe``)."""
    return [col.name for col in COLUMNS[table] if col.redaction == kind]
