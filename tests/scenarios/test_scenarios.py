"""Decision quality on real processes, under the DEFAULT policy, as whoever runs it.

One module-scoped fixture starts every workload at once: real processes of
the shapes developers leave running (or still use), each started here and
stopped here; nothing else is signalled. pt then triages the whole machine
with the shipped policy and priors — no override, whether pytest runs as
root (CI, containers) or as a regular user (CI runs it both ways) — now,
at the future times where age matters (``--at``), and ten times in a row at
each of those times (remembering verdicts as a user's ``pt scan`` does) to
measure how often an action flips for a process whose behaviour did not
change.

Useful workloads (must be kept, now and later): a busy compiler (real
gcc/cc1) under a live make; an idle interactive shell; an editor on a
terminal and its language server over stdio pipes; a dev server in a live
terminal; a detached server with a live client; a notebook server on a
terminal and its kernel (own session, connected to by the server); a coding
agent on a terminal and its MCP server over stdio pipes; an init-started
daemon; a parent with an active child.

*The init-started daemon* cannot truly be started by PID 1 from a test: a
test's process reparented to init is, by pt's rules, *not* started by init
(it left its launcher's session). It is represented as what such a daemon
looks like from /proc when no service manager vouches for it — double-forked
into its own session, cwd ``/``, stdio on /dev/null, a listening socket —
and must be kept on that evidence alone (the detached-daemon term), not by
a veto.

Leftovers (must get some action at the time given): an orphaned idle test
runner; an orphaned hung pytest (waiting on a hung child); an orphaned dev
server with no clients; a process idle in a deleted worktree; a forgotten
stopped job; an orphaned runaway spinner; two zombies of a live parent; a
``setsid``-detached job whose shell exited; two detached idle orphans; an
idle adoptee of a subreaper.

The bar (issue 11): false kills (kill on useful) 0, false alarms (any action
but keep on useful) 0, capture (leftovers acted on) >= 95%. The confusion
matrix, the three rates and the flip rate over ten scans are printed.
"""
from __future__ import annotations

import os
import pty
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from pt.config import ACTIONS, CLASSES
from pt.testing import kill_if_same, start_ticks, wait_for
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

HOUR = 3600.0
PR_SET_NAME, PR_SET_CHILD_SUBREAPER = 15, 36
FLIP_SCANS = 10


@dataclass
class Scenario:
    name: str
    pid: int
    truth: str                       # the class a careful human would give it
    at_s: tuple = (0.0,)             # times (seconds from now) it is judged at
    protected: bool = False
    find: Callable | None = None     # snapshot -> pid, for a process that is replaced (cc1)

    def row(self, snapshot) -> int | None:
        pid = self.find(snapshot) if self.find else self.pid
        rows = np.flatnonzero(snapshot["pid"] == pid) if pid else []
        return int(rows[0]) if len(rows) == 1 else None


@dataclass
class Zoo:
    """Starts scenario processes and remembers how to stop each of them."""

    tmp: Path
    scenarios: list = field(default_factory=list)
    _popen: list = field(default_factory=list)
    _groups: list = field(default_factory=list)
    _pty_children: list = field(default_factory=list)
    _foreign: list = field(default_factory=list)     # (pid, start_ticks): not our children
    _sockets: list = field(default_factory=list)

    def popen(self, argv, group=False, **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, process_group=0 if group else None, **kw)
        (self._groups if group else self._popen).append(proc)
        return proc

    def foreign(self, pid: int) -> int:
        """Stop ``pid`` at the end too: a process we started but cannot reap."""
        self._foreign.append((pid, start_ticks(pid)))
        return pid

    def script(self, name: str, code: str) -> str:
        """An executable Python script called ``name`` (as pip installs console
        scripts: its comm and argv name the tool)."""
        path = self.tmp / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"#!{sys.executable}\n{code}")
        path.chmod(0o755)
        return str(path)

    def on_pty(self, argv, cwd=None) -> int:
        pid, master = pty.fork()
        if pid == 0:
            if cwd:
                os.chdir(cwd)
            os.execvp(argv[0], argv)
        self._pty_children.append((pid, master))
        return pid

    def detached(self, argv, cwd=None, leader=False) -> int:
        """Start ``argv`` in the background of a shell that then exits, as
        ``cmd &`` from a terminal that was closed. ``leader``: ``setsid cmd &``
        (the job leads its own session); else the shell led the session
        (``setsid sh -c 'cmd &'``), so the job's session leader is gone."""
        line = shlex.join(argv) + " </dev/null >/dev/null 2>&1"
        shell = ["sh", "-c", f"setsid {line} & echo $!"] if leader else \
            ["setsid", "sh", "-c", f"{line} & echo $!"]
        out = subprocess.run(shell, capture_output=True, text=True, check=True, cwd=cwd,
                             stdin=subprocess.DEVNULL)
        pid = int(out.stdout)
        if leader:   # setsid(1) runs setsid(2), then execs the job
            wait_for(lambda: _stat_field(pid, 3) == str(pid) and _comm(pid) != "setsid")
        return self.foreign(pid)

    def add(self, *args, **kw):
        self.scenarios.append(Scenario(*args, **kw))

    def stop(self):
        for pid, start in self._foreign:
            kill_if_same(pid, start)
        for pid, master in self._pty_children:
            os.kill(pid, signal.SIGKILL)   # our own child from pty.fork; its group too
            _killpg(pid)
            os.waitpid(pid, 0)
            os.close(master)
        for proc in self._groups:
            _killpg(proc.pid)              # our child leads the group: the build's compiler too
            proc.wait()
        for proc in self._popen:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        for s in self._sockets:
            s.close()


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


