"""Portable collector: the same columnar snapshot, read through psutil.

Chosen off Linux (macOS, the BSDs) and on Linux with ``PT_COLLECTOR=psutil``
(see :mod:`pt.collect`). It fills every column the procfs collector fills;
what psutil cannot see is *unknown*, never guessed, so the model adds no term
for it:

* ``tpgid`` (the terminal's foreground process group) is :data:`TPGID_UNKNOWN`
  for processes with a terminal: foreground or background is not observed;
* run-queue delay (``wait_ticks``) is -1; IO counters are -1 where psutil has
  none (macOS);
* service units and cgroups are None; whether stdin/stdout are /dev/null is
  -1 (psutil lists regular files only);
* a field psutil is denied (``AccessDenied``) is null like an unreadable
  /proc file: uid -1, cmdline None, cwd None, fd count -1.

Clock ticks are the ``SC_CLK_TCK`` of this machine, so the CPU columns keep
the procfs units (``utime``, ``stime`` and ``start_ticks`` in ticks).
"""
from __future__ import annotations

import os
import socket
import sys
import time

import numpy as np
import psutil

from pt.collect import host
from pt.collect.snapshot import TPGID_UNKNOWN, HostInfo, ScanErrors, Snapshot, Window

_ATTRS = ["pid", "ppid", "name", "status", "uids", "cmdline", "cpu_times", "create_time", "nice",
          "num_threads", "memory_info", "terminal"]

_STATES = {
    psutil.STATUS_RUNNING: "R", psutil.STATUS_SLEEPING: "S", psutil.STATUS_DISK_SLEEP: "D",
    psutil.STATUS_STOPPED: "T", psutil.STATUS_TRACING_STOP: "t", psutil.STATUS_ZOMBIE: "Z",
    psutil.STATUS_DEAD: "X", psutil.STATUS_IDLE: "I",
}

_LINUX = sys.platform.startswith("linux")


def _boot_id(boot_time: float) -> str:
    """The kernel's boot id where there is one, else one derived from the boot
    time: either names this boot, which is all identities need from it."""
    return (_LINUX and host.boot_id(host.LIVE)) or f"boot-{int(boot_time)}"


def read_host() -> HostInfo:
    """Host facts for a psutil snapshot, uptime read now."""
    boot = psutil.boot_time()
    taken_at, monotonic = time.time(), time.monotonic()
    uname = os.uname()
    return HostInfo(
        hostname=socket.gethostname(), system=uname.sysname.lower(), kernel=uname.release,
        boot_id=_boot_id(boot), boot_time=float(boot), uptime_s=max(taken_at - boot, 0.0),
        taken_at=taken_at, monotonic=monotonic, clock_ticks=os.sysconf("SC_CLK_TCK"),
        page_size=os.sysconf("SC_PAGE_SIZE"), cpu_count=os.cpu_count() or 1,
        collector="psutil", mem_total_bytes=int(psutil.virtual_memory().total),
    )


def _tty_nr(path: str | None) -> int:
    """A terminal path as the kernel's ``tty_nr`` encoding (0: no terminal)."""
    if not path:
        return 0
    try:
        dev = os.stat(path).st_rdev
    except OSError:
        return 0
    major, minor = os.major(dev), os.minor(dev)
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12)


def _session_ids(pid: int) -> tuple[int, int]:
    """(pgid, sid) of ``pid``, -1 each where the OS refuses or it is gone."""
    try:
        pgid = os.getpgid(pid)
    except OSError:
        pgid = -1
    try:
        sid = os.getsid(pid)
    except OSError:
        sid = -1
    return pgid, sid


