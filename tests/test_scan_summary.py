"""Why nothing is recommended: the scan names what each veto protects and
how to change it, lists what is worth a look first, and explains its glyphs."""
from __future__ import annotations

import io
import json
import re
from collections import Counter

import numpy as np

from pt.testing import run_pt, zombie
from pt.ui.text import SafeConsole


def test_the_summary_counts_each_veto_and_names_its_policy_key():
    from pt.config import ACTIONS
    from pt.triage import triage
    from pt.ui.scan_rows import VETO_KEYS, select_rows, veto_rule
    from pt.ui.scan_view import print_scan

    with zombie():
        t = triage(window_s=0.05)
    view = select_rows(t.snapshot, uids=None, kernel_threads=False, sort="attention", triage=t)
    user = ~t.snapshot["kernel_thread"]
    reasons = [veto_rule(r) for r in t.protected_by[user] if r is not None]
    assert view.protected == dict(Counter(reasons)) and sum(view.protected.values()) == len(reasons)
    assert view.recommended == dict(Counter(np.asarray(ACTIONS)[t.decision.action[user]].tolist()))

    buf = io.StringIO()
    print_scan(view, top=5, tree=False, console=SafeConsole(file=buf, width=1000, color_system=None))
    out = buf.getvalue()
    keys = dict(VETO_KEYS)
    for rule, n in view.protected.items():
        assert f"{n:,} {rule}" + (f" ({keys[rule]})" if rule in keys else "") in out
    acting = {a: n for a, n in view.recommended.items() if a != "keep"}
    assert ("recommended: " if acting else "nothing recommended beyond keep") in out


def test_json_summary_counts_vetoes_and_actions(tmp_path):
    data = json.loads(run_pt("scan", "--json", "--no-telemetry", cwd=tmp_path).stdout)["data"]
    rows, summary = data["processes"], data["summary"]
    assert sum(summary["recommended"].values()) == len(rows)
    assert sum(summary["protected_by"].values()) == sum(r["protected_by"] is not None for r in rows)


def test_the_legend_names_every_glyph(tmp_path):
    from pt.commands.scan import LEGEND
    from pt.infer.ledger import GLYPHS, LABELS

    for feature, glyph in GLYPHS.items():
        assert f"{glyph} {LABELS[feature]}" in LEGEND
    shown = run_pt("scan", "--legend", cwd=tmp_path)
    assert shown.stdout == LEGEND and not shown.stderr
    assert LEGEND.splitlines()[6].strip() in run_pt("scan", "--help", cwd=tmp_path).stdout


def as_shown(printed: str) -> list[tuple[str, tuple[str, ...]]]:
    """What a terminal shows of ``printed``: each character with the SGR
    attributes in force (Rich ends every run of one style with a reset)."""
    out, state, pos = [], (), 0
    for m in re.finditer(r"\x1b\[([0-9;]*)m", printed):
        out += [(c, state) for c in printed[pos:m.start()]]
        state = () if m.group(1) in ("", "0") else (*state, m.group(1))
        pos = m.end()
    return out + [(c, state) for c in printed[pos:]]


def test_fixed_column_widths_print_what_richs_own_measuring_prints():
    """scan_table fixes its columns' widths when the console leaves the
    command column room, and then hands Rich the fixed columns as one cell
    a row, instead of letting Rich measure and place every cell: the table
    must print the same, on consoles just wide enough and wider, with the
    command column cut or not: byte for byte without a terminal, the same
    characters in the same colours on one (where Rich may now write a run
    of equally styled cells with one escape sequence instead of several)."""
    from pt.triage import triage
    from pt.ui.scan_rows import select_rows
    from pt.ui.scan_view import scan_table

    t = triage(window_s=0.05)
    view = select_rows(t.snapshot, uids=None, kernel_threads=False, sort="attention", triage=t)

    def printed(width: int, console_width: int, terminal: bool) -> str:
        buf = io.StringIO()
        console = SafeConsole(file=buf, width=console_width, force_terminal=terminal,
                              color_system="truecolor" if terminal else None)
        console.print(scan_table(view, 20, width))
        return buf.getvalue()

    fixed_from = next(w for w in range(20, 400) if scan_table(view, 20, w).columns[0].width is not None)
    for width in (fixed_from, fixed_from + 1, fixed_from + 15, 400):
        for terminal in (False, True):
            new, old = printed(width, width, terminal), printed(0, width, terminal)
            assert (as_shown(new) == as_shown(old)) if terminal else (new == old), (width, terminal)
            assert "\x1b[" in new if terminal else "\x1b[" not in new
    assert scan_table(view, 20, fixed_from - 1).columns[0].width is None
