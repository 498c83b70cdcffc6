"""``pt apply PLAN``: carry out a confirmed plan, safely and exactly once."""
from __future__ import annotations

import argparse

EPILOG = """\
Before each action pt re-checks, on the live machine: the target's identity
(through a pidfd, before every signal: boot id, exact start time, owner,
executable and command line, so a process that exec'd is left alone), the
hard vetoes, the minimum age, data-loss gates (files open for writing,
locks, writes since the plan on any filesystem), rate limits and the
per-run cap. Every intent is journalled and fsync'd before the
first signal; every outcome after. Applying a plan twice acts once; an apply
that was interrupted resumes where it stopped.

The confirmation shows each target as it runs now (name, command line with
secrets masked, age), read from /proc and checked against the plan's
identity; where the plan's own text differs it says so, and a target whose
identity changed is shown as such and not signalled.

The plan id you name must be the id of the file's content: a plan file
replaced by another plan is refused. A plan file given by path must be owned
by you and not writable by group or others; once applied it is kept in pt's
plans directory, so `pt undo ID` and `pt verify ID` find it. pt does not act
when /proc is not its own pid namespace's, or on a plan made in another pid
namespace.

A tree decision (`pt plan --tree`) is applied member by member, deepest
first, each through its own pidfd after its own identity check; a member
that exited or exec'd is skipped and reported, and children born after the
plan are not signalled (the output lists them).

exit codes: 0 all done, 4 nothing done (no confirmation, or plan expired,
edited, replaced, from another boot or pid namespace, not a plan file, or a
plan file another user owns or can write), 5 some actions not carried out,
3 no such plan

examples:
  pt apply 3f2a9c0d1e4b5a69            show the plan, ask, then act
  pt apply 3f2a9c0d1e4b5a69 --yes      act without asking (scripts, agents)
  pt apply ./plan.json --yes --json
  pt apply 3f2a9c0d1e4b5a69 --approve  let an agent (pt mcp) apply it: prints a one-time code
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import add_telemetry_options

    p = subparsers.add_parser(
        "apply", help="carry out a plan made by `pt plan` (asks first unless --yes)",
        description="Carry out the actions of a plan after confirmation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", metavar="PLAN_ID|FILE", help="a plan id from `pt plan`, or a plan file")
    p.add_argument("--yes", action="store_true", help="confirm without asking (required when not at a terminal)")
    p.add_argument("--approve", action="store_true",
                   help="do nothing now: at a terminal, show the plan, ask, and print a one-time code "
                        "that lets an agent apply this plan once through `pt mcp` (valid 10 minutes)")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="print the outcomes as one JSON object")
    p.set_defaults(run=run)


def confirm(plan: dict) -> bool:
    """Show what will be signalled, every target as it runs now (read from
    /proc and checked against the plan's identity, never the plan's own
    text), and ask once; only an explicit yes counts."""
    from pt.act.identity import Identity, observe
    from pt.ui.plan_view import confirmation, print_confirmation
    live = [observe(Identity.from_dict(a["target"])) for a in plan["actions"]]
    print_confirmation(plan, live)
    try:
        answer = input("\n" + confirmation(plan, live))
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def approve(plan: dict, *, from_file: bool) -> int:
    """``--approve``: a person at a terminal lets an agent apply ``plan`` once
    (:mod:`pt.act.approval`); nothing is signalled now. A plan given as a
    file is kept in pt's plans directory, where the agent's apply finds it by id."""
    import sys
    import time

    from pt.act import approval
    from pt.act.identity import Identity, observe
    from pt.errors import CommandError
    from pt.exit_codes import OK, REFUSED
    from pt.formatting import format_duration
    from pt.ui.plan_view import print_confirmation
    from pt.ui.text import escape

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CommandError("not_at_terminal", "--approve needs a person at a terminal: an agent cannot "
                                              "approve its own plan")
    print_confirmation(plan, [observe(Identity.from_dict(a["target"])) for a in plan["actions"]])
    n = len(plan["actions"])
    try:
        answer = input(f"\nLet an agent apply {'this action' if n == 1 else f'these {n} actions'} once "
                       "(nothing is done now)? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("Not approved.")
        return REFUSED
    if from_file:
        from pt.act.plan import save_plan
        try:
            save_plan(plan)
        except OSError as exc:
            raise CommandError("plan_not_saved", f"cannot keep plan {plan['plan_id']} in pt's plans directory, "
                               f"where an agent's apply would find it; not approved: {exc}") from None
    code, expires_at = approval.grant(plan["plan_id"], plan["expires_at"])
    print(escape(f"Approval code for plan {plan['plan_id']}:  {code}"))
    print(f"Give it to the agent: it is good for one attempt within {format_duration(expires_at - time.time())}.")
    return OK


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from pt.act.apply import apply_plan, check_usable
    from pt.act.plan import PLAN_ID_RE, load_plan, save_plan
    from pt.config import load_policy
    from pt.errors import CommandError
    from pt.exit_codes import INCOMPLETE, OK, REFUSED
    from pt.telemetry.enabled import record_actions, record_labels
    from pt.ui.result import envelope, journal_errors, print_json
    from pt.ui.text import escape

    plan = load_plan(args.plan)
    check_usable(plan, time.time(), load_policy())
    if args.approve:
        return approve(plan, from_file=not PLAN_ID_RE.match(args.plan))
    if not args.yes:
        if not sys.stdin.isatty() or args.json:
            raise CommandError("not_confirmed",
                               f"not confirmed: run `pt apply {plan['plan_id']}` at a terminal, or pass --yes")
        if not confirm(plan):
            record_labels(args, plan, confirmed=False)
            print("Nothing done.")
            return REFUSED
    record_labels(args, plan, confirmed=True)
    if not PLAN_ID_RE.match(args.plan):
        try:                                 # so `pt undo ID`, `pt verify ID` and `pt history` find it
            save_plan(plan)
        except OSError as exc:
            raise CommandError("plan_not_saved", f"cannot keep plan {plan['plan_id']} in pt's plans directory, "
                               f"so it could not be undone by id; nothing done: {exc}") from None
    import signal

    def stop(signum, _frame):
        raise KeyboardInterrupt          # outcomes known so far are journalled on the way out
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    from pt.act.journal import Journal
    journal = Journal()
    from pt.act.trees import newborns
    born = newborns(plan)               # children of tree members that are not members: never signalled
    try:
        records = apply_plan(plan, journal=journal)
    finally:
        record_actions(args, "apply", journal)
    errors = journal_errors("apply", journal)
    incomplete = [r for r in records if r["result"] not in ("done", "exited")]
    if args.json:
        print_json(envelope("apply", host={}, data={"plan_id": plan["plan_id"], "outcomes": records,
                                                    "not_signalled": born},
                            errors=errors, partial=bool(incomplete or errors)))
    else:
        from pt.ui.plan_view import print_newborns, print_outcomes
        print_outcomes(records, f"applied plan {plan['plan_id']}")
        print_newborns(born)
        print(escape(f"Check later with:  pt verify {plan['plan_id']}"))
        print(escape(f"Revert with:       pt undo {plan['plan_id']}"))
    return INCOMPLETE if incomplete else OK
