"""``pt report``: one self-contained HTML page of a scan, for people.

The page holds the scan table (the same fields as ``pt scan``, in attention
order), then for each of the first processes its posterior as bars and its
evidence as a waterfall (the prior's log odds, each evidence item's Bayes
factor in bits, the posterior's log odds), then the latest deep scan's series
from the telemetry lake: each candidate's CPU share before and after its most
probable change point, and the calibration curve when ``pt apply`` has
recorded outcomes (what pt predicted against what was then done).

Everything is inline: CSS in one ``<style>``, every plot an ``<svg>``, no
script, no link, image or font from anywhere, so the file opens offline and
can be mailed. Every text from outside (process names, command lines, user
names, lake values) goes through :func:`h`: pt's one escaping function
(controls and bidi characters as visible escapes), then HTML escaping, so a
process named ``<script>`` is shown as that name and never run.
"""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass

import numpy as np

from pt.config import CLASSES
from pt.ui.text import escape, plural

#: Table columns (field names of pt/fields.py).
COLUMNS = ("pid", "user", "state", "cpu_window_share", "rss_bytes", "elapsed_s", "class", "p_class", "action",
           "command")
#: Characters of a command line the table shows (the detail shows it whole).
COMMAND_CHARS = 160
#: Processes drawn in detail (posterior bars and waterfall), from the top of the table.
DETAILED = 12
#: Characters of an evidence label beside its bar (the whole label is its tooltip).
LABEL_CHARS = 34
#: The largest weight of evidence a waterfall draws, in bits.
BITS_DRAWN = 64.0
#: Bins of the calibration curve.
CALIBRATION_BINS = 10
#: Change points drawn from this probability on.
CHANGE_SHOWN_P = 0.5
#: Deep-scan candidates drawn.
DEEP_SHOWN = 12
CLASS_COLOR = {"useful": "#2ca02c", "useful_bad": "#bcbd22", "abandoned": "#d62728", "zombie": "#9467bd"}
TOWARD_ABANDONED, TOWARD_USEFUL = "#d62728", "#2ca02c"
SANS = "system-ui, -apple-system, 'Segoe UI', sans-serif"

CSS = f"""
body {{ font-family: {SANS}; margin: 1.5em; color: #1a1a1a; background: #fff; }}
h1 {{ font-size: 1.4em; margin-bottom: .2em; }}
h2 {{ font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }}
h3 {{ font-size: 1em; margin: 1.2em 0 .3em; }}
.meta, .note {{ color: #555; }}
.empty {{ background: #fff8e1; border: 1px solid #f0c36d; padding: .6em .8em; }}
table.scan {{ border-collapse: collapse; font-size: 13px; }}
table.scan th, table.scan td {{ border-bottom: 1px solid #e3e3e3; padding: 3px 8px; text-align: left;
  vertical-align: top; }}
table.scan th {{ background: #f3f3f3; }}
table.scan td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.scan td.command {{ font-family: ui-monospace, monospace; max-width: 46em; overflow-wrap: anywhere; }}
.action-keep {{ color: #777; }} .action-act {{ color: #b00; font-weight: 600; }}
.proc {{ display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }}
.why {{ font-size: 13px; color: #333; max-width: 70em; }}
code {{ font-family: ui-monospace, monospace; overflow-wrap: anywhere; }}
div.command {{ max-height: 6em; overflow: auto; max-width: 70em; margin: .2em 0; }}
svg text {{ font-family: {SANS}; font-size: 11px; fill: #222; }}
"""


def h(value) -> str:
    """Outside text as safe HTML: visible escapes for controls, then entities."""
    return html.escape(escape("" if value is None else value), quote=True)


def _num(x: float) -> str:
    return f"{x:.1f}"


def _bounded(bits: float) -> float:
    """Bits as drawn: within ±:data:`BITS_DRAWN` (an impossible evidence item
    has infinite weight), 0 if not a number."""
    return 0.0 if math.isnan(bits) else max(-BITS_DRAWN, min(BITS_DRAWN, bits))


# --- plots ---------------------------------------------------------------------------------

