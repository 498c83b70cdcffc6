"""``pt undo PLAN``: revert every reversible action of an applied plan."""
from __future__ import annotations

import argparse

EPILOG = """\
Reverts what can be reverted: a paused process is continued (SIGCONT), a
reniced one gets its old nice back (lowering nice needs privileges), a
throttled, quarantined or frozen one is moved back to its own cgroup and pt's
group removed. Kills and restarts cannot be undone. Undo is journalled like
any action and is done once.

examples:
  pt undo 3f2a9c0d1e4b5a69
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import add_telemetry_options

    p = subparsers.add_parser("undo", help="revert a plan's reversible actions (resume, renice back, uncgroup)",
                              description="Revert every reversible action pt carried out for a plan.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", metavar="PLAN_ID|FILE", help="a plan id or plan file")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.act.apply import undo_plan
    from pt.act.journal import Journal
    from pt.act.plan import load_plan
    from pt.exit_codes import INCOMPLETE, OK
    from pt.telemetry.enabled import record_actions
    from pt.ui.result import envelope, journal_errors, print_json

    plan = load_plan(args.plan)
    journal = Journal()
    try:
        records = undo_plan(plan, journal=journal)
    finally:
        record_actions(args, "undo", journal)
    errors = journal_errors("undo", journal)
    failed = [r for r in records if r["result"] not in ("done", "aborted")]
    if args.json:
        print_json(envelope("undo", host={}, data={"plan_id": plan["plan_id"], "outcomes": records},
                            errors=errors, partial=bool(failed or errors)))
    else:
        from pt.ui.plan_view import print_outcomes
        print_outcomes(records, f"undo plan {plan['plan_id']}")
    return INCOMPLETE if failed else OK
