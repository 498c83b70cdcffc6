"""``pt scan``: every process on the machine, as a table, a tree or JSON."""
from __future__ import annotations

import argparse

#: Short names accepted by ``--sort`` besides the field names themselves.
SORT_ALIASES = {
    "cpu": "cpu_time_s", "share": "cpu_share", "rss": "rss_bytes", "mem": "rss_bytes",
    "age": "elapsed_s", "start": "start_time", "vsize": "vsize_bytes",
}
SORTABLE = ("cpu_share", "cpu_time_s", "rss_bytes", "vsize_bytes", "elapsed_s", "start_time",
            "threads", "pid", "ppid", "uid", "user", "state", "command", "nice")
DEFAULT_TOP = 40

EPILOG = """\
sort keys: share (lifetime CPU share, default), cpu, rss, age, start, vsize, threads,
           pid, ppid, uid, user, state, command, nice; or any of those field names

examples:
  pt scan                          top 40 by lifetime CPU share
  pt scan --sort rss --top 10      the ten largest by resident memory
  pt scan --user alice --top 0     every process of alice
  pt scan --tree --user $USER      your process forest
  pt scan --json                   one JSON object for scripts and agents
"""


def sort_key(text: str) -> str:
    """argparse type for ``--sort``: an alias or a sortable field name."""
    name = SORT_ALIASES.get(text, text)
    if name not in SORTABLE:
        choices = ", ".join(sorted(set(SORT_ALIASES) | set(SORTABLE)))
        raise argparse.ArgumentTypeError(f"unknown sort key {text!r}; choose from: {choices}")
    return name


def top_count(text: str) -> int:
    """argparse type for ``--top``: a count >= 0, 0 meaning all."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--top must be a whole number >= 0, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="list the machine's processes",
        description="Read every process from /proc and show them, busiest first.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", type=top_count, metavar="N",
                   help=f"show the first N rows (default {DEFAULT_TOP} in the table, all in "
                        "--json; 0 = all)")
    p.add_argument("--sort", type=sort_key, default="cpu_share", metavar="KEY",
                   help="sort by KEY (default: share); amounts sort biggest first")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")
    p.add_argument("--user", action="append", metavar="NAME|UID",
                   help="only processes of this user (repeatable)")
    p.add_argument("--kernel-threads", action="store_true",
                   help="include kernel threads (hidden by default)")
    p.add_argument("--tree", action="store_true", help="show the parent/child forest")
    p.add_argument("--json", action="store_true",
                   help="print one versioned JSON object instead of a table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from pt.collect import collect
    from pt.exit_codes import OK, USAGE
    from pt.ui.scan_view import select_rows, resolve_users

    snapshot = collect()
    try:
        uids = resolve_users(args.user) if args.user else None
    except ValueError as exc:
        print(f"pt scan: error: {exc}", file=sys.stderr)
        return USAGE
    view = select_rows(snapshot, uids=uids, kernel_threads=args.kernel_threads,
                       sort=args.sort, reverse=args.reverse)
    if args.json:
        from pt.ui.result import print_scan_json
        print_scan_json(view, top=args.top)
    else:
        from pt.ui.scan_view import print_scan
        print_scan(view, top=DEFAULT_TOP if args.top is None else args.top, tree=args.tree)
    return OK