def posterior_svg(posterior: dict[str, float], bounds: dict | None = None) -> str:
    """Horizontal bars of P(class | evidence), with the robust range as a whisker."""
    width, label_w, bar_w, row_h = 330, 80, 190, 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row_h * len(CLASSES) + 22}" '
             'role="img" aria-label="posterior"><text x="0" y="12" font-weight="600">P(class | evidence)</text>']
    for i, c in enumerate(CLASSES):
        y = 18 + i * row_h
        p = float(posterior.get(c) or 0.0)
        parts.append(f'<text x="0" y="{y + 12}">{h(c)}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{bar_w}" height="{row_h - 5}" fill="#eee"/>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{_num(bar_w * p)}" height="{row_h - 5}" '
                     f'fill="{CLASS_COLOR[c]}"/>')
        if bounds and c in bounds and bounds[c] is not None:
            lo, hi = (float(v) for v in bounds[c])
            parts.append(f'<line x1="{_num(label_w + bar_w * lo)}" x2="{_num(label_w + bar_w * hi)}" '
                         f'y1="{y + 8}" y2="{y + 8}" stroke="#000" stroke-width="1.5"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 12}">{p:.3f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def waterfall_svg(prior_bits: float, items: list[tuple[str, float]], total_bits: float) -> str:
    """The evidence waterfall: from the prior's log odds (abandoned vs
    useful, bits), each item moves the running total by its Bayes factor
    (red toward abandoned, green toward useful), ending at the posterior's."""
    prior_bits, total_bits = _bounded(prior_bits), _bounded(total_bits)
    rows = [("prior", 0.0, prior_bits, "#7f7f7f")]
    running = prior_bits
    for label, bits in items:
        bits = _bounded(bits)
        rows.append((label, running, running + bits, TOWARD_ABANDONED if bits > 0 else TOWARD_USEFUL))
        running += bits
    rows.append(("posterior", 0.0, total_bits, "#1f77b4"))
    ends = [v for _, a, b, _ in rows for v in (a, b)] + [0.0]
    lo, hi = min(ends), max(ends)
    span = max(hi - lo, 1e-9)
    label_w, plot_w, value_w, row_h = 215, 330, 60, 17
    width, height = label_w + plot_w + value_w, 24 + row_h * len(rows) + 16

    def x(v: float) -> float:
        return label_w + (v - lo) / span * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             'aria-label="evidence waterfall"><text x="0" y="12" font-weight="600">evidence, bits toward '
             'abandoned (+) or useful (−)</text>',
             f'<line x1="{_num(x(0))}" x2="{_num(x(0))}" y1="18" y2="{height - 14}" stroke="#999" '
             'stroke-dasharray="3,2"/>']
    for i, (label, a, b, color) in enumerate(rows):
        y = 20 + i * row_h
        left, right = sorted((x(a), x(b)))
        short = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
        parts.append(f'<g><title>{h(label)}</title><text x="0" y="{y + 12}">{h(short)}</text>'
                     f'<rect x="{_num(left)}" y="{y + 2}" width="{_num(max(right - left, 1.0))}" '
                     f'height="{row_h - 4}" fill="{color}"/>'
                     f'<text x="{label_w + plot_w + 6}" y="{y + 12}">{b - a if i and i < len(rows) - 1 else b:+.2f}'
                     '</text></g>')
    parts.append(f'<text x="{label_w}" y="{height - 2}">{lo:+.1f}</text>'
                 f'<text x="{label_w + plot_w}" y="{height - 2}" text-anchor="end">{hi:+.1f}</text></svg>')
    return "".join(parts)


