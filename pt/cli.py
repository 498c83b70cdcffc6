"""Command-line entry point: argparse subcommands, one module each.

Only wiring lives here; each command module has ``add_parser(subparsers)`` and
``run(args) -> int`` and imports its heavy dependencies inside ``run`` so
``pt --help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from pt import __version__
from pt.config_errors import ConfigError
from pt.errors import CommandError
from pt.exit_codes import BROKEN_PIPE, ERROR, INTERRUPTED, USAGE

#: The subcommands in ``pt --help`` order, each with its module under pt.commands.
COMMANDS = {"scan": "scan", "deep-scan": "deep_scan", "explain": "explain", "incidents": "incidents",
            "plan": "plan", "apply": "apply", "verify": "verify", "undo": "undo", "history": "history",
            "config": "config", "duck": "duck", "lake": "lake", "feedback": "feedback", "calibrate": "calibrate",
            "watch": "watch", "report": "report", "mcp": "mcp", "doctor": "doctor", "schema": "schema",
            "completion": "completion"}

EPILOG = """\
examples:
  pt scan                      the busiest processes on this machine
  pt scan --user $USER --top 0 all of your processes
  pt scan --tree               the process forest
  pt scan --json | jq '.data.processes[0]'
  pt explain 4242              why pt recommends what it does for pid 4242
  pt incidents                 fork storms, runaway trees, short-job floods, respawn loops now
  pt deep-scan --max-time 30   watch the uncertain ones until the decisions settle
  pt plan --match pytest       freeze recommendations for matching processes into a plan
  pt apply PLAN_ID             confirm and carry out a plan (pt undo / pt verify afterwards)
  pt config show               the priors, loss matrix and guards in force
  pt duck why 4242             the ledger of a past decision, from the telemetry lake
  pt lake info                 where the lake is and what it holds
  pt watch --mode canary       keep triaging; act on its own only with reversible actions
  pt schema scan               the JSON Schema of `pt scan --json`
  pt completion bash           a bash completion script (also zsh, fish)
  pt report --open             the scan as an HTML page, with evidence plots
  pt mcp                       serve pt's tools to AI coding agents (MCP, stdio)
  pt feedback 4242 abandoned   tell pt what a process really was; pt calibrate learns from it
  pt doctor                    what this machine offers pt (pidfd, cgroups, PSI, ...)

exit codes: 0 ok, 1 error, 2 bad usage, 3 no such process or plan, 4 refused (not confirmed,\n            plan expired or edited), 5 some actions not carried out, 130 interrupted
"""


class UsageError(Exception):
    """A usage error found while parsing, with the parser that found it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser


class Parser(argparse.ArgumentParser):
    """argparse whose errors are raised to :func:`main`, which reports them as
    text or, with ``--json``, as the JSON error result too."""

    def error(self, message: str):
        raise UsageError(self, message)


def wants_json(argv: list[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse accepts) is among the options."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return any(len(a) >= 4 and "--json".startswith(a) for a in options)


def usage_error(exc: UsageError, argv: list[str], parser: argparse.ArgumentParser) -> int:
    """Usage and the escaped message on stderr (the message quotes arguments,
    which may be anyone's text); with ``--json`` the error result on stdout."""
    from pt.ui.text import escape
    exc.parser.print_usage(sys.stderr)
    print(f"{exc.parser.prog}: error: {escape(str(exc))}", file=sys.stderr)
    if wants_json(argv):
        from pt.ui.result import error_envelope, print_json
        commands = next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        command = next((a for a in argv if a in commands), "pt")
        print_json(error_envelope(command, code="usage", message=str(exc)))
    return USAGE


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """pt's parser with every subcommand (for ``pt --help``, the man pages and
    completion scripts), or with only ``command``'s when it names one: a run
    of one command needs no other command's parser or module (~30 ms)."""
    parser = Parser(
        prog="pt",
        description="Process Triage: find abandoned, stuck, runaway and zombie processes, "
                    "explain why, and deal with them safely.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pt {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in [command] if command in COMMANDS else COMMANDS:
        importlib.import_module(f"pt.commands.{COMMANDS[name]}").add_parser(subparsers)
    return parser


def invoked(argv: list[str]) -> str | None:
    """The command ``argv`` runs when it starts with one (``pt scan ...``);
    None when a top-level option comes first (``pt --help``), whose parsing
    needs every command's parser."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the exit code."""
    from pt.commands.options import join_negative_values
    argv = join_negative_values(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser(invoked(argv))
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        return usage_error(exc, argv, parser)
    try:
        return args.run(args)
    except CommandError as exc:
        from pt.ui.result import report_error
        return report_error(args.command, exc, json=getattr(args, "json", False))
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``pt scan | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
    except (OSError, ConfigError) as exc:
        from pt.ui.text import error
        error(args.command, exc)
        if getattr(args, "json", False):
            from pt.ui.result import error_envelope, print_json
            code = "invalid_config" if isinstance(exc, ConfigError) else "os_error"
            print_json(error_envelope(args.command, code=code, message=str(exc)))
        return ERROR


def console_main() -> int:
    """The ``pt`` console script."""
    return main()
