"""JSON Schemas (draft 2020-12) of every command's ``--json`` result.

One envelope (:mod:`pt.ui.result`) around each command's ``data``; the process
rows of ``scan``, ``explain`` and ``plan`` are built from the field table
(:mod:`pt.fields`), so a field added there is described here with its unit.
Nested objects whose keys belong to another part of pt (the plan, the
ledger, deep-scan series) name the keys pt guarantees and allow more.
"""
from __future__ import annotations

from pt.config import CLASSES
from pt.fields import FIELDS, VERDICT_FIELDS, Field

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_NUMBER = {"type": ["number", "null"]}
_INT = {"type": "integer"}
_STRING = {"type": "string"}
_TEXT = {"type": ["string", "null"]}


def _obj(properties: dict, required=(), *, closed: bool = False, description: str = "") -> dict:
    out = {"type": "object", "properties": properties}
    if description:
        out["description"] = description
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


def _array(items: dict, description: str = "") -> dict:
    return {"type": "array", "items": items} | ({"description": description} if description else {})


def field_schema(field: Field) -> dict:
    """One field's schema: JSON type from its Arrow-style dtype, its
    description and (``x-unit``) its unit. Floats are null where not finite."""
    dtype = field.dtype
    if dtype.startswith(("int", "uint")):
        out = dict(_INT)
    elif dtype == "float64":
        out = dict(_NUMBER)
    elif dtype == "bool":
        out = {"type": "boolean"}
    elif dtype == "string":
        out = dict(_TEXT)
    elif dtype == "list<string>":
        out = {"type": ["array", "null"], "items": _STRING}
    elif dtype.startswith("list<"):
        out = {"type": "array", "items": {"type": "object"}}
    elif dtype.startswith("struct"):
        out = {"type": "object"}
    else:
        raise ValueError(f"field {field.name!r} has a dtype with no JSON type: {dtype!r}")
    out["description"] = field.description + (f" ({field.unit})" if field.unit else "")
    if field.unit:
        out["x-unit"] = field.unit
    return out


def process_schema() -> dict:
    """A process row: any subset of the field table's fields (``--raw`` has no
    verdicts, ``--fields`` picks some), in field-table order, nothing else."""
    return _obj({f.name: field_schema(f) for f in FIELDS + VERDICT_FIELDS}, closed=True,
                description="one process; keys are field names (pt schema --fields lists them)")


def _model() -> dict:
    source = _obj({"source": _STRING, "digest": _STRING}, ("source", "digest"))
    return _obj({"priors": source, "policy": source}, ("priors", "policy"),
                description="the priors and policy the verdicts were computed with")


def _scan() -> dict:
    summary = _obj({
        "total": {**_INT, "description": "processes read"},
        "selected": {**_INT, "description": "processes left after --user and kernel-thread filters"},
        "returned": {**_INT, "description": "rows in processes (--top)"},
        "kernel_threads_hidden": _INT, "vanished_during_scan": _INT,
        "sort": _STRING,
        "recommended": {"type": "object", "additionalProperties": _INT,
                        "description": "how many processes each action is recommended for"},
        "protected_by": {"type": "object", "additionalProperties": _INT,
                         "description": "how many processes each hard veto protected"},
        "kill_withheld": _obj({"count": _INT, "why": _STRING}, ("count", "why"), description=(
            "present while pt calibrate's stored false-kill bound is above the policy's fdr_alpha, or its "
            "alpha-investing wealth is spent: how many kill recommendations were demoted (demoted = bound) "
            "and why")),
        "incidents": _array(incident_schema(), "lifecycle incidents seen in the scan's window "
                                               "(pt incidents watches longer)"),
    }, ("total", "selected", "returned", "sort"))
    return _obj({"processes": _array({"$ref": "#/$defs/process"}), "summary": summary,
                 "model": _model(), "telemetry": _obj({"written": {"type": "boolean"}}, ("written",))},
                ("processes", "summary"))


