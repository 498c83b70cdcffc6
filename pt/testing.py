"""Helpers for pt's own tests: real processes the test started itself, fake
procfs trees, command-line cases, and mpmath references for the kernels.

Every helper kills and reaps only the processes it spawned, on exit of its
``with`` block, so a failing test never leaves them behind and never touches
anything else on the machine.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pt.features.argv import command_layers
from pt.features.categories import UNKNOWN


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


#: Text a hostile process can put in its name or command line to try to
#: drive the terminal or forge what pt shows: Rich markup, an OSC 8 link, an
#: OSC title + clear screen, C1 CSI and OSC, a bidi override, a zero-width
#: space, an emoji code.
#: A parent that forks a child every 0.05 s, each living 0.3 s, and reaps them: a fork loop.
FORK_LOOP = """
import os, time
print("ready", flush=True)
while True:
    if os.fork() == 0:
        time.sleep(0.3)
        os._exit(0)
    time.sleep(0.05)
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
"""
HOSTILE_TEXT = ("[/x]", "[link=http://evil.example/]sleep[/link]", "\x1b]0;PWN\x1b\\\x1b[2J",
                "\u009b2J", "\u009d0;T\u009c", "\u202eevil", "a\u200bb", ":warning:")

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


def isolated_env(base: Path) -> dict:
    """The environment for a pt subprocess whose telemetry lake, key and
    state (remembered verdicts) live under ``base`` (never the user's):
    ``os.environ`` without ``PT_LAKE`` and ``PT_TELEMETRY_KEY``, with
    ``XDG_DATA_HOME`` and ``XDG_STATE_HOME`` set to ``base/.local/share``
    and ``base/.local/state``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PT_LAKE", "PT_TELEMETRY_KEY")}
    env["XDG_DATA_HOME"] = str(Path(base) / ".local" / "share")
    env["XDG_STATE_HOME"] = str(Path(base) / ".local" / "state")
    return env


def run_pt(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    """Run ``python -m pt ARGS`` as a user would, in ``cwd`` (never the source
    tree), with a wide terminal; asserts exit 0 when ``check``. Telemetry goes
    to a lake under ``cwd`` (see :func:`isolated_env`), never the user's."""
    proc = subprocess.run([sys.executable, "-m", "pt", *args], capture_output=True, text=True,
                          cwd=cwd, env={**isolated_env(cwd), "COLUMNS": "200", **(env or {})})
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def pt_at_terminal(args: list[str], env: dict, answer: bytes | None, cwd: Path) -> tuple[int, str]:
    """Run ``python -m pt ARGS`` on a pseudo-terminal 200 columns wide (in
    ``cwd``, with ``env``), answer its ``[y/N]`` question with ``answer`` (None:
    expect no question, e.g. a refusal) and return ``(exit code, everything it
    wrote)`` (the terminal's ``\\r\\n`` as ``\\n``)."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.environ.update(env, COLUMNS="200")
        os.execv(sys.executable, [sys.executable, "-m", "pt", *args])

    def read() -> bytes:
        try:
            return os.read(fd, 65536)
        except OSError:                      # the child closed the terminal: it exited
            return b""

    output = b""
    while answer is not None and b"[y/N]" not in output:
        chunk = read()
        if not chunk:
            _, status = os.waitpid(pid, 0)
            raise AssertionError(f"pt exited ({status}) without asking: {output.decode(errors='replace')}")
        output += chunk
    if answer is not None:
        os.write(fd, answer)
    while chunk := read():
        output += chunk
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace").replace("\r\n", "\n")


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


# --- command lines as /proc/PID/cmdline shows them, with their category -----------
#
# (category, argv, comm); comm None means what the kernel would say for
# exec'ing argv[0]: its basename, cut to 15 bytes. Shared by the category
# tests and the classifier benchmark.

COMMAND_CASES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    # test runners
    ("test_runner", ("/usr/bin/python3", "-m", "pytest", "-x", "tests/"), None),
    ("test_runner", ("/home/u/proj/.venv/bin/python", "/home/u/proj/.venv/bin/pytest", "-q"), None),
    ("test_runner", ("pytest", "tests/test_api.py::test_login", "-k", "slow"), None),
    ("test_runner", ("py.test", "--maxfail=1"), None),
    ("test_runner", ("python3.12", "-u", "-m", "pytest", "-n", "4"), None),
    ("test_runner", ("uv", "run", "pytest"), None),
    ("test_runner", ("uv", "run", "--with", "pytest-xdist", "pytest", "-n", "auto"), None),
    ("test_runner", ("/usr/bin/python3", "/usr/bin/tox", "-e", "py311"), None),
    ("test_runner", ("/home/u/.local/bin/nox", "-s", "tests"), None),
    ("test_runner", ("python", "-m", "unittest", "discover"), None),
    ("test_runner", ("node", "/home/u/app/node_modules/.bin/jest", "--watch"), None),
    ("test_runner", ("node", "/home/u/app/node_modules/jest-worker/build/workers/processChild.js"), None),
    ("test_runner", ("node", "/home/u/app/node_modules/.bin/vitest", "run"), None),
    ("test_runner", ("node", "/home/u/app/node_modules/vitest/dist/workers/forks.js"), None),
    ("test_runner", ("node", "/home/u/app/node_modules/.bin/mocha", "--recursive"), None),
    ("test_runner", ("bun", "test", "--filter=gateway"), None),
    ("test_runner", ("deno", "test", "--allow-net"), None),
    ("test_runner", ("cargo", "test", "--workspace"), None),
    ("test_runner", ("cargo", "nextest", "run"), None),
    ("test_runner", ("/home/u/proj/target/debug/deps/mycrate-1a2b3c4d5e6f7a8b", "--test-threads=1"), "mycrate-1a2b3c4"),
    ("test_runner", ("go", "test", "./..."), None),
    ("test_runner", ("/tmp/go-build1234/b001/server.test", "-test.v"), None),
    ("test_runner", ("npm", "test"), None),
    ("test_runner", ("npm run test:unit",), "npm run test:un"),
    ("test_runner", ("pnpm", "test"), None),
    ("test_runner", ("yarn", "test", "--coverage"), None),
    ("test_runner", ("ruby", "/home/u/.gem/bin/rspec", "spec/models"), None),
    ("test_runner", ("bundle", "exec", "rspec"), None),
    ("test_runner", ("php", "vendor/bin/phpunit", "--filter", "UserTest"), None),
    ("test_runner", ("gradle", "test"), None),
    ("test_runner", ("java", "-Xmx64m", "-classpath", "/home/u/app/gradle/wrapper/gradle-wrapper.jar",
                     "org.gradle.wrapper.GradleWrapperMain", "clean", "test"), None),
    ("test_runner", ("mvn", "test"), None),
    ("test_runner", ("java", "-jar", "/home/u/app/target/surefire/surefirebooter123.jar"), None),
    ("test_runner", ("ctest", "--output-on-failure"), None),
    ("test_runner", ("meson", "test", "-C", "build"), None),
    ("test_runner", ("sh", "-c", "cd /home/u/proj && pytest -x"), None),
    ("test_runner", ("timeout", "600", "npm", "test"), None),
    ("test_runner", ("node", "--test", "test/"), None),
    # dev servers
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/vite"), None),
    ("dev_server", ("npx", "vite"), None),
    ("dev_server", ("npx", "vite", "--port", "5173"), None),
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/next", "dev"), None),
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/nuxt", "dev"), None),
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/webpack", "serve", "--mode", "development"), None),
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/webpack-dev-server"), None),
    ("dev_server", ("npm", "run", "dev"), None),
    ("dev_server", ("npm run dev",), "npm run dev"),
    ("dev_server", ("sh", "-c", "npm run dev"), None),
    ("dev_server", ("/bin/sh", "-c", "vite"), "sh"),
    ("dev_server", ("pnpm", "dev"), None),
    ("dev_server", ("yarn", "start"), None),
    ("dev_server", ("bun", "run", "dev"), None),
    ("dev_server", ("node", "/home/u/app/node_modules/.bin/parcel", "src/index.html"), None),
    ("dev_server", ("/home/u/app/node_modules/@esbuild/linux-x64/bin/esbuild", "src/app.ts", "--bundle",
                    "--servedir=www", "--serve"), "esbuild"),
    ("dev_server", ("esbuild", "src/app.ts", "--bundle", "--watch"), None),
    ("dev_server", ("ruby", "bin/rails", "s"), None),
    ("dev_server", ("bundle", "exec", "rails", "server", "-p", "3000"), None),
    ("dev_server", ("/home/u/proj/.venv/bin/python", "/home/u/proj/.venv/bin/flask", "run", "--debug"), None),
    ("dev_server", ("python", "-m", "flask", "run"), None),
    ("dev_server", ("python3", "manage.py", "runserver", "0.0.0.0:8000"), None),
    ("dev_server", ("/usr/bin/python3", "./manage.py", "runserver"), None),
    ("dev_server", ("/home/u/proj/.venv/bin/python3", "/home/u/proj/.venv/bin/uvicorn", "main:app", "--reload"), None),
    ("dev_server", ("python", "-m", "uvicorn", "app.main:app", "--host", "0.0.0.0", "--reload"), None),
    ("dev_server", ("hugo", "server", "-D"), None),
    ("dev_server", ("bundle", "exec", "jekyll", "serve", "--livereload"), None),
    ("dev_server", ("php", "artisan", "serve"), None),
    ("dev_server", ("python3", "-m", "http.server", "8000"), None),
    ("dev_server", ("node", "/home/u/.npm/_npx/abc/node_modules/.bin/nodemon", "src/index.js"), None),
    ("dev_server", ("npx", "tsx", "watch", "src/server.ts"), None),
    ("dev_server", ("bash", "-lc", "cd /srv/app && exec uvicorn main:app --reload"), None),
    # AI agents
    ("agent", ("node", "/home/u/.nvm/versions/node/v20.11.0/bin/claude"), None),
    ("agent", ("node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"), None),
    ("agent", ("claude",), None),
    ("agent", ("claude", "--dangerously-skip-permissions"), None),
    ("agent", ("/home/u/.local/share/claude/versions/1.0.51",), "claude"),
    ("agent", ("node", "/usr/local/lib/node_modules/@openai/codex/bin/codex.js"), None),
    ("agent", ("/usr/local/lib/node_modules/@openai/codex/bin/codex-x86_64-unknown-linux-musl", "exec"),
     "codex-x86_64-un"),
    ("agent", ("codex",), None),
    ("agent", ("node", "/home/u/.nvm/versions/node/v22.3.0/bin/gemini"), None),
    ("agent", ("node", "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"), None),
    ("agent", ("/home/u/.local/pipx/venvs/aider-chat/bin/python", "/home/u/.local/bin/aider", "--model", "sonnet"), None),
    ("agent", ("/home/u/.local/bin/cursor-agent",), None),
    ("agent", ("/opt/Cursor/cursor", "--type=renderer"), None),
    ("agent", ("copilot",), None),
    ("agent", ("node", "/home/u/.vscode/extensions/github.copilot-1.250.0/dist/language-server.js", "--stdio"), None),
    ("agent", ("gh", "copilot", "suggest"), None),
    ("agent", ("goose", "session"), None),
    ("agent", ("opencode",), None),
    ("agent", ("node", "/usr/lib/node_modules/@sourcegraph/amp/dist/main.js"), None),
    ("agent", ("cn",), None),
    ("agent", ("node", "/home/u/.vscode/extensions/saoudrizwan.claude-dev-3.17.0/dist/extension.js"), None),
    ("agent", ("/home/u/.codeium/windsurf/bin/language_server_linux_x64", "--api_server_url"), "language_server"),
    ("agent", ("windsurf",), None),
    # editors and language servers
    ("editor_lsp", ("node", "/home/u/.vscode-server/extensions/ms-python.vscode-pylance-2024.8.1/dist/server.bundle.js",
                    "--cancellationReceive=file:a1b2", "--node-ipc", "--clientProcessId=4242"), None),
    ("editor_lsp", ("node", "/home/u/.local/share/nvim/mason/packages/pyright/node_modules/pyright/langserver.index.js",
                    "--stdio"), None),
    ("editor_lsp", ("pyright-langserver", "--stdio"), None),
    ("editor_lsp", ("basedpyright-langserver", "--stdio"), None),
    ("editor_lsp", ("/home/u/.venv/bin/python", "/home/u/.venv/bin/pylsp"), None),
    ("editor_lsp", ("jedi-language-server",), None),
    ("editor_lsp", ("ruff", "server"), None),
    ("editor_lsp", ("/home/u/.cargo/bin/rust-analyzer",), None),
    ("editor_lsp", ("/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/libexec/rust-analyzer-proc-macro-srv",),
     "rust-analyzer-p"),
    ("editor_lsp", ("/home/u/go/bin/gopls", "serve"), None),
    ("editor_lsp", ("/usr/bin/clangd-17", "--background-index"), None),
    ("editor_lsp", ("node", "/home/u/app/node_modules/typescript/lib/tsserver.js", "--serverMode", "partialSemantic"), None),
    ("editor_lsp", ("node", "/home/u/.npm-global/bin/typescript-language-server", "--stdio"), None),
    ("editor_lsp", ("node", "/usr/lib/node_modules/vscode-langservers-extracted/bin/vscode-css-language-server",
                    "--stdio"), None),
    ("editor_lsp", ("eslint_d",), None),
    ("editor_lsp", ("lua-language-server",), None),
    ("editor_lsp", ("java", "-Declipse.application=org.eclipse.jdt.ls.core.id1", "-Xmx1G", "-jar",
                    "/home/u/.local/share/nvim/mason/packages/jdtls/plugins/org.eclipse.equinox.launcher_1.6.700.jar",
                    "-data", "/home/u/.cache/jdtls"), None),
    ("editor_lsp", ("ruby", "/home/u/.gem/bin/solargraph", "stdio"), None),
    ("editor_lsp", ("nvim", "src/main.rs"), None),
    ("editor_lsp", ("vim", "README.md"), None),
    ("editor_lsp", ("emacs", "-nw"), None),
    ("editor_lsp", ("/usr/share/code/code", "--type=zygote"), "code"),
    ("editor_lsp", ("hx", "."), None),
    ("editor_lsp", ("zed",), None),
    ("editor_lsp", ("nano", "/etc/hosts"), None),
    ("editor_lsp", ("micro",), None),
    ("editor_lsp", ("sh", "/home/u/.vscode-server/bin/abc123/bin/code-server", "--start-server"), None),
    # shells and multiplexer clients
    ("shell", ("-bash",), "bash"),
    ("shell", ("/bin/bash",), "bash"),
    ("shell", ("/usr/bin/zsh", "-l"), None),
    ("shell", ("fish",), None),
    ("shell", ("sh",), None),
    ("shell", ("dash",), None),
    ("shell", ("ksh",), None),
    ("shell", ("tcsh",), None),
    ("shell", ("nu",), None),
    ("shell", ("pwsh", "-NoLogo"), None),
    ("shell", ("/usr/bin/python3", "/usr/bin/xonsh"), None),
    ("shell", ("tmux", "attach", "-t", "work"), "tmux: client"),
    ("shell", ("tmux",), None),
    ("shell", ("screen", "-r"), None),
    ("unknown", ("bash", "-c", "sleep 600; echo done"), None),    # -c code: no one's prompt
    ("unknown", ("sh", "-ec", "while :; do echo x > f; done"), None),
    # build
    ("build", ("make", "-j4"), None),
    ("build", ("ninja", "-C", "build"), None),
    ("build", ("cmake", "--build", "build", "--parallel"), None),
    ("build", ("meson", "compile", "-C", "build"), None),
    ("build", ("cargo", "build", "--release"), None),
    ("build", ("cargo", "check"), None),
    ("build", ("cargo", "clippy", "--all-targets"), None),
    ("build", ("/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc", "--crate-name", "serde"), None),
    ("build", ("cc", "-O2", "-c", "foo.c"), None),
    ("build", ("/usr/lib/gcc/x86_64-linux-gnu/12/cc1plus", "-quiet", "main.cpp"), None),
    ("build", ("x86_64-linux-gnu-gcc-12", "-c", "x.c"), None),
    ("build", ("clang++", "-std=c++20", "a.cpp"), None),
    ("build", ("/usr/bin/ld", "-o", "a.out"), None),
    ("build", ("go", "build", "./cmd/server"), None),
    ("build", ("/usr/lib/go/pkg/tool/linux_amd64/compile", "-o", "/tmp/go-build/b001/_pkg_.a"), "compile"),
    ("build", ("javac", "-d", "out", "Main.java"), None),
    ("build", ("java", "-Xmx2g", "-cp", "/home/u/.gradle/wrapper/dists/gradle-8.5/lib/gradle-launcher-8.5.jar",
               "org.gradle.launcher.daemon.bootstrap.GradleDaemon", "8.5"), None),
    ("build", ("bazel(myws)", "-XX:+HeapDumpOnOutOfMemoryError", "-jar",
               "/home/u/.cache/bazel/_bazel_u/install/abc/A-server.jar", "--max_idle_secs=10800"), "java"),
    ("build", ("sccache",), None),
    ("build", ("node", "/home/u/app/node_modules/typescript/bin/tsc", "--watch"), None),
    ("build", ("node", "/home/u/app/node_modules/.bin/webpack", "--watch"), None),
    ("build", ("node", "/home/u/app/node_modules/.bin/turbo", "run", "build"), None),
    ("build", ("node", "/home/u/app/node_modules/.bin/nx", "build", "web"), None),
    ("build", ("npx", "vite", "build"), None),
    ("build", ("npm", "run", "build"), None),
    # daemons
    ("daemon", ("/sbin/init", "splash"), "systemd"),
    ("daemon", ("/lib/systemd/systemd", "--user"), "systemd"),
    ("daemon", ("/lib/systemd/systemd-journald",), None),
    ("daemon", ("(sd-pam)",), "(sd-pam)"),
    ("daemon", ("/usr/bin/dbus-daemon", "--session", "--address=systemd:"), None),
    ("daemon", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",), "sshd"),
    ("daemon", ("sshd: u@pts/0",), "sshd"),
    ("daemon", ("/usr/sbin/cron", "-f"), None),
    ("daemon", ("tmux",), "tmux: server"),
    ("daemon", ("tmux", "new-session", "-d", "-s", "work"), "tmux: server"),
    ("daemon", ("tmux: server (/tmp/tmux-1000/default)",), "tmux: server"),
    ("daemon", ("SCREEN", "-S", "build"), "screen"),
    ("daemon", ("/usr/bin/containerd",), None),
    ("daemon", ("/usr/bin/dockerd", "-H", "fd://"), None),
    ("daemon", ("ssh-agent", "-s"), None),
    ("daemon", ("/usr/bin/gpg-agent", "--supervised"), None),
    ("daemon", ("/usr/bin/pipewire",), None),
    ("daemon", ("/usr/bin/pulseaudio", "--daemonize=no"), None),
    ("daemon", ("zellij", "--server", "/run/user/1000/zellij/0.40.1/work"), None),
    # databases
    ("database", ("/usr/lib/postgresql/16/bin/postgres", "-D", "/var/lib/postgresql/16/main"), None),
    ("database", ("postgres: checkpointer ", "", ""), "postgres"),
    ("database", ("postgres: 16/main: u mydb [local] idle",), "postgres"),
    ("database", ("/usr/sbin/mysqld",), None),
    ("database", ("/usr/sbin/mariadbd",), None),
    ("database", ("redis-server *:6379",), "redis-server"),
    ("database", ("/usr/bin/mongod", "--config", "/etc/mongod.conf"), None),
    ("database", ("sqlite3", "app.db"), None),
    ("database", ("/usr/bin/clickhouse", "server", "--config-file=/etc/clickhouse-server/config.xml"), "clickhouse-serv"),
    ("database", ("/usr/share/elasticsearch/jdk/bin/java", "-Xms1g", "-m",
                  "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch"), "java"),
    ("database", ("/usr/bin/memcached", "-m", "64", "-p", "11211"), None),
    ("database", ("etcd", "--data-dir", "/var/lib/etcd"), None),
    ("database", ("psql", "-d", "mydb"), None),
    # servers
    ("server", ("gunicorn", "app:app", "-w", "2"), None),
    ("server", ("gunicorn: worker [app:app]",), "gunicorn"),
    ("server", ("/srv/venv/bin/python", "/srv/venv/bin/uvicorn", "main:app", "--port", "8000"), None),
    ("server", ("hypercorn", "app:app"), None),
    ("server", ("daphne", "project.asgi:application"), None),
    ("server", ("node", "server.js"), None),
    ("server", ("node", "/srv/app/dist/server.mjs"), None),
    ("server", ("deno", "run", "--allow-net", "app.ts"), None),
    ("server", ("bun", "run", "server.ts"), None),
    ("server", ("node", "./bin/www"), None),
    ("server", ("nginx: master process /usr/sbin/nginx -g daemon on; master_process on;",), "nginx"),
    ("server", ("nginx: worker process",), "nginx"),
    ("server", ("/usr/sbin/httpd", "-DFOREGROUND"), None),
    ("server", ("/usr/sbin/apache2", "-k", "start"), None),
    ("server", ("caddy", "run", "--config", "/etc/caddy/Caddyfile"), None),
    ("server", ("php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)",), "php-fpm8.2"),
    ("server", ("java", "-jar", "/srv/app/build/libs/app-0.1.jar"), None),
    ("server", ("next-server (v14.1.0)",), "next-server (v1"),
    # version control
    ("vcs", ("git", "status"), None),
    ("vcs", ("/usr/lib/git-core/git-remote-https", "origin", "https://github.com/u/r.git"), "git-remote-http"),
    ("vcs", ("git-lfs", "filter-process"), None),
    ("vcs", ("/usr/bin/python3", "/usr/bin/hg", "pull"), None),
    ("vcs", ("svn", "update"), None),
    ("vcs", ("jj", "log"), None),
    ("vcs", ("gh", "pr", "view", "--web"), None),
    ("vcs", ("git", "credential-cache--daemon", "/home/u/.cache/git/credential/socket"), None),
    # package managers
    ("package_manager", ("/usr/bin/python3", "-m", "pip", "install", "-r", "requirements.txt"), None),
    ("package_manager", ("pip3.11", "install", "numpy"), None),
    ("package_manager", ("uv", "pip", "install", "-e", "."), None),
    ("package_manager", ("uv", "sync"), None),
    ("package_manager", ("/usr/bin/python3", "/home/u/.local/bin/poetry", "install"), None),
    ("package_manager", ("conda", "install", "-c", "conda-forge", "numpy"), None),
    ("package_manager", ("mamba", "env", "update"), None),
    ("package_manager", ("npm", "install"), None),
    ("package_manager", ("npm", "ci"), None),
    ("package_manager", ("pnpm", "install", "--frozen-lockfile"), None),
    ("package_manager", ("yarn", "install"), None),
    ("package_manager", ("yarn",), None),
    ("package_manager", ("cargo", "install", "ripgrep"), None),
    ("package_manager", ("/usr/bin/apt-get", "install", "-y", "curl"), None),
    ("package_manager", ("/usr/bin/dpkg", "--status-fd", "35", "--configure", "--pending"), None),
    ("package_manager", ("brew", "upgrade"), None),
    ("package_manager", ("gem", "install", "bundler"), None),
    ("package_manager", ("bundle", "install"), None),
    ("package_manager", ("php", "/usr/local/bin/composer", "install"), None),
    ("package_manager", ("nix", "build", ".#default"), None),
    # containers
    ("container", ("docker", "compose", "up"), None),
    ("container", ("docker", "run", "-it", "--rm", "ubuntu"), None),
    ("container", ("/usr/bin/podman", "run", "alpine"), None),
    ("container", ("/usr/bin/containerd-shim-runc-v2", "-namespace", "moby", "-id", "abc123", "-address",
                   "/run/containerd/containerd.sock"), "containerd-shim"),
    ("container", ("runc", "init"), None),
    ("container", ("crun", "run", "ctr"), None),
    ("container", ("kubectl", "port-forward", "svc/web", "8080:80"), None),
    ("container", ("/usr/local/bin/k3s", "server"), None),
    ("container", ("k3s server",), "k3s-server"),
    ("container", ("kind", "create", "cluster"), None),
    ("container", ("minikube", "start"), None),
    # nothing a rule knows
    ("unknown", ("sleep", "600"), None),
    ("unknown", ("/usr/bin/python3", "/home/u/scripts/cleanup.py"), None),
    ("unknown", ("python3", "-c", "import time; time.sleep(60)"), None),
    ("unknown", ("node",), None),
    ("unknown", (), "kworker/0:1"),
    ("unknown", ("uv", "run", "python", "script.py"), None),
    ("unknown", ("/usr/lib/firefox/firefox", "-contentproc", "-childID", "12"), "Isolated Web Co"),
    ("unknown", ("htop",), None),
    ("unknown", ("less", "/var/log/syslog"), None),
    ("unknown", ("timeout", "60", "sleep", "30"), None),
)


def case_comm(argv: tuple[str, ...], comm: str | None) -> str:
    """The comm of a :data:`COMMAND_CASES` row: given, or as exec'ing ``argv[0]`` sets it."""
    return comm if comm is not None else argv[0].rpartition("/")[2][:15]


def classify_naive(rules, comm, cmdline, exe=None) -> np.ndarray:
    """The category rules applied the plain way, one process and one rule at a
    time with ``re.match``: the reference :meth:`CategoryRules.classify` must
    agree with, and the baseline it is benchmarked against."""
    exe = [None] * len(comm) if exe is None else exe
    user, shipped = rules.rules[:rules.n_user], rules.rules[rules.n_user:]
    out = np.full(len(comm), UNKNOWN, dtype=np.int8)
    for row, (c, argv, e) in enumerate(zip(comm, cmdline, exe)):
        c = c if isinstance(c, str) else ""
        exe_base = e.removesuffix(" (deleted)").rpartition("/")[2] if isinstance(e, str) else None
        layers = command_layers(argv, c, rules.interpreters) or ((None, None, None),)
        for source in (user, shipped):
            hit = next((rule for argv0, line, short in layers for rule in source
                        if any(value is not None and re.match(rule.regex, value) for value in
                               {"comm": (c,), "exe": (exe_base,), "argv0": (argv0,),
                                "cmdline": (line, short)}[rule.target])), None)
            if hit is not None:
                out[row] = hit.category
                break
    return out


# --- numeric references: error measures and mpmath values for the kernels ----------
# mpmath is a test-only dependency, imported inside the reference functions; the
# same code produces the hard-coded values in the tests and the accuracy tables in
# docs/kernels.md (tools/kernel_accuracy.py).

def relative_error(actual, desired):
    """Elementwise |actual - desired| / |desired| as float64.

    Equal values (infinities of the same sign included) give 0; a zero ``desired``
    gives the absolute error.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(actual - desired) / np.where(desired == 0.0, 1.0, np.abs(desired))
    return np.where(actual == desired, 0.0, err)


def assert_allclose_scaled(actual, desired, rtol, scale):
    """Assert |actual - desired| <= rtol * max(|desired|, scale) elementwise.

    ``scale`` is the size of the terms that were added to form ``desired``: where a
    result is a small difference of large terms (a log density near 0, log B(a, b)
    near its zeros) a relative tolerance on the result itself asks for more than its
    condition number allows.
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    bound = rtol * np.maximum(np.abs(desired), scale)
    same = actual == desired
    ok = same | (np.abs(actual - desired) <= bound)
    if not ok.all():
        i = int(np.argmax(~ok.ravel()))
        raise AssertionError(
            f"{(~ok).sum()} of {ok.size} elements differ by more than rtol={rtol} scaled; "
            f"first at flat index {i}: actual {actual.ravel()[i]!r}, desired {desired.ravel()[i]!r}")


def mp_log_beta(a, b, dps=50):
    """log B(a, b) with mpmath."""
    import mpmath as mp
    with mp.workdps(dps):
        a, b = mp.mpf(a), mp.mpf(b)
        return mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)


def _mp_beta_cf(a, b, x, tol):
    """Continued fraction of I_x(a, b) without its prefactor (modified Lentz, NR 6.4)."""
    import mpmath as mp
    tiny = mp.mpf(10) ** -(10 * mp.mp.dps)
    c = mp.mpf(1)
    d = 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10**7):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < tol:
            return h
    raise RuntimeError(f"continued fraction did not converge for a={a}, b={b}, x={x}")


