"""Rich views of plans, apply/undo outcomes, verification and history."""
from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pt.config import CLASSES
from pt.formatting import format_duration
from pt.ui.styles import ACTION_STYLE
from pt.ui.text import console as make_console
from pt.ui.text import line, plural, text

RESULT_STYLE = {"done": "green", "exited": "green", "still_running": "yellow", "aborted": "red",
                "refused": "yellow", "unavailable": "yellow", "failed": "red", "not applied": "dim"}


def describe(entry: dict) -> str:
    """What the action will do, in words (the escalation is shown before it happens)."""
    p, action = entry["params"], entry["action"]
    if action == "kill" and entry.get("state") == "Z":
        return f"zombie: SIGCHLD to its parent {entry.get('ppid', '?')} so it reaps"
    if action == "kill":
        return f"{p['signal']}, then SIGKILL after {p['grace_s']:g} s if still running"
    if action == "renice":
        return f"nice → {p['nice']}"
    if action == "throttle":
        extra = f", memory.high {p['memory_high_bytes']}" if p.get("memory_high_bytes") else ""
        return f"cgroup CPU cap {p['cpu']:g} CPU{extra}"
    if action == "quarantine":
        return "cgroup cpuset: one CPU"
    if action == "pause":
        return "cgroup freezer" if p.get("method") == "freeze" else "SIGSTOP (undo: SIGCONT)"
    if action == "restart":
        return f"systemctl {'--user ' if p.get('user_unit') else ''}restart {p.get('unit')}"
    return ""


def _plan_caption(plan: dict, now: float) -> Text:
    left = plan["expires_at"] - now
    expiry = f"expires in {format_duration(left)}" if left > 0 else "EXPIRED"
    return text(f"made {format_duration(now - plan['created_at'])} ago, {expiry}")


def tree_note(a: dict) -> str:
    """``tree of 13 under 4242, depth 2`` for a tree member ('' otherwise)."""
    t = a.get("tree")
    if not t:
        return ""
    where = f"group {t['pgid']}" if t.get("pgid") is not None else f"tree of {t['size']} under {t['root']}"
    return f"{where}, " + (("leader" if t.get("pgid") is not None else "root") if t["depth"] == 0
                           else f"depth {t['depth']}")


def _tree_header(a: dict, console: Console) -> None:
    """The line that opens a tree decision: one decision, its size, the order."""
    t = a.get("tree")
    if t:
        kind = "process group" if t.get("pgid") is not None else "tree"
        what = f"{a['action']} {kind} ({plural(t['size'], 'process', 'processes')})"
        where = f"led by pid {t['root']}" if t.get("pgid") is not None else f"rooted at pid {t['root']}"
        console.print(line((what, f"bold {ACTION_STYLE.get(a['action'], '')}".strip()),
                           f" {where}: one decision, deepest members first, each by its own pidfd; "
                           "processes born after this plan are not signalled"), soft_wrap=True)


def _summary(a: dict, comm: str, age: str, console: Console) -> None:
    """One action's first two lines: index, action, pid, name, age and
    P(abandoned) (fits 80 columns), then how it is carried out."""
    console.print(line((f"#{a['index']} ", "bold"), (a["action"], ACTION_STYLE.get(a["action"], "")),
                       f"  pid {a['target']['pid']} ({comm})  age {age}  "
                       f"P(abandoned) {a['posterior']['abandoned']:.3f}"))
    note = tree_note(a)
    console.print(text(f"    how: {describe(a)}" + (f" ({note})" if note else "")))


def _tree_openers(plan: dict) -> set[int]:
    """Indexes of the actions that are the first member of their tree in the plan."""
    first: dict[int, int] = {}
    for i, a in enumerate(plan["actions"]):
        if "tree" in a:
            first.setdefault(a["tree"]["id"], i)
    return set(first.values())


def print_plan(plan: dict, console: Console | None = None) -> None:
    """A plan as ``pt plan`` shows it: a few lines an action (what, to which
    process, why), readable at 80 columns; long command lines wrap."""
    console = console or make_console()
    if plan["actions"]:
        console.print(line(("plan ", "bold"), (plan["plan_id"], "bold"), " · ", _plan_caption(plan, time.time())))
        openers = _tree_openers(plan)
        for i, a in enumerate(plan["actions"]):
            if i in openers:
                _tree_header(a, console)
            _summary(a, a["comm"], format_duration(a["age_s"]), console)
            console.print(line("    command: ", (a["command"], "cyan")), soft_wrap=True)
            console.print(line(("    why: ", "dim"), (a["why"], "dim")), soft_wrap=True)
    else:
        console.print(line(("Nothing to do:", "green"), " no selected process needs more than keep."))
    _print_refused(plan, console)


