"""``pt lake``: look after the telemetry lake (info, prune, compact, check, export, fleet)."""
from __future__ import annotations

import argparse

EPILOG = """\
The lake is $PT_LAKE, else $XDG_DATA_HOME/pt/lake (~/.local/share/pt/lake);
--lake DIR names another. Layout: <table>/date=YYYY-MM-DD/run_id=<id>/part-N.parquet,
and <table>/date=YYYY-MM-DD/compacted-*.parquet after compaction.

examples:
  pt lake info                      tables, files, bytes, quarantined files, key id
  pt lake prune --keep 30d          delete days older than 30 days
  pt lake prune --keep 2w --dry-run what would go
  pt lake compact                   merge each month's small files into one, no rows lost
  pt lake compact --all-hosts       in a fleet lake: every host's partition, not only this host's
  pt lake check                     read every page of every file; quarantine the unreadable
  pt lake export /tmp/share --rekey         a copy with every hash re-keyed (fresh key)
  pt lake export /tmp/share --drop-hashes   a copy with the hashes removed
  pt lake fleet --lake /mnt/pt-fleet        make a shared lake a fleet lake: every host
                                            writes under host=<name>/ ($PT_HOST, else the
                                            host name); pt duck --fleet reads them all

In a fleet lake, prune, compact and check act on this host's partition
(host=<name>/, $PT_HOST) and the files written without a host; another
host's files are left alone unless --all-hosts says otherwise.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "lake", help="manage the telemetry lake (info, prune, compact, check, export)",
        description="Inspect and maintain the telemetry lake.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("info", "prune", "compact", "check", "export", "fleet"), metavar="ACTION",
                   help="info, prune, compact, check or export")
    p.add_argument("destination", nargs="?", metavar="DEST", help="export: the directory to write")
    p.add_argument("--keep", metavar="AGE", help="prune: keep this much history (30d, 12h, 2w)")
    p.add_argument("--dry-run", action="store_true", help="prune: only say what would be deleted")
    p.add_argument("--all-hosts", action="store_true",
                   help="prune, compact, check: every host's partition of a fleet lake (default: this host's)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rekey", action="store_true", help="export: re-key every hash with a fresh key")
    mode.add_argument("--drop-hashes", action="store_true", help="export: remove every hash")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.telemetry import lake as lakes

    from pt.telemetry.enabled import lake_problem
    root = lakes.lake_root(args.lake)
    problem = lake_problem(args.lake)
    if problem:
        raise CommandError("lake_error", problem)
    if args.action != "export" and args.destination:
        raise CommandError("usage", f"unexpected argument {args.destination!r}: only export takes DEST")
    if args.action == "prune" and not args.keep:
        raise CommandError("usage", "prune needs --keep AGE (e.g. --keep 30d)")
    if args.action == "export" and not args.destination:
        raise CommandError("usage", "export needs a DEST directory")
    if args.action == "export" and not (args.rekey or args.drop_hashes):
        raise CommandError("usage", "export needs --rekey or --drop-hashes")
    try:
        if args.action == "info":
            data = lakes.info(root)
        elif args.action == "prune":
            try:
                keep_s = lakes.parse_age(args.keep)
            except ValueError as exc:
                raise CommandError("usage", str(exc))
            with lakes.maintenance(root):
                data = lakes.prune(root, keep_s, dry_run=args.dry_run,
                                   hosts=lakes.maintained(root, args.all_hosts))
        elif args.action == "compact":
            with lakes.maintenance(root):
                data = lakes.compact(root, hosts=lakes.maintained(root, args.all_hosts))
        elif args.action == "fleet":
            host = lakes.host_name()
            lakes.make_fleet(root)
            data = {"lake": str(root), "host": host, "hosts": lakes.hosts_in(root)}
        elif args.action == "check":
            with lakes.maintenance(root):
                data = lakes.check(root, lakes.maintained(root, args.all_hosts))
        else:
            from pathlib import Path
            with lakes.maintenance(root):
                data = lakes.export(root, Path(args.destination), mode="rekey" if args.rekey else "drop")
    except (OSError, ValueError, RuntimeError) as exc:
        raise CommandError("lake_error", str(exc))
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("lake", host={}, data={"action": args.action, **data}, errors=[],
                            partial=False))
    else:
        from pt.ui.duck_view import print_lake
        print_lake(args.action, data)
    return OK