def regime_svg(row: dict) -> str:
    """A deep-scan candidate's CPU share over the watch: its average, or,
    when a change is probable, the level before and after the most probable
    change point (dashed)."""
    width, height, left, top, plot_w, plot_h = 420, 150, 44, 22, 360, 100
    duration = max(float(row["samples"] or 0) * float(row["interval_s"] or 0), 1e-9)
    average = (row["cpu_ticks"] or 0) / row["elapsed_ticks"] if row["elapsed_ticks"] else 0.0
    at, p = row["change_at_s"], row["p_change"] or 0.0
    levels = [average]
    if p >= CHANGE_SHOWN_P and at is not None and math.isfinite(at) and row["share_before"] is not None \
            and row["share_after"] is not None:
        levels = [row["share_before"], row["share_after"]]
    ymax = max(1.0, *levels)

    def x(t: float) -> float:
        return left + min(max(t / duration, 0.0), 1.0) * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / ymax * plot_h

    if len(levels) == 2:
        path = (f"M{_num(x(0))},{_num(y(levels[0]))} H{_num(x(at))} V{_num(y(levels[1]))} "
                f"H{_num(x(duration))}")
    else:
        path = f"M{_num(x(0))},{_num(y(levels[0]))} H{_num(x(duration))}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="deep scan series"><text x="0" y="12" font-weight="600">CPU share over '
             f'{duration:.1f} s</text>',
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{ymax:.2g}</text>'
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>'
             f'<text x="{left}" y="{height - 4}">0 s</text>'
             f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end">{duration:.1f} s</text>',
             f'<path d="{path}" fill="none" stroke="#1f77b4" stroke-width="2.5"/>']
    if len(levels) == 2:
        parts.append(f'<line x1="{_num(x(at))}" x2="{_num(x(at))}" y1="{top}" y2="{top + plot_h}" '
                     f'stroke="#d62728" stroke-dasharray="4,3" stroke-width="1.5"/>'
                     f'<text x="{_num(min(x(at) + 4, left + plot_w - 90))}" y="{top + 12}" fill="#d62728">'
                     f'change at {at:.1f} s, P {p:.2f}</text>')
    else:
        parts.append(f'<text x="{left + 6}" y="{top + 12}">no change (P {p:.2f}); average {average:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def calibration_svg(bins: list[dict]) -> str:
    """Reliability diagram: per bin, mean predicted P(not useful) against the
    fraction acted on; the diagonal is perfect calibration."""
    size, left, top = 260, 40, 22

    def x(v: float) -> float:
        return left + v * size

    def y(v: float) -> float:
        return top + size - v * size

    points = " ".join(f"{_num(x(b['predicted']))},{_num(y(b['observed']))}" for b in bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + size + 20}" height="{top + size + 36}" '
             'role="img" aria-label="calibration"><text x="0" y="12" font-weight="600">observed against '
             'predicted P(not useful)</text>',
             f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fafafa" stroke="#ccc"/>',
             f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#999" stroke-dasharray="4,3"/>',
             f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="2"/>']
    for b in bins:
        r = 3 + min(math.log10(1 + b["n"]) * 2, 8)
        parts.append(f'<circle cx="{_num(x(b["predicted"]))}" cy="{_num(y(b["observed"]))}" r="{_num(r)}" '
                     f'fill="#1f77b4"><title>{h(b["n"])} decisions: predicted {b["predicted"]:.2f}, '
                     f'observed {b["observed"]:.2f}</title></circle>')
    parts.append(f'<text x="{left}" y="{top + size + 14}">0</text>'
                 f'<text x="{left + size}" y="{top + size + 14}" text-anchor="end">1</text>'
                 f'<text x="{left + size / 2}" y="{top + size + 30}" text-anchor="middle">predicted</text>'
                 f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">1</text>'
                 f'<text x="{left - 6}" y="{top + size}" text-anchor="end">0</text></svg>')
    return "".join(parts)


# --- data ----------------------------------------------------------------------------------

def scan_rows(t, selected: np.ndarray, top: int) -> tuple[np.ndarray, list[dict]]:
    """The first ``top`` (0: all) rows of triage ``t`` where ``selected``, in
    attention order, and their fields as ``pt scan --json`` gives them
    (command lines masked by the one secret masker)."""
    from pt.fields import FIELDS, process_columns, verdict_columns
    from pt.ui.result import masked_columns, rows
    from pt.ui.scan_rows import attention_order

    candidates = np.flatnonzero(selected)
    order = candidates[attention_order(t, candidates)][:top or None]
    snap = t.snapshot.take(order)
    process = {f.name for f in FIELDS}
    names = (*COLUMNS, "comm", "why", "posterior", "posterior_bounds", "log_odds", "protected_by")
    columns = process_columns(snap, [n for n in names if n in process]) | \
        verdict_columns(t, [n for n in names if n not in process], rows=order)
    return order, rows(masked_columns(columns, snap["cmdline"], snap["comm"]))


def evidence_bits(t, row: int) -> tuple[float, list[tuple[str, float]], float]:
    """The waterfall's numbers for one process: the prior's log odds
    abandoned:useful in bits, each observed item's Bayes factor in bits
    (labelled with what was observed), and the posterior's log odds."""
    from pt.infer.ledger import ledger_rows
    from pt.infer.posterior import ABANDONED, USEFUL
    prior = np.atleast_2d(t.inference.log_prior)
    prior = prior[row] if len(prior) > 1 else prior[0]
    prior_bits = float(prior[ABANDONED] - prior[USEFUL]) / math.log(2)
    items = [(f"{r['label']}: {r['observed']}", r["bits_abandoned_vs_useful"])
             for r in ledger_rows(t.inference, t.evidence, row) if not r["missing"]]
    return prior_bits, items, prior_bits + sum(b for _, b in items)


# --- the page ------------------------------------------------------------------------------

def _cell(name: str, value) -> str:
    from pt.fields import FIELDS_BY_NAME
    shown = FIELDS_BY_NAME[name].show(value)
    if name == "command" and len(shown) > COMMAND_CHARS:
        shown = shown[:COMMAND_CHARS - 1] + "…"
    shown = h(shown)
    if name == "pid":
        return f'<td class="num"><a href="#pid-{int(value)}">{shown}</a></td>'
    if name in ("cpu_window_share", "rss_bytes", "elapsed_s", "p_class"):
        return f'<td class="num">{shown}</td>'
    if name == "action":
        return f'<td class="action-{"keep" if value == "keep" else "act"}">{shown}</td>'
    return f'<td class="{name}">{shown}</td>'


def scan_table(shown: list[dict]) -> str:
    from pt.fields import FIELDS_BY_NAME
    head = "".join(f"<th>{h(FIELDS_BY_NAME[n].header or n)}</th>" for n in COLUMNS)
    body = "".join("<tr>" + "".join(_cell(n, r[n]) for n in COLUMNS) + "</tr>" for r in shown)
    return f'<table class="scan"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def process_detail(t, row: int, fields: dict) -> str:
    prior_bits, items, total = evidence_bits(t, row)
    protected = f'<div class="note">protected: {h(fields["protected_by"])}</div>' if fields["protected_by"] else ""
    return (f'<section id="pid-{int(fields["pid"])}"><h3>pid {h(fields["pid"])} ({h(fields["comm"])}): '
            f'{h(fields["class"])}, P {fields["p_class"]:.3f} → {h(fields["action"])}</h3>'
            f'<div class="command"><code>{h(fields["command"])}</code></div>'
            f'<div class="why">why: {h(fields["why"])}</div>{protected}'
            f'<div class="proc">{posterior_svg(fields["posterior"], fields["posterior_bounds"])}'
            f'{waterfall_svg(prior_bits, items, total)}</div></section>')


def deep_section(deep: list[dict], note: str | None) -> str:
    if not deep:
        return f'<p class="empty">{h(note)}</p>'
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(deep[0]["ts"]))
    out = [f'<p class="meta">Run {h(deep[0]["run_id"])} at {h(when)}: {plural(len(deep), "candidate")}, most '
           "probable change first.</p>"]
    for r in deep:
        settled = "watched to the end" if r["settled_at_s"] is None else f"settled after {r['settled_at_s']:.1f} s"
        out.append(f'<h3>pid {h(r["pid"])} ({h(r["exe"] or "?")}): {h(r["quick_action"])} → '
                   f'{h(r["deep_action"])}</h3><div class="meta">{h(r["samples"])} samples, {h(settled)}</div>'
                   f"{regime_svg(r)}")
    return "".join(out)


