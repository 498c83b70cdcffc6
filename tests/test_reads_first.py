"""``pt`` begins a quick scan's reads before it parses its command line
(:func:`pt.__main__.reads_first`, :func:`pt.collect.early.begin`): the
command takes them, or they are closed unused."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pt.__main__ import READ_FIRST, reads_first
from pt.cli import build_parser
from pt.testing import isolated_env


@pytest.mark.parametrize("argv, expected", [
    (["scan"], True), (["scan", "--json", "--top", "5"], True), (["scan", "--window=0.1"], True),
    (["scan", "--", "--raw"], True), (["plan", "--json"], True), (["explain", "123"], True),
    (["scan", "--raw"], False), (["scan", "--ra"], False), (["scan", "--legend"], False),
    (["scan", "-h"], False), (["scan", "--he"], False), (["explain", "--plan=abc"], False),
    (["explain", "1", "--deep"], False), (["apply", "x"], False), (["--help"], False), ([], False),
])
def test_the_guess_before_parsing(argv, expected):
    assert reads_first(argv) is expected


@pytest.mark.parametrize("command", sorted(READ_FIRST))
def test_the_options_that_read_nothing_are_the_commands_own(command):
    """A renamed option would leave the guess naming one that no longer exists."""
    parser = build_parser(command)
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    known = {s for action in sub._actions for s in action.option_strings}
    assert set(READ_FIRST[command]) <= known


#: Runs pt's entry point with ARGS, counting the FirstReads made and whether
#: the command line had been parsed (pt.cli loaded) when each was made.
ENTRY = textwrap.dedent("""
    import json, sys, threading
    import pt.collect.early as early
    made = []
    construct = early.FirstReads.__init__
    def recorded(self, *args, **kwargs):
        made.append("pt.cli" in sys.modules)
        construct(self, *args, **kwargs)
    early.FirstReads.__init__ = recorded
    import pt.__main__ as m
    sys.argv = ["pt", *sys.argv[1:]]
    code = m.main()                                   # returns only if the process cannot end at once
    print(json.dumps({"made": made, "code": code, "threads": threading.active_count()}), file=sys.stderr)
""")


def _run(tmp_path, *args):
    done = subprocess.run([sys.executable, "-c", ENTRY, *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**isolated_env(tmp_path), "COLUMNS": "120"}, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_scan_takes_the_reads_begun_before_its_command_line_was_parsed(tmp_path):
    done = _run(tmp_path, "scan", "--no-telemetry", "--top", "3")
    assert done.returncode == 0, done.stderr
    assert "PID" in done.stdout and '"made"' not in done.stderr       # ended at once: nothing left running


def _probe(tmp_path, *args):
    """``main()``'s code and what the probe saw: an atexit callback keeps
    ``main()`` from ending the process, so that it returns."""
    done = subprocess.run([sys.executable, "-c", "import atexit; atexit.register(lambda: None)\n" + ENTRY, *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**isolated_env(tmp_path), "COLUMNS": "120"})
    assert "Traceback" not in done.stderr, done.stderr
    return done, json.loads(done.stderr.strip().splitlines()[-1])


def test_the_reads_are_made_once_and_before_parsing(tmp_path):
    done, probe = _probe(tmp_path, "scan", "--no-telemetry", "--top", "3")
    assert probe == {"made": [False], "code": 0, "threads": 1}
    assert "PID" in done.stdout


@pytest.mark.parametrize("args", [["scan", "--no-such-option"], ["scan", "--window", "abc"],
                                  ["scan", "--fields", "pid"], ["plan", "--do", "kill"]])
def test_reads_begun_for_a_command_line_that_fails_are_closed(tmp_path, args):
    """Begun, then given back: the usage error is reported as always and no
    reading thread outlives the command."""
    done, probe = _probe(tmp_path, *args)
    assert probe == {"made": [False], "code": 2, "threads": 1}
    assert "error" in done.stderr


def test_a_raw_scan_begins_no_reads(tmp_path):
    done, probe = _probe(tmp_path, "scan", "--raw", "--no-telemetry", "--top", "1")
    assert probe == {"made": [], "code": 0, "threads": 1}
