"""``pt verify PLAN``: what happened to each target of an applied plan."""
from __future__ import annotations

import argparse

EPILOG = """\
For each action: the outcome pt journalled, whether the process is still
there and in which state (running, stopped (paused), or a zombie not yet
reaped by its parent), and, for one that is gone, whether its command
came back: a process with the same command line and owner started after pt
acted (a supervisor or a shell loop respawning it).

examples:
  pt verify 3f2a9c0d1e4b5a69
  pt verify 3f2a9c0d1e4b5a69 --json
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("verify", help="check what became of a plan's targets (respawns included)",
                              description="Report the outcome and the current state of each target of a plan.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", metavar="PLAN_ID|FILE", help="a plan id or plan file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.act.apply import verify_plan
    from pt.act.journal import Journal
    from pt.act.plan import load_plan
    from pt.exit_codes import OK
    from pt.ui.result import envelope, journal_errors, print_json

    plan = load_plan(args.plan)
    journal = Journal()
    rows = verify_plan(plan, journal=journal)
    errors = journal_errors("verify", journal)
    if args.json:
        print_json(envelope("verify", host={}, data={"plan_id": plan["plan_id"], "targets": rows},
                            errors=errors, partial=bool(errors)))
    else:
        from pt.ui.plan_view import print_verify
        print_verify(plan, rows)
    return OK
