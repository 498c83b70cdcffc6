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


def _fail(args, code: str, message: str, exit_code: int) -> int:
    from pt.ui.result import report_error
    return report_error("lake", message, code=code, exit_code=exit_code, json=args.json)


def info(root) -> dict:
    from pt.telemetry import lake as lakes
    from pt.telemetry.redact import key_id, key_path, load_key
    from pt.telemetry.schemas import SCHEMA_VERSION, TABLES

    tables = {}
    for table in TABLES:
        raw, compacted = lakes.table_files(root, table)
        hosted = lakes.host_files(root, table)
        raw, compacted = raw + hosted[0], compacted + hosted[1]
        tables[table] = {"run_files": len(raw), "compacted_files": len(compacted),
                         "bytes": sum(f.stat().st_size for f in raw + compacted)}
    try:
        kid = key_id(load_key(create=False))
    except (OSError, ValueError):
        kid = None
    return {"lake": str(root), "exists": root.is_dir(), "schema_version": SCHEMA_VERSION,
            "fleet": lakes.is_fleet(root), "hosts": lakes.hosts_in(root),
            "tables": tables, "quarantined": [str(p) for p in lakes.quarantined(root)],
            "key_file": str(key_path()), "key_id": kid}


def check(root, hosts=frozenset()) -> dict:
    """Read every page of every column of every file (CRCs verified), those
    without a host and those of ``hosts`` (None: every host); quarantine
    those pt cannot read as Parquet."""
    from pt.telemetry import lake as lakes
    from pt.telemetry.schemas import TABLES

    checked, moved = 0, []
    for table in TABLES:
        raw, compacted = lakes.table_files(root, table)
        hosted = lakes.host_files(root, table, hosts) if hosts != frozenset() else ([], [])
        for f in raw + compacted + hosted[0] + hosted[1]:
            checked += 1
            reason = lakes.parquet_problem(f)
            if reason:
                moved.append({"file": str(f), "moved_to": str(lakes.quarantine(root, f, reason)),
                              "reason": reason})
    return {"files_checked": checked, "quarantined": moved}


def run(args: argparse.Namespace) -> int:
    from pt.exit_codes import ERROR, OK, USAGE
    from pt.telemetry import lake as lakes

    from pt.commands.scan import lake_problem
    root = lakes.lake_root(args.lake)
    problem = lake_problem(args.lake)
    if problem:
        return _fail(args, "lake_error", problem, ERROR)
    if args.action != "export" and args.destination:
        return _fail(args, "usage", f"unexpected argument {args.destination!r}: only export takes DEST", USAGE)
    if args.action == "prune" and not args.keep:
        return _fail(args, "usage", "prune needs --keep AGE (e.g. --keep 30d)", USAGE)
    if args.action == "export" and not args.destination:
        return _fail(args, "usage", "export needs a DEST directory", USAGE)
    if args.action == "export" and not (args.rekey or args.drop_hashes):
        return _fail(args, "usage", "export needs --rekey or --drop-hashes", USAGE)
    try:
        if args.action == "info":
            data = info(root)
        elif args.action == "prune":
            try:
                keep_s = lakes.parse_age(args.keep)
            except ValueError as exc:
                return _fail(args, "usage", str(exc), USAGE)
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
                data = check(root, lakes.maintained(root, args.all_hosts))
        else:
            from pathlib import Path
            with lakes.maintenance(root):
                data = lakes.export(root, Path(args.destination), mode="rekey" if args.rekey else "drop")
    except (OSError, ValueError, RuntimeError) as exc:
        return _fail(args, "lake_error", str(exc), ERROR)
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("lake", host={}, data={"action": args.action, **data}, errors=[],
                            partial=False))
    else:
        from pt.ui.duck_view import print_lake
        print_lake(args.action, data)
    return OK
