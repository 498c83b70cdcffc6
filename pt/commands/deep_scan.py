"""``pt deep-scan``: watch the candidates over time until more watching would not change the decision."""
from __future__ import annotations

import argparse

EPILOG = """\
A quick scan sees a moment. The deep scan samples the quick scan's most
uncertain candidates every --interval (CPU ticks, IO, context switches, RSS,
threads, scheduler time; loadavg and PSI for the machine), re-derives each
posterior as samples arrive (cumulative CPU and IO, plus a change-point term:
did CPU stop or start abruptly?), and stops watching a process as soon as the
value of information of watching longer no longer exceeds the cost of
waiting. It ends when nothing is left to learn or at --max-time, where a
still-undecided kill becomes pause-and-observe. It never acts. The run and
every candidate's series summary are recorded in the telemetry lake
(table deep_series; --no-telemetry to skip).

examples:
  pt deep-scan                          the 50 candidates most worth watching
  pt deep-scan --match pytest --max-time 60
  pt deep-scan --pid 4242 --json        one process, machine-readable
  pt deep-scan --pid 4242 --at +6h      would time change the verdict if it stays like this?
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import (add_selection_options, add_telemetry_options, count, duration,
                                     positive_duration, seconds_between)
    from pt.config import ACTIONS

    p = subparsers.add_parser(
        "deep-scan", help="watch candidates over time (change points, VOI stopping); never acts",
        description="Quick scan, then sample the best candidates until watching stops paying.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_options(p, pid_help="watch this process (repeatable)", actions=ACTIONS)
    p.add_argument("--max-time", type=positive_duration, metavar="DURATION",
                   help="stop after this long (default from policy deep_scan.max_time_s, 30 s)")
    p.add_argument("--interval", type=seconds_between(0.01, 10), metavar="SECONDS",
                   help="sampling interval (default from policy, 0.1)")
    p.add_argument("--limit", type=count, metavar="N", help="watch at most N candidates (default 50)")
    p.add_argument("--at", type=duration, default=0.0, metavar="DURATION",
                   help="judge as if DURATION more passed like the quick scan saw (e.g. +3h); "
                        "what the watch shows is added as seen")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (series summaries included)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from pt.decide.stability import verdict_memory
    from pt.deep import deep_scan
    from pt.exit_codes import OK
    from pt.telemetry.enabled import report_telemetry, telemetry_enabled
    from pt.ui.scan_rows import selection_from, warn_gave_up

    selection = selection_from(args)
    record = telemetry_enabled(args) and not args.at
    from pt.telemetry.lake import lake_root
    lake = lake_root(args.lake) if record else None        # earlier runs: growth across scans
    if args.json or not sys.stderr.isatty():
        result = deep_scan(selection, max_time_s=args.max_time, interval_s=args.interval, limit=args.limit,
                           memory=verdict_memory(), at_s=args.at, lake=lake)
    else:
        from pt.ui.deep_view import progress
        with progress() as update:
            result = deep_scan(selection, max_time_s=args.max_time, interval_s=args.interval, limit=args.limit,
                               on_progress=update, memory=verdict_memory(), at_s=args.at, lake=lake)
    warn_gave_up(args)
    if result.lake_note:
        from pt.ui.text import escape
        print(escape(f"pt deep-scan: {result.lake_note}"), file=sys.stderr)
    recorded = None
    not_recorded = "--at scans are hypothetical and are not recorded" if args.at else "disabled"
    if record:
        from pt.telemetry.writer import write_deep
        recorded = write_deep(result, lake=args.lake)
    if args.json:
        from pt.ui.deep_view import deep_json
        from pt.ui.result import print_json
        out = deep_json(result)
        out["data"]["telemetry"] = recorded.as_dict() if recorded else {"written": False, "reason": not_recorded}
        print_json(out)
    else:
        from pt.ui.deep_view import print_deep
        print_deep(result)
    if recorded is not None:
        report_telemetry("deep-scan", recorded)
    return OK
