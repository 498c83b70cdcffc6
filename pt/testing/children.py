"""Real processes a test starts itself (sleepers, zombies, spinners, named
and orphaned children, a fork loop), and waiting on them.

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


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()



@contextlib.contextmanager
def sleepers(n: int, seconds: int = 600, argv0: str | None = None):
    """``n`` children of this process, each already asleep (state S) when
    the block starts; yields their Popen objects."""
    exe = shutil.which("sleep")
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([argv0 or exe, str(seconds)], executable=exe,
                                          stdin=subprocess.DEVNULL))
        for proc in procs:
            wait_for(lambda proc=proc: _state(proc.pid) == "S")
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
        wait_for(lambda: _comm(proc.pid) == name[:15].encode() and _state(proc.pid) == "S")
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


def fork_loop(life_s: float, every_s: float, report: bool = False) -> str:
    """Code of a parent that forks a child every ``every_s`` seconds, each
    living ``life_s``, and reaps them; it prints ``ready`` first and, with
    ``report``, each child's pid and birth time (CLOCK_BOOTTIME seconds)."""
    tell = "    print(pid, time.clock_gettime(time.CLOCK_BOOTTIME), flush=True)\n" if report else ""
    return f"""
import os, time
print("ready", flush=True)
while True:
    pid = os.fork()
    if pid == 0:
        time.sleep({life_s!r})
        os._exit(0)
{tell}    time.sleep({every_s!r})
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""


#: A fork loop: a child every 0.05 s, each living 0.3 s.
FORK_LOOP = fork_loop(0.3, 0.05)


_NAMED_CHILD = """\
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0)
child = os.fork() if sys.argv[2] == "zombie" else 0
if child == 0 and sys.argv[2] == "zombie":
    os._exit(0)
print(child, flush=True)
time.sleep(600)
"""



@contextlib.contextmanager
def named_process(comm: bytes, *args: str, zombie_child: bool = False):
    """A Python child that names itself ``comm`` (prctl PR_SET_NAME: its
    first 15 bytes) and sleeps, with ``args`` at the end of its command
    line; with ``zombie_child`` it first forks a child that exits and is
    never reaped (a zombie named ``comm`` whose parent is named ``comm``).
    Yields ``(proc, zombie_pid)`` (``None`` without a zombie) once both
    are in place; both are gone when the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", _NAMED_CHILD, comm.hex(),
                             "zombie" if zombie_child else "-", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    try:
        child = int(proc.stdout.readline())
        wait_for(lambda: _comm(proc.pid) == comm[:15])
        if child:
            wait_for(lambda: _state(child) == "Z")
        yield proc, child or None
    finally:
        _stop([proc])
        proc.stdout.close()



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
    ``(pid, start_ticks)``; stop it with :func:`kill_if_same`. Its command
    line is its own (``sleep 600.NNNNNN``): ``pt verify`` takes a later
    process with a killed target's command line and owner for a respawn,
    and another test run's sleeper must not be one."""
    seconds = f"600.{int.from_bytes(os.urandom(3), 'big') % 10**6:06d}"
    out = subprocess.run(["setsid", "sh", "-c", f"{shutil.which('sleep')} {seconds} >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, cwd=cwd, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    return pid, start_ticks(pid)



@contextlib.contextmanager
def orphaned_runner(cwd: Path, workers: int = 4):
    """A test runner left behind: a script named ``pytest`` (in ``cwd/bin``,
    run in ``cwd``) started by ``setsid sh -c '... &'`` from a shell that
    exits, so it is reparented, with ``workers`` idle ``sleep`` children.
    Yields ``(root_pid, pids)``, ``pids`` the whole tree sorted; each is
    killed at the end through a pidfd if it is still the same process."""
    runner = f"import subprocess, time\nkids = [subprocess.Popen(['sleep', '3600']) for _ in range({workers})]\n" \
             "time.sleep(3600)\n"
    script = cwd / "bin" / "pytest"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\n{runner}")
    script.chmod(0o755)
    out = subprocess.run(["setsid", "sh", "-c", f"{script} tests/ </dev/null >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL, cwd=cwd)
    root = int(out.stdout)
    known = {root: start_ticks(root)}
    try:
        wait_for(lambda: len(children(root)) == workers and all(_comm(k) == b"sleep" for k in children(root)),
                 timeout=30)
        known.update((k, start_ticks(k)) for k in children(root))
        yield root, sorted(known)
    finally:
        for pid, start in known.items():
            kill_if_same(pid, start)


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s children (its main thread's), [] if it is gone."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


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



@contextlib.contextmanager
def running(argv: list[str], *, cwd: str | os.PathLike | None = None, executable: str | None = None,
            env: dict | None = None):
    """A child running ``argv`` (in ``cwd``, with environment ``env`` if given),
    stdin an open pipe so shells wait; ``executable`` runs a different file
    under that ``argv[0]`` (like ``exec -a``).

    Only that child is killed at the end: give it commands that start no
    processes of their own (``sh -c 'read line'``, not ``sh -c 'sleep 9; :'``).
    """
    proc = subprocess.Popen(argv, executable=executable, cwd=cwd, stdin=subprocess.PIPE, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.stdin.close()
        _stop([proc])



@contextlib.contextmanager
def python_child(code: str, *args: str, cwd: str | os.PathLike | None = None):
    """A Python child running ``code`` (with ``args`` in ``sys.argv[1:]``) in
    ``cwd`` (None: this process's working directory, which is evidence: the
    cwd feature), yielded once it printed ``ready``; killed and reaped on exit."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        line = proc.stdout.readline().strip()
        assert line == "ready", f"child said {line!r}"
        yield proc
    finally:
        _stop([proc])
        proc.stdout.close()



def cpu_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    fields = stat[stat.rfind(b")") + 2:].split()
    return int(fields[11]) + int(fields[12])



def cpu_share(pid: int, seconds: float = 0.5) -> float:
    """Share of one CPU ``pid`` used over the next ``seconds``."""
    before, t0 = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_ticks(pid) - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
