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


def summarize(limit: int):
    """The newest ``limit`` plans with their journalled results, and the journal read."""
    from pt.act.journal import Journal, outcomes_by_action
    from pt.act.plan import list_plans

    plans = list_plans()[: limit or None]
    journal = Journal()
    records = journal.records()
    out = []
    for plan in plans:
        mine = [r for r in records if r.get("plan_id") == plan["plan_id"]]
        results: dict[str, int] = {}
        for aid, r in outcomes_by_action(mine).items():
            key = "undone" if aid.endswith(":undo") else r["result"]
            results[key] = results.get(key, 0) + 1
        out.append({"plan_id": plan["plan_id"], "created_at": plan["created_at"],
                    "expires_at": plan["expires_at"], "actions": len(plan["actions"]),
                    "applied": bool(mine), "results": results,
                    "by_action": sorted({a["action"] for a in plan["actions"]})})
    return out, journal


def run(args: argparse.Namespace) -> int:
    from pt.exit_codes import OK
    from pt.ui.result import envelope, print_json

    from pt.commands.undo import journal_errors
    plans, journal = summarize(args.limit)
    errors = journal_errors("history", journal)
    if args.json:
        print_json(envelope("history", host={}, data={"plans": plans}, errors=errors, partial=bool(errors)))
    else:
        from pt.ui.plan_view import print_history
        print_history(plans)
    return OK