def _print_refused(plan: dict, console: Console) -> None:
    for r in plan.get("refused", []):
        console.print(line("  ", ("not planned", "yellow"), f" pid {r['pid']} ({r['comm']}): {r['reason']}"))


#: How much younger than the live process a plan may say it was when made:
#: the scan reads ages before its window (at most 60 s) and scoring.
AGE_SLACK_S = 90.0
#: How far a plan's start time (and older age) may be from the live one
#: (the boot time is in whole seconds).
START_SLACK_S = 2.0


def live_command(live) -> str:
    """A live process's command line as a plan records it: masked by the one
    secret masker, ``[comm]`` when it has none (a zombie, a kernel thread)."""
    from pt.telemetry.redact import mask_secrets
    return " ".join(mask_secrets(list(live.argv))) or f"[{live.comm}]"


def disagreements(entry: dict, live, created_at: float, now: float) -> list[str]:
    """Where a plan entry's own text (comm, command, age) differs from the
    live process it names: a plan edited, forged, or overtaken by the process."""
    out = []
    if entry["comm"] != live.comm:
        out.append(f"comm {entry['comm']!r}")
    if entry["command"] != live_command(live)[:400]:
        out.append(f"command {entry['command']!r}")
    if live.age_s is not None:
        start = entry.get("start_time")
        wrong_start = isinstance(start, (int, float)) and not isinstance(start, bool) \
            and abs(start - (now - live.age_s)) > START_SLACK_S
        off = entry["age_s"] - (live.age_s - (now - created_at))       # plan's age minus the real one
        if wrong_start or not -AGE_SLACK_S <= off <= START_SLACK_S:
            out.append(f"age {format_duration(entry['age_s'])} when the plan was made")
    return out


def print_confirmation(plan: dict, live: list, console: Console | None = None) -> None:
    """What ``pt apply`` will do, target by target, before it asks: each
    action with the pid it signals and what runs there *now* (``live``, one
    :class:`pt.act.identity.Live` per action, read from /proc and checked
    against the plan's identity): its name, its whole command line (secrets
    masked, escaped, never cut; long lines wrap) and its age. The plan's own
    text is never what is shown as the target: where it disagrees with the
    live process that is said, and a target whose identity changed is shown
    as such (pt will not signal it)."""
    console = console or make_console()
    now = time.time()
    console.print(line(("plan ", "bold"), (plan["plan_id"], "bold"), " · ", _plan_caption(plan, now)))
    openers = _tree_openers(plan)
    for i, (a, proc) in enumerate(zip(plan["actions"], live)):
        if i in openers:
            _tree_header(a, console)
        head = ((f"#{a['index']} ", "bold"), (a["action"], ACTION_STYLE.get(a["action"], "")),
                f"  pid {a['target']['pid']}")
        if proc.mismatch:
            console.print(line(*head, "  ", (f"{proc.mismatch}: will not be signalled", "bold red")),
                              soft_wrap=True)
            if proc.argv or proc.comm != "?":
                console.print(line("    now at this pid: ", (f"({proc.comm}) {live_command(proc)}", "dim")),
                              soft_wrap=True)
            console.print(line(("    the plan says: ", "dim"), (f"({a['comm']}) {a['command']}", "dim")),
                          soft_wrap=True)
            continue
        _summary(a, proc.comm, "?" if proc.age_s is None else format_duration(proc.age_s), console)
        console.print(line("    command: ", (live_command(proc), "cyan")), soft_wrap=True)
        wrong = disagreements(a, proc, plan["created_at"], now)
        if wrong:
            console.print(line(("    the plan file says ", "bold red"), ("; ".join(wrong), "bold red"),
                               (": not what runs at this pid (shown above is what pt read now)", "bold red")),
                          soft_wrap=True)
        console.print(line(("    why: ", "dim"), (a["why"], "dim")), soft_wrap=True)
    _print_refused(plan, console)


def confirmation(plan: dict, live: list | None = None) -> str:
    """The question ``pt apply`` asks after showing the plan."""
    n = len(plan["actions"])
    changed = sum(1 for proc in live or () if proc.mismatch)
    note = f" ({changed} will not be signalled: identity changed)" if changed else ""
    what = "this action" if n == 1 else f"these {plural(n, 'action')}"
    return f"Apply {what}{note}? [y/N] "


