"""``pt watch``: keep triaging, and act on its own only as far as allowed."""
from __future__ import annotations

import argparse

EPILOG = """\
modes (promotion is only ever yours; demotion is automatic):
  observe   never acts: records what it would do (the default)
  canary    acts only with reversible actions (pause, renice, throttle,
            quarantine), at most --budget of them an hour
  enforce   acts with every reversible action the policy recommends;
            the destructive ones (restart, kill) only with --allow-kill

Before acting on its own, the watcher deep-scans the candidates (up to 15 s,
less once watching stops paying) and acts only where the deep verdict also
calls for an action it may take: a worker that merely looked idle in the
quick scan's window is left alone (--no-deep-check skips this). In observe,
canary's candidates are deep-scanned the same way (each once, at most
--budget new ones an interval) to show what canary would do, never done.

Every action goes through a saved plan and the journal exactly as
`pt plan` + `pt apply --yes` would: vetoes, identity checks, data-loss gates
and rate limits all apply, and `pt explain --plan ID` / `pt undo ID` work on
it. The watcher steps down to observe by itself when its guardrail fires
(processes it called leftovers resume more often than its posterior said
they could: an anytime-valid e-process with false-alarm probability at most
5 %), when canary's budget runs out, after repeated action failures, or
when the kill switch is on; after 3 clean intervals it comes back, to
canary at most.

kill switch: PT_WATCH_KILL_SWITCH=1, or create the file
  $XDG_STATE_HOME/pt/watch/kill-switch (~/.local/state/pt/watch/kill-switch)
signals: SIGTERM/SIGINT finish the current interval and exit 0; SIGHUP
reloads the policy (a policy that fails validation is refused and the old
one kept).

The interval shortens under pressure: memory running low, a forecast of
MemAvailable reaching 5 % of RAM within 30 minutes, or CPU pressure.

examples:
  pt watch                                  observe every 30 s, until Ctrl-C
  pt watch --mode canary --match 'pytest|jest' --budget 3
  pt watch --for 8h --metrics /var/lib/node_exporter/textfile/pt.prom
  pt watch --status                         what the running watcher is doing
  pt watch --print-unit > ~/.config/systemd/user/pt-watch.service
"""

USER_UNIT = """\
[Unit]
Description=pt watch: continuous process triage
Documentation=man:pt(1)

[Service]
Type=simple
ExecStart={command}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=30
Nice=10
CPUWeight=20
MemoryMax=200M

[Install]
WantedBy={wanted_by}
"""


