"""``pt scan``: every process on the machine, as a table, a tree or JSON."""
from __future__ import annotations

import argparse

#: Short names accepted by ``--sort`` besides the field names themselves.
SORT_ALIASES = {
    "cpu": "cpu_time_s", "share": "cpu_share", "rss": "rss_bytes", "mem": "rss_bytes",
    "age": "elapsed_s", "start": "start_time", "vsize": "vsize_bytes", "now": "cpu_window_share",
}
SORTABLE = ("attention", "cpu_share", "cpu_window_share", "cpu_time_s", "rss_bytes", "vsize_bytes",
            "elapsed_s", "start_time", "threads", "pid", "ppid", "uid", "user", "state", "command",
            "nice", "p_class", "class", "action", "confidence")
#: Sort keys that need the verdicts (not available with --raw).
VERDICT_SORTS = ("attention", "cpu_window_share", "p_class", "class", "action", "confidence")
DEFAULT_TOP = 40

EPILOG = """\
pt scan watches every process for a short window (--window), scores the
evidence (CPU now and over its life, age, orphaning, terminal, state,
command and cwd category, children, sockets, IO) into a posterior over
{useful, useful_bad, abandoned, zombie}, and recommends the action with the
least expected loss. It never acts: see `pt explain PID` for the full ledger.

sort keys: attention (expected loss saved by acting, default), now (CPU in the
           window), share (lifetime CPU share), cpu, rss, age, start, vsize,
           threads, pid, ppid, uid, user, state, command, nice, p_class, class,
           action, confidence; with --raw the default is share

examples:
  pt scan                          the 40 processes most worth a look
  pt scan --sort rss --top 10      the ten largest by resident memory
  pt scan --user alice --top 0     every process of alice
  pt scan --tree --user $USER      your process forest
  pt scan --at +3h                 what pt would say if 3 more hours pass like this
  pt scan --raw                    just the process table, no verdicts (fastest)
  pt scan --json                   one JSON object for scripts and agents
  pt scan --no-telemetry           do not record this scan in the lake

Every scan is recorded, redacted, in the telemetry lake ($XDG_DATA_HOME/pt/lake,
or $PT_LAKE, or --lake DIR); query it with `pt duck`. --at scans, being
hypothetical, are not recorded. A lake that cannot be written never fails
the scan: pt says telemetry was skipped, and why.
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


def duration(text: str) -> float:
    """argparse type for ``--at``: ``+3h``, ``90m``, ``2d``, ``45s`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    body = text.strip().lstrip("+")
    try:
        value = float(body[:-1]) * units[body[-1]] if body and body[-1] in units else float(body)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(
            f"--at wants a duration like +3h, 90m, 2d or seconds, got {text!r}")
    return value


def window_seconds(text: str) -> float:
    """argparse type for ``--window``: seconds in (0, 60]."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"--window must be seconds in (0, 60], got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "scan", help="triage the machine's processes (never acts)",
        description="Read every process, score the evidence and recommend an action for each.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", type=top_count, metavar="N",
                   help=f"show the first N rows (default {DEFAULT_TOP} in the table, all in "
                        "--json; 0 = all)")
    p.add_argument("--sort", type=sort_key, metavar="KEY",
                   help="sort by KEY (default: attention; share with --raw); amounts sort biggest first")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")
    p.add_argument("--user", action="append", metavar="NAME|UID",
                   help="only processes of this user (repeatable)")
    p.add_argument("--kernel-threads", action="store_true",
                   help="include kernel threads (hidden by default)")
    p.add_argument("--tree", action="store_true", help="show the parent/child forest")
    p.add_argument("--window", type=window_seconds, metavar="SECONDS",
                   help="how long to watch CPU and IO before deciding (default from policy, 0.3)")
    p.add_argument("--at", type=duration, default=0.0, metavar="DURATION",
                   help="evaluate as if DURATION more passed with no change (e.g. +3h)")
    p.add_argument("--raw", action="store_true",
                   help="only the process table: no window, no verdicts")
    p.add_argument("--json", action="store_true",
                   help="print one versioned JSON object instead of a table")
    add_telemetry_options(p)
    p.set_defaults(run=run)


def add_telemetry_options(p) -> None:
    p.add_argument("--no-telemetry", action="store_true",
                   help="do not record this scan in the telemetry lake (also: PT_TELEMETRY=off)")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")


def verdict_memory():
    """Where scans remember their recommendations for hysteresis (pt's state
    directory), or None when that directory cannot be made."""
    from pt.act.journal import state_dir
    from pt.decide.stability import path_in
    try:
        return path_in(state_dir())
    except OSError:
        return None


def telemetry_enabled(args) -> bool:
    import os
    return not (args.no_telemetry or os.environ.get("PT_TELEMETRY", "").lower() in ("0", "off", "no", "false"))


def record_actions(args, command: str, journal) -> None:
    """Copy what ``journal`` appended in this run (intents -> ``actions``,
    outcomes -> ``outcomes``) to the telemetry lake, redacted; never fails
    the command."""
    if not journal.written or not telemetry_enabled(args):
        return
    from pt.telemetry.writer import write_action_records
    report_telemetry(command, write_action_records(journal.written, lake=args.lake))


def report_telemetry(command: str, result) -> None:
    """Say on stderr that telemetry was skipped, and why; silent when it was written."""
    import sys
    if result is not None and not result.written:
        print(f"pt {command}: telemetry skipped: {result.reason} (lake {result.lake}); "
              "the scan itself is complete", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import sys

    from pt.exit_codes import OK, USAGE
    from pt.ui.scan_view import resolve_users, select_rows

    sort = args.sort or ("cpu_share" if args.raw else "attention")
    if args.raw and sort in VERDICT_SORTS:
        print(f"pt scan: error: --sort {sort} needs the verdicts; drop --raw", file=sys.stderr)
        return USAGE
    try:
        uids = resolve_users(args.user) if args.user else None
    except ValueError as exc:
        print(f"pt scan: error: {exc}", file=sys.stderr)
        return USAGE
    import time
    recorder, not_recorded = None, "disabled"
    if args.at:
        not_recorded = "--at scans are hypothetical and are not recorded"
    elif telemetry_enabled(args):
        from pt.telemetry.recorder import Recorder
        recorder = Recorder(args.lake)          # pyarrow is imported during the CPU window
    started = time.perf_counter()
    if args.raw:
        from pt.collect import collect
        triage, snapshot = None, collect()
    else:
        from pt.triage import triage as run_triage
        triage = run_triage(window_s=args.window, at_s=args.at,
                            on_snapshot=recorder.prepare if recorder else None, memory=verdict_memory())
        snapshot = triage.snapshot
    scan_s = time.perf_counter() - started
    # Written now, not on a thread while rows render: the writer's Python steps
    # and Rich's rendering would take turns for the GIL, and both run slower.
    recorded = recorder.record(triage, snapshot=snapshot, scan_s=scan_s) if recorder else None
    view = select_rows(snapshot, uids=uids, kernel_threads=args.kernel_threads, sort=sort,
                       reverse=args.reverse, triage=triage, every_field=args.json, tree=args.tree)
    if args.json:
        from pt.ui.result import print_scan_json
        print_scan_json(view, top=args.top, triage=triage,
                        telemetry=recorded.as_dict() if recorded else {"written": False,
                                                                       "reason": not_recorded})
    else:
        from pt.ui.scan_view import print_scan
        print_scan(view, top=DEFAULT_TOP if args.top is None else args.top, tree=args.tree)
    report_telemetry("scan", recorded)
    return OK
