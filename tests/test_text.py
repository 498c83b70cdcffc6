"""Text from the outside world on a terminal: the escaping function, the
console that cannot parse markup, and every renderer fed hostile text."""
from __future__ import annotations

import dataclasses
import io
import re
import time
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text

from pt.testing import HOSTILE_TEXT
from pt.ui.text import UNSAFE_CATEGORIES, SafeConsole, escape, line, plural, text

#: What Rich adds on a terminal: SGR colour and style sequences, nothing else.
SGR = re.compile(r"\x1b\[[0-9;]*m")


def unsafe(output: str) -> list[str]:
    """The characters of ``output`` a terminal would act on (newlines aside)."""
    return [c for c in output if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES]


def rendered(renderable, width: int = 100_000) -> str:
    buf = io.StringIO()
    SafeConsole(file=buf, width=width, color_system=None, force_terminal=False).print(renderable, soft_wrap=True)
    return buf.getvalue()


HOSTILE = "".join(HOSTILE_TEXT)


@pytest.mark.parametrize("raw, shown", [
    ("plain sleep 600", "plain sleep 600"),
    ("[/x]", "[/x]"),
    ("\x1b]0;PWN\x1b\\\x1b[2J", "\\x1b]0;PWN\\x1b\\\\x1b[2J"),
    ("a\nb\tc\rd\x00\x7f", "a\\nb\\tc\\rd\\x00\\x7f"),
    ("\u009b2J \u009d0;T\u009c \u0085", "\\x9b2J \\x9d0;T\\x9c \\x85"),
    ("\u202eevil\u202a\u2066\u2069", "\\u202eevil\\u202a\\u2066\\u2069"),
    ("a\u200bb\u200f\u2060\ufeff\u00ad", "a\\u200bb\\u200f\\u2060\\ufeff\\xad"),
    ("\u2028\u2029", "\\u2028\\u2029"),
    ("\U000e0001tag", "\\U000e0001tag"),
    ("bad\\xff\\xfe", "bad\\xff\\xfe"),                 # invalid UTF-8, escaped by the collector
    ("bad\udcff", "bad\\xff"),                        # a byte kept by surrogateescape
    ("naïve 名前 🙂", "naïve 名前 🙂"),
])
def test_escape(raw, shown):
    assert escape(raw) == shown
    assert escape(shown) == shown


@settings(max_examples=400)
@given(st.text(st.characters(exclude_categories=()), max_size=40))
def test_escaped_text_is_safe_and_rich_shows_exactly_it(raw):
    shown = escape(raw)
    assert not unsafe(shown) and "\n" not in shown
    assert escape(shown) == shown
    assert rendered(text(raw)) == shown + "\n"
    assert rendered(raw) == shown + "\n"           # a plain str handed to the console
    assert rendered(line("pid 1 ", (raw, "bold"))) == "pid 1 " + shown + "\n"
    # Defence in depth: even a Text built from raw text by mistake cannot
    # drive the terminal (the console escapes every segment it renders).
    assert not unsafe(rendered(Text(raw)))


def test_markup_is_shown_never_interpreted():
    buf = io.StringIO()
    console = SafeConsole(file=buf, width=200, force_terminal=True, color_system="truecolor")
    console.print(HOSTILE)
    console.print(Text(HOSTILE))
    console.print(text(HOSTILE, "bold"))
    out = buf.getvalue()
    assert "\x1b]8;" not in out                    # no OSC 8 hyperlink
    plain = SGR.sub("", out)
    assert not unsafe(plain)
    assert plain.count(escape(HOSTILE)) == 3
    assert "\u26a0" not in out                    # no emoji for :warning:


def test_plural():
    assert plural(1, "action") == "1 action" and plural(2, "action") == "2 actions"
    assert plural(1234, "process", "processes") == "1,234 processes"


# --- every renderer, fed hostile text -------------------------------------------------------

def _render(print_fn, *args, **kwargs) -> str:
    buf = io.StringIO()
    print_fn(*args, console=SafeConsole(file=buf, width=400, color_system=None), **kwargs)
    return buf.getvalue()


def assert_shown_safely(out: str, raw: str = HOSTILE) -> None:
    assert not unsafe(out), unsafe(out)
    assert escape(raw) in out


def test_scan_table_and_tree_with_a_hostile_hostname():
    from pt.collect import collect
    from pt.collect.snapshot import Snapshot
    from pt.ui.scan_rows import select_rows
    from pt.ui.scan_view import print_scan

    snap = collect()
    evil = Snapshot(dataclasses.replace(snap.host, hostname=HOSTILE), snap.columns, snap.errors)
    view = select_rows(evil, uids=None, kernel_threads=False, sort="pid")
    for tree in (False, True):
        assert_shown_safely(_render(print_scan, view, top=5, tree=tree))


