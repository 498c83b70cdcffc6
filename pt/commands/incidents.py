"""``pt incidents``: fork storms, runaway trees, short-job floods and respawn loops now."""
from __future__ import annotations

import argparse

from pt.incidents import DEFAULT_WINDOW_S

EPILOG = """\
pt incidents watches the whole process table for --window seconds: after one
full read it lists the pids about 40 times a second and reads only the new
ones, so it follows each process's life: its exact birth time, its parent,
whether it was gone at a later tick. Lives shorter than a tick are counted
from the kernel's fork counter. Trouble that only shows in a
tree's births and deaths becomes an incident with its evidence, a severity
(the observed rate in multiples of the detection threshold: 1 just detected;
level low < 2, medium < 5, high) and a remedy on the tree's root:

  fork_storm       a burst of births that propagates itself (Galton-Watson
                   offspring mean > 1 past the first generation)  -> pause the tree
  runaway_tree     >= 2 descendants busy, >= 1.5 cores together, root calm -> throttle the tree
  short_job_flood  many children living < 1 s                    -> throttle the tree
  respawn_loop     the same command reborn under the same parent  -> pause the supervisor

A protected root (hard vetoes, as in pt scan) is still reported; its remedy is
keep and the rule is named. pt incidents never acts.

examples:
  pt incidents                      watch 3 s and list what is going on
  pt incidents --window 10          watch longer: slower loops show too
  pt incidents --json | jq '.data.incidents[] | {kind, pid, severity}'
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import seconds_between

    p = subparsers.add_parser(
        "incidents", help="fork storms, runaway trees, short-job floods, respawn loops (never acts)",
        description="Watch the process table for a few seconds and report lifecycle incidents.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--window", type=seconds_between(0, 60, low_open=True), metavar="SECONDS",
                   default=DEFAULT_WINDOW_S, help=f"how long to watch (default {DEFAULT_WINDOW_S:g})")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake whose earlier runs show respawn loops across scans (default $PT_LAKE, "
                        "else $XDG_DATA_HOME/pt/lake; PT_TELEMETRY=off: not read)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from pt.exit_codes import OK
    from pt.incidents import watch
    from pt.telemetry.enabled import switched_off
    from pt.telemetry.lake import lake_root
    from pt.ui.text import escape
    notes: list[str] = []
    followed: list = []
    t, found = watch(args.window, lake=None if switched_off() else lake_root(args.lake), notes=notes,
                     followed=followed)
    for note in notes:
        print(escape(f"pt incidents: {note}"), file=sys.stderr)
    if args.json:
        from pt.ui.incidents_view import incidents_json
        from pt.ui.result import envelope, print_json
        errors = t.snapshot.errors
        data = incidents_json(t, found, followed[0] if followed else None)
        print_json(envelope("incidents", host=t.snapshot.host.as_dict(), data=data,
                            errors=errors.as_list(), partial=errors.partial))
    else:
        from pt.ui.incidents_view import print_incidents
        print_incidents(t, found)
    return OK
