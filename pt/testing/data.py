"""Test data: command lines as /proc/PID/cmdline shows them with their
category (``command_cases.json`` beside this module), the rule-by-rule
reference classifier, and text a hostile process can put in its name."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pt.features.argv import command_layers
from pt.features.categories import UNKNOWN


#: Text a hostile process can put in its name or command line to try to
#: drive the terminal or forge what pt shows: Rich markup, an OSC 8 link, an
#: OSC title + clear screen, C1 CSI and OSC, a bidi override, a zero-width
#: space, an emoji code.
HOSTILE_TEXT = ("[/x]", "[link=http://evil.example/]sleep[/link]", "\x1b]0;PWN\x1b\\\x1b[2J",
                "\u009b2J", "\u009d0;T\u009c", "\u202eevil", "a\u200bb", ":warning:")


COMMAND_CASES: tuple[tuple[str, tuple[str, ...], str | None], ...] = tuple(
    (category, tuple(argv), comm)
    for group in json.loads((Path(__file__).parent / "command_cases.json").read_text(encoding="utf-8")).values()
    for category, argv, comm in group)



def case_comm(argv: tuple[str, ...], comm: str | None) -> str:
    """The comm of a :data:`COMMAND_CASES` row: given, or as exec'ing ``argv[0]`` sets it."""
    return comm if comm is not None else argv[0].rpartition("/")[2][:15]



def classify_naive(rules, comm, cmdline, exe=None) -> np.ndarray:
    """The category rules applied the plain way, one process and one rule at a
    time with ``re.match``: the reference :meth:`CategoryRules.classify` must
    agree with, and the baseline it is benchmarked against."""
    exe = [None] * len(comm) if exe is None else exe
    user, shipped = rules.rules[:rules.n_user], rules.rules[rules.n_user:]
    out = np.full(len(comm), UNKNOWN, dtype=np.int8)
    for row, (c, argv, e) in enumerate(zip(comm, cmdline, exe)):
        c = c if isinstance(c, str) else ""
        exe_base = e.removesuffix(" (deleted)").rpartition("/")[2] if isinstance(e, str) else None
        layers = command_layers(argv, c, rules.interpreters) or ((None, None, None),)
        for source in (user, shipped):
            hit = next((rule for argv0, line, short in layers for rule in source
                        if any(value is not None and re.match(rule.regex, value) for value in
                               {"comm": (c,), "exe": (exe_base,), "argv0": (argv0,),
                                "cmdline": (line, short)}[rule.target])), None)
            if hit is not None:
                out[row] = hit.category
                break
    return out
