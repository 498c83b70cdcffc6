"""``pt incidents`` on a terminal (a Rich table) and as JSON data."""
from __future__ import annotations

from pt.formatting import format_duration
from pt.ui.styles import ACTION_STYLE

LEVEL_STYLE = {"high": "bold red", "medium": "yellow", "low": ""}


def command_of(incident) -> str:
    """The root's command line as pt shows one: secrets masked, ``[comm]`` without one."""
    from pt.telemetry.redact import mask_secrets
    masked = mask_secrets(list(incident.argv)) if incident.argv else None
    return " ".join(masked) if masked else f"[{incident.comm}]"


def incident_json(incident) -> dict:
    return incident.as_dict() | {"command": command_of(incident)}


def incidents_json(t, found, followed=None) -> dict:
    """``data`` of ``pt incidents --json``; ``sampler`` says how the table
    was followed (:class:`pt.collect.lifecycle.Followed`; None: full reads)."""
    data = {"window_s": round(t.window.duration_s, 6), "processes": len(t.snapshot),
            "incidents": [incident_json(i) for i in found]}
    if followed is not None:
        times = followed.lives["times"]
        span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
        data["sampler"] = {"ticks": followed.ticks, "ticks_per_s": round(followed.ticks / span, 3) if span else None,
                           "lives": len(followed.lives["pid"]), "missed": followed.missed,
                           "forks": followed.forks if followed.forks >= 0 else None}
    return data


def remedy(incident) -> str:
    from pt.ui.text import plural
    if incident.veto:
        return f"keep ({incident.veto})"
    return f"{incident.action} tree ({plural(incident.members, 'process', 'processes')})"


def print_incidents(t, found, out=None) -> None:
    from rich.table import Table                  # Rich only to render: --json never imports it

    from pt.ui.text import console, line, text
    out = out or console()
    host = t.snapshot.host
    title = line(("pt incidents", "bold"), f" · {host.hostname} · {len(t.snapshot):,} processes · "
                 f"watched {format_duration(t.window.duration_s)}")
    if not found:
        out.print(title)
        out.print(line("no lifecycle incident seen (fork storm, runaway tree, short-job flood, respawn loop); "
                       "a slower loop shows with a longer --window"))
        return
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False,
                  padding=(0, 1, 0, 0))
    rows = [[text(i.kind), text(i.pid), text(i.level, LEVEL_STYLE[i.level]), text(f"{i.severity:.1f}"),
             text(remedy(i), ACTION_STYLE.get(i.action, "")), text(command_of(i), "cyan")] for i in found]
    for n, header in enumerate(("KIND", "PID", "LEVEL", "SEV", "REMEDY", "COMMAND")):
        if header == "COMMAND":
            table.add_column(header, min_width=12, no_wrap=True, overflow="ellipsis")
        else:               # never cut a pid, a level or a remedy
            width = max(len(header), *(r[n].cell_len for r in rows))
            table.add_column(header, no_wrap=True, min_width=width,
                             justify="right" if header in ("PID", "SEV") else "left")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    out.print(line(("evidence:", "bold")))
    for i in found:
        out.print(line(f"  {i.pid} {i.kind}: ", i.words))
    out.print(line(("severity: the observed rate in multiples of its detection threshold "
                    "(low < 2, medium < 5, high); pt incidents never acts", "dim")))
