"""What the machine says: the process table as columns.

``collect()`` is chosen once at import for this platform (psutil style).
"""
import sys

from pt.collect.snapshot import HostInfo, ScanErrors, Snapshot

if sys.platform.startswith("linux"):
    from pt.collect._linux import collect
else:  # pragma: no cover - exercised on other platforms only
    def collect(root=None):
        raise OSError(f"pt cannot collect processes on {sys.platform!r} yet: it needs Linux procfs")

__all__ = ["HostInfo", "ScanErrors", "Snapshot", "collect"]
