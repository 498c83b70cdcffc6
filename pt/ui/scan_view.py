"""Render the processes of a scan as a Rich table or tree (:mod:`pt.ui.scan_rows`
selects and sorts them)."""
from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

from pt.fields import FIELDS_BY_NAME
from pt.formatting import format_duration
from pt.ui.result import masked_columns
from pt.ui.scan_rows import RAW_TREE, TRIAGE_TREE, VETO_KEYS, ScanView
from pt.ui.styles import ACTION_STYLE, CLASS_STYLE
from pt.ui.text import console as make_console
from pt.ui.text import line, plural, text

STATE_STYLE = {"R": "bold green", "D": "bold red", "Z": "bold magenta", "T": "yellow",
               "t": "yellow", "I": "dim", "X": "red"}


def _cell(field_name: str, value) -> Text:
    field = FIELDS_BY_NAME[field_name]
    cell = text(field.show(value))
    if field_name == "state":
        cell.stylize(STATE_STYLE.get(value, ""))
    elif field_name == "cpu_share" and value >= 0.5:
        cell.stylize("bold red" if value >= 0.9 else "yellow")
    elif field_name == "class":
        cell.stylize(CLASS_STYLE.get(value, ""))
    elif field_name in ("action", "recommendation"):
        cell.stylize(ACTION_STYLE.get(str(value).split(" ", 1)[0], ""))
    elif field_name == "command":
        cell.stylize("cyan" if not str(value).startswith("[") else "dim")
        cell.no_wrap, cell.overflow = True, "ellipsis"
    return cell


def _title(view: ScanView) -> Text:
    host = view.snapshot.host
    return line(("pt scan", "bold"), f" · {host.hostname} · {view.total:,} processes · "
                f"{host.cpu_count} CPUs · up {format_duration(host.uptime_s)}")


def veto_note(protected: dict[str, int]) -> Text:
    """Which hard vetoes pinned how many processes to keep, and the policy
    key that would change each (``guards.*`` in ~/.config/pt/policy.json)."""
    out = line(("kept by hard vetoes: ", "bold"))
    for n, (rule, count) in enumerate(protected.items()):
        key = next((k for prefix, k in VETO_KEYS if rule == prefix), None)
        out.append_text(line(" · " if n else "", f"{count:,} {rule}", (f" ({key})" if key else "", "dim")))
    return out


def _caption(view: ScanView, shown: int) -> Text:
    parts = [f"{shown:,} of {len(view):,} shown, by {view.sort}"]
    if view.hidden_kernel_threads:
        parts.append(f"{view.hidden_kernel_threads:,} kernel threads hidden (--kernel-threads)")
    if shown < len(view):
        parts.append("--top 0 for all")
    errors = view.snapshot.errors
    if errors.vanished:
        parts.append(f"{errors.vanished} exited during the scan")
    caption = line(" · ".join(parts))
    if errors.partial:
        caption.append_text(line(" · ", (f"{errors.denied + errors.malformed} unreadable", "yellow")))
    return caption


def summary_lines(view: ScanView) -> list[Text]:
    """Why the verdicts are what they are, for a scan with verdicts: what is
    recommended and, when vetoes pinned processes to keep, which and how
    many, with the policy key that changes each."""
    if view.recommended is None:
        return []
    acting = {a: n for a, n in view.recommended.items() if a != "keep"}
    out = [line(("recommended: " + ", ".join(f"{n:,} {a}" for a, n in acting.items()) + " (pt plan to act)"
                 if acting else "nothing recommended beyond keep for the "
                 + plural(len(view), "selected process", "selected processes"), "bold"))]
    if view.protected:
        out += [veto_note(view.protected),
                line(("to change a veto, set its key in ~/.config/pt/policy.json; "
                      "the EVIDENCE glyphs: pt scan --legend", "dim"))]
    if view.kill_withheld:
        out.append(line((f"{view.kill_withheld['count']:,} kill recommendations withheld: ", "bold"),
                        view.kill_withheld["why"].removeprefix("kill withheld: ")))
    if view.incidents is not None:
        out.append(incidents_note(view.incidents, view.window_s))
    return out


def incidents_note(incidents: tuple, window_s: float) -> Text:
    """The lifecycle incidents the scan's window showed, by kind and root, or
    that none could be judged from it (a longer watch sees more)."""
    if not incidents:
        return line((f"no lifecycle incident seen in the {window_s:.1f} s window; "
                     "run pt incidents --window 5 for more", "dim"))
    named = ", ".join(f"{i.kind} at {i.pid} ({i.action if i.veto else i.action + ' tree'})" for i in incidents[:3])
    more = f" and {len(incidents) - 3} more" if len(incidents) > 3 else ""
    return line(("incidents: ", "bold"), named + more, (" · pt incidents for the evidence", "dim"))