def incident_schema() -> dict:
    """One lifecycle incident (``pt incidents``; named in ``pt scan``'s summary)."""
    kinds = ["fork_storm", "runaway_tree", "short_job_flood", "respawn_loop"]
    recommendation = _obj({
        "action": {"enum": ["keep", "pause", "throttle"],
                   "description": "the remedy for the whole tree under pid (keep: vetoed)"},
        "pid": _INT, "scope": {"enum": ["tree", "none"]},
        "members": {**_INT, "description": "processes in the tree the remedy covers"},
        "veto": {**_TEXT, "description": "the hard veto that made the remedy keep, or null"},
    }, ("action", "pid", "scope", "veto"))
    return _obj({
        "kind": {"enum": kinds},
        "pid": {**_INT, "description": "the tree's root: the parent or supervisor the remedy is for"},
        "start_ticks": {**_INT, "description": "the root's start time, clock ticks after boot (its identity)"},
        "command": {**_STRING, "description": "the root's command line, secrets masked"},
        "evidence": _obj({"text": {**_STRING, "description": "the evidence in words"},
                          "short_jobs_estimated": {
                              **_NUMBER, "description": "short_job_flood: the short jobs seen plus those no "
                                                        "read saw, from the kernel's fork counter"}}, ("text",),
                         description="the numbers behind the incident (per kind), and text"),
        "severity": {"type": "number",
                     "description": "the observed rate in multiples of the detection threshold (1: just detected)"},
        "level": {"enum": ["low", "medium", "high"], "description": "severity < 2 low, < 5 medium, else high"},
        "recommendation": recommendation,
    }, ("kind", "pid", "evidence", "severity", "level", "recommendation"))


def _explain() -> dict:
    single = _obj({
        "process": {"$ref": "#/$defs/process"},
        "orphan_bayes_factor": {**_NUMBER, "description": "P(orphaned | abandoned) / P(orphaned | useful)"},
        "thresholds": {"type": "object"},
        "what_would_change_my_mind": _array(_STRING),
        "deep": {"type": "object", "description": "with --deep: the deep-scan of this process"},
    }, ("process", "thresholds", "what_would_change_my_mind"))
    plan = _obj({"plan_id": _STRING, "actions": _array({"type": "object"})}, ("plan_id", "actions"))
    return {"oneOf": [single, plan]}


def _plan_body() -> dict:
    target = _obj({"pid": _INT, "start_ticks": _INT}, ("pid", "start_ticks"),
                  description="the exact process: pid plus start time, so a reused pid is never hit")
    action = _obj({"index": _INT, "action": _STRING, "target": target, "why": _STRING, "tree": _tree()},
                  ("index", "action", "target"))
    return _obj({"plan_id": _STRING, "created_at": {"type": "number"}, "expires_at": {"type": "number"},
                 "actions": _array(action)}, ("plan_id", "created_at", "expires_at", "actions"))


def _tree() -> dict:
    return _obj({"id": _INT, "root": {**_INT, "description": "the root's pid"},
                 "depth": {**_INT, "description": "0 for the root, 1 its children, ..."},
                 "size": {**_INT, "description": "members of the tree decision, the root included"},
                 "pgid": {**_INT, "description": "present when the decision is a process group (pt plan "
                                                 "--group): its id, the root's pid"}},
                ("id", "root", "depth", "size"), closed=True,
                description="present on members of a whole-tree decision (pt plan --tree or --group)")


def _outcomes() -> dict:
    return _obj({"plan_id": _STRING, "outcomes": _array(_obj({"result": _STRING, "tree": _tree()}, ("result",))),
                 "not_signalled": _array(_obj({"pid": _INT, "ppid": _INT, "comm": _STRING}, ("pid", "ppid", "comm")),
                                         "apply: children of tree members born after the plan (never signalled)")},
                ("plan_id", "outcomes"))


