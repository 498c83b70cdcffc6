"""Is this still the process the user approved?

The one place that answers it. A process is ``(boot_id, pid, start_ticks)``
plus its owner, executable and command line: the pid alone is reused, the
start time in clock ticks since boot is exact, the boot id tells boots apart,
and the executable and command-line hash tell an ``exec`` into another
program apart (it keeps pid and start time). On Linux every signal goes
through a pidfd opened *before* the identity is re-read, and the whole
identity is re-checked before *every* signal, so the process checked is the
process signalled. pt acts only when the ``/proc`` it reads is its own pid
namespace's (:func:`pt.collect.host.procfs_is_own_pidns`).

``/proc`` is read through :data:`pt.collect.procfs.LIVE`, the one reader of
per-process files, always on the real ``/proc`` (never ``$PT_PROCFS_PATH``):
it parses ``stat`` and ``status`` with the scan's own parsers and decodes
what processes control (comm, argv, exe) without failing on bytes that are
not UTF-8.
"""
from __future__ import annotations

import functools
import hashlib
import os
import select
import signal
import time
from dataclasses import asdict, dataclass

from pt.collect import host
from pt.collect.host import procfs_is_own_pidns
from pt.collect.procfs import LIVE

HAVE_PIDFD = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")
#: The suffix ``/proc/PID/exe`` gets when the file was replaced (a package
#: upgrade): the process is still the same program.
DELETED = " (deleted)"


class IdentityMismatch(Exception):
    """The process at this pid is not (or may not be) the one the plan names.

    ``gone`` is True when it has simply exited (or its pid is free or reused),
    False when something still runs there but is not what was approved."""

    def __init__(self, reason: str, *, gone: bool = False):
        super().__init__(reason)
        self.gone = gone
        self.after = False


def cmd_hash(cmdline: bytes | str | list[str] | tuple[str, ...]) -> str:
    """A short, stable hash of a command line (NUL-joined argv).

    Raw ``/proc/PID/cmdline`` bytes are decoded as the collector decodes
    them (UTF-8, other bytes as ``\\xNN``), so the hash of a scanned argv
    and of the file read again at action time agree."""
    if isinstance(cmdline, bytes):
        cmdline = cmdline.decode("utf-8", "backslashreplace")
    if not isinstance(cmdline, str):
        cmdline = "\0".join(cmdline)
    return hashlib.sha256(cmdline.encode("utf-8", "surrogateescape").rstrip(b"\0")).hexdigest()[:16]


EMPTY_CMD = cmd_hash(b"")


@functools.cache
def boot_id() -> str | None:
    """This boot's id, from the live /proc (read once: it cannot change while pt
    runs); actions compare a plan's boot with the boot they act on."""
    return host.boot_id(host.LIVE)


#: How an identity string spells a boot id that could not be read.
UNKNOWN_BOOT = "unknown-boot"


def identity_string(boot_id: str | None, start_ticks: int, pid: int) -> str:
    """``BOOT_ID:START_TICKS:PID``, the one spelling of a process identity:
    scan and deep-scan fields, ``pt feedback``, the lake's ``decisions.identity``
    and ``pt duck why`` all use it (:func:`parse_identity` reads it back)."""
    return f"{boot_id or UNKNOWN_BOOT}:{int(start_ticks)}:{int(pid)}"


def parse_identity(text: str) -> tuple[str | None, int, int]:
    """``(boot_id, start_ticks, pid)`` of an :func:`identity_string` (boot id
    None when it was unknown); ValueError naming ``text`` otherwise."""
    parts = text.strip().split(":")
    if len(parts) == 3 and parts[0] and all(p.isascii() and p.isdigit() for p in parts[1:]):
        return (None if parts[0] == UNKNOWN_BOOT else parts[0]), int(parts[1]), int(parts[2])
    raise ValueError(f"a process identity is BOOT_ID:START_TICKS:PID, got {text!r}")


@dataclass(frozen=True)
class Identity:
    """What a plan records to recognise its target again."""

    boot_id: str | None
    pid: int
    start_ticks: int
    uid: int
    exe: str | None
    cmd_hash: str

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> Identity:
        return cls(doc["boot_id"], int(doc["pid"]), int(doc["start_ticks"]), int(doc["uid"]),
                   doc["exe"], doc["cmd_hash"])