def add_parser(subparsers) -> None:
    from pt.commands.options import (add_selection_options, add_telemetry_options, count, duration, positive_count,
                                     seconds_between)
    from pt.config import ACTIONS
    from pt.watch.modes import MODES

    p = subparsers.add_parser(
        "watch", help="keep triaging every interval; act only as far as the mode allows",
        description="Quick-scan every interval, follow up on earlier verdicts, and (in canary or enforce "
                    "mode) act on the selected processes through plans and the journal.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=MODES, default="observe", help="how far to act on its own (default observe)")
    p.add_argument("--interval", type=seconds_between(1, 86400), default=30.0, metavar="SECONDS",
                   help="seconds between scans when calm (default 30; shorter under pressure)")
    p.add_argument("--for", dest="duration", type=duration, metavar="DURATION",
                   help="stop after DURATION (e.g. 10m, 8h); default: until interrupted")
    p.add_argument("--count", type=positive_count, metavar="N",
                   help="stop after N intervals (with --for: whichever comes first)")
    p.add_argument("--budget", type=count, default=5, metavar="N",
                   help="canary: at most N actions an hour (default 5)")
    p.add_argument("--allow-kill", action="store_true",
                   help="enforce: restart and kill too, where pt recommends them")
    p.add_argument("--no-deep-check", dest="deep_check", action="store_false",
                   help="act on the quick scan's verdict alone (default: a deep scan of the candidates must "
                        "confirm that acting is warranted first)")
    add_selection_options(p, pid_help="only act on this process (repeatable)", actions=ACTIONS[1:])
    p.add_argument("--record-every", type=positive_count, default=10, metavar="N",
                   help="record every Nth scan in the telemetry lake, and every scan that acted (default 10)")
    p.add_argument("--metrics", metavar="PATH",
                   help="write Prometheus text-format metrics to PATH after every scan")
    p.add_argument("--metrics-port", type=port, metavar="PORT",
                   help="also serve the metrics at http://127.0.0.1:PORT/metrics (loopback only)")
    p.add_argument("--status", action="store_true", help="print what the running watcher is doing, then exit")
    p.add_argument("--print-unit", choices=("user", "system"), nargs="?", const="user", metavar="user|system",
                   help="print a systemd unit that runs pt watch with these options, then exit")
    add_telemetry_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per interval (JSON Lines)")
    p.set_defaults(run=run)


def port(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)")
    return value


def unit_command(args) -> str:
    """``pt watch`` with every option of ``args`` that shapes the watcher, as
    one systemd ExecStart command line (each word quoted; ``%`` and ``$``
    doubled, since systemd expands them)."""
    import shlex
    import shutil
    import sys
    words = [shutil.which("pt") or sys.executable, *([] if shutil.which("pt") else ["-m", "pt"]), "watch",
             "--mode", args.mode, "--interval", f"{args.interval:g}", "--budget", str(args.budget),
             "--record-every", str(args.record_every)]
    flags = {"--allow-kill": args.allow_kill, "--no-deep-check": not args.deep_check,
             "--no-telemetry": args.no_telemetry}
    words += [flag for flag, on in flags.items() if on]
    for option, values in (("--pid", args.pid), ("--user", args.user), ("--class", args.classes),
                           ("--action", args.actions)):
        for value in values or ():
            words += [option, str(value)]
    if args.match is not None:
        words += ["--match", args.match.pattern]
    if args.min_age:
        words += ["--min-age", f"{args.min_age:g}"]
    for option, value in (("--metrics", args.metrics), ("--metrics-port", args.metrics_port), ("--lake", args.lake)):
        if value:
            words += [option, str(value)]
    return " ".join(shlex.quote(w) for w in words).replace("%", "%%").replace("$", "$$")


def print_unit(args) -> int:
    print(USER_UNIT.format(command=unit_command(args),
                           wanted_by="default.target" if args.print_unit == "user" else "multi-user.target"), end="")
    return 0


def show_status(args) -> int:
    from pt.exit_codes import NOT_FOUND, OK
    from pt.ui.result import envelope, error_envelope, print_json
    from pt.ui.text import escape
    from pt.watch.state import read_status, running, watch_dir

    with watch_dir() as d:
        status, alive = read_status(d), running(d)
    if status is None or not alive:
        message = "no pt watch is running" + ("" if status is None else
                                                f" (the last one, pid {status.get('pid')}, has stopped)")
        if args.json:
            print_json(error_envelope("watch", code="not_running", message=message))
        else:
            print(message)
        return NOT_FOUND
    if args.json:
        print_json(envelope("watch", host={}, data={"status": status}, errors=[], partial=False))
        return OK
    g, f = status["guardrail"], status["forecast"]
    lines = [
        f"pt watch (pid {status.get('pid')}): mode {status['mode']}"
        + (f", demoted from {status['wanted']}: {status['demoted_because']}" if status.get("demoted_because") else ""),
        f"scans {status['totals']['scans']}, actions {sum(status['totals']['acted'].values())}, "
        f"failures {status['totals']['failed']}"
        + ("" if status.get("budget_left") is None else f", canary budget left this hour {status['budget_left']}"),
        f"guardrail e-value {g['value']:.2f} (alarm at {g['threshold']:g}) over {g['followed_up']} follow-ups",
        *([] if not isinstance(status.get("forecast_guardrail"), dict) else [
            f"forecast guardrail e-value {status['forecast_guardrail']['value']:.2f} (alarm at "
            f"{status['forecast_guardrail']['threshold']:g}) over {status['forecast_guardrail']['resolved']} "
            f"resolved forecasts"]),
        f"urgency {status['urgency']:.2f}, next scan in {status['next_interval_s']:.0f} s",
        "memory forecast: " + (f"MemAvailable reaches the floor in {f['seconds_to_floor']:.0f} s"
                               if f["seconds_to_floor"] is not None else
                               "not heading to the floor" if f["reliable"] else
                               f"unreliable yet ({f['samples']} samples, confidence {f['confidence']:.2f})"),
    ]
    for c in status.get("cgroups") or []:
        tte = c["forecast"]["seconds_to_floor"]
        lines.append(f"cgroup {c['path']}: {c['available_bytes'] / 2**20:.0f} of {c['limit_bytes'] / 2**20:.0f} MB "
                     f"free; " + (f"reaches its floor in {tte:.0f} s" if tte is not None else "no forecast of its floor"))
    for line in lines:
        print(escape(line))
    return OK


def run(args: argparse.Namespace) -> int:
    if args.print_unit:
        return print_unit(args)
    if args.status:
        return show_status(args)
    import os
    import signal
    import sys
    import threading
    import time

    from pt.exit_codes import OK
    from pt.ui.result import envelope, print_json
    from pt.ui.text import escape

    # Signals first: a SIGHUP or SIGTERM while starting must not kill the watcher.
    stop, reload, wake = [], [], threading.Event()

    def on_stop(signum, _frame):
        stop.append(signum)
        wake.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_stop)
    def on_reload(_signum, _frame):
        reload.append(True)
        wake.set()

    signal.signal(signal.SIGHUP, on_reload)

    from pt.act.identity import boot_id
    from pt.errors import CommandError
    from pt.telemetry.enabled import telemetry_enabled
    from pt.ui.scan_rows import selection_from
    from pt.config import load_policy
    from pt.config_errors import ConfigError
    from pt.watch import metrics, state
    from pt.watch.loop import Watcher
    from pt.watch.modes import ModeController

    selection = selection_from(args)
    if args.allow_kill and args.mode != "enforce":
        raise CommandError("usage", "--allow-kill needs --mode enforce")
    if args.metrics:
        folder = os.path.dirname(os.path.abspath(args.metrics))
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)):
            raise CommandError("usage", f"--metrics {args.metrics}: {folder} is not a directory this user can write")
    directory = state.watch_dir()
    try:
        lock = directory.locked(state.LOCK_FILE, blocking=False)
        lock.__enter__()
    except BlockingIOError:
        status = state.read_status(directory) or {}
        directory.close()
        raise CommandError("already_watching", f"another pt watch (pid {status.get('pid', '?')}) is running on "
                                               f"{directory.path}; see `pt watch --status`")
    server = None
    try:
        if args.metrics_port:
            try:
                server = metrics.Server(args.metrics_port)
            except OSError as exc:
                raise CommandError("metrics_port", f"cannot serve metrics on 127.0.0.1:{args.metrics_port}: {exc}")
        boot = boot_id()
        watcher = Watcher(controller=ModeController(args.mode, budget_per_hour=args.budget), selection=selection,
                          interval_s=args.interval, allow_kill=args.allow_kill,
                          kill_switch=state.kill_switch(directory), policy=load_policy(), lake=args.lake,
                          telemetry=telemetry_enabled(args), record_every=args.record_every,
                          deep_check=args.deep_check)
        watcher.restore(state.read_memory(directory), boot)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        metrics_problem = None
        while True:
            if reload:                                # between intervals, never in the middle of one
                reload.clear()
                try:
                    watcher.policy = load_policy()
                    print("pt watch: policy reloaded", file=sys.stderr)
                except ConfigError as exc:
                    print(escape(f"pt watch: new policy refused, keeping the old one: {exc}"), file=sys.stderr)
            if stop:
                break
            mode_before = watcher.controller.mode
            step = watcher.step()
            state.write_memory(directory, watcher.memory(boot))
            tell(step, watcher, mode_before)
            status = watcher.status()
            state.write_status(directory, status)
            if server is not None:
                server.update(status)
            if args.metrics:
                try:
                    metrics.write(args.metrics, status)
                    metrics_problem = None
                except OSError as exc:
                    if str(exc) != metrics_problem:           # say it once, not every interval
                        print(escape(f"pt watch: metrics not written to {args.metrics}: {exc}"), file=sys.stderr)
                    metrics_problem = str(exc)
            if watcher.pressure is not None and watcher.pressure.note and watcher.steps == 1:
                print(escape(f"pt watch: note: {watcher.pressure.note}"), file=sys.stderr)
            if args.json:
                print_json(envelope("watch", host={}, data={"status": status}, errors=[], partial=False))
                sys.stdout.flush()
            else:
                report(step, watcher)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if args.count is not None and watcher.steps >= args.count:
                break
            pause = watcher.next_interval()
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            wake.wait(pause)
            wake.clear()
        watcher.reap(wait=True)
    finally:
        if server is not None:
            server.close()
        lock.__exit__(None, None, None)
        directory.close()
    return OK