def calibration_section(bins: list[dict], note: str | None) -> str:
    if not bins:
        return f'<p class="empty">{h(note)}</p>'
    n = sum(b["n"] for b in bins)
    brier = sum(b["brier"] * b["n"] for b in bins) / n
    return (f'<p class="meta">{plural(n, "labelled decision")}; Brier score {brier:.3f} (0 is perfect). Points on '
            "the diagonal mean that of the processes pt gave probability p of not being useful, a fraction "
            f"p was acted on.</p>{calibration_svg(bins)}")


def incidents_section(incidents) -> str:
    """The lifecycle incidents the scan's window showed (pt.infer.incidents)."""
    if not incidents:
        return ('<p class="empty">No lifecycle incident in the scan\'s window; `pt incidents --window 5` '
                "watches longer.</p>")
    from pt.ui.incidents_view import command_of, remedy
    head = "".join(f"<th>{h(c)}</th>" for c in ("kind", "pid", "level", "severity", "remedy", "command",
                                                "evidence"))
    body = "".join(f"<tr><td>{h(i.kind)}</td><td>{h(i.pid)}</td><td>{h(i.level)}</td><td>{i.severity:.1f}</td>"
                   f"<td>{h(remedy(i))}</td><td>{h(command_of(i))}</td><td>{h(i.words)}</td></tr>"
                   for i in incidents)
    return (f'<table class="scan"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            '<p class="note">Severity: the observed rate in multiples of its detection threshold.</p>')


def render(t, rows: np.ndarray, shown: list[dict], lake: FromLake, title: str = "pt report",
           incidents=()) -> str:
    """The whole page (see the module docstring)."""
    from pt import __version__
    host = t.snapshot.host
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    acting = sum(1 for r in shown if r["action"] != "keep")
    if shown:
        table = scan_table(shown)
        details = "".join(process_detail(t, int(row), fields) for row, fields in
                          zip(rows[:DETAILED].tolist(), shown[:DETAILED]))
    else:
        table = '<p class="empty">No process matches this selection.</p>'
        details = '<p class="empty">Nothing to explain: no process was selected.</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{h(title)} · {h(host.hostname)}</title><style>{CSS}</style></head>
<body><h1>{h(title)}: {h(host.hostname)}</h1>
<p class="meta">{h(when)} · pt {h(__version__)} · {len(t):,} processes scanned, {len(shown):,} shown,
{acting:,} with an action recommended · window {t.window.duration_s:.2f} s</p>
<h2>Processes, most worth a look first</h2>{table}
<h2>Evidence, process by process</h2>
<p class="note">Each waterfall starts at the prior's log odds (abandoned against useful, in bits) and adds
every observed evidence item's Bayes factor; the last bar is the posterior's log odds. The bars beside it
are the posterior over the four classes, with its range over the policy's priors.</p>{details}
<h2>Lifecycle incidents</h2>{incidents_section(incidents)}
<h2>Deep scan</h2>{deep_section(lake.deep, lake.deep_note)}
<h2>Calibration</h2>{calibration_section(lake.calibration, lake.calibration_note)}
</body></html>
"""


@dataclass(frozen=True)
class FromLake:
    """What the report shows from the telemetry lake, each part with a note
    saying why it is empty when it is."""

    deep: list[dict]
    deep_note: str | None
    calibration: list[dict]
    calibration_note: str | None


def read_lake(lake: str | None) -> FromLake:
    """The latest deep scan's candidates and the calibration bins, from the
    lake (``--lake``, ``$PT_LAKE`` or the default); notes instead when it has
    none, does not exist or cannot be read."""
    import duckdb

    from pt.telemetry.enabled import lake_problem
    from pt.telemetry import duck
    problem = lake_problem(lake)
    try:
        if problem:
            raise OSError(problem)
        opened = duck.open_lake(lake)
        columns, rows = opened.query(
            "SELECT d.*, c.exe FROM deep_series d LEFT JOIN decisions c USING (run_id, pid, start_ticks) "
            "WHERE d.run_id = (SELECT run_id FROM deep_series ORDER BY ts DESC LIMIT 1) "
            f"ORDER BY d.p_change DESC NULLS LAST, d.pid LIMIT {DEEP_SHOWN}")
        deep = [dict(zip(columns, r)) for r in rows]
        columns, rows = duck.report(opened, "calibration", bins=CALIBRATION_BINS)
        calibration = [dict(zip(columns, r)) for r in rows]
        outcomes = duck.outcome_count(opened)
    except (OSError, duckdb.Error) as exc:
        note = f"The telemetry lake cannot be read: {exc}"
        return FromLake([], note, [], note)
    deep_note = None if deep else (
        f"No deep scan in the telemetry lake ({opened.root}) yet: run `pt deep-scan` and make the report "
        "again to see how the candidates' CPU changed over time.")
    calibration_note = None if calibration else (
        "No action outcomes in the telemetry lake yet: calibration compares what pt predicted with what "
        "was then done, which `pt apply` records." if outcomes == 0 else
        "No outcome in the lake labels a decision yet (acted on and done or exited, or kept).")
    return FromLake(deep, deep_note, calibration, calibration_note)