SUBREAPER = """
import ctypes, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(%d, b"tini", 0, 0, 0)          # named like the init it stands in for
libc.prctl(%d, 1, 0, 0, 0)                # adopt orphaned descendants
out = subprocess.run(["setsid", "sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"],
                     capture_output=True, text=True, check=True)
print(out.stdout.strip(), flush=True)
time.sleep(600)
""" % (PR_SET_NAME, PR_SET_CHILD_SUBREAPER)

ECHO_SERVER = """
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
c, _ = s.accept()
while True:
    data = c.recv(64)
    if not data:
        time.sleep(3600)
    c.sendall(data)
"""

DAEMON = """
import os, socket, sys, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
os.chdir("/")
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(3600)
"""

#: A parent that talks to a child over stdio pipes (editor/LSP, agent/MCP),
#: writes the child's pid to argv[2], then waits for its user on the terminal.
STDIO_PARENT = """
import os, subprocess, sys
child = subprocess.Popen([sys.argv[1], "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdin.write(b"Content-Length: 2\\r\\n\\r\\n{}"); child.stdin.flush()
open(sys.argv[2] + ".tmp", "w").write(str(child.pid))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
sys.stdin.read()
"""
STDIO_CHILD = "import sys\nwhile sys.stdin.buffer.read(1):\n    pass\n"

NOTEBOOK_SERVER = """
import os, socket, subprocess, sys, time
http = socket.socket(); http.bind(("127.0.0.1", 0)); http.listen()
kernel = subprocess.Popen([sys.executable, "-m", "ipykernel_launcher", "-f", sys.argv[2] + ".json"],
                          cwd=sys.argv[1], start_new_session=True, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE)
port = int(kernel.stdout.readline())
shell = socket.create_connection(("127.0.0.1", port))
open(sys.argv[2] + ".tmp", "w").write(str(kernel.pid))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
sys.stdin.read()
"""
KERNEL = """
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
c.recv(1)
"""

#: A terminal multiplexer's server (named as tmux names its server): double-forks
#: into its own session, opens a terminal for a pane running argv[2:] (an
#: interactive shell), types argv[1] into it, writes the pane's pid to
#: argv[1] + ".pid", and keeps reading the pane's output as tmux does.
TMUX_SERVER = """
import ctypes, os, pty, select, sys
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
ctypes.CDLL(None).prctl(%d, b"tmux: server", 0, 0, 0)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[3], sys.argv[3:])
os.write(master, sys.argv[2].encode() + b"\\n")
open(sys.argv[1] + ".tmp", "w").write(f"{os.getpid()} {pid}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    select.select([master], [], [], 3600)
    try:
        os.read(master, 4096)
    except OSError:
        os._exit(0)
""" % PR_SET_NAME

#: A job that is busy and makes progress: computes, and writes a line of
#: results to its log every few thousand steps (as a build step, a data job,
#: a training loop do).
BUSY_JOB = """
import sys, time
log = open(sys.argv[1], "a")
step = 0
while True:
    x = 0
    for i in range(20000):
        x += i * i
    step += 1
    log.write(f"step {step} {x}\\n"); log.flush()
"""

#: A worker that wakes every 3 s for 0.3 s of CPU and writes a beat to its log.
BURSTY = """
import sys, time
log = open(sys.argv[1], "a")
while True:
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        pass
    log.write("."); log.flush()
    time.sleep(2.7)
"""

