"""The one table of process fields: it drives the Rich columns, the JSON keys
and (later) the Parquet schema, so the three never disagree (glances
``fields_description`` style).

Each :class:`Field` names its unit in its name where it has one
(``cpu_time_s``, ``rss_bytes``) and knows how to compute its column from a
:class:`~pt.collect.Snapshot` and how to show one value to a person.
"""
from __future__ import annotations

import pwd
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pt.collect.snapshot import Snapshot


# --- display formatting ------------------------------------------------------

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


# --- derived columns ------------------------------------------------------------

def tty_names(tty_nr: np.ndarray) -> np.ndarray:
    """Map ``stat`` tty_nr device numbers to names like ``ps``: ``pts/3``, ``tty1``, ``None``.

    Decoding follows ``new_decode_dev`` (major bits 8-19, minor bits 0-7 and
    20-31); pseudo-terminals are majors 136-143 (Documentation/admin-guide/devices.txt).
    """
    out = np.empty(len(tty_nr), dtype=object)
    out[:] = None
    unique, inverse = np.unique(tty_nr, return_inverse=True)
    for i, dev in enumerate(unique.tolist()):
        if dev == 0:
            continue
        major = (dev >> 8) & 0xFFF
        minor = (dev & 0xFF) | ((dev >> 12) & 0xFFF00)
        if 136 <= major <= 143:
            name = f"pts/{minor + (major - 136) * 256}"
        elif major == 4:
            name = f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
        elif major == 5 and minor == 0:
            name = "tty"
        else:
            name = f"{major}:{minor}"
        out[inverse == i] = name
    return out


def user_names(uid: np.ndarray) -> np.ndarray:
    """Login names for uids (one passwd lookup per distinct uid); the uid as text
    when it has no entry, ``None`` where the uid is unknown (-1)."""
    unique, inverse = np.unique(uid, return_inverse=True)
    names = np.empty(len(unique), dtype=object)
    for i, u in enumerate(unique.tolist()):
        if u < 0:
            names[i] = None
            continue
        try:
            names[i] = pwd.getpwuid(u).pw_name
        except KeyError:
            names[i] = str(u)
    return names[inverse]


def cpu_share(snapshot: Snapshot) -> np.ndarray:
    """Lifetime CPU share: CPU seconds per second alive (1.0 = one full CPU)."""
    elapsed = snapshot["elapsed_s"]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = snapshot["cpu_time_s"] / elapsed
    return np.where(elapsed > 0, share, 0.0)


def command_lines(snapshot: Snapshot) -> np.ndarray:
    """Argument vectors as lists; empty for kernel threads and zombies, None if unreadable."""
    return np.fromiter((None if argv is None else list(argv) for argv in snapshot["cmdline"]),
                       dtype=object, count=len(snapshot))


def command_strings(snapshot: Snapshot) -> np.ndarray:
    """What ``ps`` shows as COMMAND: the joined argv, or ``[comm]`` when argv is empty."""
    return np.fromiter((" ".join(argv) if argv else f"[{comm}]"
                        for argv, comm in zip(snapshot["cmdline"], snapshot["comm"])),
                       dtype=object, count=len(snapshot))


def state_letters(snapshot: Snapshot) -> np.ndarray:
    """The one-letter scheduler state (man 5 proc, stat field 3) as text."""
    return snapshot["state"].view("S1").astype("U1")


# --- the table -------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One process attribute.

    ``name`` is the JSON key and column name; ``dtype`` the Arrow-style type;
    ``unit`` the unit its values are in; ``header`` the Rich column title
    (``None``: machine-readable only); ``compute`` builds the column from a
    snapshot; ``show`` renders one value for a person; ``descending`` is the
    natural sort direction (biggest first for amounts).
    """

    name: str
    dtype: str
    unit: str
    description: str
    compute: Callable[[Snapshot], np.ndarray]
    header: str | None = None
    show: Callable[[object], str] = str
    descending: bool = False


def _raw(name: str) -> Callable[[Snapshot], np.ndarray]:
    return lambda snap: snap[name]


FIELDS: tuple[Field, ...] = (
    Field("pid", "int32", "", "process id", _raw("pid"), header="PID"),
    Field("ppid", "int32", "", "parent process id", _raw("ppid"), header="PPID"),
    Field("pgid", "int32", "", "process group id", _raw("pgid")),
    Field("sid", "int32", "", "session id", _raw("sid")),
    Field("uid", "int64", "", "real user id (-1 if unreadable)", _raw("uid")),
    Field("user", "string", "", "login name of the real user", lambda s: user_names(s["uid"]),
          header="USER", show=lambda v: "?" if v is None else v),
    Field("state", "string", "", "scheduler state letter (R S D Z T t I X)", state_letters,
          header="S"),
    Field("comm", "string", "", "kernel command name (up to 15 bytes)", _raw("comm")),
    Field("cmdline", "list<string>", "", "argument vector; empty for kernel threads and zombies",
          command_lines),
    Field("cpu_time_s", "float64", "s", "user + system CPU time", _raw("cpu_time_s"),
          header="CPU", show=format_duration, descending=True),
    Field("cpu_share", "float64", "ratio", "lifetime CPU share (CPU seconds per second alive)",
          cpu_share, header="CPU%", show=format_share, descending=True),
    Field("rss_bytes", "int64", "bytes", "resident memory", _raw("rss_bytes"), header="RSS",
          show=format_bytes, descending=True),
    Field("elapsed_s", "float64", "s", "time since the process started", _raw("elapsed_s"),
          header="AGE", show=format_duration, descending=True),
    Field("start_time", "float64", "unix_s", "start time, unix seconds", _raw("start_time")),
    Field("start_ticks", "uint64", "ticks", "start time in clock ticks since boot (identity)",
          _raw("start_ticks")),
    Field("vsize_bytes", "int64", "bytes", "virtual memory size", _raw("vsize_bytes"),
          descending=True),
    Field("threads", "int32", "", "number of threads", _raw("threads"), descending=True),
    Field("nice", "int32", "", "nice value (-20..19)", _raw("nice")),
    Field("tty", "string", "", "controlling terminal, null if none", lambda s: tty_names(s["tty_nr"]),
          header="TTY", show=lambda v: "?" if v is None else v),
    Field("kernel_thread", "bool", "", "true for kernel threads", _raw("kernel_thread")),
    Field("command", "string", "", "argv joined with spaces, or [comm] when argv is empty",
          command_strings, header="COMMAND"),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


def process_columns(snapshot: Snapshot, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The named fields' columns for ``snapshot`` (all fields by default)."""
    fields = FIELDS if names is None else [FIELDS_BY_NAME[n] for n in names]
    return {f.name: f.compute(snapshot) for f in fields}
