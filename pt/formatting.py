"""How numbers are shown to people: durations, sizes, shares."""
from __future__ import annotations


def format_duration(seconds: float) -> str:
    """Compact human duration: ``45s``, ``12m03s``, ``5h07m``, ``3d04h``."""
    s = int(seconds)
    if s < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.2f}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def format_bytes(n: int) -> str:
    """Binary units with three significant digits: ``812K``, ``1.24G``."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "B":
        return f"{int(value)}B"
    return f"{value:.3g}{unit}" if value < 100 else f"{value:.0f}{unit}"


def format_share(share: float) -> str:
    """Lifetime CPU share as a percentage of one CPU."""
    return f"{100 * share:.1f}%"
