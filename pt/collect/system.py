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
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def read_system(root: str | os.PathLike = "/proc") -> dict[str, float]:
    """The machine's load now: every key of :data:`SYSTEM_KEYS`, NaN where unknown."""
    root = Path(root)
    out = dict.fromkeys(SYSTEM_KEYS, math.nan)
    fields = _text(root / "loadavg").split()
    if len(fields) >= 4 and "/" in fields[3]:
        try:
            out["load1"], out["load5"], out["load15"] = map(float, fields[:3])
            out["runnable"], out["tasks"] = map(float, fields[3].split("/"))
        except ValueError:
            pass
    for line in _text(root / "meminfo").splitlines():
        name, _, rest = line.partition(":")
        if name in _MEMINFO and rest.split()[:1]:
            try:
                out[_MEMINFO[name]] = float(rest.split()[0]) * 1024.0       # kB
            except ValueError:
                pass
    for resource in ("cpu", "memory", "io"):
        for line in _text(root / "pressure" / resource).splitlines():
            if not line.split():
                continue
            kind, *pairs = line.split()
            key = f"psi_{resource}_{kind}_avg10"
            values = dict(p.split("=", 1) for p in pairs if "=" in p)
            for avg in ("avg10", "avg60"):
                name = key.replace("avg10", avg)
                if name in out and avg in values:
                    try:
                        out[name] = float(values[avg])
                    except ValueError:
                        pass
    return out
