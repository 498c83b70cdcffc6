"""Render ``pt duck`` results: Rich tables for people, the JSON envelope for programs."""
from __future__ import annotations

import datetime as _dt
import decimal
import math

from rich.table import Table
from rich.text import Text

from pt.ui.result import envelope, print_json
from pt.ui.styles import ACTION_STYLE, CLASS_STYLE
from pt.ui.text import console as make_console
from pt.ui.text import line, plural, text


def _plain(value):
    """A JSON-safe value: dates as ISO text, decimals as floats, non-finite as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def report_json(report: str, lake, *, columns=None, rows=None, data=None, notes=()) -> None:
    body = {"report": report, "lake": str(lake.root), "files": lake.files}
    if columns is not None:
        body["columns"] = list(columns)
        body["rows"] = [dict(zip(columns, _plain(list(r)))) for r in rows]
    body.update(_plain(data or {}))
    body["notes"] = list(notes)
    errors = [{"code": "quarantined", "message": q["reason"], "file": q["file"]} for q in lake.quarantined]
    errors += [{"code": "skipped", "message": q["reason"], "file": q["file"]} for q in lake.skipped]
    print_json(envelope("duck", host={}, data=body, errors=errors, partial=False))


#: A hash shown on screen: this many hex digits, like a short git commit id
#: (--json and --sql give them whole).
SHORT_HASH = 8
_HEX = frozenset("0123456789abcdef")
#: The widest a text column gets before it is cut with an ellipsis.
MAX_CELL = 40


def _cell(value) -> str:
    """One value as a person reads it: — for none, 4 significant digits,
    timestamps to the second, hashes (long lowercase hex) shortened."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    shown = str(value)
    if len(shown) > SHORT_HASH + 4 and set(shown) <= _HEX:
        return shown[:SHORT_HASH]
    return shown


def fit_columns(columns, cells: list[list[str]], width: int, cap: int | None) -> int:
    """How many of the leading columns fit in ``width`` (at least one), each as
    wide as its header or widest cell, at most ``cap``."""
    used = 0
    for i, name in enumerate(columns):
        need = max([len(name)] + [len(r[i]) if cap is None else min(len(r[i]), cap) for r in cells]) + 1
        if used + need > width + 1 and i > 0:
            return i
        used += need
    return len(columns)


def print_report(report: str, columns, rows, *, notes=()) -> None:
    """A report as a table that fits the terminal: values on one line each;
    when they do not all fit, long ones cut at :data:`MAX_CELL` with an
    ellipsis, and the columns that still do not fit left out and named below."""
    console = make_console(highlight=False)
    columns = list(columns)
    cells = [[_cell(v) for v in row] for row in rows]
    cap = None if fit_columns(columns, cells, console.width, None) == len(columns) else MAX_CELL
    shown = fit_columns(columns, cells, console.width, cap)
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    for name in columns[:shown]:
        table.add_column(text(name), no_wrap=True, overflow="ellipsis", max_width=cap)
    for row in cells:
        table.add_row(*(text(c) for c in row[:shown]))
    if rows:
        console.print(table)
    console.print(text(f"{plural(len(rows), 'row')} · {report}", "dim"))
    if shown < len(columns):
        console.print(text(f"not shown at this width: {', '.join(columns[shown:])} (--json has every column)",
                           "dim"))
    for note in notes:
        console.print(text(note, "yellow"))


