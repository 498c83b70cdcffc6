"""``pt duck``: query the telemetry lake with DuckDB (named reports or ad hoc SQL)."""
from __future__ import annotations

import argparse

EPILOG = """\
reports:
  runs                  recorded scans, newest first (default)
  why PID|IDENTITY      the ledger of the latest decision about a process: every
                        evidence term per class, posterior (re-derived from the
                        stored terms), Bayes factors, lfdr, expected losses.
                        IDENTITY is PID:START_TICKS or BOOT_ID:START_TICKS:PID
  top                   commands pt most often recommended acting on
  calibration           predicted P(not useful) against what users did (needs
                        action outcomes from `pt apply`)
  actions               actions taken and their outcomes

Views: runs, system_samples, proc_samples, proc_features, proc_inference,
decisions, actions, outcomes. Macros: pt_runs(n), pt_why(pid, p_start, p_boot,
p_run), pt_ledger(run, pid, start_ticks), pt_top(n, since_days),
pt_calibration(bins), pt_actions(n) (pt/telemetry/reports.sql).

A fleet lake (a shared directory with a _fleet marker, where every host
writes under host=<name>/; see docs/telemetry.md) is read as this host's
data by default; --fleet reads every host's, and each view gains a host
column (the named reports then cover the whole fleet).

--sql is safe to run on SQL you did not write (an agent's, a colleague's):
it runs exactly one read-only query (SELECT, FROM, WITH, DESCRIBE, SHOW,
SUMMARIZE) over the views above, in a DuckDB sandbox that can open only the
lake's files. COPY, ATTACH, INSTALL, LOAD, SET, PRAGMA and CREATE are refused,
and so is reading any other file (read_text('/etc/shadow'), read_csv(...)).
Only rows of committed scans are shown. A lake file pt itself cannot read as
Parquet is moved to <lake>/_quarantine (or, in a read-only lake, skipped), and
pt duck says which.

examples:
  pt duck                                   the latest runs
  pt duck why 4242                          why pt said what it said about pid 4242
  pt duck why 4242 --run 20260101T120000Z-1a2b3c4d
  pt duck top --since 7                     the past week's most-flagged commands
  pt duck calibration --json
  pt duck --sql "SELECT action, count(*) FROM decisions GROUP BY 1"
  pt duck --sql "FROM pt_ledger('RUN_ID', 4242, 123456)"
  pt duck --fleet --sql "SELECT host, count(*) FROM runs GROUP BY host"
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import days, positive_count

    p = subparsers.add_parser(
        "duck", help="query the telemetry lake (reports or SQL, via DuckDB)",
        description="Open the telemetry lake in DuckDB and run a named report or SQL.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", nargs="?", default=None,
                   choices=("runs", "why", "top", "calibration", "actions"), metavar="REPORT",
                   help="runs (default), why, top, calibration or actions")
    p.add_argument("target", nargs="?", metavar="PID|IDENTITY", help="the process, for why")
    p.add_argument("--sql", metavar="QUERY",
                   help="run this one read-only query over the lake's views instead of a report "
                        "(sandboxed: no other files, no COPY/ATTACH/INSTALL/SET)")
    p.add_argument("--run", dest="run_id", metavar="RUN_ID",
                   help="why: that run's decision instead of the latest")
    p.add_argument("--limit", type=positive_count, metavar="N", help="at most N rows")
    p.add_argument("--since", type=days, metavar="DAYS", help="top: only the last DAYS days")
    p.add_argument("--bins", type=positive_count, default=10, metavar="N", help="calibration bins")
    p.add_argument("--fleet", action="store_true",
                   help="a fleet lake: read every host's partition (views gain a host column); "
                        "by default only this host's")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")
    p.add_argument("--json", action="store_true", help="print one versioned JSON object")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.telemetry.enabled import lake_problem
    from pt.ui.text import escape

    report = args.report or ("sql" if args.sql else "runs")
    if args.sql and args.report:
        raise CommandError("usage", "give either a REPORT or --sql, not both")
    if report == "why" and not args.target:
        raise CommandError("usage", "why needs a PID or IDENTITY (e.g. pt duck why 4242)")
    if report != "why" and args.target:
        raise CommandError("usage", f"unexpected argument {args.target!r}: only why takes a target")

    problem = lake_problem(args.lake)
    if problem:
        raise CommandError("lake_error", problem)

    import duckdb

    from pt.telemetry import duck
    from pt.ui.duck_view import print_report, print_why, report_json

    try:
        lake = duck.open_lake(args.lake, tables=("decisions", "proc_inference"), macros=False, fleet=args.fleet) \
            if report == "why" else duck.open_lake(args.lake, fleet=args.fleet)
    except (OSError, duckdb.Error) as exc:
        raise CommandError("lake_error", f"cannot open the lake: {exc}")
    notes = []
    try:
        if report == "why":
            try:
                ledger = duck.why(lake, args.target, run=args.run_id)
            except ValueError as exc:
                raise CommandError("usage", str(exc))
            if ledger is None:
                where = f" in run {args.run_id}" if args.run_id else ""
                raise CommandError("not_found", f"no decision about {args.target!r}{where} in the lake "
                                                f"{lake.root}")
            if args.json:
                report_json("why", lake, data={"why": ledger})
            else:
                print_why(ledger)
        else:
            if report == "sql":
                try:
                    columns, rows = lake.user_query(args.sql)
                except duck.SqlRefused as exc:
                    raise CommandError("refused", str(exc))
                if args.limit:
                    rows = rows[:args.limit]
            else:
                columns, rows = duck.report(lake, report, limit=args.limit, since_days=args.since,
                                            bins=args.bins)
            if report == "calibration" and not rows:
                notes.append("no action outcomes in the lake yet: calibration compares predictions "
                             "with what was done, recorded by `pt apply`"
                             if duck.outcome_count(lake) == 0 else
                             "no outcomes that label a decision (acted on and done/exited, or kept)")
            if args.json:
                report_json(report, lake, columns=columns, rows=rows, notes=notes)
            else:
                print_report(report, columns, rows, notes=notes)
    except duckdb.Error as exc:
        raise CommandError("query_error", f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    for q in lake.quarantined:
        print(escape(f"pt duck: quarantined {q['file']} (moved to {q['moved_to']}): {q['reason']}"),
              file=sys.stderr)
    for s in lake.skipped:
        print(escape(f"pt duck: skipped {s['file']}: {s['reason']}"), file=sys.stderr)
    return OK
