"""Decision quality on real processes: pt's verdicts on a zoo of scenarios.

One module-scoped fixture starts every scenario at once (zombies, orphans, a
subreaper's adoptee, a spinner on a pty, a server with a live client, an
interactive shell, a deleted cwd, a stopped process, a busy parent), then pt
triages the whole machine twice: now, and as if six more hours passed
(``--at +6h``, for the verdicts that need age). Every scenario process was
started here and is killed here; nothing else is signalled.

The bar (issue 3): zero kill recommendations for useful or protected
processes, and at least 90% of the abandoned and zombie scenarios recommended
for some action. The confusion matrix is printed at the end.
"""
from __future__ import annotations

import dataclasses
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from pt.config import ACTIONS, CLASSES, load_policy
from pt.testing import kill_if_same, spawn_detached, start_ticks, wait_for
from pt.triage import triage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")

SIX_HOURS = 6 * 3600.0
PR_SET_NAME, PR_SET_CHILD_SUBREAPER = 15, 36


@dataclass
class Scenario:
    name: str
    pid: int
    truth: str          # the class a careful human would give it
    at_s: float = 0.0   # evaluate this long in the future (age-dependent verdicts)
    protected: bool = False


class Zoo:
    """Starts scenario processes and remembers how to stop each of them."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.scenarios: list[Scenario] = []
        self._popen: list[subprocess.Popen] = []
        self._pty_children: list[tuple[int, int]] = []
        self._foreign: list[tuple[int, int]] = []   # (pid, start_ticks): not our children
        self._sockets: list[socket.socket] = []

    def popen(self, argv, **kw) -> subprocess.Popen:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self._popen.append(proc)
        return proc

    def detached(self, cwd=None) -> int:
        pid, start = spawn_detached(cwd)
        self._foreign.append((pid, start))
        return pid

    def foreign(self, pid: int) -> int:
        """Stop ``pid`` at the end too: a process we started but cannot reap."""
        self._foreign.append((pid, start_ticks(pid)))
        return pid

    def on_pty(self, argv) -> int:
        pid, master = pty.fork()
        if pid == 0:
            os.execvp(argv[0], argv)
        self._pty_children.append((pid, master))
        return pid

    def add(self, *args, **kw):
        self.scenarios.append(Scenario(*args, **kw))

    def stop(self):
        for pid, start in self._foreign:
            kill_if_same(pid, start)
        for pid, master in self._pty_children:
            os.kill(pid, signal.SIGKILL)   # our own child from pty.fork
            os.waitpid(pid, 0)
            os.close(master)
        for proc in self._popen:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        for s in self._sockets:
            s.close()


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

SERVER = """
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
while True:
    data = c.recv(64)
    if data:
        c.sendall(data)
    time.sleep(0.05)
"""


def build_zoo(zoo: Zoo) -> None:
    sleep = shutil.which("sleep")

    # Zombies: children that exited and whose parent never reaps them.
    for _ in range(2):
        z = zoo.popen([sys.executable, "-c", "pass"])
        wait_for(lambda z=z: _state(z.pid) == "Z")
        zoo.add("zombie child", z.pid, "zombie")

    # Detached idle orphans: setsid + background + parent exits; no tty.
    for _ in range(2):
        zoo.add("detached idle orphan", zoo.detached(), "abandoned", at_s=SIX_HOURS)

    # An idle process adopted by a subreaper after its session went away.
    reaper = zoo.popen([sys.executable, "-c", SUBREAPER], stdout=subprocess.PIPE, text=True)
    adoptee = int(reaper.stdout.readline())
    wait_for(lambda: _ppid(adoptee) == reaper.pid)
    zoo.add("idle adoptee of a subreaper", zoo.foreign(adoptee), "abandoned", at_s=SIX_HOURS)

    # A process whose working directory was deleted under it.
    doomed = zoo.tmp / "deleted-checkout"
    doomed.mkdir()
    deleted = zoo.detached(cwd=doomed)
    doomed.rmdir()
    zoo.add("orphan in a deleted cwd", deleted, "abandoned", at_s=SIX_HOURS)

    # A stopped (SIGSTOP) leftover.
    stopped = zoo.popen([sleep, "600"])
    stopped.send_signal(signal.SIGSTOP)
    wait_for(lambda: _state(stopped.pid) == "T")
    zoo.add("stopped process", stopped.pid, "abandoned", at_s=SIX_HOURS)

    # A busy spinner on a live pty: useful work that hogs a CPU.
    zoo.add("busy spinner on a pty", zoo.on_pty([sys.executable, "-c", "while True: pass"]), "useful_bad")

    # A listening server with a live client.
    server = zoo.popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    client = socket.create_connection(("127.0.0.1", int(server.stdout.readline())))
    zoo._sockets.append(client)
    client.sendall(b"ping")
    zoo.add("server with a live client", server.pid, "useful", at_s=SIX_HOURS)

    # An interactive shell on a pty.
    zoo.add("interactive shell on a pty", zoo.on_pty(["bash", "--norc", "-i"]), "useful", at_s=SIX_HOURS)

    # A parent whose child is doing work.
    parent = zoo.popen(["sh", "-c", f"{sys.executable} -c 'while True: pass' & wait"])
    wait_for(lambda: _children(parent.pid))
    zoo.foreign(_children(parent.pid)[0])   # a grandchild: killing sh would orphan it
    zoo.add("parent with an active child", parent.pid, "useful")

    # The protected set.
    zoo.add("pid 1", 1, "useful", protected=True)
    zoo.add("pt itself", os.getpid(), "useful", protected=True)
    zoo.add("pt's parent", os.getppid(), "useful", protected=True, at_s=SIX_HOURS)
    time.sleep(0.5)   # let the spinners and the server's client show up in CPU and sockets


def _stat_field(pid: int, index: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()[index].decode()


def _children(pid: int) -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]


def _state(pid):
    return _stat_field(pid, 0)


def _ppid(pid):
    value = _stat_field(pid, 1)
    return int(value) if value else None


def developer_policy():
    """The default policy, as pt runs for a developer's own processes. Run as
    root (CI here), pt protects every root-owned process as a system service
    by default, and the suite's processes are root's; allowing system
    services puts them back in play, as a developer's own are."""
    policy = load_policy()
    return dataclasses.replace(policy, allow_system_services=True) if os.geteuid() == 0 else policy


