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
    from pt.commands.scan import add_telemetry_options

    p = subparsers.add_parser("undo", help="revert a plan's reversible actions (resume, renice back, uncgroup)",
                              description="Revert every reversible action pt carried out for a plan.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", metavar="PLAN_ID|FILE", help="a plan id or plan file")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def load_or_fail(command: str, args) -> tuple[dict | None, int]:
    """Load ``args.plan`` or report why not: ``(plan, 0)`` or ``(None, exit code)``."""
    from pt.act.plan import PlanError, load_plan
    from pt.exit_codes import NOT_FOUND, REFUSED
    from pt.ui.result import error_envelope, print_json
    from pt.ui.text import error
    try:
        return load_plan(args.plan), 0
    except PlanError as exc:
        missing = str(exc).startswith("no plan")
        error(command, exc)
        if args.json:
            print_json(error_envelope(command, code="plan_not_found" if missing else "plan_invalid",
                                      message=str(exc)))
        return None, NOT_FOUND if missing else REFUSED


def journal_errors(command: str, journal) -> list[dict]:
    """Say (on stderr) that some journal lines were skipped, and return the
    ``errors`` entries for the JSON result (empty when none were)."""
    import sys
    note = journal.skipped_note()
    if note is None:
        return []
    from pt.ui.text import escape
    print(f"pt {command}: warning: {escape(note)}", file=sys.stderr)
    return [{"code": "journal_lines_skipped", "count": journal.skipped, "message": note}]


def run(args: argparse.Namespace) -> int:
    from pt.act.apply import undo_plan
    from pt.commands.scan import record_actions
    from pt.exit_codes import INCOMPLETE, OK
    from pt.ui.result import envelope, print_json

    plan, code = load_or_fail("undo", args)
    if plan is None:
        return code

    from pt.act.journal import Journal
    from pt.act.plan import PlanError
    from pt.exit_codes import REFUSED
    from pt.ui.result import error_envelope
    journal = Journal()
    try:
        records = undo_plan(plan, journal=journal)
    except PlanError as exc:
        from pt.ui.text import error
        error("undo", exc)                      # it may quote a path or a plan field
        if args.json:
            print_json(error_envelope("undo", code="plan_unusable", message=str(exc)))
        return REFUSED
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
