"""``pt explain PID``: the whole evidence ledger behind one verdict."""
from __future__ import annotations

import argparse

EPILOG = """\
The ledger lists every evidence item with what was observed, its log-likelihood
under each class, and its Bayes factor for abandoned over useful in bits; then
the expected loss of every action, the thresholds (SPRT boundary, FDR budget),
the vetoes, and what would change pt's mind.

examples:
  pt explain 4242
  pt explain 4242 --at +6h         the verdict if 6 more hours pass like this
  pt explain 4242 --json           the same as one JSON object
  pt explain --plan 3f2a9c0d1e4b5a69   why each action of a plan was taken (from the journal)
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import duration, pid, positive_duration, seconds_between

    p = subparsers.add_parser(
        "explain", help="show the evidence ledger behind one process's verdict",
        description="Scan the machine, then explain in full the verdict for PID.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pid", type=pid, nargs="?", metavar="PID", help="the process to explain")
    p.add_argument("--plan", metavar="PLAN_ID",
                   help="instead: why each action of this plan was taken, from the action journal")
    p.add_argument("--window", type=seconds_between(0, 60, low_open=True), metavar="SECONDS",
                   help="how long to watch CPU and IO before deciding (default from policy)")
    p.add_argument("--at", type=duration, default=0.0, metavar="DURATION",
                   help="evaluate as if DURATION more passed with no change (e.g. +3h)")
    p.add_argument("--deep", action="store_true",
                   help="also watch the process (deep scan) and show how its series moved the verdict")
    p.add_argument("--max-time", type=positive_duration, metavar="DURATION",
                   help="with --deep: watch at most this long (default from policy, 30 s)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.collect.early import reading
    from pt.errors import CommandError

    if (args.pid is None) == (args.plan is None):
        raise CommandError("usage", "give a PID or --plan PLAN_ID (one of them)")
    if args.plan is not None:
        return explain_plan(args)
    if args.deep:
        return explain_deep(args)
    with reading() as first:                          # the reads run while the model imports
        return explain_process(args, first)


def explain_process(args: argparse.Namespace, first) -> int:
    """``pt explain PID`` (``first``: the reads begun)."""
    import numpy as np

    from pt.decide.stability import verdict_memory
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.triage import mind_changers, triage

    t = triage(window_s=args.window, at_s=args.at, memory=verdict_memory(), first=first)
    rows = np.flatnonzero(t.snapshot["pid"] == args.pid)
    if len(rows) == 0:
        raise CommandError("not_found", f"no process with pid {args.pid} (it may have exited)")
    row = int(rows[0])
    changers = mind_changers(t)[row]
    from pt.config import CATEGORICAL_LEVELS
    from pt.learn.conformal import for_process
    lifetime = for_process(CATEGORICAL_LEVELS["command"][t.context.command_category[row]],
                           float(t.snapshot["elapsed_s"][row]) + t.at_s)
    if args.json:
        from pt.ui.explain_view import explain_json
        from pt.ui.result import print_json
        result = explain_json(t, row, changers)
        result["data"]["remaining_lifetime"] = lifetime
        print_json(result)
    else:
        from pt.ui.explain_view import print_explain
        print_explain(t, row, changers, lifetime=lifetime)
    return OK


def explain_plan(args: argparse.Namespace) -> int:
    """The journalled intents of a plan, each with its justification and outcome."""
    from pt.act.journal import Journal, justified_actions
    from pt.act.plan import PLAN_ID_RE, PlanError, load_plan
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.ui.result import journal_errors

    if PLAN_ID_RE.match(args.plan):
        try:
            load_plan(args.plan)             # its file, if kept, must still hold this plan
        except PlanError as exc:
            if exc.code != "plan_not_found":
                raise
    journal = Journal()
    records = journal.records(args.plan)
    errors = journal_errors("explain", journal)
    items = justified_actions(records)
    if not items:
        raise CommandError("not_found", f"the journal has no actions for plan {args.plan!r} "
                                        "(never applied, or no such plan; see `pt history`)")
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("explain", host={}, data={"plan_id": args.plan, "actions": items},
                            errors=errors, partial=bool(errors)))
    else:
        from pt.ui.plan_view import print_plan_explain
        print_plan_explain(args.plan, items)
    return OK


def explain_deep(args: argparse.Namespace) -> int:
    """The quick ledger, then the deep scan of this one process."""

    import numpy as np

    from pt.act.plan import Selection
    from pt.decide.stability import verdict_memory
    from pt.deep import deep_scan
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.triage import mind_changers

    d = deep_scan(Selection(pids=(args.pid,)), max_time_s=args.max_time, limit=1, memory=verdict_memory())
    rows = np.flatnonzero(d.quick.snapshot["pid"] == args.pid)
    if len(rows) == 0:
        raise CommandError("not_found", f"no process with pid {args.pid} (it may have exited)")
    row = int(rows[0])
    if args.json:
        from pt.ui.deep_view import candidate_json
        from pt.ui.explain_view import explain_json
        from pt.ui.result import print_json
        result = explain_json(d.quick, row, mind_changers(d.quick)[row])
        result["data"]["deep"] = candidate_json(d, 0) if len(d) else {"skipped": d.skipped}
        print_json(result)
        return OK
    from pt.ui.deep_view import print_deep_explain
    from pt.ui.explain_view import print_explain
    print_explain(d.quick, row, mind_changers(d.quick)[row])
    print_deep_explain(d)
    return OK
