"""``pt history``: the plans pt made and what it did about them."""
from __future__ import annotations

import argparse

EPILOG = """\
Lists saved plans, newest first, with how many actions each had and the
results journalled for them. `pt explain --plan ID` shows why each action
was taken; `pt verify ID` what became of the targets.

examples:
  pt history
  pt history --limit 5 --json
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import count

    p = subparsers.add_parser("history", help="list plans and the actions pt took",
                              description="List plans and the outcomes journalled for them.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=count, default=20, metavar="N", help="show the newest N plans (0 = all)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.act.history import summarize
    from pt.exit_codes import OK
    from pt.ui.result import envelope, journal_errors, print_json

    plans, journal = summarize(args.limit)
    errors = journal_errors("history", journal)
    if args.json:
        print_json(envelope("history", host={}, data={"plans": plans}, errors=errors, partial=bool(errors)))
    else:
        from pt.ui.plan_view import print_history
        print_history(plans)
    return OK