def _watch() -> dict:
    guardrail = _obj({"value": _NUMBER, "threshold": _NUMBER, "alarm": {"type": "boolean"},
                      "followed_up": _INT, "resumed": _INT},
                     ("value", "threshold", "alarm"),
                     description="the calibration e-detector: alarm when value reaches threshold")
    forecast = _obj({"samples": _INT, "reliable": {"type": "boolean"}, "confidence": _NUMBER,
                     "seconds_to_floor": {"type": ["number", "null"], "x-unit": "s",
                                          "description": "forecast time until MemAvailable reaches the floor"}},
                    ("samples", "reliable", "seconds_to_floor"))
    forecast_guardrail = _obj({"value": _NUMBER, "threshold": _NUMBER, "alarm": {"type": "boolean"},
                               "resolved": _INT, "floor_later_than_forecast": _INT, "pending": _INT},
                              ("value", "threshold", "alarm"),
                              description="the forecast-calibration e-detector: alarm when value reaches threshold")
    cgroup = _obj({"path": _STRING, "limit_bytes": {**_INT, "x-unit": "bytes"},
                   "available_bytes": {**_INT, "x-unit": "bytes"}, "oom_kill": _INT, "forecast": forecast},
                  ("path", "limit_bytes", "available_bytes", "forecast"))
    status = _obj({
        "pid": _INT,
        "mode": {"enum": ["observe", "canary", "enforce"], "description": "the mode in force"},
        "wanted": {"enum": ["observe", "canary", "enforce"], "description": "the mode asked for"},
        "demoted_because": {"type": ["string", "null"]},
        "budget_left": {"type": ["integer", "null"], "description": "canary actions left this hour"},
        "urgency": {**_NUMBER, "description": "pressure urgency in [0, 1]"},
        "next_interval_s": {**_NUMBER, "x-unit": "s"},
        "guardrail": guardrail, "forecast": forecast, "forecast_guardrail": forecast_guardrail,
        "cgroups": _array(cgroup, "each cgroup with a memory limit below RAM: its headroom and forecast"),
        "last": {"type": ["object", "null"], "description": "what the last interval saw and did"},
        "totals": _obj({"scans": _INT, "failed": _INT, "acted": {"type": "object", "additionalProperties": _INT}},
                       ("scans", "failed", "acted")),
    }, ("mode", "wanted", "urgency", "guardrail", "forecast", "totals"))
    return _obj({"status": status}, ("status",))


def _deep_candidate() -> dict:
    """A deep-scan candidate: the keys of its memory summary are guaranteed, the rest is open."""
    def mb(text):
        return {**_NUMBER, "description": text, "x-unit": "MB/min" if "slope" in text else "MB"}
    return _obj({"memory": _obj({
        "rss_slope_mb_min": mb("sustained RSS slope over the watch (Theil-Sen, the smaller of its two "
                               "halves; null: too few samples)"),
        "rss_slope_sd_mb_min": mb("standard error of that slope"),
        "rss_mb": mb("last resident memory seen"),
        "memory_pressure": {**_NUMBER, "description": "memory PSI some over the watch, share of time "
                            "(null: no PSI)", "x-unit": "ratio"},
        "text": _STRING}, ("rss_slope_mb_min", "rss_slope_sd_mb_min", "rss_mb", "memory_pressure", "text"))},
        ("memory",))


def _data_schemas() -> dict[str, dict]:
    """``data`` of each command's ok or partial result."""
    return {
        "scan": _scan(),
        "deep-scan": _obj({"candidates": _array(_deep_candidate()), "skipped": _array({"type": "object"}),
                           "summary": _obj({"watched": _INT, "settled": _INT, "timed_out": _INT},
                                           ("watched", "settled", "timed_out")),
                           "model": _model()}, ("candidates", "skipped", "summary")),
        "explain": _explain(),
        "plan": _obj({"plan": _plan_body(), "path": {**_STRING, "description": "where the plan file is"}},
                     ("plan", "path")),
        "apply": _outcomes(),
        "undo": _outcomes(),
        "verify": _obj({"plan_id": _STRING, "targets": _array(_obj({"pid": _INT, "result": _STRING,
                                                                    "tree": _tree()}, ("pid", "result")))},
                       ("plan_id", "targets")),
        "history": _obj({"plans": _array(_obj({
            "plan_id": _STRING, "created_at": {"type": "number"}, "expires_at": {"type": "number"},
            "actions": _INT, "applied": {"type": "boolean"},
            "results": {"type": "object", "additionalProperties": _INT}}, ("plan_id", "actions", "applied")))},
            ("plans",)),
        "config": _obj({"sources": _array(_STRING), "valid": {"type": "boolean"}}, ("sources",)),
        "duck": _obj({"report": _STRING, "lake": _STRING, "files": {"type": "object"},
                      "columns": _array(_STRING), "rows": _array({"type": "object"}),
                      "notes": _array(_STRING)}, ("report", "lake", "notes")),
        "lake": _obj({"action": {"enum": ["info", "prune", "compact", "check", "export", "fleet"]}}, ("action",)),
        "feedback": _obj({"identity": {**_STRING, "description": "boot id:start ticks:pid"}, "pid": _INT,
                          "label": {"enum": list(CLASSES)}, "replaces": _array(_STRING),
                          "verdict": {"type": "object", "description": "pt's verdict the label answers"}},
                         ("identity", "pid", "label")),
        "calibrate": {"type": "object", "description": (
            "the calibration (pac_bayes, reliability, learned priors written) or, with --reset, what was "
            "removed, or, with --drift, the drift statistics")},
        "doctor": _obj({"capabilities": {"type": "object", "description": "what this machine offers pt"},
                        "features": {"type": "object", "description": "which pt features each finding enables"},
                        "cached": {"type": "boolean", "description": "read from this boot's capability cache"}},
                       ("capabilities", "features", "cached")),
        "watch": _watch(),
        "incidents": _obj({"window_s": {"type": "number", "x-unit": "s", "description": "time watched"},
                           "processes": {**_INT, "description": "processes in the first read"},
                           "incidents": _array(incident_schema()),
                           "sampler": _obj({
                               "ticks": {**_INT, "description": "reads of the table: the first full one, then "
                                                               "pid listings that read only new pids"},
                               "ticks_per_s": {**_NUMBER, "x-unit": "1/s", "description": "ticks per second"},
                               "lives": {**_INT, "description": "process identities (pid, start time) followed"},
                               "missed": {**_INT, "description": "new pids gone or unreadable before their stat "
                                                                "was read"},
                               "forks": {**_NUMBER, "description": "processes and threads the kernel created "
                                                                  "while watching (/proc/stat processes), or null"},
                           }, ("ticks", "lives", "forks"),
                               description="the lifecycle sampler (absent with the psutil collector)")},
                          ("window_s", "incidents")),
        "report": _obj({"path": {**_STRING, "description": "the HTML file written"},
                        "processes": {**_INT, "description": "processes in the page's table"},
                        "deep_candidates": _INT, "calibration_bins": _INT, "notes": _array(_STRING)},
                       ("path", "processes", "notes")),
    }


