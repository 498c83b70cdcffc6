"""Look through interpreters, wrappers and ``sh -c`` to the program that runs.

``python3 -m pytest``, ``node .../claude``, ``uv run pytest`` and
``sh -c 'npm run dev'`` are named by their interpreter or wrapper, but the
*program* decides what they are. :func:`command_layers` peels those layers off
one argument vector and reduces each to the strings category rules see: the
program's basename (``argv0``) and a normalised command line (``cmdline``),
in two forms when the program was given with a directory. How each
interpreter takes its options is data (:class:`Interpreter`, the
``interpreters`` list of ``categories.json``).
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

#: Layers peeled at most (``sh -c 'uv run python -m pytest'`` needs three).
MAX_DEPTH = 6
#: Arguments looked at, and kept, in a ``cmdline`` view after the program.
MAX_SCAN = 64
MAX_ARGS = 12
#: Distinct basenames whose interpreter lookup is remembered.
FIND_CACHE_SIZE = 4096
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: Shell words that introduce a command without naming it, and builtins whose
#: command is not the one that runs (``cd repo && npm run dev``).
_SHELL_PREFIXES = frozenset({"exec", "command", "builtin", "nohup", "{", "!", "if", "elif", "while",
                             "until", "then", "do", "else"})
_SHELL_SKIPPED = frozenset({
    "cd", "pushd", "popd", "export", "set", "unset", "source", ".", "ulimit", "umask", "trap",
    "true", "false", ":", "echo", "printf", "shopt", "alias", "local", "declare", "wait",
    "[", "[[", "test", "for", "case", "fi", "done", "esac", "}",
})


@dataclass(frozen=True)
class Interpreter:
    """How one interpreter or wrapper finds the program it runs.

    Parameters
    ----------
    argv0 : re.Pattern
        Matched (from the start) against the basename of ``argv[0]``.
    subcommands : frozenset of str
        If not empty, only look through when the first positional argument is
        one of these (``uv run``, ``bundle exec``); it is skipped.
    options_with_value : frozenset of str
        Options whose value is the next argument unless attached (``-W x``,
        ``--require x``; ``--require=x`` and, with ``getopt``, ``-Wx``).
    program_options : frozenset of str
        Options whose value is the program (``-m pytest``, ``-jar app.jar``).
    code_options : frozenset of str
        Options whose value is inline code (``-c``, ``-e``): there is no
        program, unless ``shell_code`` says the code is a shell command line.
    shell_code : bool
        The code of ``code_options`` is a shell command line to look into.
    getopt : bool
        Single-dash options cluster as in getopt(3): ``-lc`` is ``-l -c``.
    skip_positionals : int
        Leading positional arguments that are not the program (``timeout 60``).
    """

    argv0: re.Pattern
    subcommands: frozenset = frozenset()
    options_with_value: frozenset = frozenset()
    program_options: frozenset = frozenset()
    code_options: frozenset = frozenset()
    shell_code: bool = False
    getopt: bool = False
    skip_positionals: int = 0


class Interpreters:
    """An ordered set of :class:`Interpreter` with one combined regex to find
    the first whose ``argv0`` matches a basename."""

    def __init__(self, specs: tuple[Interpreter, ...]):
        self._pattern = re.compile("|".join(f"(?:{s.argv0.pattern})()" for s in specs) or "(?!)")
        self._spec_of_group = {}
        group = 0
        for spec in specs:
            group += spec.argv0.groups + 1
            self._spec_of_group[group] = spec
        self._found: dict[str, Interpreter | None] = {}

    def find(self, basename: str) -> Interpreter | None:
        """The first interpreter whose ``argv0`` matches ``basename``, if any."""
        try:
            return self._found[basename]
        except KeyError:
            pass
        match = self._pattern.match(basename)
        spec = None if match is None else self._spec_of_group[match.lastindex]
        if len(self._found) >= FIND_CACHE_SIZE:
            self._found.clear()
        self._found[basename] = spec
        return spec


def command_layers(argv: tuple[str, ...] | None, comm: str,
                   interpreters: Interpreters) -> tuple[tuple[str, str, str], ...]:
    """The views of a process that rules see, innermost program first.

    Parameters
    ----------
    argv : tuple of str or None
        ``/proc/PID/cmdline`` split at NULs; empty for kernel threads and
        zombies, None where unreadable.
    comm : str
        The kernel's command name, added as the outermost layer when it names
        something the argument vector does not (``tmux: server``, a zombie).
    interpreters : Interpreters
        What to look through.

    Returns
    -------
    tuple of (str, str, str)
        One ``(argv0, cmdline, short cmdline)`` triple per layer; see :func:`view`.
    """
    layers = []
    argv = _normalise(argv)
    while argv and len(layers) < MAX_DEPTH:
        layer = view(argv)
        layers.append(layer)
        spec = interpreters.find(layer[0])
        if spec is None:
            break
        argv = _inner(argv, spec)
    layers.reverse()
    if comm and (not layers or layers[-1][0] != comm):
        layers.append((comm, comm, comm))
    return tuple(layers)


def view(argv: tuple[str, ...]) -> tuple[str, str, str]:
    """What rules see of one layer.

    ``argv0`` is the program's basename. ``cmdline`` is the program as invoked
    followed by the first ``MAX_ARGS`` of its first ``MAX_SCAN`` arguments
    that are not noise (paths, bare numbers, text with spaces or control
    characters); options keep their name only
    (``--port=3000`` becomes ``--port``). The short cmdline is the same with
    the program's directory removed (``/usr/bin/npm run dev`` -> ``npm run dev``).
    """
    program = argv[0]
    names = [a.partition("=")[0] if a[:1] == "-" else a for a in argv[1:MAX_SCAN]]
    # Noise never helps to classify and differs per instance: paths, text with
    # spaces or control characters (code, titles), bare numbers (ports, pids).
    kept = [a for a in names
            if a and "/" not in a and " " not in a and not a.isdigit() and a.isprintable()]
    args = " ".join(kept[:MAX_ARGS])
    base = program.rpartition("/")[2]
    line = f"{program} {args}" if args else program
    if base == program:
        return base, line, line
    return base, line, f"{base} {args}" if args else base


def _normalise(argv: tuple[str, ...] | None) -> tuple[str, ...]:
    """Drop the trailing empty arguments a rewritten title leaves behind, and
    split a title written over ``argv`` (``postgres: checkpointer``) into words."""
    if not argv:
        return ()
    if len(argv) > 1 and argv[-1]:
        return argv
    end = len(argv)
    while end and not argv[end - 1]:
        end -= 1
    argv = argv[:end]
    if len(argv) == 1 and len(argv[0].split()) > 1:
        return tuple(argv[0].split())
    return argv


def _inner(argv: tuple[str, ...], spec: Interpreter) -> tuple[str, ...]:
    """The argument vector of the program that ``argv``, run by the
    interpreter ``spec``, runs; ``()`` if it runs none."""
    need_subcommand = bool(spec.subcommands)
    skip = spec.skip_positionals
    i, n = 1, len(argv)
    while i < n:
        arg = argv[i]
        if arg == "--":
            return () if need_subcommand else argv[i + 1:]
        if len(arg) > 1 and (arg[0] == "-" or (spec.getopt and arg[0] == "+")):
            kind, value, i = _option(argv, i, spec)
            if kind == "program":
                return () if value is None else (value, *argv[i:])
            if kind == "code":
                return shell_command(value) if spec.shell_code and value is not None else ()
        elif _ASSIGNMENT.match(arg):
            i += 1
        elif need_subcommand:
            if arg not in spec.subcommands:
                return ()
            need_subcommand = False
            i += 1
        elif skip:
            skip -= 1
            i += 1
        else:
            return argv[i:]
    return ()


def _option(argv: tuple[str, ...], i: int, spec: Interpreter) -> tuple[str, str | None, int]:
    """Classify the option at ``argv[i]``: ``(kind, value, next index)`` with
    kind ``program``, ``code`` or ``other``."""
    arg = argv[i]
    name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    if name in spec.program_options or name in spec.code_options or name in spec.options_with_value:
        takes = name
        rest = attached if eq else None
    elif spec.getopt and not arg.startswith("--"):
        # getopt cluster: flags up to the first letter that takes a value.
        for j in range(1, len(arg)):
            letter = arg[0] + arg[j]
            if (letter in spec.program_options or letter in spec.code_options
                    or letter in spec.options_with_value):
                takes, rest = letter, arg[j + 1:] or None
                break
        else:
            return "other", None, i + 1
    else:
        return "other", None, i + 1
    if rest is None:
        value = argv[i + 1] if i + 1 < len(argv) else None
        i += 2
    else:
        value = rest
        i += 1
    if takes in spec.program_options:
        return "program", value, i
    if takes in spec.code_options:
        return "code", value, i
    return "other", value, i


def shell_command(code: str) -> tuple[str, ...]:
    """The first command of a shell command line that names a program.

    ``cd /repo && exec npm run dev`` gives ``('npm', 'run', 'dev')``: commands
    are split at ``; && || | &`` and newlines, builtins such as ``cd`` and
    ``export`` are passed over, and ``exec``, ``VAR=value`` prefixes and
    redirections are dropped. Unbalanced quotes fall back to splitting at
    whitespace.
    """
    lexer = shlex.shlex(code.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = code.split()
    command: list[str] = []
    redirect = False
    for token in (*tokens, ";"):
        if redirect:
            redirect = False
        elif token and set(token) <= set("<>&") and token not in ("&", "&&"):
            redirect = True                       # `>`, `2>&1`'s `>&`: the next word is a file
        elif token and set(token) <= set("();|&"):
            if command and command[0] not in _SHELL_SKIPPED:
                return tuple(command)
            command = []
        elif command or (token not in _SHELL_PREFIXES and not _ASSIGNMENT.match(token)):
            command.append(token)
    return ()
