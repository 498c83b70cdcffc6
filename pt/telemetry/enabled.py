"""Whether a command records in the telemetry lake, and saying when it did not.

A lake that cannot be written never fails a command: these functions decide
whether to record (``--no-telemetry``, ``PT_TELEMETRY=off``, a lake path that
cannot be a directory), record the actions and labels ``pt apply`` and
``pt undo`` produce, and say on stderr why telemetry was skipped.
"""
from __future__ import annotations

import os
import sys


def switched_off() -> bool:
    """``PT_TELEMETRY`` says off (0, off, no, false)."""
    return os.environ.get("PT_TELEMETRY", "").lower() in ("0", "off", "no", "false")


def lake_problem(lake: str | None) -> str | None:
    """Why the lake (``--lake``, else ``$PT_LAKE``, else the default) cannot
    be a directory: it, or the nearest of its parents that exists, is not
    one. None when it can be (existing or not)."""
    from pt.telemetry.lake import LAKE_ENV, lake_root
    root = lake_root(lake)
    named = "--lake" if lake else f"${LAKE_ENV}" if os.environ.get(LAKE_ENV) else "the lake"
    for path in (root, *root.parents):
        if os.path.lexists(path):
            if path.is_dir():
                return None
            if path == root:
                return f"{named} {root} is not a directory; point it at a directory"
            return f"{named} {root} cannot be a directory: {path} is not a directory"
    return None


def telemetry_enabled(args) -> bool:
    """Whether to record: not switched off (``args.no_telemetry``,
    ``PT_TELEMETRY``), and the lake ``args.lake`` can be a directory (if it
    cannot, say once on stderr that telemetry is skipped, and why)."""
    if args.no_telemetry or switched_off():
        return False
    problem = lake_problem(args.lake)
    if problem:
        from pt.ui.text import escape
        print(escape(f"pt {args.command}: telemetry skipped: {problem}"), file=sys.stderr)
    return problem is None


def report_telemetry(command: str, result) -> None:
    """Say on stderr that telemetry was skipped, and why; silent when it was written."""
    if result is not None and not result.written:
        from pt.ui.text import escape
        print(escape(f"pt {command}: telemetry skipped: {result.reason} (lake {result.lake}); "
                     "the scan itself is complete"), file=sys.stderr)


def record_actions(args, command: str, journal) -> None:
    """Copy what ``journal`` appended in this run (intents -> ``actions``,
    outcomes -> ``outcomes``) to the telemetry lake, redacted; never fails
    the command."""
    if not journal.written or not telemetry_enabled(args):
        return
    from pt.telemetry.writer import write_action_records
    report_telemetry(command, write_action_records(journal.written, lake=args.lake))


def record_labels(args, plan: dict, *, confirmed: bool) -> None:
    """Record what confirming (or declining) a plan in ``pt apply`` says about
    its targets, as labels in ``outcomes``; never fails the command."""
    if not telemetry_enabled(args):
        return
    from pt.learn.labels import apply_labels
    from pt.telemetry.writer import write_labels
    report_telemetry(args.command, write_labels(apply_labels(plan, confirmed), lake=args.lake))
