"""The one Python reader of per-process procfs files.

Every stage that needs one process's ``stat``, ``status``, ``io``, ``cgroup``,
threads, open files or links asks a :class:`ProcFS` instead of opening
``/proc`` itself, so hostile bytes (a comm holding ``) S 1 (``, NUL, invalid
UTF-8, a truncated file, a process gone mid-read) are handled here once:
``stat``, ``status`` and ``io`` go through the collector's C parsers
(:mod:`pt.collect._procfs`, the same code the scan runs), text is decoded
UTF-8 with ``backslashreplace``, and a file that cannot be read or parsed is
None (or an empty list), never an exception.

Two roots, on purpose:

- :func:`scan_root` — reading stages (scan, features, watch): ``root``, else
  ``$PT_PROCFS_PATH``, else ``/proc``, so tests run them on recorded trees.
- :data:`LIVE` — actions, their guards and identity checks: always the real
  ``/proc``. A plan made from a recorded tree must never act on the live
  machine's processes through numbers that tree made up, so nothing that
  signals reads ``$PT_PROCFS_PATH``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from pt.collect import _procfs
from pt.collect.host import LIVE as LIVE_PATH, procfs_root

#: Largest pid Linux hands out (PID_MAX_LIMIT on 64-bit).
PID_MAX = 4194304


@dataclass(frozen=True)
class Stat:
    """``/proc/PID/stat`` as the scan parses it (man 5 proc field numbers):
    2 comm, 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty_nr, 8 tpgid, 9 flags,
    14-17 utime stime cutime cstime, 19 nice, 20 num_threads, 22 starttime
    (``start_ticks``), 23 vsize, 24 rss, 52 exit_code (the wait status of a
    zombie; None where the kernel does not write it)."""

    comm: str
    state: str
    ppid: int
    pgrp: int
    session: int
    tty_nr: int
    tpgid: int
    flags: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    nice: int
    num_threads: int
    start_ticks: int
    vsize: int
    rss: int
    exit_code: int | None


#: ``/proc/PID/io`` counter names, in the kernel's order.
IO_FIELDS = _procfs.IO_FIELDS


def parse_stat(data: bytes) -> Stat | None:
    """One ``stat`` file's bytes parsed (comm up to the last ``)``); None if malformed."""
    fields = _procfs.parse_stat_bytes(bytes(data))
    return None if fields is None else Stat(*fields)


def parse_cgroup(text: str) -> list[tuple[int, str, str]]:
    """``/proc/PID/cgroup`` lines as ``(hierarchy id, controllers, path)``
    (man 7 cgroups: ``0::/path`` is v2); a line that is not of that shape is skipped."""
    out = []
    for line in text.splitlines():
        hid, sep1, rest = line.partition(":")
        names, sep2, path = rest.partition(":")
        if sep1 and sep2 and hid.isascii() and hid.isdigit() and len(hid) < 10:
            out.append((int(hid), names, path))
    return out


def cgroup_path(text: str | None) -> str | None:
    """The unified (v2, ``0::``) cgroup path of one cgroup file, else the
    systemd v1 one (``name=systemd``); None if unknown."""
    rows = parse_cgroup(text or "")
    return next((path for hid, names, path in rows if hid == 0 and names == ""),
                next((path for _, names, path in rows if names == "name=systemd"), None))


def _valid_pid(pid) -> bool:
    return isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid <= PID_MAX


