"""Write the manual pages pt(1) and pt-COMMAND(1) from pt's argparse parsers.

meson runs this at build time (``python tools/manpages.py OUTDIR``); the
pages are installed under share/man/man1, so ``man pt`` works in a venv.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # pt's source tree: nothing compiled is imported

from argparse_manpage.manpage import Manpage  # noqa: E402

from pt import __version__  # noqa: E402
from pt.cli import build_parser  # noqa: E402

DATA = {"project_name": "pt", "version": __version__, "manual_title": "pt manual", "manual_section": 1}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """pt's subcommand parsers by name, in ``pt --help`` order."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def see_also(names) -> str:
    refs = ",\n".join(rf"\fB\%{name}\fR(1)" for name in names)
    return f".SH SEE ALSO\n.nh\n{refs}\n.hy\n"          # no hyphen breaking a page name


def pages() -> dict[str, str]:
    """``{file name: roff text}``: pt.1, then pt-COMMAND.1 for each subcommand."""
    parser = build_parser()
    commands = subcommands(parser)
    data = dict(DATA, description="find, explain and safely deal with abandoned, stuck, runaway and "
                                   "zombie processes")
    out = {"pt.1": str(Manpage(parser, _data=data)) + see_also(f"pt-{c}" for c in commands)}
    for name, sub in commands.items():
        data = dict(DATA, description=sub.description)
        page = Manpage(sub, _data=data)
        page.prog = f"pt-{name}"                 # the page's name, as git-commit(1) is git's
        out[f"pt-{name}.1"] = str(page) + see_also(["pt"])
    return out


def main(argv: list[str]) -> int:
    outdir = Path(argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (outdir / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