def _signed(value) -> str:
    return f"{value:+.3f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def print_why(w: dict) -> None:
    console = make_console(highlight=False)
    when = _dt.datetime.fromtimestamp(w["ts"], _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    console.print(line((f"pid {w['pid']} ", "bold"), f"({w['exe'] or '?'}, {w['command_category']}) · "
                       f"run {w['run_id']} · {when}"))
    console.print(line(("identity ", "dim"), f"{w['identity']} · cmd_hash {_cell(w['cmd_hash'])}"))
    console.print(line(("verdict ", "dim"), (w["class"], CLASS_STYLE.get(w["class"], "")),
                       f" (P {w['p_class']:.3f}) → ", (w["action"], ACTION_STYLE.get(w["action"], "")),
                       (f" (demoted: {w['demoted']})" if w["demoted"] else "", "dim"),
                       (f" · protected: {w['protected_by']}" if w["protected_by"] else "", "dim")))

    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold", title="ledger (nats; bits = "
                  "log2 BF abandoned:useful)", title_justify="left")
    classes = list(w["posterior"])
    table.add_column("evidence")
    for c in classes:
        table.add_column(text(c), justify="right")
    table.add_column("bits", justify="right")
    table.add_row("log prior", *(f"{w['log_prior'][c]:.3f}" for c in classes), "", style="dim")
    for item in sorted(w["ledger"], key=lambda x: -abs(x["bits"])):
        if not item["observed"]:
            continue
        bits = item["bits"]
        table.add_row(text(item["feature"]), *(f"{item['log_likelihood'][c]:.3f}" for c in classes),
                      Text(f"{bits:+.2f}", style="red" if bits > 0 else "green"))
    table.add_row("posterior", *(f"{w['posterior'][c]:.4f}" for c in classes),
                  f"{w['bits_total']:+.2f}", style="bold")
    console.print(table)
    unobserved = [x["feature"] for x in w["ledger"] if not x["observed"]]
    if unobserved:
        console.print(text("not observed: " + ", ".join(map(str, unobserved)), "dim"))
    loss = " · ".join(f"{a} {v:.3g}" for a, v in w["expected_loss"].items() if v is not None)
    console.print(text(f"expected loss: {loss}", "dim"))
    console.print(text(f"lfdr {w['lfdr']:.4f} · log odds {w['log_odds']:+.3f} · SPRT boundary "
                       f"{_signed(w['sprt_boundary'])} · posterior re-derived from the lake's terms "
                       f"(max error {w['rederivation_max_error']:.1e})", "dim"))


def print_lake(action: str, data: dict) -> None:
    """``pt lake``'s result, briefly, for people."""
    console = make_console(highlight=False)
    if action == "info":
        console.print(text(f"lake {data['lake']}" + ("" if data["exists"] else " (does not exist yet)"), "bold"))
        table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
        for name in ("table", "run files", "compacted", "bytes"):
            table.add_column(name, justify="left" if name == "table" else "right")
        for name, t in data["tables"].items():
            table.add_row(text(name), text(t["run_files"]), text(t["compacted_files"]), text(f"{t['bytes']:,}"))
        console.print(table)
        console.print(text(f"schema v{data['schema_version']} · key {data['key_id'] or 'not created yet'} "
                           f"({data['key_file']}) · {len(data['quarantined'])} quarantined", "dim"))
    elif action == "prune":
        verb = "would remove" if data["dry_run"] else "removed"
        console.print(text(f"{verb} {plural(len(data['partitions_removed']), 'day partition')} "
                           f"({plural(data['files_removed'], 'file')}) before {data['cutoff_date']}"))
        if data.get("hosts"):
            console.print(text(f"host partitions: {', '.join(data['hosts'])}", "dim"))
    elif action == "compact":
        for name, t in data["tables"].items():
            if t["files_in"] or t["leftovers_removed"]:
                console.print(text(f"{name}: {plural(t['files_in'], 'file')} -> {t['files_out']} "
                                   f"({plural(t['rows'], 'row')})"
                                   + (f", {t['leftovers_removed']} leftovers removed" if t["leftovers_removed"]
                                      else "")))
        for q in data["quarantined"]:
            console.print(text(f"quarantined {q}", "yellow"))
        if not any(t["files_in"] for t in data["tables"].values()):
            console.print(text("nothing to compact"))
        if data.get("hosts"):
            console.print(text(f"host partitions: {', '.join(data['hosts'])}", "dim"))
    elif action == "fleet":
        console.print(text(f"{data['lake']} is a fleet lake: this host writes under host={data['host']}/ "
                           f"(hosts so far: {', '.join(data['hosts']) or 'none'}); pt duck --fleet reads them all"))
    elif action == "check":
        console.print(text(f"{plural(data['files_checked'], 'file')} checked, {len(data['quarantined'])} quarantined"))
        for q in data["quarantined"]:
            console.print(text(f"{q['file']}: {q['reason']}", "yellow"))
    else:
        console.print(text(f"exported {plural(data['files'], 'file')} ({plural(data['rows'], 'row')}) to {data['destination']} "
                           f"({data['mode']}; key id {data['key_id']}; {data['note']})"))
