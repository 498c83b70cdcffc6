"""The Rich styles of pt's classes and actions: one palette for every screen.

Actions are coloured by how far they reach: keep recedes (dim), the ones
that only slow a process (renice, throttle, quarantine) are cyan, the ones
that stop or replace it (pause, restart) yellow, and kill, the one that
cannot be undone, bold red.
"""
from __future__ import annotations

CLASS_STYLE = {"useful": "green", "useful_bad": "yellow", "abandoned": "bold red", "zombie": "bold magenta"}
ACTION_STYLE = {"keep": "dim", "renice": "cyan", "throttle": "cyan", "quarantine": "cyan",
                "pause": "yellow", "restart": "yellow", "kill": "bold red"}