def _objects(values) -> np.ndarray:
    """A 1-D object column (``np.array`` would make tuples of one length a 2-D array)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def collect(root=None) -> Snapshot:
    """Every process psutil lists, as a :class:`Snapshot` with the procfs
    collector's columns (``root`` is accepted for the same signature and
    ignored: psutil reads the live system)."""
    host = read_host()
    hz, page = float(host.clock_ticks), host.page_size
    rows, denied_pids = [], []
    vanished = 0
    for proc in psutil.process_iter(_ATTRS, ad_value=None):
        info = proc.info
        if info["create_time"] is None or info["ppid"] is None:
            vanished += 1                    # gone mid-read (or nothing readable at all)
            continue
        if None in (info["uids"], info["cmdline"], info["cpu_times"], info["memory_info"]):
            denied_pids.append(info["pid"])
        rows.append(info)
    n = len(rows)

    def column(key, dtype, default):
        return np.fromiter((default if r[key] is None else r[key] for r in rows), dtype, count=n)

    cpu = [r["cpu_times"] for r in rows]
    mem = [r["memory_info"] for r in rows]
    uids = [r["uids"] for r in rows]
    pid = column("pid", np.int32, -1)
    ppid = column("ppid", np.int32, 0)
    ids = np.array([_session_ids(p) for p in pid.tolist()], dtype=np.int32).reshape(n, 2)
    tty = np.fromiter((_tty_nr(r["terminal"]) for r in rows), np.int32, count=n)
    start_s = np.maximum(np.fromiter((r["create_time"] for r in rows), np.float64, count=n)
                         - host.boot_time, 0.0)
    start_ticks = np.round(start_s * hz).astype(np.uint64)
    utime = np.fromiter((0 if c is None else c.user for c in cpu), np.float64, count=n)
    stime = np.fromiter((0 if c is None else c.system for c in cpu), np.float64, count=n)
    # Kernel threads: kthreadd (pid 2) and its children, on Linux only.
    kernel_thread = ((pid == 2) | (ppid == 2)) if _LINUX else np.zeros(n, bool)
    columns = {
        "pid": pid, "ppid": ppid, "pgid": ids[:, 0].copy(), "sid": ids[:, 1].copy(), "tty_nr": tty,
        "tpgid": np.where(tty != 0, TPGID_UNKNOWN, -1).astype(np.int32),
        "uid": np.fromiter((-1 if u is None else u.real for u in uids), np.int64, count=n),
        "euid": np.fromiter((-1 if u is None else u.effective for u in uids), np.int64, count=n),
        "state": np.fromiter((ord(_STATES.get(r["status"], "?")) for r in rows), np.uint8, count=n),
        "flags": np.zeros(n, np.uint32),
        "utime": np.round(utime * hz).astype(np.uint64),
        "stime": np.round(stime * hz).astype(np.uint64),
        "start_ticks": start_ticks,
        "nice": column("nice", np.int32, 0),
        "threads": column("num_threads", np.int32, 0),
        "vsize_bytes": np.fromiter((0 if m is None else m.vms for m in mem), np.int64, count=n),
        "rss_pages": np.fromiter((0 if m is None else m.rss // page for m in mem), np.int64, count=n),
        "swap_kb": np.full(n, -1, np.int64),       # psutil's swap is memory_full_info: a smaps walk each
        "kernel_thread": kernel_thread,
        "comm": _objects(r["name"] or "" for r in rows),
        "cmdline": _objects(None if r["cmdline"] is None else tuple(r["cmdline"]) for r in rows),
    }
    columns["cpu_time_s"] = utime + stime
    columns["elapsed_s"] = np.maximum(host.uptime_s - start_s, 0.0)
    columns["start_time"] = host.boot_time + start_s
    columns["rss_bytes"] = columns["rss_pages"] * page
    columns["swap_bytes"] = np.full(n, -1, np.int64)
    errors = ScanErrors(vanished=vanished, denied=len(denied_pids), denied_pids=tuple(denied_pids))
    return Snapshot(host, columns, errors)


def _same_process(pid: int, start_ticks: int, host: HostInfo):
    """psutil's handle on ``pid`` if it is still the process of the snapshot
    (same start time, to the tick), else None."""
    try:
        proc = psutil.Process(pid)
        started = round((proc.create_time() - host.boot_time) * host.clock_ticks)
    except (psutil.Error, OSError):
        return None
    return proc if started == start_ticks else None


def _io(proc) -> tuple[int, int, int]:
    """(read chars, written chars, read + write calls); -1 each where unknown."""
    try:
        io = proc.io_counters()
    except (psutil.Error, AttributeError, NotImplementedError, OSError):
        return -1, -1, -1
    read = getattr(io, "read_chars", -1)
    write = getattr(io, "write_chars", -1)
    return read, write, io.read_count + io.write_count


class WindowStart:
    """The first half of an observation window (see :func:`start_window`)."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.procs = [_same_process(pid, start, snapshot.host) for pid, start in
                      zip(snapshot["pid"].tolist(), snapshot["start_ticks"].tolist())]
        self.io_before = np.array([_io(p) if p else (-1, -1, -1) for p in self.procs],
                                  dtype=np.int64).reshape(len(snapshot), 3)

    def close(self) -> None:
        """Nothing is kept open here (the Linux window's ``close``, for callers that fail mid-window)."""

    def finish(self, window_s: float, *, close_behind: bool = False) -> Window:
        """Wait out the rest of the window, then re-read CPU times and IO
        (``close_behind``: as the Linux window takes it; nothing is kept here).

        A process that exited, or whose pid now names another process
        (psutil compares creation times), is not alive; run-queue delay is
        not observed (-1)."""
        snapshot = self.snapshot
        opened = snapshot.host.monotonic
        time.sleep(max(window_s - (time.monotonic() - opened), 0.0))
        closed = time.monotonic()
        n, hz = len(snapshot), snapshot.host.clock_ticks
        after = np.zeros(n, np.float64)
        alive = np.zeros(n, bool)
        io_after = np.full((n, 3), -1, np.int64)
        for i, proc in enumerate(self.procs):
            if proc is None:
                continue
            try:
                if not proc.is_running():        # exited, or the pid was reused
                    continue
                times = proc.cpu_times()
            except psutil.Error:
                continue
            after[i] = times.user + times.system
            alive[i] = True
            io_after[i] = _io(proc)
        ticks_after = np.round(after * hz).astype(np.int64)
        ticks_before = (snapshot["utime"] + snapshot["stime"]).astype(np.int64)
        ticks = np.where(alive, np.maximum(ticks_after - ticks_before, 0), 0).astype(np.int64)
        readable = alive[:, None] & (self.io_before >= 0) & (io_after >= 0)
        delta = np.where(readable, np.maximum(io_after - self.io_before, 0), -1)
        duration = closed - opened
        return Window(
            duration_s=duration, window_ticks=max(int(round(duration * hz)), 1), ticks=ticks,
            alive=alive, io_read_bytes=delta[:, 0], io_write_bytes=delta[:, 1],
            io_syscalls=delta[:, 2], wait_ticks=np.full(n, -1, np.int64),
        )


