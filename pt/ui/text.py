"""The one way text from the outside world reaches a terminal.

Process names and command lines, hostnames, paths, plan and journal fields
and lake values are chosen by whoever started a process or wrote a file. On a
terminal such text must show as what it is and do nothing else:

- it never passes through Rich markup (``[/x]`` would crash the render,
  ``[link=...]`` would draw a hyperlink the process chose) or emoji codes;
- C0 and C1 controls, DEL, line and paragraph separators and every format
  character (category Cf: bidi overrides and isolates, zero-width spaces and
  joiners, the BOM) are shown as visible escapes (``\\x1b``, ``\\u202e``),
  so nothing can move the cursor, set the window title, reorder a line or
  hide part of it. Lone surrogates (bytes kept by ``surrogateescape``) show
  as the byte, ``\\xff``, the way the collector already shows invalid UTF-8.

:func:`escape` is that function. The renderers build :class:`rich.text.Text`
from escaped plain strings (:func:`text`, :func:`line`), and print through
:func:`console`, whose consoles never parse markup or emoji and escape any
string handed to Rich. As a last line of defence the console also escapes
every segment it renders, so a ``Text`` built from raw text by mistake still
cannot drive the terminal (its columns may then be misaligned).

Backslashes are not doubled: ``ps`` shows them as they are, and the
collector's ``\\xff`` for invalid UTF-8 stays readable.
"""
from __future__ import annotations

import sys
import threading
import unicodedata

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

#: Unicode categories never sent to a terminal: controls, format characters
#: (bidi, zero-width), surrogates, line and paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    o = ord(c)
    if o < 0x100:
        return f"\\x{o:02x}"
    if 0xDC80 <= o <= 0xDCFF:             # a byte kept by surrogateescape
        return f"\\x{o - 0xDC00:02x}"
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def escape(value: object) -> str:
    """``value`` as text that is safe to show: every unsafe character (see
    :data:`UNSAFE_CATEGORIES`) replaced by a visible escape. Idempotent; the
    result contains only characters a terminal prints."""
    s = value if isinstance(value, str) else str(value)
    if s.isprintable():                   # the common case: one C-level pass
        return s
    category = unicodedata.category
    return "".join(_escape_char(c) if category(c) in UNSAFE_CATEGORIES else c for c in s)


def text(value: object, style: str = "", **kwargs) -> Text:
    """A Rich ``Text`` showing ``value`` escaped, never parsed as markup."""
    return Text(escape(value), style=style, **kwargs)


def line(*parts) -> Text:
    """One line from parts: a plain ``str`` is escaped, a ``(str, style)``
    pair is escaped and styled, a ``Text`` is kept (it was built here)."""
    out = Text()
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            out.append(escape(part[0]), style=part[1])
        else:
            out.append(escape(part))
    return out


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 action``, ``3 actions`` (``nouns`` for irregular plurals)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


class SafeConsole(Console):
    """A Rich console that cannot be made to interpret outside text: no
    markup, no emoji codes, every string escaped before Rich sees it, every
    rendered segment escaped again (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        kwargs.update(markup=False, emoji=False)
        super().__init__(*args, **kwargs)
        self._rendering = threading.local()

    def render_str(self, text: str, **kwargs) -> Text:
        kwargs.update(markup=False, emoji=False)
        return super().render_str(escape(text), **kwargs)

    def render(self, renderable, options=None):
        # Nested renders (a table's cells) reach the outermost one as
        # segments: checking there alone sees every segment, once.
        if getattr(self._rendering, "active", False):
            return super().render(renderable, options)
        return self._checked(super().render(renderable, options))

    def _checked(self, segments):
        self._rendering.active = True
        try:
            for segment in segments:
                t = segment.text
                if segment.control or t.isprintable() or t == "\n":
                    yield segment
                else:
                    yield Segment("\n".join(escape(part) for part in t.split("\n")), segment.style)
        finally:
            self._rendering.active = False


def console(*, stderr: bool = False, **kwargs) -> SafeConsole:
    """pt's console for people: stdout (or stderr for diagnostics and progress)."""
    return SafeConsole(file=sys.stderr if stderr else sys.stdout, **kwargs)


def error(command: str, message: object) -> None:
    """``pt COMMAND: error: MESSAGE`` on stderr, the message escaped (it may
    quote a path, a plan field or a process name)."""
    print(f"pt {command}: error: {escape(message)}", file=sys.stderr)
