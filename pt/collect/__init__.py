"""What the machine says: the process table as columns.

Two backends fill the same :class:`Snapshot`: procfs (Linux, compiled; the
default there) and psutil (everywhere else, and on Linux with
``PT_COLLECTOR=psutil``). :func:`backend` says which one a call uses.

Importing this package imports no numpy (a scan's first reads start before
numpy is loaded: :mod:`pt.collect.early`); the snapshot types are loaded
from :mod:`pt.collect.snapshot` when first asked for.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing (~9 ms before the reads begin)
if TYPE_CHECKING:
    from pt.collect.snapshot import Snapshot, Window

#: Environment variable choosing the collector: ``procfs`` or ``psutil``.
COLLECTOR_ENV = "PT_COLLECTOR"
BACKENDS = ("procfs", "psutil")


class CollectorUnavailable(OSError):
    """No collector can run here; the message names what is missing."""


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def backend() -> str:
    """The collector to use: ``$PT_COLLECTOR`` if set, else procfs on Linux and
    psutil elsewhere. Raises :class:`CollectorUnavailable` naming what is
    missing (an unknown name, no psutil off Linux)."""
    chosen = os.environ.get(COLLECTOR_ENV, "")
    if chosen and chosen not in BACKENDS:
        raise CollectorUnavailable(
            f"{COLLECTOR_ENV}={chosen!r} names no collector; use one of {', '.join(BACKENDS)}")
    linux = sys.platform.startswith("linux")
    if chosen == "procfs" and not linux:
        raise CollectorUnavailable(
            f"{COLLECTOR_ENV}=procfs needs Linux procfs; this is {sys.platform!r}")
    if chosen == "psutil" or not linux:
        if not _has_psutil():
            raise CollectorUnavailable(
                f"pt needs Linux /proc or the psutil package to read processes on {sys.platform!r}; "
                "install psutil (pip install psutil)")
        return "psutil"
    return "procfs"


def _module():
    if backend() == "psutil":
        from pt.collect import _psutil as module
    else:
        from pt.collect import _linux as module
    return module


def collect(root: str | os.PathLike | None = None) -> Snapshot:
    """Every process of this machine (procfs: under ``root``) as a :class:`Snapshot`."""
    return _module().collect(root)


def start_window(snapshot: Snapshot, root: str | os.PathLike | None = None):
    """Open an observation window on the processes of ``snapshot`` (its
    ``finish(window_s)`` returns the :class:`Window`)."""
    if snapshot.host.collector == "psutil":
        from pt.collect import _psutil
        return _psutil.start_window(snapshot)
    from pt.collect import _linux
    return _linux.start_window(snapshot, root)


def observe_window(snapshot: Snapshot, window_s: float,
                   root: str | os.PathLike | None = None) -> Window:
    """CPU ticks and IO of every process of ``snapshot`` over ``window_s`` seconds."""
    return start_window(snapshot, root).finish(window_s)


def __getattr__(name: str):
    if name in ("HostInfo", "ScanErrors", "Snapshot", "Window"):
        from pt.collect import snapshot
        return getattr(snapshot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BACKENDS", "COLLECTOR_ENV", "CollectorUnavailable", "HostInfo", "ScanErrors", "Snapshot",
           "Window", "backend", "collect", "observe_window", "start_window"]