def mp_betainc(a, b, x, dps=40):
    """(I_x(a, b), 1 - I_x(a, b)) with mpmath, each computed directly where it is small.

    Uses the continued fraction on whichever of (a, b, x) and (b, a, 1 - x) has
    x < (a + 1)/(a + b + 2), with the prefactor x**a (1-x)**b / (a B(a, b)) in
    extended precision.  ``x`` is taken exactly (a double converts exactly).
    """
    import mpmath as mp
    with mp.workdps(dps):
        a, b, x = mp.mpf(a), mp.mpf(b), mp.mpf(x)
        if x <= 0:
            return mp.mpf(0), mp.mpf(1)
        if x >= 1:
            return mp.mpf(1), mp.mpf(0)
        tol = mp.mpf(10) ** -(dps - 8)
        y = 1 - x
        log_pre = a * mp.log(x) + b * mp.log(y) - (mp.loggamma(a) + mp.loggamma(b)
                                                    - mp.loggamma(a + b))
        if x < (a + 1) / (a + b + 2):
            w = mp.exp(log_pre) / a * _mp_beta_cf(a, b, x, tol)
            return w, 1 - w
        w1 = mp.exp(log_pre) / b * _mp_beta_cf(b, a, y, tol)
        return 1 - w1, w1


def mp_beta_ppf(q, a, b, x0=None, dps=40):
    """x with I_x(a, b) = q, with mpmath: bracketed Newton on log x for the small tail.

    ``q`` is taken exactly; ``x0`` is only a starting point.  Returns an ``mpf``
    (possibly below the double range, e.g. for tiny q and a).
    """
    import mpmath as mp
    with mp.workdps(dps):
        q, a, b = mp.mpf(q), mp.mpf(a), mp.mpf(b)
        if q <= 0:
            return mp.mpf(0)
        if q >= 1:
            return mp.mpf(1)
        upper = q > mp.mpf(1) / 2
        target = 1 - q if upper else q
        log_beta = mp.loggamma(a) + mp.loggamma(b) - mp.loggamma(a + b)
        lo, hi = -mp.mpf(10) ** 6, mp.mpf(0)          # bracket on t = log x
        t = mp.log(mp.mpf(x0)) if x0 is not None and 0 < x0 < 1 else mp.log(mp.mpf(1) / 2)
        for _ in range(2000):
            x = mp.exp(t)
            w, w1 = mp_betainc(a, b, x, dps)
            small = w1 if upper else w
            if small == 0:
                g, slope = (mp.inf if upper else -mp.inf), None
            else:
                g = mp.log(small / target)
                phi = mp.exp(a * t + (b - 1) * mp.log(1 - x) - log_beta)
                slope = (-phi if upper else phi) / small
            if (g > 0) != upper:
                hi = t
            else:
                lo = t
            step = g / slope if slope else None
            t_new = t - step if step is not None else None
            if t_new is None or not lo < t_new < hi:
                t_new = (lo + hi) / 2
            if abs(t_new - t) < mp.mpf(10) ** -(dps - 10):
                return mp.exp(t_new)
            t = t_new
        raise RuntimeError(f"mp_beta_ppf did not converge for q={q}, a={a}, b={b}")


