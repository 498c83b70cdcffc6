"""The argparse types of pt's options: one parser per kind of value.

Each says what it wants and quotes what it got; argparse prefixes the
message with the option it came from (``argument --min-age: wants a
duration ...``), so the right option is always named. Values are finite and
bounded: a number that parses is never passed on to a kernel or to DuckDB
to fail there.
"""
from __future__ import annotations

import argparse
import math
import re

# MATCH_CHARS and MATCH_CPU_S are re-exported: --match's help quotes them.
from pt.bounded_regex import MATCH_CHARS, MATCH_CPU_S, GaveUp, bounded  # noqa: F401

#: The largest count any option takes (rows, candidates, bins).
MAX_COUNT = 1_000_000_000
#: The longest duration any option takes: ten years.
MAX_DURATION_S = 3650 * 86400.0
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: A value that argparse would take for an option (``-1h``, ``-5``, ``-.5``).
_NEGATIVE = re.compile(r"-\.?\d")


def _number(text: str) -> float:
    """A finite float from plain decimal text, else ``nan`` (``inf``, ``nan``,
    ``1_000`` and non-ASCII digits are not numbers here)."""
    body = text.strip()
    if not body.isascii() or "_" in body:
        return math.nan
    try:
        value = float(body)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def duration(text: str) -> float:
    """Seconds from ``+3h``, ``90m``, ``2d``, ``1w``, ``45s`` or plain seconds: >= 0, at most ten years."""
    body = text.strip().lstrip("+")
    scale = DURATION_UNITS.get(body[-1:], 1)
    value = _number(body[:-1] if body[-1:] in DURATION_UNITS else body) * scale
    if not 0 <= value <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"wants a duration >= 0 like +3h, 90m, 2d or seconds (at most 3650d), got {text!r}")
    return value


def positive_duration(text: str) -> float:
    """A :func:`duration` > 0 (a time bound)."""
    value = duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"wants a duration > 0 like 30s, 5m or 1h, got {text!r}")
    return value


def _whole(text: str, minimum: int, shown: str) -> int:
    body = text.strip()
    value = int(body) if body.isascii() and body.isdigit() else -1
    if not minimum <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"wants a whole number from {shown} to {MAX_COUNT:,}, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number >= 0 (0 meaning all)."""
    return _whole(text, 0, "0 (all)")


def positive_count(text: str) -> int:
    """A whole number > 0."""
    return _whole(text, 1, "1")


def days(text: str) -> float:
    """A number of days > 0, at most 3650 (fractions allowed)."""
    value = _number(text)
    if not 0 < value <= 3650:
        raise argparse.ArgumentTypeError(f"wants a number of days > 0 (at most 3650), got {text!r}")
    return value


def seconds_between(low: float, high: float, *, low_open: bool = False):
    """The type for seconds in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    shown = f"{'(' if low_open else '['}{low:g}, {high:g}]"

    def parse(text: str) -> float:
        value = _number(text)
        if not ((low < value) if low_open else (low <= value)) or not value <= high:
            raise argparse.ArgumentTypeError(f"must be seconds in {shown}, got {text!r}")
        return value
    parse.__name__ = "seconds"
    return parse


def pid(text: str) -> int:
    """A process id: a positive whole number that fits the kernel's pid_t."""
    body = text.strip()
    if not (body.isascii() and body.isdigit()) or int(body) == 0:
        raise argparse.ArgumentTypeError(f"PID must be a positive integer, got {text!r}")
    if int(body) >= 2**31:
        raise argparse.ArgumentTypeError(f"PID must be below 2^31 (no process has a larger one), got {text!r}")
    return int(body)


class UserRegex:
    """A user's ``--match`` regex, bounded so a hostile command line cannot
    hang pt (:mod:`pt.bounded_regex`): it searches the first
    :data:`MATCH_CHARS` characters of the command line and gives up after
    :data:`MATCH_CPU_S` of CPU on one (a backtracking pattern such as
    ``node.*node.*server`` on a 150 KB argv would otherwise run for hours).
    A command line it gave up on is not matched; ``gave_up`` counts them so
    the command can say so."""

    def __init__(self, pattern: str):
        self.regex = re.compile(pattern)
        self.pattern = pattern
        self.gave_up = 0

    def search(self, text: str):
        with bounded() as run:
            try:
                return run(self.regex.search, text)
            except GaveUp:
                self.gave_up += 1
                return None


def user_regex(text: str) -> UserRegex:
    """A valid regex for ``--match``, bounded (see :class:`UserRegex`)."""
    try:
        return UserRegex(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regex: {exc}") from None


def join_negative_values(argv: list[str]) -> list[str]:
    """``--at -1h`` as ``--at=-1h``: argparse reads a value starting with
    ``-`` as another option and says only "expected one argument"; joined,
    the option's type rejects it with a message that says why."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and out[-1] != "--" and "--" not in out[:-1] \
                and _NEGATIVE.match(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def add_telemetry_options(p) -> None:
    """``--no-telemetry`` and ``--lake``: read back by :func:`pt.telemetry.enabled.telemetry_enabled`."""
    p.add_argument("--no-telemetry", action="store_true",
                   help="do not record this scan in the telemetry lake (also: PT_TELEMETRY=off)")
    p.add_argument("--lake", metavar="DIR",
                   help="telemetry lake directory (default $PT_LAKE, else $XDG_DATA_HOME/pt/lake)")


def add_selection_options(p, *, pid_help: str, actions: tuple[str, ...]) -> None:
    """The process filters ``pt plan``, ``pt deep-scan``, ``pt report`` and
    ``pt watch`` share; read back by :func:`pt.ui.scan_rows.selection_from`."""
    from pt.config import CLASSES

    p.add_argument("--pid", type=pid, action="append", metavar="PID", help=pid_help)
    p.add_argument("--match", type=user_regex, metavar="REGEX",
                   help=f"only processes whose command line matches REGEX (searched in its first {MATCH_CHARS:,} "
                        f"characters; a command line the regex needs more than {MATCH_CPU_S:g} s of CPU for is "
                        "not matched)")
    p.add_argument("--user", action="append", metavar="NAME|UID", help="only this user's processes (repeatable)")
    p.add_argument("--class", dest="classes", action="append", choices=CLASSES,
                   help="only processes most probably of this class (repeatable)")
    p.add_argument("--action", dest="actions", action="append", choices=actions,
                   help="only processes for which the quick scan recommends this action (repeatable)")
    p.add_argument("--min-age", type=duration, default=0.0, metavar="DURATION",
                   help="only processes at least this old (e.g. 30m, 2h)")