def _plan(now: float) -> dict:
    target = {"boot_id": HOSTILE, "pid": 4242, "start_ticks": 1, "uid": 0, "exe": HOSTILE, "cmd_hash": "0"}
    action = {"index": 0, "target": target, "comm": HOSTILE[:15], "command": HOSTILE, "state": "S", "ppid": 1,
              "age_s": 5.0, "action": "kill", "params": {"signal": HOSTILE, "grace_s": 5},
              "posterior": {"abandoned": 0.9}, "why": HOSTILE}
    zombie = {**action, "index": 1, "state": "Z", "ppid": 4241}
    return {"plan_id": "0123456789abcdef", "created_at": now, "expires_at": now + 900,
            "actions": [action, zombie], "refused": [{"pid": 7, "comm": HOSTILE, "reason": HOSTILE}]}


def test_plan_views():
    from pt.ui import plan_view

    from pt.act.identity import Live

    plan = _plan(time.time())
    live = [Live(HOSTILE[:15], (HOSTILE,), 5.0, None), Live(HOSTILE[:15], (), 5.0, None)]
    for show, extra in ((plan_view.print_plan, ()), (plan_view.print_confirmation, (live,))):
        out = _render(show, plan, *extra)
        assert_shown_safely(out, HOSTILE[:15])
        assert "SIGCHLD to its parent 4241" in out
    assert escape(HOSTILE) in _render(plan_view.print_confirmation, plan, live)   # the whole command line
    changed = [live[0], Live(HOSTILE[:15], (HOSTILE,), 5.0, f"identity changed: {HOSTILE}")]
    assert_shown_safely(_render(plan_view.print_confirmation, plan, changed))
    assert plan_view.confirmation(plan) == "Apply these 2 actions? [y/N] "
    assert plan_view.confirmation({**plan, "actions": plan["actions"][:1]}) == "Apply this action? [y/N] "
    assert plan_view.confirmation(plan, changed) == \
        "Apply these 2 actions (1 will not be signalled: identity changed)? [y/N] "

    records = [{"action_id": f"{plan['plan_id']}:0", "pid": 4242, "action": "kill", "result": "failed",
                "detail": HOSTILE}]
    assert_shown_safely(_render(plan_view.print_outcomes, records, f"applied plan {HOSTILE}"))
    rows = [{"index": 0, "pid": 4242, "comm": HOSTILE, "action": "kill", "result": "done", "alive": True,
             "state": HOSTILE, "now": HOSTILE, "undone": False, "respawned_as": []}]
    assert_shown_safely(_render(plan_view.print_verify, plan, rows))
    history = [{"plan_id": HOSTILE, "created_at": time.time(), "actions": 1, "applied": True,
                "results": {HOSTILE: 1}}]
    assert_shown_safely(_render(plan_view.print_history, history))
    items = [{"action_id": HOSTILE, "action": "kill", "pid": 4242,
              "justification": {"command": HOSTILE[:60], "why": HOSTILE, "posterior": {"abandoned": 0.9},
                                "requested": True, "expected_loss": {"kill": 1.0}},
              "outcome": {"result": "failed", "detail": HOSTILE}}]
    assert_shown_safely(_render(plan_view.print_plan_explain, HOSTILE, items))


def test_duck_views(monkeypatch):
    from pt.ui import duck_view

    buf = io.StringIO()
    monkeypatch.setattr(duck_view, "make_console",
                        lambda **kw: SafeConsole(file=buf, width=400, color_system=None, **kw))
    duck_view.print_report(HOSTILE, [HOSTILE, "n"], [(HOSTILE, 1.5), (None, float("nan"))], notes=[HOSTILE])
    duck_view.print_lake("check", {"files_checked": 1, "quarantined": [{"file": HOSTILE, "reason": HOSTILE}]})
    duck_view.print_lake("compact", {"tables": {HOSTILE: {"files_in": 1, "files_out": 1, "rows": 1,
                                                          "leftovers_removed": 0}}, "quarantined": [HOSTILE]})
    assert_shown_safely(buf.getvalue())
    assert buf.getvalue().count(escape(HOSTILE)) == 8


def test_every_console_pt_prints_through_is_safe():
    """No renderer builds a plain Rich Console: they all print through
    pt.ui.text.console (a SafeConsole) or a console passed in."""
    import pathlib

    import pt.ui
    for path in pathlib.Path(pt.ui.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "Console(" not in source.replace("SafeConsole(", ""), path.name
        assert "from_markup" not in source and "[/]" not in source, path.name
