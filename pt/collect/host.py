"""Machine-wide facts read from procfs: boot id, boot time, uptime, total memory.

The one reader of these files: the collectors, actions, vetoes and the
capability probe all ask here. Imported before a scan's reads begin
(:mod:`pt.collect.early`), so it imports neither pathlib nor re (~6 ms): the
window opens that much sooner.
"""
from __future__ import annotations

import math
import os
import time

TYPE_CHECKING = False     # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from pathlib import Path


#: Environment variable that points the collector at another procfs tree
#: (captured or hostile fixtures in tests).
PROCFS_ENV = "PT_PROCFS_PATH"

#: The live procfs: what actions, their guards and the journal read, since they
#: act on this machine's processes whatever tree a scan was pointed at.
LIVE = "/proc"

#: The kernel's boot id: a random UUID, lower-case hex (man 5 proc): lengths of its groups.
_BOOT_ID_GROUPS = [8, 4, 4, 4, 12]
_HEX = frozenset("0123456789abcdef")


def procfs_path(root: str | os.PathLike | None = None) -> str | bytes:
    """The procfs root to read: ``root``, else ``$PT_PROCFS_PATH``, else ``/proc``."""
    return os.fspath(root) if root is not None else os.environ.get(PROCFS_ENV, "/proc")


def procfs_root(root: str | os.PathLike | None = None) -> Path:
    """:func:`procfs_path` as a :class:`pathlib.Path`."""
    from pathlib import Path
    return Path(procfs_path(root))


#: Largest uptime or boot time pt believes (about 3,000 years, in seconds):
#: ages stay within what the model's terms are finite for.
MAX_SECONDS = 1e11


def _read_text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "backslashreplace")
    except OSError:
        return None


def _seconds(text: str, path: str) -> float:
    """``text`` as a number of seconds in [0, MAX_SECONDS], else OSError naming ``path``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SECONDS:
        raise OSError(f"cannot parse {path}: {text[:40]!r} is not a number of seconds")
    return value


def _in(root: str | os.PathLike, name: str) -> str:
    return os.path.join(os.fsdecode(root), name)


def boot_time(root: str | os.PathLike) -> float:
    """``btime`` from ``<root>/stat``: boot time in unix seconds (man 5 proc)."""
    path = _in(root, "stat")
    text = _read_text(path) or ""
    for line in text.splitlines():
        if line.startswith("btime "):
            return _seconds(line[6:].strip(), path)
    raise OSError(f"no btime line in {path}")


def boot_id(root: str | os.PathLike) -> str | None:
    """This boot's id, ``<root>/sys/kernel/random/boot_id``; None when it cannot
    be read or is not a UUID as the kernel writes it (a hostile tree's bytes
    never become an identity)."""
    text = _read_text(_in(root, "sys/kernel/random/boot_id"))
    text = text.strip() if text else ""
    groups = text.split("-")
    return text if [len(g) for g in groups] == _BOOT_ID_GROUPS and _HEX.issuperset("".join(groups)) else None


def uptime(root: str | os.PathLike) -> float:
    """Seconds since boot, first field of ``<root>/uptime``."""
    path = _in(root, "uptime")
    text = _read_text(path)
    if not text or not text.split():
        raise OSError(f"cannot read {path}")
    return _seconds(text.split()[0], path)


#: Largest MemTotal believed (bytes): 2^50, a petabyte of RAM.
MAX_MEMORY = 1 << 50


def mem_total(root: str | os.PathLike) -> int:
    """``MemTotal`` of ``<root>/meminfo`` in bytes; 0 when absent or not a
    plausible number (a hostile or partial tree: the share of RAM is then unknown)."""
    from pt.collect.system import parse_meminfo
    value = parse_meminfo(_read_text(_in(root, "meminfo")) or "").get("MemTotal", 0)
    return value if 0 < value <= MAX_MEMORY else 0


def read_clock(root: str | os.PathLike) -> tuple[float, float, float]:
    """``(uptime, unix time, monotonic time)`` now: when a snapshot is taken."""
    return uptime(root), time.time(), time.monotonic()


def read_host(root: str | os.PathLike, clock: tuple[float, float, float] | None = None):
    """Host facts (:class:`~pt.collect.snapshot.HostInfo`) for a snapshot of
    the procfs tree at ``root`` taken at ``clock`` (:func:`read_clock`; now if None)."""
    from pt.collect.snapshot import HostInfo
    up, taken_at, monotonic = clock or read_clock(root)
    uname = os.uname()
    return HostInfo(
        hostname=uname.nodename,                  # gethostname(), without importing socket
        system=uname.sysname.lower(),
        kernel=uname.release,
        boot_id=boot_id(root),
        boot_time=boot_time(root),
        uptime_s=up,
        taken_at=taken_at,
        monotonic=monotonic,
        clock_ticks=os.sysconf("SC_CLK_TCK"),
        page_size=os.sysconf("SC_PAGE_SIZE"),
        cpu_count=os.cpu_count() or 1,
        mem_total_bytes=mem_total(root),
    )


def pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[inode]``, readlink of
    ``/proc/self/ns/pid``); None where it cannot be read. A plan records it:
    pids are numbers in one namespace and name other processes in another."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def procfs_is_own_pidns(root: str | os.PathLike = "/proc") -> bool:
    """True when the procfs at ``root`` belongs to this process's own pid
    namespace, so the pids it lists are the pids ``pidfd_open`` and ``kill``
    take. False inside ``unshare -p`` without a fresh ``/proc`` mount (the
    host's pids, not ours), or when it cannot be told.

    Two checks: ``<root>/self`` resolves to our pid, and ``NSpid`` in
    ``<root>/self/status`` has one entry (the procfs's namespace shows this
    process's pid in every namespace from its own down to ours, man 5 proc).
    """
    from pt.collect._procfs import parse_status_value_bytes
    try:
        if int(os.readlink(os.path.join(root, "self"))) != os.getpid():
            return False
        with open(os.path.join(root, "self", "status"), "rb") as f:
            status = f.read()
    except (OSError, ValueError):
        return False
    nspid = parse_status_value_bytes(status, b"NSpid:")
    return nspid is None or len(nspid.split()) == 1    # kernels before 4.1 have no NSpid: the first check stands