def notify(title: str, body: str) -> None:
    """A desktop notification through notify-send, where there is a desktop
    session; never fails the watch. Notification servers read the body as
    markup, so it is escaped for that as well as for control characters."""
    import os
    import shutil
    import subprocess

    from pt.ui.text import escape
    exe = shutil.which("notify-send")
    if not exe or not any(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")):
        return
    safe = escape(body).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    try:
        subprocess.run([exe, "--app-name=pt", escape(title), safe], timeout=5, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        pass


def tell(step, watcher, mode_before: str) -> None:
    """Notify what this interval did: actions taken, or a demotion."""
    if step.acted:
        notify("pt watch acted", "; ".join(f"{a['action']} pid {a['pid']}: {a['result']}" for a in step.acted)
               + f" (plan {step.plan_id}; pt undo {step.plan_id} reverts)")
    if watcher.controller.mode != mode_before and watcher.controller.demoted_because:
        notify("pt watch stepped down to observe", watcher.controller.demoted_because)


def report(step, watcher) -> None:
    """One line per interval, and one per action taken."""
    import time

    from pt.ui.text import escape
    stamp = time.strftime("%H:%M:%S", time.localtime(step.time))
    wanted = ", ".join(f"{n} {a}" for a, n in step.recommended.items() if n) or "nothing"
    mode = watcher.controller.mode
    extra = f" (demoted: {watcher.controller.demoted_because})" if watcher.controller.demoted_because else ""
    print(escape(f"{stamp} [{mode}{extra}] {step.processes} processes; recommended: {wanted}; "
                 f"guardrail {watcher.guardrail.value:.2f}/{watcher.guardrail.threshold:g}; "
                 f"urgency {watcher.urgency.value:.2f}"), flush=True)
    for a in step.acted:
        print(escape(f"    {a['action']} pid {a['pid']}: {a['result']} (plan {step.plan_id})"), flush=True)
    for c in (step.preview or {}).get("would_do", []):
        print(escape(f"    canary would {c['deep']} pid {c['pid']} (quick scan: {c['quick']}; the deep scan "
                     f"agrees; saves {c['loss_saved']:.2f})"), flush=True)