HUNG_PYTEST = """
import subprocess, sys
subprocess.run([sys.executable, "-c", "import time; time.sleep(3600)"])
"""


def _read_pid_file(path: Path) -> int:
    return int(_read_pid_file_text(path))


def _read_pid_file_text(path: Path) -> str:
    wait_for(path.exists, timeout=30)
    return path.read_text()


def _descendant(pid: int | None, comm: str | None) -> int | None:
    """The first child of ``pid`` named ``comm`` (any name: None)."""
    return next((c for c in _children(pid) if comm is None or _comm(c) == comm), None) if pid else None


def _repo(base: Path, name: str) -> Path:
    repo = base / name
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return repo


def _cc1_under(make_pid: int) -> Callable:
    def find(snapshot) -> int | None:
        parent = dict(zip(snapshot["pid"].tolist(), snapshot["ppid"].tolist()))
        for pid, comm in zip(snapshot["pid"].tolist(), snapshot["comm"].tolist()):
            if comm == "cc1":
                up = parent.get(pid)
                while up and up != make_pid:
                    up = parent.get(up)
                if up == make_pid:
                    return pid
        return None
    return find


def build_zoo(zoo: Zoo) -> None:
    sleep, py = shutil.which("sleep"), sys.executable
    tmp = zoo.tmp
    work = _repo(tmp, "project")

    # --- useful -----------------------------------------------------------
    if shutil.which("gcc") and shutil.which("make"):
        source = "\n".join(
            f"double f{i}(double *a, int n) {{ double s = {i}.0; for (int j = 0; j < n; j++) "
            f"{{ s += a[j] * (j % {i % 7 + 2}) / (1.0 + a[(j * {i % 13 + 1}) % n]); }} "
            f"for (int k = 1; k < n; k += 3) s *= (a[k] > 0 ? 1.0001 : 0.9999); return s; }}"
            for i in range(3000))
        (work / "big.c").write_text(source)
        (work / "Makefile").write_text("all:\n\twhile :; do gcc -O2 -c big.c -o big.o; done\n")
        make = zoo.popen(["make", "-s"], group=True, cwd=work, stdout=subprocess.DEVNULL)
        find = _cc1_under(make.pid)
        from pt.collect import collect
        wait_for(lambda: find(collect()) is not None, timeout=30)
        zoo.add("busy compiler under a live build", 0, "useful", find=find)

    zoo.add("idle interactive shell", zoo.on_pty(["bash", "--norc", "-i"]), "useful",
            at_s=(0.0, 6 * HOUR))

    lsp_file = tmp / "lsp.pid"
    editor = zoo.on_pty([zoo.script("nvim", STDIO_PARENT),
                         zoo.script("pyright-langserver", STDIO_CHILD), str(lsp_file)], cwd=work)
    zoo.add("editor on a live terminal", editor, "useful", at_s=(0.0, 6 * HOUR))
    zoo.add("language server of a live editor", _read_pid_file(lsp_file), "useful",
            at_s=(0.0, 6 * HOUR))

    zoo.add("dev server in a live terminal",
            zoo.on_pty([py, "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=work), "useful",
            at_s=(0.0, 3 * HOUR))

    port_file = tmp / "uvicorn.port"
    served = zoo.detached([zoo.script("uvicorn", ECHO_SERVER), str(port_file)], cwd=work)
    client = socket.create_connection(("127.0.0.1", _read_pid_file(port_file)))
    zoo._sockets.append(client)
    client.sendall(b"ping")
    client.recv(4)
    zoo.add("detached server with a live client", served, "useful", at_s=(0.0, 3 * HOUR))

    kernel_dir = tmp / "kernels"
    kernel_dir.mkdir()
    (kernel_dir / "ipykernel_launcher.py").write_text(KERNEL)
    kernel_file = tmp / "kernel.pid"
    notebook = zoo.on_pty([zoo.script("jupyter-lab", NOTEBOOK_SERVER), str(kernel_dir),
                           str(kernel_file)], cwd=work)
    zoo.add("notebook server on a live terminal", notebook, "useful", at_s=(0.0, 6 * HOUR))
    zoo.add("notebook kernel of a live notebook server", zoo.foreign(_read_pid_file(kernel_file)),
            "useful", at_s=(0.0, 6 * HOUR))

    mcp_file = tmp / "mcp.pid"
    agent = zoo.on_pty([zoo.script("claude", STDIO_PARENT),
                        zoo.script("mcp-server-git", STDIO_CHILD), str(mcp_file)], cwd=work)
    zoo.add("coding agent on a terminal", agent, "useful", at_s=(0.0, 3 * HOUR))
    zoo.add("MCP server of a live agent", _read_pid_file(mcp_file), "useful", at_s=(0.0, 3 * HOUR))

    daemon_file = tmp / "daemon.pid"
    subprocess.run([zoo.script("exampled", DAEMON), str(daemon_file)], check=True,
                   stdin=subprocess.DEVNULL)
    zoo.add("init-started daemon (double-forked, cwd /, stdio null, listening)",
            zoo.foreign(_read_pid_file(daemon_file)), "useful", at_s=(0.0, 6 * HOUR))

    # A developer's tmux: the server holds the pane's terminal; the pane's
    # interactive shell runs make, whose job is busy and makes progress.
    (work / "Job.mk").write_text(f"all:\n\t{shlex.join([zoo.script('train', BUSY_JOB), str(tmp / 'job.log')])}\n")
    tmux_file = tmp / "tmux"
    subprocess.run([zoo.script("tmux", TMUX_SERVER), str(tmux_file), "make -s -f Job.mk",
                    "bash", "--norc", "--noprofile", "-i"], check=True, stdin=subprocess.DEVNULL, cwd=work)
    server, pane = (zoo.foreign(int(p)) for p in _read_pid_file_text(tmux_file).split())
    wait_for(lambda: _descendant(pane, "make") and _descendant(_descendant(pane, "make"), None), timeout=30)
    make = _descendant(pane, "make")
    zoo.foreign(make)
    job = zoo.foreign(_descendant(make, None))
    zoo.add("tmux server with a live session", server, "useful", at_s=(0.0, 6 * HOUR))
    zoo.add("idle interactive shell in a tmux pane", pane, "useful", at_s=(0.0, 6 * HOUR))
    zoo.add("make in a tmux pane, its job running", make, "useful", at_s=(0.0, 6 * HOUR))
    zoo.add("busy job with progress under make in a tmux pane", job, "useful",
            at_s=(0.0, 60.0, 3 * HOUR))

    zoo.add("bursty worker of a live parent",
            zoo.popen([py, "-c", BURSTY, str(tmp / "bursty.log")], cwd=work).pid, "useful")

    parent = zoo.popen(["sh", "-c", f"{py} -c 'while True: pass' & wait"])
    wait_for(lambda: _children(parent.pid))
    zoo.foreign(_children(parent.pid)[0])
    zoo.add("parent with an active child", parent.pid, "useful")

    # --- leftovers ----------------------------------------------------------
    for _ in range(2):
        z = zoo.popen([py, "-c", "pass"])
        wait_for(lambda z=z: _state(z.pid) == "Z")
        zoo.add("zombie of a live parent", z.pid, "zombie")

    zoo.add("orphaned idle test runner",
            zoo.detached([zoo.script("pytest", "import time; time.sleep(3600)"), "tests/"], cwd=work),
            "abandoned", at_s=(HOUR,))
    hung = zoo.detached([zoo.script("py.test", HUNG_PYTEST), "-x", "tests/test_hang.py"], cwd=work)
    wait_for(lambda: _children(hung))
    zoo.foreign(_children(hung)[0])      # the hung child it waits on: stopped at the end too
    zoo.add("orphaned hung pytest", hung, "abandoned", at_s=(HOUR,))
    zoo.add("orphaned dev server with no clients",
            zoo.detached([py, "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=work),
            "abandoned", at_s=(6 * HOUR,))

    doomed = _repo(tmp, "worktree-feature-x")
    deleted = zoo.detached([sleep, "3600"], cwd=doomed)
    shutil.rmtree(doomed)
    zoo.add("idle in a deleted worktree", deleted, "abandoned", at_s=(6 * HOUR,))

    stopped = zoo.popen([sleep, "3600"], cwd=work)
    stopped.send_signal(signal.SIGSTOP)
    wait_for(lambda: _state(stopped.pid) == "T")
    zoo.add("forgotten stopped job", stopped.pid, "abandoned", at_s=(6 * HOUR,))

    zoo.add("orphaned runaway spinner", zoo.detached([py, "-c", "while True: pass"], cwd=work),
            "abandoned", at_s=(HOUR,))

    zoo.add("setsid-detached job whose shell exited",
            zoo.detached([sleep, "3600"], cwd=work, leader=True), "abandoned", at_s=(6 * HOUR,))

    for _ in range(2):
        zoo.add("detached idle orphan", zoo.detached([sleep, "3600"]), "abandoned", at_s=(6 * HOUR,))

    reaper = zoo.popen([py, "-c", SUBREAPER], stdout=subprocess.PIPE, text=True)
    adoptee = int(reaper.stdout.readline())
    wait_for(lambda: _ppid(adoptee) == reaper.pid)
    zoo.add("idle adoptee of a subreaper", zoo.foreign(adoptee), "abandoned", at_s=(6 * HOUR,))

    # --- the protected set ----------------------------------------------------
    zoo.add("pid 1", 1, "useful", protected=True)
    zoo.add("pt itself", os.getpid(), "useful", protected=True)
    zoo.add("pt's parent", os.getppid(), "useful", protected=True, at_s=(0.0, 6 * HOUR))
    time.sleep(1.0)   # let the spinners, the compiler and the clients show up in CPU and sockets


def _stat_field(pid: int, index: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[index].decode()


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]


def _state(pid):
    return _stat_field(pid, 0)


def _ppid(pid):
    value = _stat_field(pid, 1)
    return int(value) if value else None


@dataclass
class Verdict:
    scenario: Scenario
    at_s: float
    cls: str
    action: str
    protected_by: str | None
    posterior: np.ndarray


def _verdict(t, s: Scenario, at_s: float) -> Verdict:
    i = s.row(t.snapshot)
    assert i is not None, f"scenario {s.name!r} (pid {s.pid}) not in the scan"
    return Verdict(s, at_s, CLASSES[int(t.inference.log_posterior[i].argmax())],
                   ACTIONS[int(t.decision.action[i])], t.protected_by[i], t.inference.posterior[i])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    zoo = Zoo(tmp_path_factory.mktemp("zoo"))
    try:
        build_zoo(zoo)
        yield zoo
    finally:
        zoo.stop()


@pytest.fixture(scope="module")
def results(zoo):
    times = sorted({at for s in zoo.scenarios for at in s.at_s})
    runs = {at: triage(at_s=at) for at in times}
    verdicts = [_verdict(runs[at], s, at) for s in zoo.scenarios for at in s.at_s]
    flips, pairs = [], 0
    memory = zoo.tmp / "state" / "verdicts"     # remembered as a user's pt scan remembers them
    for at in times:                            # each scenario at the times it is judged
        judged = [s for s in zoo.scenarios if at in s.at_s]
        previous = None
        for _ in range(FLIP_SCANS):
            t = triage(at_s=at, memory=memory)
            actions = [ACTIONS[int(t.decision.action[s.row(t.snapshot)])]
                       if s.row(t.snapshot) is not None else None for s in judged]
            if previous is not None:
                both = [(s.name, a, b) for s, a, b in zip(judged, previous, actions) if a and b]
                pairs += len(both)
                flips += [f"{name} at +{at / HOUR:g}h: {a} -> {b}" for name, a, b in both if a != b]
            previous = actions
    return verdicts, flips, pairs


@pytest.fixture(scope="module")
def portable_results(zoo):
    """The same scenarios judged through the portable (psutil) collector, one
    scan per time: what pt sees where there is no procfs. It sees less (no
    cgroups, stdio targets, foreground group or run-queue delay), so verdicts
    may be weaker; the bar is no false kill and the vetoes intact."""
    pytest.importorskip("psutil")
    times = sorted({at for s in zoo.scenarios for at in s.at_s})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PT_COLLECTOR", "psutil")
        runs = {at: triage(at_s=at) for at in times}
    assert all(t.snapshot.host.collector == "psutil" for t in runs.values())
    return [_verdict(runs[at], s, at) for s in zoo.scenarios for at in s.at_s]


def _named(results, name):
    found = [v for v in results[0] if v.scenario.name == name]
    assert found, name
    return found


USEFUL = ["busy compiler under a live build", "idle interactive shell", "editor on a live terminal",
          "language server of a live editor", "dev server in a live terminal",
          "detached server with a live client", "notebook server on a live terminal",
          "notebook kernel of a live notebook server", "coding agent on a terminal",
          "MCP server of a live agent",
          "init-started daemon (double-forked, cwd /, stdio null, listening)",
          "parent with an active child", "idle interactive shell in a tmux pane", "make in a tmux pane, its job running",
          "busy job with progress under make in a tmux pane", "bursty worker of a live parent"]
LEFTOVERS = ["orphaned idle test runner", "orphaned hung pytest", "orphaned dev server with no clients",
             "idle in a deleted worktree", "forgotten stopped job", "orphaned runaway spinner",
             "setsid-detached job whose shell exited", "detached idle orphan",
             "idle adoptee of a subreaper"]


@pytest.mark.parametrize("name", USEFUL)
def test_useful_work_is_kept(results, name):
    if name == USEFUL[0] and not (shutil.which("gcc") and shutil.which("make")):
        pytest.skip("no gcc/make on this machine")
    for v in _named(results, name):
        assert v.cls == "useful" and v.action == "keep", v


def test_terminal_hosts_with_live_sessions_are_kept_at_any_time(results):
    """A tmux server holding a live pane is user work: a hard veto keeps it
    whatever its evidence says about its age (``--at 6h``)."""
    for v in _named(results, "tmux server with a live session"):
        assert v.protected_by == "hosts live terminal sessions" and v.action == "keep", v


@pytest.mark.parametrize("name", LEFTOVERS)
def test_leftovers_get_an_action(results, name):
    for v in _named(results, name):
        assert v.action != "keep" and v.protected_by is None, v


def test_zombies_are_recognised_and_reaped(results):
    for v in _named(results, "zombie of a live parent"):
        assert v.cls == "zombie" and v.action == "kill", v


@pytest.mark.parametrize("name", ["pid 1", "pt itself", "pt's parent"])
def test_protected_processes_are_only_kept(results, name):
    for v in _named(results, name):
        assert v.protected_by and v.action == "keep", v


def test_confusion_matrix_and_rates_meet_the_bar(results, capsys):
    verdicts, flips, pairs = results
    matrix = np.zeros((4, 4), dtype=int)
    for v in verdicts:
        matrix[CLASSES.index(v.scenario.truth), CLASSES.index(v.cls)] += 1
    useful = [v for v in verdicts if v.scenario.truth == "useful"]
    targets = [v for v in verdicts if v.scenario.truth in ("abandoned", "zombie")]
    false_kills = [v for v in useful if v.action == "kill"]
    false_alarms = [v for v in useful if v.action != "keep"]
    acted = [v for v in targets if v.action != "keep"]
    with capsys.disabled():
        print(f"\nscenario suite as uid {os.geteuid()}, default policy; "
              "confusion matrix (rows: truth, columns: pt's class; one count per judgement)")
        print(" " * 12 + "".join(f"{c:>12}" for c in CLASSES))
        for c, counts in zip(CLASSES, matrix):
            print(f"{c:>12}" + "".join(f"{n:>12}" for n in counts))
        print(f"false kills {len(false_kills)}/{len(useful)}; false alarms {len(false_alarms)}/"
              f"{len(useful)}; capture {len(acted)}/{len(targets)} = {len(acted) / len(targets):.0%}; "
              f"flip rate over {FLIP_SCANS} scans {len(flips)}/{pairs} = {len(flips) / max(pairs, 1):.1%}")
        for flip in flips:
            print(f"  flip: {flip}")
        for v in false_alarms + [v for v in targets if v.action == "keep"]:
            print(f"  miss: {v.scenario.name} at +{v.at_s:.0f}s: {v.cls} -> {v.action} "
                  f"(protected by {v.protected_by}) P={np.round(v.posterior, 3).tolist()}")
        for v in verdicts:
            if v.cls != v.scenario.truth and v not in false_alarms:
                print(f"  class differs: {v.scenario.name} at +{v.at_s:.0f}s: {v.cls} -> {v.action} "
                      f"(protected by {v.protected_by})")
    assert not false_kills
    assert not false_alarms
    assert len(acted) >= 0.95 * len(targets)


def test_portable_collector_never_kills_useful_work(portable_results, capsys):
    useful = [v for v in portable_results if v.scenario.truth == "useful"]
    targets = [v for v in portable_results if v.scenario.truth in ("abandoned", "zombie")]
    acted = [v for v in targets if v.action != "keep"]
    with capsys.disabled():
        print(f"\nscenario suite through psutil (PT_COLLECTOR=psutil): capture {len(acted)}/{len(targets)}; "
              f"useful not kept: {[(v.scenario.name, v.action) for v in useful if v.action != 'keep']}")
    assert useful
    assert not [v for v in useful if v.action == "kill"]


@pytest.mark.parametrize("name", ["pid 1", "pt itself", "pt's parent"])
def test_portable_collector_keeps_the_vetoes(portable_results, name):
    found = [v for v in portable_results if v.scenario.name == name]
    assert found, name
    for v in found:
        assert v.protected_by and v.action == "keep", v
