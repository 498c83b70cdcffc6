"""Helpers for pt's own tests: real processes the test started itself.

Every helper kills and reaps only the processes it spawned, on exit of its
``with`` block, so a failing test never leaves them behind and never touches
anything else on the machine.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


@contextlib.contextmanager
def sleepers(n: int, seconds: int = 600, argv0: str | None = None):
    """``n`` sleeping children of this process; yields their Popen objects."""
    exe = shutil.which("sleep")
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([argv0 or exe, str(seconds)], executable=exe,
                                          stdin=subprocess.DEVNULL))
        yield procs
    finally:
        _stop(procs)


@contextlib.contextmanager
def renamed_sleeper(tmp_path: Path, name: str):
    """A sleeper whose executable file is called ``name`` (so its comm is ``name[:15]``)."""
    exe = tmp_path / name
    shutil.copy(shutil.which("sleep"), exe)
    proc = subprocess.Popen([str(exe), "600"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _comm(proc.pid) == name[:15].encode())
        yield proc
    finally:
        _stop([proc])


def _comm(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/comm").read_bytes()[:-1]
    except OSError:
        return None


@contextlib.contextmanager
def zombie():
    """A child that has exited but is not reaped yet (state Z) until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _state(proc.pid) == "Z")
        yield proc
    finally:
        proc.wait()


@contextlib.contextmanager
def spinner():
    """A child burning CPU in a tight loop."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        _stop([proc])


@contextlib.contextmanager
def orphan():
    """A sleeper whose parent shell has exited, so it was reparented.

    Yields ``(pid, start_ticks, dead_parent_pid)``; on exit the sleeper is
    killed through a pidfd only if its start time still matches (it is not our
    child, so we cannot reap it).
    """
    out = subprocess.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $$ $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    parent, pid = map(int, out.stdout.split())
    start = start_ticks(pid)
    try:
        yield pid, start, parent
    finally:
        kill_if_same(pid, start)


def spawn_detached(cwd: Path | None = None) -> tuple[int, int]:
    """A sleeper detached the way daemons and ``nohup ... &`` leftovers are:
    ``setsid sh -c 'sleep &'`` and the shell exits, so the sleeper is
    reparented, has no terminal and its session leader is gone. Returns
    ``(pid, start_ticks)``; stop it with :func:`kill_if_same`."""
    out = subprocess.run(["setsid", "sh", "-c", f"{shutil.which('sleep')} 600 >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, cwd=cwd, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    return pid, start_ticks(pid)


def kill_if_same(pid: int, start: int | None) -> None:
    """SIGKILL ``pid`` through a pidfd only if it is still the process that
    started at ``start`` (a test's grandchild, which the test cannot reap).
    The pidfd is opened first, so a pid reused meanwhile is never touched."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if start is not None and start_ticks(pid) == start:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)


def run_pt(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    """Run ``python -m pt ARGS`` as a user would, in ``cwd`` (never the source
    tree), with a wide terminal; asserts exit 0 when ``check``."""
    proc = subprocess.run([sys.executable, "-m", "pt", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return chr(stat[stat.rfind(b")") + 2])


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01) -> None:
    """Poll ``predicate`` until true; raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def row_of(snapshot, pid: int) -> dict:
    """One process of a snapshot as a dict of scalars; KeyError if absent."""
    hits = np.flatnonzero(snapshot["pid"] == pid)
    if len(hits) != 1:
        raise KeyError(f"pid {pid} not in snapshot")
    return {name: col[hits[0]] for name, col in snapshot.columns.items()}


# --- fake procfs trees for parser tests ------------------------------------

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



# --- a plain-Python procfs reader: the independent reference for the Cython
# parser in tests and the "what a Python user would write" baseline in bench/.

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


def capture_procfs(dest: Path, pids: list[int], root: str = "/proc") -> None:
    """Copy what the collector reads for ``pids`` (and the host files) from
    ``root`` into the fixture tree ``dest``; processes that vanish are skipped."""
    for rel in ("stat", "uptime", "sys/kernel/random/boot_id"):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(Path(root, rel).read_bytes())
    for pid in pids:
        try:
            files = {n: Path(root, str(pid), n).read_bytes() for n in ("stat", "status", "cmdline")}
        except OSError:
            continue
        (dest / str(pid)).mkdir(parents=True, exist_ok=True)
        for n, data in files.items():
            (dest / str(pid) / n).write_bytes(data)
