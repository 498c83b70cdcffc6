"""The versioned JSON result every ``--json`` command prints: exactly one object."""
from __future__ import annotations

import json
import sys
import time

import numpy as np

from pt import __version__

RESULT_VERSION = "1"


def envelope(command: str, *, host: dict, data: dict, errors: list[dict], partial: bool) -> dict:
    """``{"pt_result_version", "command", "status", "host", "data", "errors"}``.

    ``status`` is ``"ok"``, ``"partial"`` (some data missing, see ``errors``) or,
    from :func:`error_envelope`, ``"error"``.
    """
    return {
        "pt_result_version": RESULT_VERSION,
        "command": command,
        "status": "partial" if partial else "ok",
        "pt_version": __version__,
        "generated_at": time.time(),
        "host": host,
        "data": data,
        "errors": errors,
    }


#: What to do about each kind of error, when pt knows (the ``hint`` of an error result).
HINTS = {
    "usage": "see `pt {command} --help` for the options and examples",
    "unknown_schema": "`pt schema` with no name prints every command's schema",
    "not_found": "`pt scan` shows the processes running now",
    "plan_not_found": "`pt history` lists the plans; `pt plan` makes a new one",
    "plan_invalid": "make a new plan with `pt plan`: a plan file is never edited by hand",
    "plan_unusable": "make a new plan with `pt plan`",
    "plan_too_large": "plan a smaller tree or fewer processes (`pt plan --pid` of its subtrees)",
    "not_confirmed": "run `pt apply PLAN_ID` at a terminal and confirm, or pass --yes",
    "invalid_config": "`pt config validate` checks a priors, policy or rules file",
    "lake_error": "`pt lake info` says where the lake is; `pt lake check` checks it",
    "query_error": "`pt duck --help` lists the reports; pt duck sql takes one read-only query",
    "refused": "`pt duck --help` says which queries are allowed",
    "os_error": "check that /proc is mounted and readable",
    "not_running": "start one with `pt watch` (see `pt watch --help`)",
    "already_watching": "`pt watch --status` shows what it is doing; stop it (SIGTERM) before starting another",
    "metrics_port": "choose a free port, or leave --metrics-port out",
}


def error_envelope(command: str, *, code: str, message: str, hint: str | None = None) -> dict:
    """The result of a command that could not run: ``status`` ``"error"``, no
    data, one error ``{code, message, hint}`` (``hint`` from :data:`HINTS`
    unless given; null when pt has none)."""
    if hint is None and code in HINTS:
        hint = HINTS[code].format(command=command)
    result = envelope(command, host={}, data={},
                      errors=[{"code": code, "message": message, "hint": hint}], partial=False)
    result["status"] = "error"
    return result


def report_error(command: str, exc, *, json: bool) -> int:
    """Say what went wrong (a :class:`~pt.errors.CommandError`) on stderr,
    escaped, and, with ``--json``, print the error result on stdout; returns
    its exit code."""
    from pt.ui.text import error
    error(command, exc.message)
    if json:
        print_json(error_envelope(command, code=exc.code, message=exc.message, hint=exc.hint))
    return exc.exit_code


def journal_errors(command: str, journal) -> list[dict]:
    """Say (on stderr) that some journal lines were skipped, and return the
    ``errors`` entries for the JSON result (empty when none were)."""
    note = journal.skipped_note()
    if note is None:
        return []
    from pt.ui.text import escape
    print(f"pt {command}: warning: {escape(note)}", file=sys.stderr)
    return [{"code": "journal_lines_skipped", "count": journal.skipped, "message": note}]


def _json_column(values: np.ndarray) -> list:
    """Plain Python values; floats rounded to microseconds/micro-units for
    reading, and null where not finite (JSON has no inf or nan)."""
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            return np.where(finite, np.round(values, 6), None).tolist()
        values = np.round(values, 6)
    return values.tolist()


