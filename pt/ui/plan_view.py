"""Rich views of plans, apply/undo outcomes, verification and history."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pt.config import CLASSES
from pt.formatting import format_duration
from pt.ui.scan_view import printable

RESULT_STYLE = {"done": "green", "exited": "green", "still_running": "yellow", "aborted": "red",
                "refused": "yellow", "unavailable": "yellow", "failed": "red", "not applied": "dim"}
ACTION_STYLE = {"kill": "bold red", "restart": "red", "pause": "yellow", "throttle": "yellow",
                "quarantine": "yellow", "renice": "cyan", "keep": "green"}


def describe(entry: dict) -> str:
    """What the action will do, in words (the escalation is shown before it happens)."""
    p, action = entry["params"], entry["action"]
    if action == "kill" and entry.get("state") == "Z":
        return "zombie: SIGCHLD to its parent so it reaps"
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


def plan_table(plan: dict) -> Table:
    now = time.time()
    table = Table(title=f"plan {plan['plan_id']}", title_justify="left", expand=False,
                  caption=_plan_caption(plan, now), caption_justify="left")
    for name, kw in (("#", {"justify": "right"}), ("pid", {"justify": "right"}), ("action", {}),
                     ("how", {}), ("age", {"justify": "right"}), ("P(abandoned)", {"justify": "right"}),
                     ("command", {"max_width": 48, "no_wrap": True, "overflow": "ellipsis"}),
                     ("why", {"max_width": 60})):
        table.add_column(name, **kw)
    for a in plan["actions"]:
        table.add_row(str(a["index"]), str(a["target"]["pid"]),
                      Text(a["action"], style=ACTION_STYLE.get(a["action"], "")), describe(a),
                      format_duration(a["age_s"]), f"{a['posterior']['abandoned']:.3f}",
                      printable(a["command"]), printable(a["why"]))
    return table


def _plan_caption(plan: dict, now: float) -> str:
    left = plan["expires_at"] - now
    expiry = f"expires in {format_duration(left)}" if left > 0 else "EXPIRED"
    return f"made {format_duration(now - plan['created_at'])} ago, {expiry}"


def print_plan(plan: dict, console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    if plan["actions"]:
        console.print(plan_table(plan))
    else:
        console.print("[green]Nothing to do:[/] no selected process needs more than keep.")
    for r in plan.get("refused", []):
        console.print(f"  [yellow]not planned[/] pid {r['pid']} ({printable(r['comm'])}): {r['reason']}")


def outcome_table(records: list[dict], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("action id", "pid", "action", "result", "detail"):
        table.add_column(name, overflow="fold")
    for r in records:
        detail = printable(r["detail"]) + (" (by an earlier apply)" if r.get("earlier") else "")
        table.add_row(r["action_id"].split(":", 1)[1], str(r["pid"]), r["action"],
                      Text(r["result"], style=RESULT_STYLE.get(r["result"], "")), detail)
    return table


def print_outcomes(records: list[dict], title: str, console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    console.print(outcome_table(records, title) if records else f"{title}: nothing to do")


def print_verify(plan: dict, rows: list[dict], console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    table = Table(title=f"verify plan {plan['plan_id']}", title_justify="left")
    for name in ("#", "pid", "command", "action", "result", "now", "respawned"):
        table.add_column(name, overflow="fold")
    for r in rows:
        now = r["now"]
        if r["undone"]:
            now += ", undone"
        table.add_row(str(r["index"]), str(r["pid"]), printable(r["comm"]), r["action"],
                      Text(r["result"], style=RESULT_STYLE.get(r["result"], "")), now,
                      Text(", ".join(map(str, r["respawned_as"])) or "-",
                           style="bold red" if r["respawned_as"] else ""))
    console.print(table)


def print_history(plans: list[dict], console: Console | None = None) -> None:
    console = console or Console(file=sys.stdout)
    table = Table(title="plans", title_justify="left")
    for name in ("plan", "made", "actions", "applied", "results"):
        table.add_column(name)
    now = time.time()
    for p in plans:
        results = ", ".join(f"{n} {k}" for k, n in sorted(p["results"].items())) or "-"
        table.add_row(p["plan_id"], f"{format_duration(now - p['created_at'])} ago", str(p["actions"]),
                      "yes" if p["applied"] else "no", results)
    console.print(table)


def print_plan_explain(plan_id: str, items: list[dict], console: Console | None = None) -> None:
    """Why each action of a plan was taken, from its journalled intents."""
    console = console or Console(file=sys.stdout)
    for item in items:
        just = item["justification"]
        outcome = item.get("outcome")
        head = Text.assemble((f"{item['action_id']}  ", "bold"), (item["action"], ACTION_STYLE.get(item["action"], "")),
                             f"  pid {item['pid']}  {printable(just.get('command', ''))[:80]}")
        console.print(head)
        post = just.get("posterior", {})
        console.print("  posterior  " + "  ".join(f"{c} {post[c]:.3f}" for c in CLASSES if c in post))
        if just.get("requested"):
            console.print("  [yellow]requested explicitly by the user (pt plan --do)[/]")
        console.print(f"  why        {printable(just.get('why', ''))}")
        losses = {a: v for a, v in just.get("expected_loss", {}).items() if v is not None}
        if losses:
            console.print("  exp. loss  " + "  ".join(f"{a} {v:.2f}" for a, v in sorted(losses.items(),
                                                                                    key=lambda kv: kv[1])))
        if outcome:
            console.print(Text.assemble("  outcome    ", (outcome["result"], RESULT_STYLE.get(outcome["result"], "")),
                                        f": {printable(outcome['detail'])}"))
        else:
            console.print("  outcome    [yellow]none recorded (interrupted apply?)[/]")
        console.print()