class ProcFS:
    """Per-process files under one procfs root. Every reader returns None
    (or an empty list) for a pid out of range, a process that is gone, a
    file not allowed or not parseable: the caller decides what unknown means."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)

    def __repr__(self) -> str:
        return f"ProcFS({self.root!r})"

    def path(self, pid: int, *names: str) -> str:
        """``<root>/<pid>/<names...>`` (for callers that must open it themselves)."""
        return os.path.join(self.root, str(pid), *names)

    def read(self, pid: int, name: str) -> bytes | None:
        """The whole file ``<pid>/<name>`` as bytes; None if it cannot be read."""
        if not _valid_pid(pid):
            return None
        try:
            with open(self.path(pid, name), "rb", buffering=0) as f:
                return f.read()
        except (OSError, ValueError):
            return None

    def text(self, pid: int, name: str) -> str | None:
        """``read`` decoded as the collector decodes (UTF-8, other bytes ``\\xNN``)."""
        data = self.read(pid, name)
        return None if data is None else data.decode("utf-8", "backslashreplace")

    def stat(self, pid: int) -> Stat | None:
        """``<pid>/stat`` parsed; None if gone, unreadable or malformed."""
        data = self.read(pid, "stat")
        return None if data is None else parse_stat(data)

    def uid(self, pid: int) -> int | None:
        """Real uid (``Uid:`` of ``<pid>/status``); None if unreadable or malformed."""
        data = self.read(pid, "status")
        uids = None if data is None else _procfs.parse_status_uids_bytes(data)
        return None if uids is None else uids[0]

    def status_value(self, pid: int, key: str) -> str | None:
        """The value on the ``key:`` line of ``<pid>/status`` (e.g. ``SigIgn``), stripped; None if absent."""
        data = self.read(pid, "status")
        value = None if data is None else _procfs.parse_status_value_bytes(data, key.encode() + b":")
        return None if value is None else value.decode("utf-8", "backslashreplace")

    def io(self, pid: int) -> dict[str, int] | None:
        """``<pid>/io`` counters by :data:`IO_FIELDS` name; None if unreadable
        (another user's process) or malformed."""
        data = self.read(pid, "io")
        values = None if data is None else _procfs.parse_io_bytes(data)
        return None if values is None else dict(zip(IO_FIELDS, values))

    def comm(self, pid: int) -> str | None:
        """``<pid>/comm`` without its newline."""
        text = self.text(pid, "comm")
        return None if text is None else text.removesuffix("\n")

    def cmdline(self, pid: int) -> str | None:
        """``<pid>/cmdline`` as text (arguments NUL-separated, as the kernel writes them)."""
        return self.text(pid, "cmdline")

    def link(self, pid: int, name: str) -> str | None:
        """``readlink <pid>/<name>`` (``exe``, ``cwd``, ``fd/3``), decoded; None if unreadable."""
        if not _valid_pid(pid):
            return None
        try:
            return os.fsdecode(os.readlink(self.path(pid, name))).encode(
                "utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except (OSError, ValueError):
            return None

    def int_value(self, pid: int, name: str) -> int | None:
        """A file holding one small integer (``oom_score``, ``oom_score_adj``); None if not one."""
        data = self.read(pid, name)
        text = None if data is None else data.strip()
        if not text or re.fullmatch(rb"-?[0-9]{1,19}", text) is None:      # not "--5", "٣", "1e3"
            return None
        return int(text)

    def cgroup(self, pid: int) -> list[tuple[int, str, str]] | None:
        """``<pid>/cgroup`` as :func:`parse_cgroup` rows; None if unreadable."""
        text = self.text(pid, "cgroup")
        return None if text is None else parse_cgroup(text)

    def tasks(self, pid: int) -> list[int] | None:
        """Thread ids of ``pid`` (``<pid>/task``); None if unreadable."""
        return self._numbers(pid, "task")

    def has_task(self, pid: int, tid: int) -> bool:
        """True while thread ``tid`` of ``pid`` exists."""
        return _valid_pid(pid) and _valid_pid(tid) and os.path.exists(self.path(pid, "task", str(tid)))

    def fds(self, pid: int) -> list[int]:
        """Open descriptor numbers of ``pid``; raises OSError when they cannot
        be listed (the caller says why: a gate must not pass on unknown)."""
        if not _valid_pid(pid):
            raise ProcessLookupError(f"no process {pid!r}")
        return sorted(int(n) for n in os.listdir(self.path(pid, "fd")) if n.isascii() and n.isdigit())

    def fdinfo(self, pid: int, fd: int) -> tuple[int, int] | None:
        """``(flags, pos)`` of one open file (``<pid>/fdinfo/<fd>``, man 5 proc:
        ``pos`` decimal, ``flags`` octal); None if unreadable or malformed."""
        text = self.text(pid, f"fdinfo/{int(fd)}")
        fields = dict(line.split(":", 1) for line in (text or "").splitlines() if ":" in line)
        try:
            return int(fields["flags"].strip(), 8), int(fields["pos"].strip())
        except (KeyError, ValueError):
            return None

    def _numbers(self, pid: int, name: str) -> list[int] | None:
        if not _valid_pid(pid):
            return None
        try:
            return sorted(int(n) for n in os.listdir(self.path(pid, name)) if n.isascii() and n.isdigit())
        except OSError:
            return None


#: The live procfs, for actions and their checks (never ``$PT_PROCFS_PATH``).
LIVE = ProcFS(LIVE_PATH)


def scan_root(root: str | os.PathLike | None = None) -> ProcFS:
    """The procfs reading stages read: ``root``, else ``$PT_PROCFS_PATH``, else ``/proc``."""
    return ProcFS(procfs_root(root))
