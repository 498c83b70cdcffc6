"""``pt plan``: freeze what pt would do into a plan that ``pt apply`` carries out."""
from __future__ import annotations

import argparse

EPILOG = """\
A plan is pt's recommendation for the selected processes, frozen: each entry
names its target exactly (boot id, pid, start ticks, uid, executable,
command-line hash), the action and its parameters, and the posterior and
expected loss that justify it. Its plan_id is a hash of its content. Nothing
happens until you run `pt apply PLAN_ID` (and confirm, or pass --yes). The
scan behind the plan is recorded in the telemetry lake, so `pt duck
calibration` can set what pt predicted against what happened.

A --pid that names no running process exits 3 and saves nothing.

--tree PID plans PID and every descendant it has now as one decision (the
root's recommendation, or --do): every member's identity is recorded, apply
signals the deepest first and checks each one's identity right before its
signal, children born after the plan are never signalled, and undo covers the
whole tree. A tree with a protected member is not planned whole (the refusal
names the member and rule); the subtrees beside it with no protected process
and no ancestor of one are planned instead, each as its own tree decision.
--group PGID does the same for the members of a process group (a shell's
job), each still signalled through its own pidfd, never with killpg: that
would reach processes that joined the group after the plan.
Where the scan recommends a whole tree ("kill tree (13 processes)"), plain
`pt plan` plans it as one tree decision.

examples:
  pt plan                             everything pt recommends acting on
  pt plan --match 'pytest|jest' --min-age 1h
  pt plan --user $USER --class abandoned
  pt plan --pid 4242 --do pause       pause 4242 whatever pt recommends
  pt plan --tree 4242 --do pause      pause 4242 and all its descendants
  pt plan --group 4242 --do kill      end process group 4242 (a pipeline, a job)
  pt plan --json | jq -r .data.plan.plan_id
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import add_selection_options, add_telemetry_options, duration, pid, seconds_between
    from pt.config import ACTIONS

    p = subparsers.add_parser(
        "plan", help="freeze pt's recommendations into a plan to confirm and apply",
        description="Scan, then write a plan of actions for the selected processes (acts on nothing).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_selection_options(p, pid_help="only this process (repeatable)", actions=ACTIONS[1:])
    p.add_argument("--do", choices=ACTIONS[1:], metavar="ACTION",
                   help="plan ACTION instead of pt's recommendation (needs --pid or --match; "
                        f"one of {', '.join(ACTIONS[1:])}); vetoes still apply")
    p.add_argument("--tree", type=pid, metavar="PID",
                   help="plan PID and all its descendants as one decision (with --do, that action)")
    p.add_argument("--group", type=pid, metavar="PGID",
                   help="plan the members of process group PGID (its leader must run) as one decision")
    p.add_argument("--at", type=duration, default=0.0, metavar="DURATION",
                   help="decide as if DURATION more passed with no change (as pt scan --at)")
    p.add_argument("--window", type=seconds_between(0, 60, low_open=True), metavar="SECONDS",
                   help="how long to watch CPU and IO before deciding (default from policy)")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="print the plan as one JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.collect.early import reading
    from pt.errors import CommandError

    if args.do and not (args.pid or args.match or args.tree or args.group):
        raise CommandError("usage", "--do needs --pid or --match (or --tree): name the processes you mean")
    if (args.tree is not None or args.group is not None) and (args.pid or args.match) \
            or args.tree is not None and args.group is not None:
        raise CommandError("usage", "--tree and --group name the processes themselves: one of them, without "
                                    "--pid or --match")
    with reading() as first:                          # the reads run while the model imports
        return run_plan(args, first)


def run_plan(args: argparse.Namespace, first) -> int:
    """``pt plan`` once its options are checked (``first``: the reads begun)."""
    import sys

    from pt.act.plan import make_plan, save_plan
    from pt.decide.stability import verdict_memory
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.telemetry.enabled import report_telemetry, telemetry_enabled
    from pt.triage import triage
    from pt.ui.scan_rows import selection_from, warn_gave_up

    selection = selection_from(args)
    t = triage(window_s=args.window, at_s=args.at, memory=verdict_memory(), first=first)
    wanted = set(selection.pids) | ({args.tree} if args.tree is not None else set())
    missing = sorted(wanted - set(t.snapshot["pid"].tolist()))
    leaderless = args.group is not None and args.group not in t.snapshot["pid"][t.snapshot["pgid"] == args.group]
    if missing or leaderless:                      # nothing is saved: a plan for no one is no plan
        raise CommandError("not_found", f"no such process: {', '.join(map(str, missing))}" if missing else
                           f"no process group {args.group} with a running leader (pid {args.group})")
    made = make_plan(t, selection, do=args.do, tree=args.tree, group=args.group, trees=True)
    if t.kill_gate and not args.do:
        from pt.ui.text import escape
        print(escape(f"pt plan: note: {t.kill_gate}"), file=sys.stderr)
    warn_gave_up(args)
    path = save_plan(made)                           # too large to be read back: refused, nothing saved
    if telemetry_enabled(args) and not args.at:      # the decisions that outcomes will be joined to
        from pt.telemetry.writer import write_scan
        report_telemetry("plan", write_scan(t, lake=args.lake))
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("plan", host=t.snapshot.host.as_dict(), data={"plan": made, "path": str(path)},
                            errors=[], partial=False))
        return OK
    from pt.ui.plan_view import print_plan
    print_plan(made)
    if made["actions"]:
        from pt.ui.text import escape
        print(f"\nSaved {escape(path)}\nApply with:  pt apply {escape(made['plan_id'])}   "
              "(add --yes when not at a terminal)")
    return OK