@dataclass
class Verdict:
    scenario: Scenario
    cls: str
    action: str
    protected_by: str | None
    posterior: np.ndarray


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    zoo = Zoo(tmp_path_factory.mktemp("zoo"))
    try:
        build_zoo(zoo)
        runs = {at: triage(at_s=at, policy=developer_policy())
                for at in sorted({s.at_s for s in zoo.scenarios})}
        out = {}
        for s in zoo.scenarios:
            t = runs[s.at_s]
            row = np.flatnonzero(t.snapshot["pid"] == s.pid)
            assert len(row) == 1, f"scenario {s.name!r} (pid {s.pid}) not in the scan"
            i = int(row[0])
            out[s.name, s.pid] = Verdict(s, CLASSES[int(t.inference.log_posterior[i].argmax())],
                                         ACTIONS[int(t.decision.action[i])], t.protected_by[i],
                                         t.inference.posterior[i])
        yield out
    finally:
        zoo.stop()


def _by_name(verdicts, name):
    found = [v for (n, _), v in verdicts.items() if n == name]
    assert found, name
    return found


def test_zombies_are_recognised_and_reaped(verdicts):
    for v in _by_name(verdicts, "zombie child"):
        assert v.cls == "zombie" and v.action == "kill", v


@pytest.mark.parametrize("name", ["detached idle orphan", "idle adoptee of a subreaper",
                                  "orphan in a deleted cwd", "stopped process"])
def test_abandoned_scenarios_get_an_action(verdicts, name):
    for v in _by_name(verdicts, name):
        assert v.action != "keep", v
        assert v.cls == "abandoned", v


def test_busy_spinner_is_useful_bad_and_not_killed(verdicts):
    (v,) = _by_name(verdicts, "busy spinner on a pty")
    # Its class follows the CPU share it got in the window, which the machine's load decides;
    # at any load it is live work on a live terminal: never abandoned, paused, restarted or killed.
    assert v.cls in ("useful", "useful_bad") and v.action in ("keep", "renice", "throttle", "quarantine"), v


@pytest.mark.parametrize("name", ["server with a live client", "interactive shell on a pty",
                                  "parent with an active child"])
def test_useful_scenarios_are_kept(verdicts, name):
    (v,) = _by_name(verdicts, name)
    assert v.cls == "useful" and v.action == "keep", v


@pytest.mark.parametrize("name", ["pid 1", "pt itself", "pt's parent"])
def test_protected_processes_are_only_kept(verdicts, name):
    (v,) = _by_name(verdicts, name)
    assert v.protected_by and v.action == "keep", v


def test_confusion_matrix_meets_the_bar(verdicts, capsys):
    truths = [v.scenario.truth for v in verdicts.values()]
    predicted = [v.cls for v in verdicts.values()]
    matrix = np.zeros((4, 4), dtype=int)
    for t, p in zip(truths, predicted):
        matrix[CLASSES.index(t), CLASSES.index(p)] += 1
    false_kills = [v for v in verdicts.values()
                   if v.action == "kill" and (v.scenario.truth == "useful" or v.scenario.protected)]
    targets = [v for v in verdicts.values() if v.scenario.truth in ("abandoned", "zombie")]
    acted = sum(v.action != "keep" for v in targets)
    with capsys.disabled():
        print("\nscenario confusion matrix (rows: truth, columns: pt's class)")
        print(" " * 12 + "".join(f"{c:>12}" for c in CLASSES))
        for c, counts in zip(CLASSES, matrix):
            print(f"{c:>12}" + "".join(f"{n:>12}" for n in counts))
        print(f"false kills: {len(false_kills)}; abandoned/zombie scenarios acted on: "
              f"{acted}/{len(targets)}")
    assert not false_kills
    assert acted >= 0.9 * len(targets)
