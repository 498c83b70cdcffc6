"""A run of one command builds only that command's parser and imports only its module."""
import argparse
import subprocess
import sys

import pytest

from pt.cli import COMMANDS, build_parser, invoked


def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_full_parser_has_every_command_in_help_order():
    assert list(choices(build_parser())) == list(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_commands_own_parser_is_the_one_in_the_full_parser(name):
    alone = choices(build_parser(name))
    assert list(alone) == [name]
    full = choices(build_parser())[name]
    assert alone[name].format_help() == full.format_help()
    assert alone[name].prog == full.prog == f"pt {name}"


@pytest.mark.parametrize("argv, command", [
    (["scan", "--top", "3"], "scan"), (["deep-scan"], "deep-scan"), ([], None), (["--help"], None),
    (["-h", "scan"], None), (["--version"], None), (["scna"], None), (["--", "scan"], None),
])
def test_only_a_leading_command_name_narrows_the_parser(argv, command):
    assert invoked(argv) == command


def test_parsing_a_command_imports_no_other_command(tmp_path):
    code = ("import sys, pt.cli; pt.cli.build_parser(pt.cli.invoked(sys.argv[1:])).parse_args(sys.argv[1:]); "
            "print(*sorted(m for m in sys.modules if m.startswith('pt.commands.')))")
    out = subprocess.run([sys.executable, "-c", code, "scan", "--top", "3"], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout       # the installed pt, not the source tree
    assert out.split() == ["pt.commands.options", "pt.commands.scan"]


def test_a_mistyped_command_still_lists_every_choice(capsys):
    from pt.cli import main
    assert main(["scna"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'scna'" in err and all(name in err for name in COMMANDS)
