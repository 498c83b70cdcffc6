"""``pt scan``: every process on the machine, as a table, a tree or JSON."""
from __future__ import annotations

import argparse

#: Short names accepted by ``--sort`` besides the field names themselves.
SORT_ALIASES = {
    "cpu": "cpu_time_s", "share": "cpu_share", "rss": "rss_bytes", "mem": "rss_bytes",
    "age": "elapsed_s", "start": "start_time", "vsize": "vsize_bytes", "now": "cpu_window_share",
    "tree_cpu": "subtree_cpu", "tree_rss": "subtree_rss", "idle": "idle_descendants",
}
SORTABLE = ("attention", "cpu_share", "cpu_window_share", "cpu_time_s", "rss_bytes", "vsize_bytes",
            "elapsed_s", "start_time", "threads", "pid", "ppid", "uid", "user", "state", "command",
            "nice", "p_class", "class", "action", "confidence", "descendants", "subtree_cpu",
            "subtree_rss", "idle_descendants")
#: Sort keys that need the verdicts (not available with --raw).
VERDICT_SORTS = ("attention", "cpu_window_share", "p_class", "class", "action", "confidence",
                 "descendants", "subtree_cpu", "subtree_rss", "idle_descendants")
DEFAULT_TOP = 40

#: What the table's columns and the EVIDENCE glyphs mean (``--legend`` and
#: ``--help``); a test checks it names every glyph of pt.infer.ledger.
LEGEND = """\
columns: S state (R running, S sleeping, D disk wait, Z zombie, T stopped),
NOW share of a CPU in the scan window, CLASS the most probable class and
P its probability, ACTION the recommended action (keep: leave it alone)

EVIDENCE: the three strongest evidence items, each with its direction,
+ toward abandoned or - toward useful (pt explain PID for the full ledger):
  ⚙ CPU in window    Σ lifetime CPU    ⏱ age             ⌛ still running
  ⚑ orphaned         ⇅ IO in window    ⌨ terminal        ◉ state
  ▸ command          ⌂ cwd             ⑂ children        ⇄ network
  ⇡ parent          ◌ daemon shape    ✎ terminal activity ▲ memory growth
  ⑃ tree (parent and children, coupled)
  ↻ progress while busy (read/write syscalls or busy children, or spinning)

order (attention): recommended actions first, most expected loss saved
first; then zombies; then the least probably useful. The lines under the
table say what is recommended and which hard vetoes kept how many processes,
with the policy key (guards.* in ~/.config/pt/policy.json) that changes each.
"""

