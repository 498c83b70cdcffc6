"""Fake procfs trees for the parsers, recorded copies of the real one, and
plain-Python readers of /proc: the independent references the Cython
collector and sampler are checked against."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def row_of(snapshot, pid: int) -> dict:
    """One process of a snapshot as a dict of scalars; KeyError if absent."""
    hits = np.flatnonzero(snapshot["pid"] == pid)
    if len(hits) != 1:
        raise KeyError(f"pid {pid} not in snapshot")
    return {name: col[hits[0]] for name, col in snapshot.columns.items()}


STAT_TAIL = ("{state} {ppid} {pgid} {sid} {tty_nr} {tpgid} 4194304 76 0 0 0 {utime} {stime} 0 0 20 {nice} "
             "{threads} 0 {start} 2990080 385 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 "
             "0 0 0 0 0\n")


STATUS = "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n" \
         "PPid:\t{ppid}\nTracerPid:\t0\nUid:\t{uid}\t{euid}\t{uid}\t{uid}\nGid:\t0\t0\t0\t0\n"



def make_tree(root: Path) -> Path:
    """A minimal fake procfs root with the host files the collector needs."""
    (root / "sys/kernel/random").mkdir(parents=True)
    (root / "sys/kernel/random/boot_id").write_text("11111111-2222-3333-4444-555555555555\n")
    (root / "stat").write_text("cpu  1 2 3 4\nbtime 1700000000\nprocesses 10\n")
    (root / "uptime").write_text("1000.00 1500.00\n")
    (root / "self").mkdir()
    (root / "net").mkdir()
    return root



def add_proc(root: Path, pid: int, comm: bytes = b"sleep", *, ppid: int = 1, uid: int = 1000,
             euid: int | None = None, cmdline: bytes | None = b"sleep\x00600\x00", stat: bytes | None = None,
             status: bytes | None = None, nice: int = 0, start: int = 50_000, threads: int = 1,
             utime: int = 150, stime: int = 50, state: str = "S", sid: int = 1,
             pgid: int | None = None, tty_nr: int = 34816, tpgid: int | None = None) -> Path:
    """Add one fake process to a :func:`make_tree` root. ``stat``/``status``
    override the generated files; ``status=False`` or ``cmdline=None`` leave
    that file out, as if the process exited before it was read. By default
    the process is in session 1, in its parent's process group, and in the
    foreground of pts/0 (tty_nr 34816)."""
    d = root / str(pid)
    d.mkdir()
    if stat is None:
        pgid = ppid if pgid is None else pgid
        tail = STAT_TAIL.format(ppid=ppid, utime=utime, stime=stime, nice=nice, threads=threads,
                                start=start, state=state, sid=sid, pgid=pgid, tty_nr=tty_nr,
                                tpgid=pgid if tpgid is None else tpgid)
        stat = f"{pid} (".encode() + comm + b") " + tail.encode()
    (d / "stat").write_bytes(stat)
    if status is None:
        status = STATUS.format(pid=pid, ppid=ppid, uid=uid, euid=uid if euid is None else euid).encode()
    if status is not False:
        (d / "status").write_bytes(status)
    if cmdline is not None:
        (d / "cmdline").write_bytes(cmdline)
    return d



def read_processes_python(root: str | os.PathLike = "/proc") -> dict[int, dict]:
    """Read pid, stat fields, uids and argv of every process under ``root`` the
    straightforward way; processes that vanish or fail to parse are skipped."""
    out = {}
    for name in os.listdir(root):
        if not name.isdigit():
            continue
        base = os.path.join(root, name)
        try:
            with open(os.path.join(base, "stat"), "rb") as f:
                stat = f.read()
            with open(os.path.join(base, "status"), "rb") as f:
                status = f.read()
            with open(os.path.join(base, "cmdline"), "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        lpar, rpar = stat.find(b"("), stat.rfind(b")")
        rest = stat[rpar + 2:].split()
        if lpar < 0 or rpar < 0 or len(rest) < 22:
            continue
        uid_line = next((l for l in status.splitlines() if l.startswith(b"Uid:")), None)
        uids = uid_line.split()[1:3] if uid_line else [b"-1", b"-1"]
        args = cmdline[:-1] if cmdline.endswith(b"\0") else cmdline
        out[int(name)] = {
            "comm": stat[lpar + 1:rpar].decode("utf-8", "backslashreplace"),
            "state": rest[0][0],
            "ppid": int(rest[1]), "pgid": int(rest[2]), "sid": int(rest[3]),
            "tty_nr": int(rest[4]), "tpgid": int(rest[5]), "flags": int(rest[6]),
            "utime": int(rest[11]), "stime": int(rest[12]), "nice": int(rest[16]),
            "threads": int(rest[17]), "start_ticks": int(rest[19]),
            "vsize_bytes": int(rest[20]), "rss_pages": int(rest[21]),
            "uid": int(uids[0]), "euid": int(uids[1]),
            "cmdline": tuple(a.decode("utf-8", "backslashreplace")
                             for a in args.split(b"\0")) if args else (),
        }
    return out


#: Per-process and host files the deep-scan sampler reads (``capture_procfs(..., sampler=True)``).
SAMPLER_FILES = ("stat", "status", "cmdline", "io", "schedstat", "wchan")


SAMPLER_HOST_FILES = ("loadavg", "meminfo", "pressure/cpu", "pressure/io", "pressure/memory")



def capture_procfs(dest: Path, pids: list[int], root: str = "/proc", sampler: bool = False) -> None:
    """Copy what the collector reads for ``pids`` (and the host files) from
    ``root`` into the fixture tree ``dest``; processes that vanish are skipped.
    ``sampler`` adds what the deep-scan sampler reads (:data:`SAMPLER_FILES`,
    :data:`SAMPLER_HOST_FILES`; host files that are absent are left out)."""
    host = ("stat", "uptime", "sys/kernel/random/boot_id") + (SAMPLER_HOST_FILES if sampler else ())
    for rel in host:
        try:
            data = Path(root, rel).read_bytes()
        except FileNotFoundError:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    names = SAMPLER_FILES if sampler else ("stat", "status", "cmdline")
    for pid in pids:
        try:
            files = {n: Path(root, str(pid), n).read_bytes() for n in names}
        except OSError:
            continue
        (dest / str(pid)).mkdir(parents=True, exist_ok=True)
        for n, data in files.items():
            (dest / str(pid) / n).write_bytes(data)



def sample_python(root: str | os.PathLike, pids, start_ticks) -> dict[str, np.ndarray]:
    """What :class:`pt.collect._sampler.ProcSampler` reads in one pass, the
    straightforward way: open, read, close and ``split()`` each of ``stat``,
    ``io``, ``status`` and ``schedstat``. The independent reference for the C
    parser in tests and the "what a Python user would write" baseline in
    bench/. Returns the :data:`~pt.collect._sampler.FIELDS` columns (int64,
    -1 unknown) plus ``state`` (uint8) and ``alive`` (bool)."""
    from pt.collect._sampler import FIELDS

    n = len(pids)
    out = {name: np.full(n, -1, np.int64) for name in FIELDS}
    state = np.zeros(n, np.uint8)
    alive = np.zeros(n, bool)
    for i, (pid, start) in enumerate(zip(pids, start_ticks)):
        base = os.path.join(root, str(pid))
        try:
            with open(os.path.join(base, "stat"), "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) < 22 or int(rest[19]) != int(start):
            continue
        alive[i], state[i] = True, rest[0][0]
        out["cpu_ticks"][i] = int(rest[11]) + int(rest[12])
        out["child_ticks"][i] = int(rest[13]) + int(rest[14])
        out["threads"][i], out["rss_pages"][i] = int(rest[17]), int(rest[21])
        try:
            with open(os.path.join(base, "io"), "rb") as f:
                io = dict(line.split(b": ") for line in f.read().splitlines())
            for name in ("rchar", "wchar", "read_bytes", "write_bytes"):
                out[name][i] = int(io[name.encode()])
            out["syscalls"][i] = int(io[b"syscr"]) + int(io[b"syscw"])
        except (OSError, KeyError, ValueError):
            pass
        try:
            with open(os.path.join(base, "status"), "rb") as f:
                status = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
            out["vol_ctx"][i] = int(status[b"voluntary_ctxt_switches"])
            out["invol_ctx"][i] = int(status[b"nonvoluntary_ctxt_switches"])
        except (OSError, KeyError, ValueError):
            pass
        try:
            with open(os.path.join(base, "schedstat"), "rb") as f:
                run, wait, slices = f.read().split()[:3]
            out["run_ns"][i], out["wait_ns"][i], out["timeslices"][i] = int(run), int(wait), int(slices)
        except (OSError, ValueError):
            pass
    return {**out, "state": state, "alive": alive}



def fd_count() -> int:
    """Descriptors this process has open (entries of /proc/self/fd, minus the listing's own)."""
    return len(os.listdir("/proc/self/fd")) - 1
