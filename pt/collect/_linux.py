"""Linux collector: the whole process table from procfs in one call."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pt.collect._procfs import read_processes
from pt.collect.host import read_host
from pt.collect.snapshot import ScanErrors, Snapshot

#: Environment variable that points the collector at another procfs tree
#: (captured or hostile fixtures in tests).
PROCFS_ENV = "PT_PROCFS_PATH"


def procfs_root(root: str | os.PathLike | None = None) -> Path:
    """The procfs root to read: ``root``, else ``$PT_PROCFS_PATH``, else ``/proc``."""
    return Path(root if root is not None else os.environ.get(PROCFS_ENV, "/proc"))


def collect(root: str | os.PathLike | None = None) -> Snapshot:
    """Read every process under the procfs ``root`` into a :class:`Snapshot`.

    Adds the derived columns in their named units: ``cpu_time_s`` (utime +
    stime), ``elapsed_s`` (uptime - starttime), ``start_time`` (unix seconds,
    btime + starttime, stable across scans like ``ps``), ``rss_bytes``.
    """
    path = procfs_root(root)
    host = read_host(path)
    columns, counts = read_processes(os.fsencode(path))
    hz = float(host.clock_ticks)
    start_s = columns["start_ticks"] / hz
    columns["cpu_time_s"] = (columns["utime"] + columns["stime"]) / hz
    columns["elapsed_s"] = np.maximum(host.uptime_s - start_s, 0.0)
    columns["start_time"] = host.boot_time + start_s
    columns["rss_bytes"] = columns["rss_pages"] * host.page_size
    errors = ScanErrors(
        vanished=counts["vanished"], denied=counts["denied"], malformed=counts["malformed"],
        denied_pids=tuple(counts["denied_pids"]), malformed_pids=tuple(counts["malformed_pids"]),
    )
    return Snapshot(host, columns, errors)