def outcome_table(records: list[dict], title: str) -> Table:
    table = Table(title=text(title), title_justify="left")
    for name in ("action id", "pid", "action", "result", "detail"):
        table.add_column(name, overflow="fold")
    for r in records:
        detail = r["detail"] + (" (by an earlier apply)" if r.get("earlier") else "")
        if r.get("tree"):
            detail += f" [{tree_note(r)}]"
        table.add_row(text(str(r["action_id"]).split(":", 1)[-1]), text(r["pid"]), text(r["action"]),
                      text(r["result"], RESULT_STYLE.get(r["result"], "")), text(detail))
    return table


def print_outcomes(records: list[dict], title: str, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(outcome_table(records, title) if records else text(f"{title}: nothing to do"))


def print_newborns(born: list[dict], console: Console | None = None) -> None:
    """Children of tree members born after the plan: pt did not signal them."""
    if not born:
        return
    console = console or make_console()
    listed = ", ".join(f"{b['pid']} ({b['comm']}, child of {b['ppid']})" for b in born[:20])
    more = f" and {len(born) - 20} more" if len(born) > 20 else ""
    what = plural(len(born), "process", "processes")
    console.print(line(("not signalled: ", "yellow"),
                       f"{what} born after the plan under its tree members: {listed}{more}"), soft_wrap=True)


def print_verify(plan: dict, rows: list[dict], console: Console | None = None) -> None:
    console = console or make_console()
    table = Table(title=text(f"verify plan {plan['plan_id']}"), title_justify="left")
    for name in ("#", "pid", "command", "action", "result", "now", "respawned"):
        table.add_column(name, overflow="fold")
    for r in rows:
        now = r["now"]
        if r["undone"]:
            now += ", undone"
        if r.get("tree"):
            now += f" [{tree_note(r)}]"
        table.add_row(text(r["index"]), text(r["pid"]), text(r["comm"]), text(r["action"]),
                      text(r["result"], RESULT_STYLE.get(r["result"], "")), text(now),
                      text(", ".join(map(str, r["respawned_as"])) or "-",
                           "bold red" if r["respawned_as"] else ""))
    console.print(table)


def print_history(plans: list[dict], console: Console | None = None) -> None:
    console = console or make_console()
    table = Table(title="plans", title_justify="left")
    for name in ("plan", "made", "actions", "applied", "results"):
        table.add_column(name)
    now = time.time()
    for p in plans:
        results = ", ".join(f"{n} {k}" for k, n in sorted(p["results"].items())) or "-"
        table.add_row(text(p["plan_id"]), text(f"{format_duration(now - p['created_at'])} ago"),
                      text(p["actions"]), text("yes" if p["applied"] else "no"), text(results))
    console.print(table)


def print_plan_explain(plan_id: str, items: list[dict], console: Console | None = None) -> None:
    """Why each action of a plan was taken, from its journalled intents."""
    console = console or make_console()
    for item in items:
        just = item["justification"]
        outcome = item.get("outcome")
        console.print(line((f"{item['action_id']}  ", "bold"), (item["action"], ACTION_STYLE.get(item["action"], "")),
                           f"  pid {item['pid']}  {str(just.get('command', ''))[:80]}"))
        post = just.get("posterior", {})
        console.print(text("  posterior  " + "  ".join(f"{c} {post[c]:.3f}" for c in CLASSES if c in post)))
        if just.get("requested"):
            console.print(text("  requested explicitly by the user (pt plan --do)", "yellow"))
        if just.get("reason"):
            console.print(text(f"  chosen by  {just['reason']}", "yellow"))
        console.print(text(f"  why        {just.get('why', '')}"))
        losses = {a: v for a, v in just.get("expected_loss", {}).items() if v is not None}
        if losses:
            console.print(text("  exp. loss  " + "  ".join(f"{a} {v:.2f}" for a, v in sorted(losses.items(),
                                                                                       key=lambda kv: kv[1]))))
        if outcome:
            console.print(line("  outcome    ", (outcome["result"], RESULT_STYLE.get(outcome["result"], "")),
                               f": {outcome['detail']}"))
        else:
            console.print(line("  outcome    ", ("none recorded (interrupted apply?)", "yellow")))
        console.print()
