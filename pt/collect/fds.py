"""This process's file descriptor budget, for readers that keep procfs files open.

The deep-scan sampler and the quick scan's CPU window keep a few files open
per process and re-read them with ``pread``; thousands of processes need
thousands of descriptors. :func:`fd_budget` says how many are free under the
soft ``RLIMIT_NOFILE``; :func:`raised_soft_limit` lifts the soft limit toward
the hard one for as long as a window is open (systemd's default soft limit is
1024, the hard one far higher: raising it is what the soft limit is for).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import resource

#: Used when the soft limit is unlimited.
UNLIMITED = 1 << 20
#: The largest descriptor number there can be (an int).
FD_MAX = (1 << 31) - 1


def open_fd_count() -> int:
    """Descriptors this process has open now (entries of /proc/self/fd)."""
    return len(os.listdir("/proc/self/fd")) - 1   # minus the listing's own


def grow_fd_table(top: int) -> bool:
    """Make this process's descriptor table hold ``top`` descriptors (the
    numbers below ``top``) now, before a reader opens that many; True if it does.

    The kernel grows the table by doubling as descriptors are opened, and in
    a process that runs more than one thread each growth waits for an RCU
    grace period (``expand_fdtable``), while every other thread's ``open``
    waits too. Keeping ~6,000 files open from the quick scan's reading
    thread cost 60-70 ms more than from a lone thread, and stalled the
    main thread's imports for as long. Grown once beforehand, and while one
    thread runs, it costs an allocation. A descriptor is duplicated to the
    lowest free number at or above ``top - 1`` (no open one is touched) and
    closed again; where the soft limit is below ``top`` nothing changes.
    """
    if top < 1:
        return True
    if top > FD_MAX:
        return False
    try:
        probe = os.open("/", os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_PATH", 0))
    except OSError:
        return False
    try:
        os.close(fcntl.fcntl(probe, fcntl.F_DUPFD_CLOEXEC, top - 1))
        return True
    except OSError:           # EINVAL: top is over the soft limit; EMFILE: no free descriptor there
        return False
    finally:
        os.close(probe)


def fd_budget(reserve: int | None = None) -> tuple[int, int]:
    """Descriptors still free under the soft ``RLIMIT_NOFILE``, minus a reserve
    (default: 64 or an eighth of the limit, whichever is larger) left for the
    rest of pt. Returns ``(budget, soft_limit)``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = UNLIMITED
    if reserve is None:
        reserve = max(64, soft // 8)
    return max(soft - open_fd_count() - reserve, 0), soft


@contextlib.contextmanager
def raised_soft_limit(wanted: int):
    """Within the block, a soft ``RLIMIT_NOFILE`` of at least ``wanted``
    descriptors where the hard limit allows (else the hard limit); the soft
    limit is put back on exit. A limit that cannot be changed is left alone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = UNLIMITED if hard == resource.RLIM_INFINITY else hard
    target = min(wanted, ceiling)
    if soft == resource.RLIM_INFINITY or target <= soft:
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
