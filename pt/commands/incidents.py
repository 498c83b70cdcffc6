"""``pt incidents``: fork storms, runaway trees, short-job floods and respawn loops now."""
from __future__ import annotations

import argparse
import contextlib
import threading

DEFAULT_WINDOW_S = 3.0
#: Pause between full reads of the table where there is no lifecycle sampler (psutil; seconds).
SAMPLE_INTERVAL_S = 0.1

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


class TableReads:
    """Reads the whole process table every ``interval`` seconds on a thread
    (the psutil collector, which has no lifecycle sampler), from when the
    scan's first read is taken until :meth:`stop`, which raises what stopped
    the thread, if anything."""

    def __init__(self, interval: float = SAMPLE_INTERVAL_S):
        self.interval = interval
        self.samples: list = []
        self.failure: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, _snapshot=None) -> None:
        self._thread.start()

    def _run(self) -> None:
        from pt.collect import collect
        try:
            while not self._stop.wait(self.interval):
                self.samples.append(collect())
        except Exception as exc:           # noqa: BLE001 -- handed to the caller by stop()
            self.failure = exc

    def stop(self) -> list:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.failure is not None:
            raise self.failure
        from pt.collect import collect
        return [*self.samples, collect()]


def watch(window_s: float = DEFAULT_WINDOW_S, lake=None, notes: list | None = None, followed: list | None = None):
    """A quick scan over ``window_s`` with the table followed during it and
    once after (procfs: the lifecycle sampler, ~40 ticks a second; psutil:
    a full read every 0.1 s), and the earlier runs of ``lake`` (None: not
    read); returns ``(triage, incidents)``. What the lifecycle sampler saw
    (:class:`pt.collect.lifecycle.Followed`) is appended to ``followed``."""
    from pt.collect import backend
    from pt.triage import triage

    light = backend() == "procfs"
    if light:
        from pt.collect.lifecycle import LifeWatch
        watcher = LifeWatch()
    else:
        watcher = TableReads()
    try:
        t = triage(window_s=window_s, on_snapshot=watcher.start)
    except BaseException:
        with contextlib.suppress(Exception):    # the scan's own error is the one to report
            watcher.stop()
        raise
    seen = watcher.stop()
    if not light:
        return t, judge(t, seen, lake, notes)
    from pt.infer.incidents import lives_of_ticks
    if followed is not None:
        followed.append(seen)
    up = t.snapshot.host.uptime_s
    lv = lives_of_ticks(t.snapshot, seen.lives, t.window, seen.forks,
                        (seen.forks_span[0] - up, seen.forks_span[1] - up))
    return t, judge(t, lake=lake, notes=notes, lv=lv)


def judge(t, samples=(), lake=None, notes: list | None = None, lv=None) -> list:
    """The incidents of a quick scan ``t`` and any later reads of the table
    (none: what the scan's own window shows, as ``pt scan`` says) or the
    lives ``lv`` followed from its first read, and the respawn loops across
    the earlier runs of ``lake`` (None: not read; why they could not be read
    is appended to ``notes``)."""
    import numpy as np

    from pt.config import CATEGORICAL_LEVELS
    from pt.infer.incidents import Thresholds, detect
    g = t.context.genealogy
    reaper = np.asarray(t.snapshot["pid"] == 1)
    reaper[g.parent_row[g.parent_is_reaper & (g.parent_row >= 0)]] = True
    # A build tool someone still waits for: its parent is alive (not adopted) or its terminal is.
    build = np.asarray(t.context.command_category) == CATEGORICAL_LEVELS["command"].index("build")
    live_build = build & (((g.parent_row >= 0) & ~g.parent_is_reaper) | g.tty_alive)
    th = Thresholds.of(t.priors)
    found = detect([t.snapshot, *samples], t.window, reaper=reaper, protected=t.protected_by, thresholds=th,
                   live_build=live_build, lv=lv)
    if lake is not None:
        from pt.telemetry import history
        h = history.read(lake, t.snapshot.host.boot_id)
        if h.note and notes is not None:
            notes.append(h.note)
        seen = {(i.kind, i.pid) for i in found}
        found += [i for i in history.respawn_incidents(h, t.snapshot, t.protected_by, th)
                  if (i.kind, i.pid) not in seen]
    return found


def run(args: argparse.Namespace) -> int:
    from pt.exit_codes import OK

    import os
    import sys

    from pt.telemetry.lake import lake_root
    from pt.ui.text import escape
    off = os.environ.get("PT_TELEMETRY", "").lower() in ("0", "off", "no", "false")
    notes: list[str] = []
    followed: list = []
    t, found = watch(args.window, lake=None if off else lake_root(args.lake), notes=notes, followed=followed)
    for note in notes:
        print(escape(f"pt incidents: {note}"), file=sys.stderr)
    if args.json:
        from pt.ui.incidents_view import incidents_json
        from pt.ui.result import envelope, print_json
        errors = t.snapshot.errors
        print_json(envelope("incidents", host=t.snapshot.host.as_dict(), data=incidents_json(t, found, followed[0] if followed else None),
                            errors=errors.as_list(), partial=errors.partial))
    else:
        from pt.ui.incidents_view import print_incidents
        print_incidents(t, found)
    return OK
