"""Man pages and shell completion, both generated from pt's argparse parsers."""
import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pt.cli import build_parser
from pt.testing import run_pt

ROOT = Path(__file__).resolve().parents[1]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options(parser: argparse.ArgumentParser) -> list[str]:
    """Its long options, but --help (every page has it; argparse-manpage leaves it out)."""
    return [s for a in parser._actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
            for s in a.option_strings if s.startswith("--")]


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The pages as meson builds them (tools/manpages.py), rendered by groff."""
    pytest.importorskip("argparse_manpage")
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (apt-get install groff-base)")
    out = tmp_path_factory.mktemp("man")
    subprocess.run([sys.executable, str(ROOT / "tools/manpages.py"), str(out)], check=True, cwd=out)
    rendered = {}
    for page in out.glob("*.1"):
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-P-cbou", str(page)], capture_output=True,
                              text=True, check=True, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
        assert "warning" not in proc.stderr, proc.stderr
        rendered[page.name] = proc.stdout
    return rendered


def test_a_page_for_pt_and_each_subcommand_with_every_option(pages):
    commands = subcommands()
    assert set(pages) == {"pt.1"} | {f"pt-{name}.1" for name in commands}
    for name in commands:
        assert re.search(rf"\b{re.escape(name)}\b", pages["pt.1"]), name
        assert f"pt-{name}(1)" in pages["pt.1"]
    for name, parser in commands.items():
        text = pages[f"pt-{name}.1"]
        assert text.startswith(f"PT-{name.upper()}(1)")
        for option in options(parser):
            assert option in text, (name, option)


def test_meson_installs_a_page_for_every_subcommand():
    listed = re.search(r"man_commands = \[(.*?)\]", (ROOT / "meson.build").read_text(), re.S).group(1)
    assert re.findall(r"'([^']+)'", listed) == list(subcommands())


def test_bash_completion_loads_and_completes(tmp_path):
    script = run_pt("completion", "bash", cwd=tmp_path).stdout
    (tmp_path / "pt.bash").write_text(script)
    probe = ('source ./pt.bash; complete -p pt; COMP_WORDS=(pt sc); COMP_CWORD=1; COMP_LINE="pt sc"; '
             'COMP_POINT=${#COMP_LINE}; f=$(complete -p pt | sed -E "s/.*-F ([^ ]+).*/\\1/"); '
             '$f pt sc pt; printf "%s\\n" "${COMPREPLY[@]}"')
    proc = subprocess.run(["bash", "--norc", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first, *completions = proc.stdout.split("\n")
    assert first.startswith("complete ") and first.endswith(" pt")
    assert "scan" in completions and "schema" in completions


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(tmp_path, shell):
    script = run_pt("completion", shell, cwd=tmp_path).stdout
    assert "deep-scan" in script and "--json" in script
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed: the script is produced but not parsed (apt-get install {shell})")
    path = tmp_path / f"pt.{shell}"
    path.write_text(script)
    proc = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_unknown_shell_is_a_usage_error(tmp_path):
    proc = run_pt("completion", "tcsh", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
