"""``pt schema``: the JSON Schema of a command's ``--json`` result, for programs and agents."""
from __future__ import annotations

import argparse

EPILOG = """\
Every --json result is one object: pt_result_version, command, status (ok,
partial or error), pt_version, generated_at, host, data and errors. An error
result has empty data and errors of {code, message, hint}, usage errors
included, and the exit code says the kind (pt --help lists them). Process
rows are described field by field, with units (x-unit).

examples:
  pt schema                     one schema that any pt --json result matches
  pt schema scan                the schema of `pt scan --json`
  pt schema --list              the commands that have a --json result
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "schema", help="print the JSON Schema of a command's --json output",
        description="Print the JSON Schema (draft 2020-12) of a command's --json result.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", metavar="COMMAND",
                   help="the command (scan, explain, plan, ...); all of them when omitted")
    p.add_argument("--list", action="store_true", help="list the commands that have a schema, one a line")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)   # the output is JSON anyway
    p.set_defaults(json=True)                                               # errors too
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pt.errors import CommandError
    from pt.exit_codes import OK
    from pt.schemas import COMMANDS, ERROR_ONLY, all_schema, result_schema
    from pt.ui.result import print_json

    if args.list:
        print("\n".join(COMMANDS))
        return OK
    if args.name is None:
        print_json(all_schema())
        return OK
    if args.name not in COMMANDS + ERROR_ONLY:
        raise CommandError("unknown_schema", f"no schema named {args.name!r}; choose from: {', '.join(COMMANDS)}")
    print_json(result_schema(args.name))
    return OK
