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
#: ... and at most this much CPU time on one text (then :class:`GaveUp`;
#: it may give up after half as much).
MATCH_CPU_S = 0.1


class GaveUp(Exception):
    """A pattern used up its CPU time on one text."""


class _Runner:
    """``run(method, text)``: ``method(text, 0, MATCH_CHARS)`` (a compiled
    pattern's ``search`` or ``match``), numbered. A periodic CPU timer ticks
    every half :data:`MATCH_CPU_S`; a tick that finds the same call running as
    the tick before raises :class:`GaveUp` in it. Counting calls costs no
    system call per match (arming a timer per match made the category scan
    ~20% slower); a tick between calls does nothing."""

    __slots__ = ("calls", "seen", "inside")

    def __init__(self):
        self.calls, self.seen, self.inside = 0, -1, False

    def __call__(self, method, text: str):
        return self.call(method, text, 0, MATCH_CHARS)

    def call(self, fn, *args):
        """``fn(*args)`` under the CPU bound (for work that runs user regexes
        it cannot pass through ``run``)."""
        self.calls += 1
        self.inside = True
        try:
            return fn(*args)
        finally:
            self.inside = False

    def on_tick(self, _signum, _frame):
        if self.inside and self.calls == self.seen:
            raise GaveUp
        self.seen = self.calls


@contextlib.contextmanager
def bounded():
    """Yield ``run(method, text)`` for a batch of matches, each bounded (see
    the module docstring); ``run`` raises :class:`GaveUp` on a text it gave
    up on. The timer counts this process's CPU time (``ITIMER_VIRTUAL``),
    and Python's regex engine checks for signals as it runs, so a
    catastrophic backtrack is cut off. Off the main thread, where no signal
    handler runs, only the text is bounded."""
    run = _Runner()
    if threading.current_thread() is not threading.main_thread():
        yield run
        return
    previous = signal.signal(signal.SIGVTALRM, run.on_tick)
    signal.setitimer(signal.ITIMER_VIRTUAL, MATCH_CPU_S / 2, MATCH_CPU_S / 2)
    try:
        yield run
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