def masked_columns(columns: dict[str, np.ndarray], cmdline: np.ndarray, comm: np.ndarray,
                   limit: int | None = None) -> dict[str, np.ndarray]:
    """The first ``limit`` rows of ``columns`` (all by default) as pt shows
    them: the command line fields (``cmdline``, ``command``) with their
    secrets masked by the one masker plans and the journal use
    (:func:`pt.telemetry.redact.mask_secrets`: ``-p<secret>``,
    ``--password=<secret>``). ``cmdline`` and ``comm`` are those rows'
    argument vectors and comms; one mask per distinct argument vector."""
    out = {name: values[:limit] for name, values in columns.items()}
    if "cmdline" not in out and "command" not in out:
        return out
    from pt.telemetry.redact import factorize, mask_secrets
    distinct, inverse = factorize(np.asarray(cmdline[:limit], dtype=object))
    masked = np.empty(len(distinct), dtype=object)
    for i, argv in enumerate(distinct):
        masked[i] = None if argv is None else mask_secrets(argv)
    if "cmdline" in out:
        out["cmdline"] = masked[inverse]
    if "command" in out:
        joined = np.array([" ".join(m) if m else None for m in masked], dtype=object)[inverse]
        empty = np.flatnonzero(np.equal(joined, None))
        joined[empty] = [f"[{c}]" for c in np.asarray(comm[:limit], dtype=object)[empty]]
        out["command"] = joined
    return out


def rows(columns: dict[str, np.ndarray], limit: int | None = None) -> list[dict]:
    """Columns to a list of row objects, keys in field-table order."""
    names = list(columns)
    values = [_json_column(columns[n][:limit]) for n in names]
    return [dict(zip(names, row)) for row in zip(*values)]


def print_json(obj: dict, file=None) -> None:
    """One line of JSON. ``json.dumps`` (the C encoder) rather than ``json.dump``,
    which streams through the pure-Python encoder and is ~5x slower."""
    (file or sys.stdout).write(json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n")


def print_scan_json(view, *, top: int | None, triage=None, telemetry=None,
                    fields: tuple[str, ...] | None = None) -> None:
    """The scan result: every selected process (or the first ``top``), with the
    host and, when verdicts were computed, the model's provenance; ``telemetry``
    says whether and where the scan was recorded (a dict, or a callable
    returning it, called once the rows are built: the lake is written
    meanwhile). ``fields`` keeps only those keys of each process (those the
    scan computed: no verdicts with --raw). The rows are written from their
    columns (:mod:`pt.json_columns`): the same text as ``json.dumps`` of row
    dicts, several times faster."""
    from pt.json_columns import parts_with, record_chunks

    limit = None if not top else top
    columns = view.columns if fields is None else {n: view.columns[n] for n in fields if n in view.columns}
    columns = masked_columns(columns, view.snapshot["cmdline"], view.snapshot["comm"], limit)
    returned = len(next(iter(columns.values()))) if columns else 0
    processes = record_chunks(columns)      # the JSON text of the rows, written column by column
    errors = view.snapshot.errors
    data = {
        "processes": None,                  # processes goes here, in this place among the keys
        "summary": {
            "total": view.total,
            "selected": len(view),
            "returned": returned,
            "kernel_threads_hidden": view.hidden_kernel_threads,
            "vanished_during_scan": errors.vanished,
            "sort": view.sort,
        },
    }
    if view.recommended is not None:
        data["summary"] |= {"recommended": view.recommended, "protected_by": view.protected}
        if view.kill_withheld:
            data["summary"]["kill_withheld"] = view.kill_withheld
    if view.incidents is not None:
        from pt.ui.incidents_view import incident_json
        data["summary"]["incidents"] = [incident_json(i) for i in view.incidents]
    if triage is not None:
        data["model"] = {
            "priors": {"source": triage.priors.source, "digest": triage.priors.digest},
            "policy": {"source": triage.policy.source, "digest": triage.policy.digest},
            "window_s": round(triage.window.duration_s, 6),
            "at_s": triage.at_s,
            "fdr": {"alpha": triage.policy.fdr_alpha,
                    "kill_set_size": triage.decision.fdr_kill_set_size,
                    "estimated_fdr": round(triage.decision.fdr_estimate, 6)},
            "stability": {"margin": triage.policy.stability.margin,
                          "remembered": int((triage.previous >= 0).sum()) if triage.previous is not None else 0,
                          "held": int(np.equal(triage.decision.demoted, "held").sum()),
                          "note": triage.memory_note},
        }
    if telemetry is not None:
        data["telemetry"] = telemetry() if callable(telemetry) else telemetry
    result = envelope("scan", host=view.snapshot.host.as_dict(), data=data, errors=errors.as_list(),
                      partial=errors.partial)
    sys.stdout.writelines(parts_with(result, ("data", "processes"), processes) + ["\n"])
