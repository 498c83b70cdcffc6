"""What the machine says: the process table as columns.

``collect()`` is chosen once at import for this platform (psutil style).
"""
import sys

from pt.collect.snapshot import HostInfo, ScanErrors, Snapshot, Window

if sys.platform.startswith("linux"):
    from pt.collect._linux import collect, observe_window, start_window
else:  # pragma: no cover - exercised on other platforms only
    def _unsupported(*args, **kwargs):
        raise OSError(f"pt cannot collect processes on {sys.platform!r} yet: it needs Linux procfs")

    collect = observe_window = start_window = _unsupported

__all__ = ["HostInfo", "ScanErrors", "Snapshot", "Window", "collect", "observe_window", "start_window"]