#: Commands with a ``--json`` result, in the order ``pt --help`` lists them.
COMMANDS = tuple(_data_schemas())
#: What prints only error results under --json: ``pt`` itself (a usage error
#: before any command) and ``pt schema`` (whose own output is a schema).
ERROR_ONLY = ("pt", "schema")


def result_schema(command: str) -> dict:
    """The schema of ``pt COMMAND --json``: the envelope, ``data`` for an ok or
    partial result and an empty ``data`` with at least one error otherwise.
    ``KeyError`` for a command with no JSON result."""
    data = {"maxProperties": 0} if command in ERROR_ONLY else _data_schemas()[command]
    error = _obj({"code": {**_STRING, "description": "stable machine-readable kind, e.g. usage, not_found"},
                  "message": {**_STRING, "description": "what went wrong, for a person"},
                  "hint": {**_TEXT, "description": "what to do about it, if pt knows"}},
                 ("code", "message"))
    return {
        "$schema": DIALECT,
        "title": f"pt {command} --json",
        "description": f"The one JSON object `pt {command} --json` prints (result version 1). "
                       "Exit codes: 0 ok, 1 error, 2 bad usage, 3 no such process or plan, 4 refused, "
                       "5 some actions not carried out, 130 interrupted.",
        "type": "object",
        "required": ["pt_result_version", "command", "status", "pt_version", "generated_at", "host",
                     "data", "errors"],
        "additionalProperties": False,
        "properties": {
            "pt_result_version": {"const": "1"},
            "command": {"const": command},
            "status": {"enum": ["ok", "partial", "error"],
                       "description": "partial: some data is missing, errors says what"},
            "pt_version": _STRING,
            "generated_at": {"type": "number", "description": "when, unix seconds", "x-unit": "unix_s"},
            "host": {"type": "object", "description": "the machine scanned (empty when none was)"},
            "data": {"type": "object"},
            "errors": _array(error),
        },
        "if": {"properties": {"status": {"const": "error"}}},
        "then": {"properties": {"data": {"maxProperties": 0},
                                "errors": {"minItems": 1, "items": {"required": ["code", "message", "hint"]}}}},
        "else": {"properties": {"data": data}},
        "$defs": {"process": process_schema()},
    }


def all_schema() -> dict:
    """One schema that every command's result matches (each command's under ``$defs``)."""
    defs = {"process": process_schema()}
    for command in COMMANDS + ERROR_ONLY:
        one = result_schema(command)
        for key in ("$schema", "$defs"):
            one.pop(key)
        defs[command] = one
    return {"$schema": DIALECT, "title": "pt --json", "description": "any pt --json result",
            "oneOf": [{"$ref": f"#/$defs/{c}"} for c in COMMANDS + ERROR_ONLY], "$defs": defs}