@dataclass(frozen=True)
class ProcStat:
    """The few ``/proc/PID/stat`` fields actions need."""

    state: str
    ppid: int
    nice: int
    start_ticks: int
    exit_code: int | None      # wait status, readable while the process is a zombie


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/PID/stat`` (fields after the last ``)``, man 5 proc); None if
    gone or unparseable (then nothing can be verified)."""
    stat = LIVE.stat(pid)
    if stat is None:
        return None
    return ProcStat(stat.state, stat.ppid, stat.nice, stat.start_ticks, stat.exit_code)


def read_uid(pid: int) -> int | None:
    """Real uid (first ``Uid:`` field of ``/proc/PID/status``); None if unreadable."""
    return LIVE.uid(pid)


def read_comm(pid: int) -> str:
    """``/proc/PID/comm`` as the collector decodes it ("?" if unreadable)."""
    comm = LIVE.comm(pid)
    return "?" if comm is None else comm


def read_exe(pid: int) -> str | None:
    """``readlink /proc/PID/exe`` as the collector decodes it; None if
    unreadable (a zombie, a kernel thread, another user's process)."""
    return LIVE.link(pid, "exe")


def read_cmd_hash(pid: int) -> str | None:
    """:func:`cmd_hash` of ``/proc/PID/cmdline`` now; None if unreadable."""
    text = LIVE.cmdline(pid)
    return None if text is None else cmd_hash(text)


def read_write_bytes(pid: int) -> int | None:
    """``write_bytes`` of ``/proc/PID/io`` (None if unreadable)."""
    io = LIVE.io(pid)
    return None if io is None else io["write_bytes"]


def read_identity(pid: int, boot: str | None = None) -> Identity | None:
    """The identity of whatever runs at ``pid`` now; None if nothing does."""
    stat, uid, digest = read_stat(pid), read_uid(pid), read_cmd_hash(pid)
    if stat is None or uid is None or digest is None:
        return None
    return Identity(boot if boot is not None else boot_id(), pid, stat.start_ticks, uid,
                    read_exe(pid), digest)


def split_cmdline(text: str) -> tuple[str, ...]:
    """``/proc/PID/cmdline`` text as the argv the collector makes of it (trailing NUL optional)."""
    return tuple(text[:-1].split("\0") if text.endswith("\0") else text.split("\0")) if text else ()


@dataclass(frozen=True)
class Live:
    """What runs at a planned target's pid now, read from ``/proc`` (never
    from the plan): what ``pt apply`` shows before it asks. ``mismatch`` says
    why it is not the planned process (None if it is)."""

    comm: str
    argv: tuple[str, ...]
    age_s: float | None
    mismatch: str | None


def observe(expected: Identity) -> Live:
    """Read the process at ``expected.pid`` now and check it is ``expected``:
    its comm, argv and age as they are, and the reason it does not match the
    plan's identity (gone, reused, exec'd, other owner), if it does not. The
    argv shown is the one hashed, so what is shown is what was verified."""
    pid = expected.pid
    comm, text, stat = read_comm(pid), LIVE.cmdline(pid), read_stat(pid)
    try:
        verify(expected, pid)
        mismatch = None
        if text is not None and text and cmd_hash(text) != expected.cmd_hash:
            mismatch = f"identity changed: the command line changed (hash now {cmd_hash(text)})"
    except IdentityMismatch as exc:
        mismatch = str(exc) if str(exc).startswith("identity changed") else f"identity changed: {exc}"
    age = None
    if stat is not None:
        try:
            age = max(0.0, host.uptime(host.LIVE) - stat.start_ticks / os.sysconf("SC_CLK_TCK"))
        except OSError:
            age = None
    return Live(comm, split_cmdline(text or ""), age, mismatch)


def _same_exe(planned: str | None, now: str | None) -> bool:
    strip = (lambda p: p[:-len(DELETED)] if p and p.endswith(DELETED) else p)
    return strip(planned) == strip(now)


def verify(expected: Identity, pid: int) -> ProcStat:
    """The stat of the process at ``pid`` if it is ``expected``; else raises
    :class:`IdentityMismatch` saying why: boot id, exact start ticks, real
    uid, and, while the process still has its memory (not a zombie or
    mid-exit, which cannot ``exec``), executable and command-line hash."""
    if expected.boot_id is not None and expected.boot_id != boot_id():
        raise IdentityMismatch("the machine rebooted since the plan was made (boot id differs)", gone=True)
    stat = read_stat(pid)
    if stat is None:
        raise IdentityMismatch("the process has exited", gone=True)
    if stat.start_ticks != expected.start_ticks:
        raise IdentityMismatch(f"pid {pid} now belongs to another process (start ticks {stat.start_ticks}, "
                               f"plan says {expected.start_ticks})", gone=True)
    uid = read_uid(pid)
    if uid != expected.uid:
        raise IdentityMismatch(f"owner changed (uid {uid}, plan says {expected.uid})")
    if stat.state in "ZXx":
        return stat
    exe, digest = read_exe(pid), read_cmd_hash(pid)
    if exe is None and digest in (None, EMPTY_CMD):
        return stat                   # exiting: its memory (exe, argv) is already gone
    if not _same_exe(expected.exe, exe):
        raise IdentityMismatch(f"identity changed: exe was {expected.exe!r}, now {exe!r}")
    if digest != expected.cmd_hash:
        raise IdentityMismatch(f"identity changed: the command line changed since the plan "
                               f"(hash was {expected.cmd_hash}, now {digest})")
    return stat


class Target:
    """An open handle on one planned process: a pidfd verified against the
    plan's identity, through which it is signalled and watched.

    Open with :meth:`open`; every later :meth:`send` verifies the whole
    identity again first. Raises :class:`IdentityMismatch` with the reason
    when the process is gone or is not the one planned.
    """

    def __init__(self, identity: Identity, pidfd: int | None):
        self.identity = identity
        self.pidfd = pidfd
        self.opened: ProcStat | None = None      # its stat when opened and verified

    @classmethod
    def open(cls, identity: Identity) -> Target:
        if not procfs_is_own_pidns():
            raise IdentityMismatch(NOT_OWN_PIDNS)
        pidfd = None
        if HAVE_PIDFD:
            try:
                pidfd = os.pidfd_open(identity.pid)
            except ProcessLookupError:
                raise IdentityMismatch("the process has exited", gone=True) from None
        target = cls(identity, pidfd)
        try:
            # Checked after the pidfd is open: the pidfd now names whatever we verify.
            target.opened = target.check()
        except IdentityMismatch:
            target.close()
            raise
        return target

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check(self) -> ProcStat:
        """Verify that the pid still names the approved process (the whole
        identity, see :func:`verify`) and return its stat now; raises
        :class:`IdentityMismatch` otherwise. A zombie still holds its pid."""
        stat = verify(self.identity, self.identity.pid)
        # Start ticks have 10 ms resolution: a pid reused within the tick the
        # target started in looks the same. The pidfd knows: if its process
        # has terminated, only a zombie at this pid can still be it.
        if self.pidfd is not None and stat.state != "Z" and self.exited():
            raise IdentityMismatch("the process has exited (its pid now names another process)", gone=True)
        return stat

    def send(self, sig: int) -> None:
        """Verify the identity, then signal the process (through the pidfd on
        Linux, never by pid number)."""
        self.check()
        if self.pidfd is not None:
            signal.pidfd_send_signal(self.pidfd, sig)
        else:
            os.kill(self.identity.pid, sig)

    def exited(self) -> bool:
        """True once the process has terminated (a zombie counts: it no longer runs)."""
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            return bool(poller.poll(0))
        stat = read_stat(self.identity.pid)
        return stat is None or stat.state in "ZX" or stat.start_ticks != self.identity.start_ticks

    def by_number(self, call):
        """Run ``call(pid)`` for syscalls that only take a pid number
        (setpriority, cgroup.procs), between two checks through the pidfd that
        the process is alive: a live (even zombie) process keeps its pid, so
        the number named it throughout (checked by the start ticks, since the
        pidfd cannot tell a zombie from a reaped process). What remains is the microseconds
        between the first check and the call, in which the process would have
        to exit, be reaped, and its pid be handed out again.

        Raises :class:`IdentityMismatch` before the call if the process is
        gone or changed; after it, with ``after=True`` set on the exception, so
        the caller can record that the call may have reached another process."""
        self.check()
        result = call(self.identity.pid)
        try:
            self.check()
        except IdentityMismatch as first:
            exc = IdentityMismatch(f"the process exited or changed during the action ({first}); pid "
                                   f"{self.identity.pid} may name another process, which the action may "
                                   "have reached")
            exc.after = True
            raise exc from None
        return result

    def exit_code(self) -> int | None:
        """Wait status of a zombie (the parent has not reaped it), else None."""
        stat = read_stat(self.identity.pid)
        if stat is None or stat.start_ticks != self.identity.start_ticks or stat.state != "Z":
            return None
        return stat.exit_code


NOT_OWN_PIDNS = ("/proc is not this pid namespace's (pt runs in a pid namespace, e.g. `unshare -p`, "
                 "without its own /proc mount): the pids it shows name other processes than pt would "
                 "signal, so pt does not act; mount a fresh /proc (`unshare -p -f --mount-proc`)")


def wait_exited(targets: list[Target], deadline: float) -> None:
    """Block until every target has exited or ``time.monotonic()`` passes ``deadline``."""
    pending = [t for t in targets if not t.exited()]
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        fds = [t.pidfd for t in pending if t.pidfd is not None]
        if fds and len(fds) == len(pending):
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            poller.poll(max(1, int(left * 1000)))
        else:
            time.sleep(min(left, 0.02))
        pending = [t for t in pending if not t.exited()]
