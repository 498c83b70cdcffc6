"""Regexes from users matched against text a process controls, bounded.

A pattern from the command line (``--match``) or from a config file
(``guards.protected_patterns``, category rules) is matched against command
lines and names that any local process chooses. Python's backtracking
engine can run for hours on such a pair (``(a+)+$`` on ``aaaa…ab``), so
every match sees at most :data:`MATCH_CHARS` characters of its text and
:data:`MATCH_CPU_S` of CPU time. A text a pattern gives up on raises
:class:`GaveUp`; the caller decides what it means (a filter does not select
it, a protected pattern protects it, a category rule does not match it).
"""
from __future__ import annotations

import contextlib
import signal
import threading

#: A pattern sees at most this much of each text ...
MATCH_CHARS = 4096
#: ... and at most this much CPU time on one text (then: :class:`GaveUp`).
MATCH_CPU_S = 0.1


class GaveUp(Exception):
    """A pattern used up its CPU time on one text."""


def _unbounded(method, text: str):
    return method(text, 0, MATCH_CHARS)


class _Runner:
    """``run(method, text)``: ``method(text, 0, MATCH_CHARS)`` (a compiled
    pattern's ``search`` or ``match``) under a one-shot CPU timer. The timer
    is armed per call (one ``setitimer``); its handler raises only while a
    call is running, so a timer that fires just after one returns is inert."""

    __slots__ = ("inside",)

    def __init__(self):
        self.inside = False

    def __call__(self, method, text: str):
        signal.setitimer(signal.ITIMER_VIRTUAL, MATCH_CPU_S)
        self.inside = True
        try:
            return method(text, 0, MATCH_CHARS)
        finally:
            self.inside = False

    def on_timer(self, _signum, _frame):
        if self.inside:
            raise GaveUp


@contextlib.contextmanager
def bounded():
    """Yield ``run(method, text)`` for a batch of matches, each bounded (see
    the module docstring); ``run`` raises :class:`GaveUp` on a text it gave
    up on. The timer counts this process's CPU time (``ITIMER_VIRTUAL``),
    and Python's regex engine checks for signals as it runs, so a
    catastrophic backtrack is cut off. Off the main thread, where no signal
    handler runs, only the text is bounded."""
    if threading.current_thread() is not threading.main_thread():
        yield _unbounded
        return
    run = _Runner()
    previous = signal.signal(signal.SIGVTALRM, run.on_timer)
    try:
        yield run
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