# --- actions --------------------------------------------------------------------------

def acting_policy(**actions):
    """The default policy with these ``actions`` settings, ready to act on the
    test's own fresh children: no minimum age, short grace, and (run as root,
    as CI is) system services allowed like :func:`developer_policy`."""
    import dataclasses

    from pt.config import load_policy
    policy = load_policy()
    settings = {"min_age_s": 0.0, "kill_grace_s": 1.0, **actions}
    policy = dataclasses.replace(policy, actions=dataclasses.replace(policy.actions, **settings))
    return dataclasses.replace(policy, allow_system_services=True) if os.geteuid() == 0 else policy


def acting_env(base: Path) -> dict:
    """The environment of a ``pt`` subprocess that acts on the test's own
    fresh children: :func:`isolated_env` (state in ``base/state``) plus a
    private config whose policy is :func:`acting_policy`'s (no minimum age,
    1 s grace; system services allowed when root, in case the test runner
    itself is a service)."""
    (base / "config/pt").mkdir(parents=True, exist_ok=True)
    policy = {"version": 1, "actions": {"min_age_s": 0, "kill_grace_s": 1}}
    if os.geteuid() == 0:
        policy["guards"] = {"allow_system_services": True}
    (base / "config/pt/policy.json").write_text(json.dumps(policy))
    return {**isolated_env(base), "XDG_CONFIG_HOME": str(base / "config"), "XDG_STATE_HOME": str(base / "state")}


