"""``pt doctor``: what this machine offers pt, and which features that enables."""
from __future__ import annotations

import argparse

EPILOG = """\
Probes pidfd, cgroups (v1/v2, which controllers this user can use), pressure
stall information, systemd, the pid namespace, root, container markers and
the process collector. The result is cached per boot in pt's state directory,
so scans and later runs read it instead of probing; --refresh probes anew.

examples:
  pt doctor
  pt doctor --json
  pt doctor --refresh
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="what this machine offers pt, and which features that enables",
                              description="Show what this machine offers pt and which features that enables.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--refresh", action="store_true", help="probe again instead of reading this boot's cache")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def _findings(caps: dict) -> list[tuple[str, str]]:
    cg = caps["cgroup"]
    return [
        ("platform", caps["platform"]),
        ("collector", caps["collector"] or f"none ({caps['collector_error']})"),
        ("pidfd", "yes" if caps["pidfd"] else "no"),
        ("cgroup", {(): "none", (1,): "v1", (2,): "v2"}.get(tuple(cg["versions"]), "hybrid (v1 and v2)")),
        ("cgroup controllers", ", ".join(cg["controllers"]) or "none"),
        ("writable by this user", ", ".join(cg["writable"]) or "none"),
        ("pressure (PSI)", "yes" if caps["psi"] else "no"),
        ("systemd", "yes" if caps["systemd"] else "no"),
        ("pid namespace", caps["pid_namespace"] or "unknown"),
        ("user", f"uid {caps['uid']}" + (" (root)" if caps["root"] else "")),
        ("container", caps["container"] or "none found"),
    ]


def run(args: argparse.Namespace) -> int:
    from pt.collect.capabilities import capabilities, features
    from pt.exit_codes import OK

    caps, cached = capabilities(refresh=args.refresh)
    enabled = features(caps)
    if args.json:
        from pt.ui.result import envelope, print_json
        print_json(envelope("doctor", host={"boot_id": caps["boot_id"]},
                            data={"capabilities": caps, "features": enabled, "cached": cached},
                            errors=[], partial=False))
        return OK
    from rich.table import Table

    from pt.ui.text import console, text
    out = console()
    found = Table(title="what this machine offers pt" + (" (cached this boot)" if cached else ""),
                  show_header=False, box=None)
    for name, value in _findings(caps):
        found.add_row(text(name, "bold"), text(value))
    out.print(found)
    table = Table(title="features", box=None)
    table.add_column("")
    table.add_column("feature")
    table.add_column("because")
    for f in enabled:
        table.add_row(text("yes" if f["available"] else "no", "green" if f["available"] else "yellow"),
                      text(f["feature"]), text(f["because"]))
    out.print(table)
    return OK
