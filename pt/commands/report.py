"""``pt report``: the scan as one self-contained HTML page (table, evidence plots, deep-scan series)."""
from __future__ import annotations

import argparse

DEFAULT_FILE = "pt-report.html"
DEFAULT_TOP = 40

EPILOG = """\
The page shows the processes most worth a look (as pt scan orders them), the
evidence behind each of the first ones as a waterfall of Bayes factors and
its posterior as bars, and the latest deep scan in the telemetry lake (each
candidate's CPU share before and after its most probable change point) and
the calibration curve once `pt apply` has recorded outcomes. It
is one file with nothing to fetch: inline CSS and SVG, no scripts. It shows
command lines with secrets masked, and is written readable by you only. The
scan behind it is not recorded in the lake.

examples:
  pt report                               write pt-report.html here
  pt report --html /tmp/triage.html --open
  pt report --user $USER --top 20
  pt report --match 'pytest|node' --min-age 1h
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import add_selection_options, count, seconds_between
    from pt.config import ACTIONS

    p = subparsers.add_parser(
        "report", help="write the scan as one self-contained HTML page (tables and plots)",
        description="Scan, then write an HTML report with the table, evidence plots and deep-scan series.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--html", metavar="FILE", default=DEFAULT_FILE,
                   help=f"write the page here (default {DEFAULT_FILE}; replaced if it exists)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser when written")
    p.add_argument("--top", type=count, default=DEFAULT_TOP, metavar="N",
                   help=f"show the first N processes (default {DEFAULT_TOP}; 0 = all)")
    add_selection_options(p, pid_help="only this process (repeatable)", actions=ACTIONS)
    p.add_argument("--window", type=seconds_between(0, 60, low_open=True), metavar="SECONDS",
                   help="how long to watch CPU and IO before deciding (default from policy)")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake to read the deep scan from (default $PT_LAKE, else "
                        "$XDG_DATA_HOME/pt/lake)")
    p.add_argument("--json", action="store_true", help="print one JSON object saying what was written")
    p.set_defaults(run=run)


def write_private(path: str, content: str) -> None:
    """Write ``content`` to ``path`` (0600 when created), never through a symbolic link."""
    import os
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)


def run(args: argparse.Namespace) -> int:
    import os

    from pt.decide.stability import verdict_memory
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.incidents import judge
    from pt.report import read_lake, render, scan_rows
    from pt.triage import triage
    from pt.ui.scan_rows import selection_from, warn_gave_up
    from pt.ui.text import escape

    selection = selection_from(args)
    t = triage(window_s=args.window, memory=verdict_memory())
    rows, shown = scan_rows(t, selection.rows(t, t.decision.action), args.top)
    warn_gave_up(args)
    lake = read_lake(args.lake)
    try:
        write_private(args.html, render(t, rows, shown, lake, incidents=judge(t)))
    except OSError as exc:
        raise CommandError("os_error", f"cannot write {args.html}: {exc.strerror or exc}") from None
    path = os.path.abspath(args.html)
    notes = list(dict.fromkeys(n for n in (lake.deep_note, lake.calibration_note) if n))
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("report", host=t.snapshot.host.as_dict(),
                            data={"path": path, "processes": len(shown), "deep_candidates": len(lake.deep),
                                  "calibration_bins": len(lake.calibration), "notes": notes}, errors=t.snapshot.errors.as_list(),
                            partial=t.snapshot.errors.partial))
    else:
        print(escape(f"Wrote {path}: {len(shown)} processes"))
        for note in notes:
            print(escape(f"  {note}"))
    if args.open:
        import pathlib
        import sys
        import webbrowser
        if not webbrowser.open(pathlib.Path(path).as_uri()):
            print(escape(f"pt report: no web browser found; open {path} in one"), file=sys.stderr)
    return OK
