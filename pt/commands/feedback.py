"""``pt feedback``: tell pt what a process really was (a label for calibration)."""
from __future__ import annotations

import argparse

EPILOG = """\
Records LABEL as what the process really was, in the telemetry lake's
outcomes table (observed_by = feedback); `pt calibrate` learns from it. A
person's label outranks what pt inferred from later scans or from `pt apply`
confirmations; a later label replaces an earlier one (pt says so).

The process is PID (the live process with that pid, else the latest one pt
recorded with it), PID:START_TICKS, or BOOT_ID:START_TICKS:PID (as `pt duck
why` prints). pt must have recorded a verdict about it: a process no scan
saw is refused (exit 3), since a label without the evidence pt saw teaches
nothing.

examples:
  pt feedback 4242 abandoned
  pt feedback 4242:123456 useful --note "my long-running notebook"
  pt feedback 4242 zombie --json
"""


def add_parser(subparsers) -> None:
    from pt.config import CLASSES

    p = subparsers.add_parser("feedback", help="label a process (useful, abandoned, ...) for calibration",
                              description="Record what a process really was, for `pt calibrate`.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="ID|PID", help="PID, PID:START_TICKS or BOOT_ID:START_TICKS:PID")
    p.add_argument("label", choices=CLASSES, metavar="LABEL", help=", ".join(CLASSES))
    p.add_argument("--note", metavar="TEXT", help="why (stored redacted: paths and secrets removed)")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.telemetry.enabled import lake_problem
    from pt.ui.text import escape

    if args.note is not None and len(args.note) > 1000:
        raise CommandError("usage", f"--note is at most 1000 characters, got {len(args.note)}")
    from pt.telemetry.duck import parse_target
    try:
        target = parse_target(args.target)
    except ValueError as exc:
        raise CommandError("usage", str(exc).replace("why wants", "feedback wants"))
    problem = lake_problem(args.lake)
    if problem:
        raise CommandError("lake_error", problem)

    import duckdb

    from pt.learn.calibrate import last_verdict
    try:
        verdict, earlier = last_verdict(args.lake, target)
    except (OSError, duckdb.Error) as exc:
        raise CommandError("lake_error", f"cannot read the lake: {exc}")
    if verdict is None:
        raise CommandError("not_found", f"pt has no recorded verdict about process {args.target!r} "
                                        "(run `pt scan` while it runs, then label it)")

    from pt.telemetry.writer import write_labels
    now = time.time()
    row = {"ts": now, "boot_id": verdict["boot_id"], "pid": verdict["pid"],
           "start_ticks": verdict["start_ticks"], "uid": verdict["uid"], "action": verdict["action"],
           "result": "labelled", "observed_by": "feedback", "label": args.label,
           "verdict_run_id": verdict["run_id"], "after_s": now - verdict["ts"], "note": args.note}
    written = write_labels([row], lake=args.lake)
    if not written.written:
        raise CommandError("lake_error", f"label not recorded: {written.reason} (lake {written.lake})")
    replaced = [e for e in earlier if e != args.label]
    if replaced:
        print(escape(f"pt feedback: replaces the earlier label {', '.join(replaced)} of this process"),
              file=sys.stderr)
    from pt.act.identity import identity_string
    identity = identity_string(verdict["boot_id"], verdict["start_ticks"], verdict["pid"])
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("feedback", host={}, errors=[], partial=False, data={
            "identity": identity, "pid": verdict["pid"], "label": args.label, "replaces": replaced,
            "verdict": {k: verdict[k] for k in ("run_id", "class", "action")}, "telemetry": written.as_dict()}))
    else:
        print(escape(f"Recorded: process {verdict['pid']} ({identity}) was {args.label}; pt said "
                     f"{verdict['class']} / {verdict['action']} in run {verdict['run_id']}."))
    return OK