def scan_table(view: ScanView, top: int, width: int) -> Table:
    """The scan as a Rich table, one column per field with a header, for a
    console ``width`` cells wide."""
    shown = len(view) if top == 0 else min(top, len(view))
    table = Table(title=_title(view), caption=_caption(view, shown), title_justify="left",
                  caption_justify="left", header_style="bold", box=None, pad_edge=False,
                  padding=(0, 1, 0, 0),
                  expand=False)
    columns = [FIELDS_BY_NAME[name] for name in view.table]
    values = masked_columns(view.columns, view.snapshot["cmdline"], view.snapshot["comm"], shown)
    cells = [[_cell(f.name, v) for v in values[f.name].tolist()] for f in columns]
    # Never cut a pid or a verdict: these columns keep their widest cell.
    widths = {f.name: max([len(f.header), *(c.cell_len for c in column)])
              for f, column in zip(columns, cells) if f.name != "command"}
    # When they leave the command column its 12 cells (and padding), Rich
    # gives them exactly these widths: fixing them spares it measuring every
    # cell. On a narrower console it is left to Rich, which then lets the
    # table overflow rather than cut them.
    fixed = sum(w + 1 for w in widths.values()) + 13 <= width
    if fixed and columns[-1].name == "command":
        # Then Rich needs to lay out two columns, not a dozen: the fixed ones come as one cell a
        # row, each value placed in its width as Rich would place it (~15 ms of 40 rows).
        fields = columns[:-1]
        table.add_column(_joined([Text(f.header) for f in fields], fields, widths), no_wrap=True,
                         min_width=sum(widths.values()) + len(fields) - 1, width=sum(widths.values()) + len(fields) - 1)
        table.add_column(columns[-1].header, min_width=12)
        for *row, command in zip(*cells):
            table.add_row(_joined(row, fields, widths), command)
        return table
    for field in columns:
        if field.name == "command":
            # Wrapable, so this column absorbs a narrow terminal; the cell
            # itself is one line cut with an ellipsis.
            table.add_column(field.header, min_width=12)
        else:
            table.add_column(field.header, justify="left" if field.dtype == "string" else "right", no_wrap=True,
                             min_width=widths[field.name], width=widths[field.name] if fixed else None)
    for row in zip(*cells):
        table.add_row(*row)
    return table


def _joined(parts: list[Text], fields: list, widths: dict[str, int]) -> Text:
    """Cells of fixed-width columns as one cell, each justified in its
    column's width as Rich's table justifies it (right: trailing spaces
    dropped, then padded on the left; left: padded on the right), with the
    one space of padding Rich puts between columns."""
    out = Text()
    for n, (field, part) in enumerate(zip(fields, parts)):
        if n:
            out.append(" ")
        if field.dtype == "string":
            part.pad_right(widths[field.name] - part.cell_len)
        else:
            part.rstrip()
            part.pad_left(widths[field.name] - part.cell_len)
        out.append_text(part)
    return out


def _forest(view: ScanView) -> tuple[list[int], dict[int, list[int]]]:
    """Roots and children (row indices) of the shown processes, each list in
    the view's order of its best-placed member, so ``--sort`` ranks whole
    trees. A root is a process whose parent is not shown or is PID 1: init's
    children are the top-level trees (init itself is a one-line tree). A
    parent cycle (pid reuse mid-scan) is cut, never followed."""
    from pt.features.genealogy import rows_of
    from pt.kernels import breadth_first

    ppid = view.snapshot["ppid"]
    parent = np.where(ppid > 1, rows_of(view.snapshot, ppid), -1)
    order, parent = breadth_first(parent)
    best = np.arange(len(ppid))                # the view's order is the rank
    for i in order[::-1].tolist():             # children before parents
        p = int(parent[i])
        if p >= 0 and best[i] < best[p]:
            best[p] = best[i]
    children: dict[int, list[int]] = {}
    for i in np.argsort(best, kind="stable").tolist():
        children.setdefault(int(parent[i]), []).append(i)
    return children.pop(-1, []), children


