"""Who a process is, and signalling exactly that process (DESIGN.md §4.2).

A process is ``(boot_id, pid, start_ticks)``: the pid alone is reused, the
start time in clock ticks since boot is exact, and the boot id tells boots
apart. On Linux every signal goes through a pidfd opened *before* the
identity is re-read, so the process checked is the process signalled.
"""
from __future__ import annotations

import hashlib
import os
import select
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROC = Path("/proc")
HAVE_PIDFD = hasattr(os, "pidfd_open") and hasattr(signal, "pidfd_send_signal")


class IdentityMismatch(Exception):
    """The process at this pid is not (or may not be) the one the plan names."""


def cmd_hash(cmdline: bytes | list[str] | tuple[str, ...]) -> str:
    """A short, stable hash of a command line (NUL-joined argv)."""
    if not isinstance(cmdline, bytes):
        cmdline = b"\0".join(os.fsencode(a) for a in cmdline)
    return hashlib.sha256(cmdline.rstrip(b"\0")).hexdigest()[:16]


def boot_id() -> str | None:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


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
    """Parse ``/proc/PID/stat`` (fields after the last ``)``, man 5 proc); None if gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rfind(b")") + 2:].split()
    exit_code = int(fields[49]) if len(fields) > 49 else None
    return ProcStat(chr(fields[0][0]), int(fields[1]), int(fields[16]), int(fields[19]), exit_code)


def read_uid(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def read_exe(pid: int) -> str | None:
    try:
        return os.readlink(PROC / str(pid) / "exe")
    except OSError:
        return None


def read_write_bytes(pid: int) -> int | None:
    """``write_bytes`` of ``/proc/PID/io`` (None if unreadable): the data-loss
    gate compares the value at plan time with the value at apply time."""
    try:
        for line in (PROC / str(pid) / "io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def read_identity(pid: int, boot: str | None = None) -> Identity | None:
    """The identity of whatever runs at ``pid`` now; None if nothing does."""
    stat = read_stat(pid)
    uid = read_uid(pid)
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        cmdline = None
    if stat is None or uid is None or cmdline is None:
        return None
    return Identity(boot if boot is not None else boot_id(), pid, stat.start_ticks, uid,
                    read_exe(pid), cmd_hash(cmdline))


def mismatch(expected: Identity, pid: int, *, strict: bool) -> str | None:
    """Why the process at ``pid`` is not ``expected`` (None when it is).

    With a pidfd, boot id + exact start ticks + uid suffice; without one
    (``strict``) the executable is compared too, as the last check before
    ``kill()``.
    """
    if expected.boot_id is not None and expected.boot_id != boot_id():
        return "the machine rebooted since the plan was made (boot id differs)"
    stat = read_stat(pid)
    if stat is None:
        return "the process has exited"
    if stat.start_ticks != expected.start_ticks:
        return (f"pid {pid} now belongs to another process (start ticks {stat.start_ticks}, "
                f"plan says {expected.start_ticks})")
    uid = read_uid(pid)
    if uid != expected.uid:
        return f"owner changed (uid {uid}, plan says {expected.uid})"
    if strict and stat.state != "Z" and read_exe(pid) != expected.exe:
        return f"executable changed ({read_exe(pid)!r}, plan says {expected.exe!r})"
    return None


class Target:
    """An open handle on one planned process: a pidfd verified against the
    plan's identity, through which it is signalled and watched.

    Open with :meth:`open`; raises :class:`IdentityMismatch` with the reason
    when the process is gone or is not the one planned.
    """

    def __init__(self, identity: Identity, pidfd: int | None):
        self.identity = identity
        self.pidfd = pidfd

    @classmethod
    def open(cls, identity: Identity) -> Target:
        pidfd = None
        if HAVE_PIDFD:
            try:
                pidfd = os.pidfd_open(identity.pid)
            except ProcessLookupError:
                raise IdentityMismatch("the process has exited") from None
        # Checked after the pidfd is open: the pidfd now names whatever we verify.
        reason = mismatch(identity, identity.pid, strict=pidfd is None)
        if reason:
            if pidfd is not None:
                os.close(pidfd)
            raise IdentityMismatch(reason)
        return cls(identity, pidfd)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, sig: int) -> None:
        """Signal the verified process (never by pid number on Linux)."""
        if self.pidfd is not None:
            signal.pidfd_send_signal(self.pidfd, sig)
            return
        reason = mismatch(self.identity, self.identity.pid, strict=True)
        if reason:
            raise IdentityMismatch(reason)
        os.kill(self.identity.pid, sig)

    def exited(self) -> bool:
        """True once the process has terminated (a zombie counts: it no longer runs)."""
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            return bool(poller.poll(0))
        stat = read_stat(self.identity.pid)
        return stat is None or stat.state in "ZX" or stat.start_ticks != self.identity.start_ticks

    def live_stat(self) -> ProcStat:
        """The verified process's stat now (a zombie still holds its pid);
        raises :class:`IdentityMismatch` once its pid is free or names another
        process (reaped, or reused: the start ticks differ)."""
        stat = read_stat(self.identity.pid)
        if stat is None or stat.start_ticks != self.identity.start_ticks:
            raise IdentityMismatch("the process has exited")
        # Start ticks have 10 ms resolution: a pid reused within the tick the
        # target started in looks the same. The pidfd knows: if its process
        # has terminated, only a zombie at this pid can still be it.
        if self.pidfd is not None and stat.state != "Z" and self.exited():
            raise IdentityMismatch("the process has exited (its pid now names another process)")
        return stat

    def by_number(self, call):
        """Run ``call(pid)`` for syscalls that only take a pid number
        (setpriority, cgroup.procs), between two checks through the pidfd that
        the process is alive: a live (even zombie) process keeps its pid, so
        the number named it throughout (checked by the start ticks, since the
        pidfd cannot tell a zombie from a reaped process). What remains is the microseconds
        between the first check and the call, in which the process would have
        to exit, be reaped, and its pid be handed out again.

        Raises :class:`IdentityMismatch` before the call if the process is
        gone; after it, with ``after=True`` set on the exception, so the caller
        can record that the call may have reached another process."""
        self.live_stat()
        result = call(self.identity.pid)
        try:
            self.live_stat()
        except IdentityMismatch:
            exc = IdentityMismatch(f"the process exited during the action; pid {self.identity.pid} "
                                   "may have been reused by another process, which the action may have reached")
            exc.after = True
            raise exc
        return result

    def exit_code(self) -> int | None:
        """Wait status of a zombie (the parent has not reaped it), else None."""
        stat = read_stat(self.identity.pid)
        if stat is None or stat.start_ticks != self.identity.start_ticks or stat.state != "Z":
            return None
        return stat.exit_code


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