def plan_for(pids, action: str, params: dict | None = None, *, created_at: float | None = None,
             ttl_s: float = 900.0, policy=None) -> dict:
    """A valid plan acting on ``pids`` (the test's own processes), as an agent
    or a hand edit would write one: identities read now, id from content."""
    from pt.act.guards import write_baseline
    from pt.act.identity import read_identity
    from pt.act.plan import PLAN_VERSION, action_params, host_info, plan_id
    from pt.collect.host import read_host

    host = read_host(Path("/proc"))
    now = time.time() if created_at is None else created_at
    entries = []
    for pid in pids:
        identity = read_identity(pid)
        assert identity is not None, f"pid {pid} is gone"
        start = host.boot_time + identity.start_ticks / host.clock_ticks
        entries.append({
            "index": len(entries), "target": identity.as_dict(),
            "comm": _comm(pid).decode("utf-8", "backslashreplace"),
            "command": " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                "utf-8", "backslashreplace").split("\0")).strip(),
            "category": "unknown", "state": _state(pid), "ppid": 0, "start_time": start,
            "age_s": now - start, **write_baseline(pid),
            "action": action, "requested": True,
            "params": params if params is not None else action_params(action, "unknown",
                                                                      policy or acting_policy()),
            "posterior": {"useful": 0.1, "useful_bad": 0.0, "abandoned": 0.9, "zombie": 0.0},
            "expected_loss": {}, "why": "test", "ledger": [],
        })
    body = {"pt_plan_version": PLAN_VERSION, "created_at": now, "expires_at": now + ttl_s,
            "host": host_info(host.hostname, host.boot_id), "policy_digest": "",
            "priors_digest": "", "selection": {}, "at_s": 0.0, "do": action, "actions": entries,
            "refused": []}
    return {"plan_id": plan_id(body), **body}