def scan_tree(view: ScanView, top: int = 0) -> Text:
    """The parent/child forest of the selected processes as aligned columns
    under a header, the tree drawn in the COMMAND column; ``top`` whole trees
    (0: all), ranked by their best-placed member in the view's sort.

    Drawn here rather than with ``rich.tree.Tree``, whose nested renderables
    cost ~0.2 ms a node: a 2,000-process forest must print in milliseconds.
    """
    c = masked_columns(view.columns, view.snapshot["cmdline"], view.snapshot["comm"])
    names = TRIAGE_TREE if "recommendation" in c else RAW_TREE
    roots, children = _forest(view)
    shown_roots = roots if top == 0 else roots[:top]
    rows: list[tuple[int, str]] = []
    stack = [(i, "", "", last) for i, last in _with_last(shown_roots)][::-1]
    while stack:
        i, prefix, branch, last = stack.pop()
        rows.append((i, prefix + branch))
        kids = children.get(i, [])
        child_prefix = prefix + ("" if not branch else "    " if last else "│   ")
        stack.extend((k, child_prefix, "└── " if k_last else "├── ", k_last)
                     for k, k_last in reversed(list(_with_last(kids))))
    fields = [FIELDS_BY_NAME[n] for n in names]
    if "recommendation" in c:         # "kill tree (13)": the tree drawn beside it shows the processes
        c = {**c, "recommendation": np.array([str(r).replace(" processes)", ")") for r in c["recommendation"]],
                                             dtype=object)}
    cells = [[_cell(f.name, c[f.name][i]) for f in fields[:-1]] for i, _ in rows]
    widths = [max([len(f.header), *(r[j].cell_len for r in cells)]) for j, f in enumerate(fields[:-1])]

    def aligned(parts: list[Text]) -> Text:
        out = Text()
        for field, width, part in zip(fields, widths, parts):
            gap = width - part.cell_len
            (part.pad_right if field.dtype == "string" else part.pad_left)(gap)
            out.append_text(part)
            out.append(" ")
        return out

    header = aligned([Text(f.header, "bold") for f in fields[:-1]])
    header.append(fields[-1].header, "bold")
    lines = [_title(view), header]
    for (i, drawing), row in zip(rows, cells):
        body = aligned(row)
        body.append(drawing, "dim")
        body.append_text(_cell("command", c["command"][i]))
        lines.append(body)
    caption = f"{len(shown_roots):,} of {len(roots):,} trees shown ({len(rows):,} processes), by {view.sort}"
    if len(shown_roots) < len(roots):
        caption += " · --top 0 for all"
    lines.append(line((caption, "dim")))
    return Text("\n").join(lines)


def _with_last(items: list[int]):
    """Pairs ``(item, is_last)``."""
    return ((item, n == len(items) - 1) for n, item in enumerate(items))


def rows_that_fit(view: ScanView, console: Console, most: int) -> int:
    """How many rows to show by default: ``most``, fewer on a terminal too short
    to show them with the title, the column header, the lines under the
    table (as they wrap at its width) and the next prompt; at least 5."""
    if not console.is_terminal:
        return most
    under = [_caption(view, most), *summary_lines(view)]
    chrome = 3 + sum(len(console.render_lines(t, pad=False)) for t in under)
    return max(5, min(most, console.height - chrome))


def print_scan(view: ScanView, *, top: int | None, tree: bool, console: Console | None = None,
               most: int = 40) -> None:
    """The table (``top`` rows, 0 for all, None for :func:`rows_that_fit`) or
    the tree, then the lines that say what is recommended and what vetoes kept."""
    console = console or make_console()
    fit, rendered = top is None, None
    if fit:
        top = rows_that_fit(view, console, most)
    if fit and not tree and console.is_terminal:
        # Measure what the table really takes (a row may take two lines on
        # a terminal too narrow for its fixed columns) and drop rows until
        # the title stays on screen.
        under = sum(len(console.render_lines(t, pad=False)) for t in summary_lines(view))
        for _ in range(3):
            rendered = list(console.render(scan_table(view, top, console.width)))
            lines = Segment.split_and_crop_lines(rendered, console.width, pad=False)   # as render_lines counts
            excess = sum(1 for _ in lines) + under + 1 - console.height
            if excess <= 0 or top <= 5:
                break
            top, rendered = max(5, top - excess), None
    if tree:
        console.print(scan_tree(view, top), no_wrap=True, overflow="ellipsis")
    elif rendered is not None:                 # the table that fits, already rendered
        console.print(Segments(rendered))
    else:
        console.print(scan_table(view, top, console.width))
    for note in summary_lines(view):          # the terminal's width, not the table's
        console.print(note)
