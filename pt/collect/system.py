"""Machine-wide load: loadavg, memory and swap, pressure stall information.

One small read of each file (man 5 proc: ``/proc/loadavg``, ``/proc/meminfo``;
Documentation/accounting/psi.rst: ``/proc/pressure/{cpu,memory,io}``). A file
that is missing or unreadable (old kernels have no PSI) gives NaN, never an error.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

#: Keys of :func:`read_system`, in order, with their units in the names.
SYSTEM_KEYS = ("load1", "load5", "load15", "runnable", "tasks",
               "mem_total_bytes", "mem_available_bytes", "swap_total_bytes", "swap_free_bytes",
               "psi_cpu_some_avg10", "psi_cpu_some_avg60", "psi_memory_some_avg10",
               "psi_memory_full_avg10", "psi_io_some_avg10", "psi_io_full_avg10")
_MEMINFO = {"MemTotal": "mem_total_bytes", "MemAvailable": "mem_available_bytes",
            "SwapTotal": "swap_total_bytes", "SwapFree": "swap_free_bytes"}


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("ascii", "replace")
    except OSError:
        return ""


def _number(text: str) -> float | None:
    """A finite number, else None (a hostile file's ``nan``, ``inf``, ``1e999``)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_loadavg(text: str) -> tuple[float, float, float, float, float] | None:
    """``loadavg`` (man 5 proc: ``1.00 0.50 0.25 2/345 6789``) as load1, load5,
    load15, runnable, tasks; None if it is not that."""
    fields = text.split()
    if len(fields) < 4 or fields[3].count("/") != 1:
        return None
    values = [_number(f) for f in (*fields[:3], *fields[3].split("/"))]
    return None if None in values else tuple(values)


def parse_meminfo(text: str) -> dict[str, int]:
    """``meminfo`` lines (``Key:  1234 kB``) as bytes by key; lines without a
    whole number are left out."""
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 16:
            out[key] = int(parts[0]) * 1024
    return out


def parse_psi(text: str) -> dict[str, dict[str, float]]:
    """A PSI file (Documentation/accounting/psi.rst: ``some avg10=0.00
    avg60=0.00 avg300=0.00 total=0``, and a ``full`` line) as ``{kind:
    {name: value}}``; values that are not finite numbers are left out."""
    out = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("some", "full"):
            values = {}
            for pair in rest.split():
                name, sep, value = pair.partition("=")
                number = _number(value) if sep else None
                if number is not None:
                    values[name] = number
            out[kind] = values
    return out


def read_system(root: str | os.PathLike = "/proc") -> dict[str, float]:
    """The machine's load now: every key of :data:`SYSTEM_KEYS`, NaN where unknown."""
    root = Path(root)
    out = dict.fromkeys(SYSTEM_KEYS, math.nan)
    load = parse_loadavg(_text(root / "loadavg"))
    if load is not None:
        out["load1"], out["load5"], out["load15"], out["runnable"], out["tasks"] = load
    for name, value in parse_meminfo(_text(root / "meminfo")).items():
        if name in _MEMINFO:
            out[_MEMINFO[name]] = float(value)
    for resource in ("cpu", "memory", "io"):
        for kind, values in parse_psi(_text(root / "pressure" / resource)).items():
            for avg in ("avg10", "avg60"):
                name = f"psi_{resource}_{kind}_{avg}"
                if name in out and avg in values:
                    out[name] = values[avg]
    return out