@contextlib.contextmanager
def python_child(code: str, *args: str):
    """A Python child running ``code`` (with ``args`` in ``sys.argv[1:]``),
    yielded once it printed ``ready``; killed and reaped on exit."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
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


# --- deep-scan sampler: a plain-Python reference ----------------------------------

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


# --- decisions as a regular user ------------------------------------------------------

def regular_user() -> tuple[int, int] | None:
    """``(uid, gid)`` of the user whose work a decision test triages: this
    process's own. Decision tests run under the default policy as whoever
    runs pytest; CI runs them as root and again as a regular user
    (``.ci/user-suite``), so both are covered without a test switching users."""
    return os.getuid(), os.getgid()


def user_python() -> str | None:
    """A Python interpreter the regular user of :func:`regular_user` can run:
    this one if every directory above it is searchable by others, else the
    system's ``/usr/bin/python3``; None if neither is."""
    for exe in (sys.executable, "/usr/bin/python3"):
        path = Path(exe).resolve()
        if path.is_file() and all(os.stat(p).st_mode & 0o001 for p in path.parents) \
                and os.stat(path).st_mode & 0o001:
            return str(path)
    return None


@contextlib.contextmanager
def user_workspace():
    """A fresh directory in the system's temp dir that the regular user of
    :func:`regular_user` owns (its HOME, state and config in
    :func:`as_regular_user`); removed at the end."""
    import tempfile
    path = Path(tempfile.mkdtemp(prefix="pt-user-"))
    try:
        os.chmod(path, 0o755)
        if os.geteuid() == 0:
            os.chown(path, *regular_user())
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_regular_user(fn, workspace: Path):
    """``fn()`` with ``HOME``, ``XDG_CONFIG_HOME``, ``XDG_STATE_HOME`` and
    ``XDG_DATA_HOME`` under ``workspace``, so the shipped default policy
    applies and nothing of the user's is read or written."""
    env = {"HOME": str(workspace), "XDG_CONFIG_HOME": str(workspace / "config"),
           "XDG_STATE_HOME": str(workspace / "state"), "XDG_DATA_HOME": str(workspace / "share")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return fn()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
