"""Orphans, subreapers, sessions and terminals from real processes and fake trees."""
import os
import pty
import sys

import numpy as np
import pytest

from pt.collect import collect
from pt.features.genealogy import genealogy, rows_of
from pt.testing import add_proc, kill_if_same, make_tree, sleepers, spawn_detached, start_ticks, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


def facts(snap, pid):
    g = genealogy(snap)
    row = int(rows_of(snap, np.array([pid]))[0])
    assert row >= 0, f"pid {pid} not in snapshot"
    return {name: getattr(g, name)[row] for name in g.__dataclass_fields__}


def test_own_child_is_not_orphaned_and_is_counted():
    with sleepers(2) as procs:
        snap = collect()
        child = facts(snap, procs[0].pid)
        me = facts(snap, os.getpid())
    assert not child["orphaned"] and not child["parent_is_reaper"]
    assert child["parent_row"] == rows_of(snap, np.array([os.getpid()]))[0]
    assert me["children"] >= 2


def test_double_fork_setsid_orphan_is_orphaned():
    pid, start = spawn_detached()
    try:
        f = facts(collect(), pid)
        assert f["parent_is_reaper"] and not f["session_leader"] and not f["session_alive"]
        assert f["orphaned"] and not f["has_tty"]
    finally:
        kill_if_same(pid, start)


def test_process_on_a_live_pty_has_a_live_foreground_tty():
    pid, master = pty.fork()
    if pid == 0:  # child: a session leader on the new pty, sleeping
        os.execvp("sleep", ["sleep", "600"])
    try:
        wait_for(lambda: start_ticks(pid) is not None and os.readlink(f"/proc/{pid}/exe").endswith("sleep"))
        f = facts(collect(), pid)
        assert f["has_tty"] and f["tty_alive"] and f["foreground"] and f["session_leader"]
        assert not f["orphaned"]
    finally:
        os.kill(pid, 9)  # our own child from pty.fork
        os.waitpid(pid, 0)
        os.close(master)


def test_subreapers_and_sessions_in_a_fake_tree(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 1, b"systemd", ppid=0, sid=1, cmdline=b"/sbin/init\x00")
    add_proc(root, 50, b"systemd", ppid=1, sid=50, cmdline=b"/usr/lib/systemd/systemd\x00--user\x00")
    add_proc(root, 60, b"tmux: server", ppid=1, sid=60, cmdline=b"tmux\x00")
    add_proc(root, 61, b"bash", ppid=60, sid=61, cmdline=b"-bash\x00")           # a live pane shell
    add_proc(root, 70, b"node", ppid=50, sid=65, cmdline=b"node\x00dev.js\x00")  # its shell is gone
    add_proc(root, 80, b"vite", ppid=60, sid=66, cmdline=b"vite\x00")            # adopted by tmux
    add_proc(root, 90, b"sleep", ppid=61, sid=61, cmdline=b"sleep\x009\x00")     # a normal child
    snap = collect(root)
    assert facts(snap, 70)["orphaned"] and facts(snap, 70)["parent_is_reaper"]
    assert facts(snap, 80)["orphaned"]
    assert not facts(snap, 61)["orphaned"] and facts(snap, 61)["parent_is_reaper"]
    assert not facts(snap, 90)["orphaned"] and not facts(snap, 90)["parent_is_reaper"]
    assert facts(snap, 61)["children"] == 1 and facts(snap, 60)["children"] == 2


def test_rows_of_handles_absent_and_empty():
    snap = collect()
    rows = rows_of(snap, np.array([os.getpid(), -5, 2**31 - 1]))
    assert snap["pid"][rows[0]] == os.getpid() and rows[1] == -1 and rows[2] == -1
    assert rows_of(snap.take(np.zeros(len(snap), bool)), np.array([1])).tolist() == [-1]


def test_setsid_job_whose_shell_exited_is_orphaned(tmp_path):
    import subprocess
    out = subprocess.run(["sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    pid = int(out.stdout)
    start = start_ticks(pid)
    try:
        wait_for(lambda: facts(collect(), pid)["session_leader"])
        f = facts(collect(), pid)
        assert f["parent_is_reaper"] and f["session_leader"] and not f["has_tty"] and f["orphaned"]
    finally:
        kill_if_same(pid, start)


def test_init_session_and_terminal_leaders_are_not_orphans(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 1, b"init", ppid=0, sid=1, tty_nr=0)
    add_proc(root, 50, b"agentd", ppid=1, sid=1, tty_nr=0)                 # started by init, its session
    add_proc(root, 60, b"tmux: server", ppid=1, sid=60, tty_nr=0)
    add_proc(root, 70, b"bash", ppid=60, sid=70, tty_nr=34817)              # a tmux pane's shell
    add_proc(root, 80, b"node", ppid=1, sid=80, tty_nr=0)                   # setsid node & ; shell gone
    g = genealogy(collect(root))
    snap = collect(root)
    orphaned = dict(zip(snap["pid"].tolist(), g.orphaned.tolist()))
    assert not orphaned[50] and not orphaned[70] and not orphaned[1] and orphaned[80]