def start_window(snapshot: Snapshot, root=None) -> WindowStart:
    """Open an observation window on the processes of ``snapshot``."""
    return WindowStart(snapshot)


def observe_window(snapshot: Snapshot, window_s: float, root=None) -> Window:
    """CPU ticks and IO of every process of ``snapshot`` over ``window_s`` seconds."""
    return start_window(snapshot).finish(window_s)


# --- what a scan reads besides the table, for the psutil backend ---------------

_TCP_STATES = {psutil.CONN_LISTEN: 0x0A, psutil.CONN_ESTABLISHED: 0x01}


def _proto(conn) -> str:
    tcp = conn.type == socket.SOCK_STREAM
    v6 = conn.family == socket.AF_INET6
    return ("tcp" if tcp else "udp") + ("6" if v6 else "")


def _state(conn) -> int:
    """The /proc/net state code of a psutil connection (see pt.collect.net)."""
    if conn.type == socket.SOCK_STREAM:
        return _TCP_STATES.get(conn.status, 0)
    return 0x01 if conn.raddr else 0x07             # UDP: connected, or bound and serving


def socket_table(conns: list):
    """``(row, connection)`` pairs as (socket_row, socket_inode,
    :class:`~pt.collect.net.SocketTable`), a sequence number standing in for
    the inode; a connection of no known row (psutil gives no pid for other
    users' sockets) is in the table but joined to no process."""
    from pt.collect.net import SocketTable
    rows, ids, table = [], [], []
    for i, (row, conn) in enumerate(conns, start=1):
        table.append((i, _proto(conn), _state(conn), conn.laddr.port if conn.laddr else 0,
                      conn.raddr.port if conn.raddr else 0))
        if row is not None:
            rows.append(row)
            ids.append(i)
    inode, proto, state, lport, rport = zip(*table) if table else ((), (), (), (), ())
    sockets = SocketTable(np.array(inode, np.uint64), np.array(proto, "U4"), np.array(state, np.uint8),
                          np.array(lport, np.int32), np.array(rport, np.int32))
    return np.array(rows, np.intp), np.array(ids, np.uint64), sockets


def read_observed(snapshot: Snapshot, rules=None):
    """:class:`pt.features.quick.Observed` through psutil: command and cwd
    categories, cwd, fd counts and sockets. Service units, cgroups and stdio
    targets are unknown; a terminal's idle time is read on Linux only (its
    device numbers are the ones ``tty_nr`` decodes).

    Sockets come from the machine-wide list; where psutil may not read it
    (macOS as a regular user) from each process's own list, and a process
    whose list is denied gets fd count -1, which makes its network unknown."""
    from pt.collect.units import Units
    from pt.features.categories import classify_cwd, load_rules
    from pt.features.quick import Observed, tty_idle_seconds
    n = len(snapshot)
    rules = rules if rules is not None else load_rules()
    command = rules.classify(snapshot["comm"], snapshot["cmdline"]).astype(np.int8)
    pids = snapshot["pid"].tolist()
    row_of = {pid: i for i, pid in enumerate(pids)}
    try:
        conns = [(row_of.get(c.pid), c) for c in psutil.net_connections(kind="inet")]
        per_process = False
    except (psutil.Error, OSError):
        conns, per_process = [], True
    cwd = np.empty(n, dtype=object)
    fd_count = np.full(n, -1, np.int32)
    for i, pid in enumerate(pids):
        try:
            proc = psutil.Process(pid)
            cwd[i] = proc.cwd() or None
            count = proc.num_fds()
            if per_process:
                conns.extend((i, c) for c in proc.net_connections(kind="inet"))
            fd_count[i] = count
        except (psutil.Error, OSError):
            continue                        # denied or gone: unknown
    socket_row, socket_inode, sockets = socket_table(conns)
    unknown = np.full(n, None, dtype=object)
    units = Units(unknown.copy(), np.zeros(n, bool), np.zeros(n, bool), unknown.copy())
    idle = tty_idle_seconds(snapshot["tty_nr"], snapshot.host.taken_at) if _LINUX \
        else np.full(n, np.nan)
    return Observed(command_category=command, cwd=cwd,
                    cwd_category=classify_cwd(cwd, snapshot["uid"]).astype(np.int8),
                    fd_count=fd_count, socket_row=socket_row, socket_inode=socket_inode,
                    sockets=sockets, units=units, stdio_null=np.full(n, -1, np.int8),
                    tty_idle_s=idle)
