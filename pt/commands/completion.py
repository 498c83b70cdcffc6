"""``pt completion SHELL``: a shell completion script generated from pt's own parser."""
from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")

EPILOG = """\
The script is generated from pt's argument parser (by shtab), so it always
matches this version's commands and options; nothing runs pt while you type.

examples:
  source <(pt completion bash)                           this bash session
  pt completion bash > ~/.local/share/bash-completion/completions/pt
  pt completion zsh > "${fpath[1]}/_pt"                  then restart zsh
  pt completion fish > ~/.config/fish/completions/pt.fish
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "completion", help="print a completion script for bash, zsh or fish",
        description="Print a shell completion script for pt.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("shell", choices=SHELLS, help="the shell: bash, zsh or fish")
    p.set_defaults(run=run)


def script(shell: str) -> str:
    """The completion script for ``shell``."""
    import shtab

    from pt.cli import build_parser
    return shtab.complete(build_parser(), shell=shell)


def run(args: argparse.Namespace) -> int:
    from pt.exit_codes import OK
    print(script(args.shell))
    return OK