EPILOG = LEGEND + """
pt scan watches every process for a short window (--window), scores the
evidence (CPU now and over its life, age, orphaning, terminal, state,
command and cwd category, children, sockets, IO) into a posterior over
{useful, useful_bad, abandoned, zombie}, and recommends the action with the
least expected loss. It never acts: see `pt explain PID` for the full ledger.

sort keys: attention (what is worth a look first, default), now (CPU in the
           window), share (lifetime CPU share), cpu, rss, age, start, vsize,
           threads, pid, ppid, uid, user, state, command, nice, p_class, class,
           action, confidence, descendants, tree_cpu, tree_rss, idle (the
           subtree roll-ups); with --raw the default is share; --tree ranks
           whole trees by their best-placed process, --top counts trees

examples:
  pt scan                          the 40 processes most worth a look
  pt scan --sort rss --top 10      the ten largest by resident memory
  pt scan --user alice --top 0     every process of alice
  pt scan --tree --user $USER      your process forest
  pt scan --at +3h                 what pt would say if 3 more hours pass like this
  pt scan --raw                    just the process table, no verdicts (fastest)
  pt scan --json                   one JSON object for scripts and agents
  pt scan --json --top 5 --fields pid,action,why    a compact answer for an agent
  pt scan --json --ledger          the same with every process's full evidence ledger
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


def field_list(text: str) -> tuple[str, ...]:
    """argparse type for ``--fields``: comma-separated field names, each known."""
    from pt.fields import FIELDS_BY_NAME
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in FIELDS_BY_NAME]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown field {unknown[0]!r}; `pt schema scan` lists them" if unknown else "wants field names")
    return tuple(dict.fromkeys(names))


#: What each output imports after the scan: imported while the reads run instead.
RENDER_MODULES = {
    "json": ("pt.incidents", "pt.infer.incidents", "pt.act.trees", "pt.learn.gate", "pt.telemetry.redact",
             "pt.ui.incidents_view", "pt.ui.result", "pt.json_columns", "pt.act.identity"),
    "table": ("pt.incidents", "pt.infer.incidents", "pt.act.trees", "pt.learn.gate", "pt.telemetry.redact",
              "pt.ui.scan_view"),
}


def in_window(snapshot, recorder, args) -> None:
    """What a scan does inside its CPU window once the table is read: fork the
    telemetry writer (the reading thread has ended: no fork beside it), then
    import what the output will need, if the scan did not while it read
    (:func:`render_imports`; the psutil collector reads on the main thread)."""
    if recorder:
        recorder.begin(snapshot)
    render_imports(args)


def render_imports(args) -> None:
    """Import what the output will need (:data:`RENDER_MODULES`)."""
    import importlib
    for name in RENDER_MODULES["json" if args.json else "table"]:
        importlib.import_module(name)


def json_fields(args) -> tuple[str, ...] | None:
    """The fields ``--json`` computes: ``--fields``, else all of them but
    the full ledger (``evidence``) unless ``--ledger`` asks for it too (None: all)."""
    if args.fields:
        return args.fields + (("evidence",) if args.ledger and "evidence" not in args.fields else ())
    if args.ledger:
        return None
    from pt.fields import FIELDS_BY_NAME
    return tuple(n for n in FIELDS_BY_NAME if n != "evidence")


def add_parser(subparsers) -> None:
    from pt.commands.options import add_telemetry_options, count, duration, seconds_between

    p = subparsers.add_parser(
        "scan", help="triage the machine's processes (never acts)",
        description="Read every process, score the evidence and recommend an action for each.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--top", type=count, metavar="N",
                   help=f"show the first N rows (default {DEFAULT_TOP} in the table, fewer if the "
                        "terminal is shorter; all in --json; 0 = all)")
    p.add_argument("--sort", type=sort_key, metavar="KEY",
                   help="sort by KEY (default: attention; share with --raw); amounts sort biggest first")
    p.add_argument("--reverse", action="store_true", help="reverse the sort order")
    p.add_argument("--user", action="append", metavar="NAME|UID",
                   help="only processes of this user (repeatable)")
    p.add_argument("--kernel-threads", action="store_true",
                   help="include kernel threads (hidden by default)")
    p.add_argument("--tree", action="store_true", help="show the parent/child forest")
    p.add_argument("--window", type=seconds_between(0, 60, low_open=True), metavar="SECONDS",
                   help="how long to watch CPU and IO before deciding (default from policy, 0.25)")
    p.add_argument("--at", type=duration, default=0.0, metavar="DURATION",
                   help="evaluate as if DURATION more passed with no change (e.g. +3h)")
    p.add_argument("--raw", action="store_true",
                   help="only the process table: no window, no verdicts")
    p.add_argument("--json", action="store_true",
                   help="print one versioned JSON object instead of a table")
    p.add_argument("--fields", type=field_list, metavar="A,B,...",
                   help="with --json, only these fields of each process (e.g. pid,class,action,why: "
                        "small results for agents; pt explain PID has the full ledger)")
    p.add_argument("--ledger", action="store_true",
                   help="with --json, add every process's full evidence ledger (the evidence field: "
                        "~3 KB a process, left out by default; why and bayes_factors summarise it)")
    p.add_argument("--legend", action="store_true",
                   help="explain the columns and the EVIDENCE glyphs, then exit (no scan)")
    add_telemetry_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.errors import CommandError
    from pt.exit_codes import OK

    if args.legend:
        print(LEGEND, end="")
        return OK
    if (args.fields or args.ledger) and not args.json:
        option = "--fields picks JSON keys" if args.fields else "--ledger adds a JSON key"
        raise CommandError("usage", f"{option}: add --json")
    sort = args.sort or ("cpu_share" if args.raw else "attention")
    if args.raw and sort in VERDICT_SORTS:
        raise CommandError("usage", f"--sort {sort} needs the verdicts; drop --raw")
    if args.raw:
        return scan(args, sort, None)
    # The reads run on a thread from here while numpy and the model load below;
    # the CPU window opens now (pt.collect.early).
    from pt.collect.early import reading
    with reading() as first:
        return scan(args, sort, first)


def scan(args: argparse.Namespace, sort: str, first) -> int:
    """``pt scan`` once its options are checked (``first``: the reads begun, or None)."""
    import sys
    import time

    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.telemetry.enabled import lake_problem, report_telemetry, switched_off, telemetry_enabled
    from pt.ui.scan_rows import resolve_users, select_rows

    try:
        uids = resolve_users(args.user) if args.user else None
    except ValueError as exc:
        raise CommandError("usage", str(exc)) from None
    recorder, not_recorded = None, "disabled"
    if args.at:
        not_recorded = "--at scans are hypothetical and are not recorded"
    elif args.no_telemetry or switched_off():
        pass                  # "disabled": where the lake is does not matter (nor its ~15 ms of imports)
    elif telemetry_enabled(args):
        from pt.telemetry.recorder import Recorder
        recorder = Recorder(args.lake)
    else:
        not_recorded = lake_problem(args.lake) or not_recorded
    started = time.perf_counter()
    if args.raw:
        from pt.collect import collect
        triage, snapshot = None, collect()
        if recorder:           # its writer is forked now, holding the snapshot: nothing is sent
            recorder.start(None, snapshot=snapshot, scan_s=time.perf_counter() - started)
    else:
        from pt.decide.stability import verdict_memory
        from pt.triage import triage as run_triage
        if first is not None:    # while the reads run: the telemetry child, forked once they are done, carries these
            render_imports(args)
            if recorder:
                recorder.load()

        def record(t):       # the forked child writes the lake while this process renders
            recorder.start(t, snapshot=t.snapshot, scan_s=time.perf_counter() - started)

        try:
            triage = run_triage(window_s=args.window, at_s=args.at, memory=verdict_memory(), first=first,
                                on_snapshot=lambda snapshot: in_window(snapshot, recorder, args),
                                on_posteriors=recorder.early if recorder else None,
                                on_verdicts=record if recorder else None)
        except BaseException:
            if recorder:      # a writer forked for this scan is sent nothing (or all): it ends, and is reaped here
                recorder.result()
            raise
        snapshot = triage.snapshot
    from pt.collect.host import procfs_is_own_pidns
    if not procfs_is_own_pidns():
        print("pt scan: note: /proc is not this pid namespace's: the pids shown are its, and "
              "pt apply does not act here", file=sys.stderr)
    view = select_rows(snapshot, uids=uids, kernel_threads=args.kernel_threads, sort=sort,
                       reverse=args.reverse, triage=triage, every_field=args.json, tree=args.tree,
                       fields=json_fields(args))
    if triage is not None and not args.at:
        import dataclasses

        from pt.incidents import judge
        view = dataclasses.replace(view, incidents=tuple(judge(triage)), window_s=triage.window.duration_s)
    if args.json:
        from pt.ui.result import print_scan_json
        print_scan_json(view, top=args.top, triage=triage, fields=json_fields(args) if args.fields else None,
                        telemetry=lambda: recorder.result().as_dict() if recorder else {"written": False,
                                                                                        "reason": not_recorded})
    else:
        from pt.ui.scan_view import print_scan
        print_scan(view, top=args.top, tree=args.tree, most=DEFAULT_TOP)
    report_telemetry("scan", recorder.result() if recorder else None)
    return OK
