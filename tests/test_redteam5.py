"""Red-team findings on what landed last session (the lifecycle sampler, the
incident detectors, pt duck why's target, the watcher's cgroup walk), each a
regression test of its fix.

Recorded reads and fixture trees are built here; the one real tree is ours
and is killed as a group. No process is signalled by pt.
"""
import contextlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pt.collect.snapshot import HostInfo, Snapshot
from pt.infer.incidents import COMMAND_KEY_BYTES, command_key, detect
from pt.testing import add_proc, make_tree, wait_for
from tests.test_incidents_sampler import seeded

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux collector")

#: A command line of ~1 MiB (the kernel allows 2 MiB; one argument at most 128 KiB).
LONG_ARGV = ("worker", *("x" * (100 * 1024) for _ in range(10)))


def _raw(argv) -> bytes:
    return b"".join(a.encode() + b"\0" for a in argv)


@linux
def test_the_sampler_keeps_a_bounded_command_line_per_birth_and_one_copy_per_command(tmp_path):
    """Lives accumulate for the whole watch, and a fork loop's children share
    its argv: the sampler kept each birth's whole command line (up to 1 MiB),
    so ``pt incidents --window 10`` beside a fork loop with a 1 MiB argv
    (30 ms children) peaked at 304 MB instead of 62 MB, and a 60 s window or a
    fork bomb grows to gigabytes. Now a birth keeps the first 4 KiB, one copy
    per command line, and the respawn detector keys commands on as many bytes,
    so a life read whole by the seed and one born later are the same command."""
    root = make_tree(tmp_path / "proc")
    add_proc(root, 1, b"init", ppid=0, start=1)
    add_proc(root, 10, b"sup", start=100)
    add_proc(root, 11, b"worker", ppid=10, start=200, cmdline=_raw(LONG_ARGV))
    first, sampler = seeded(root)
    for pid in range(20, 30):
        add_proc(root, pid, b"worker", ppid=10, start=300 + pid, cmdline=_raw(LONG_ARGV))
    add_proc(root, 30, b"other", ppid=10, start=400, cmdline=_raw(("other", "y" * 8192)))
    sampler.tick()
    cols = sampler.lives()
    argv = dict(zip(cols["pid"].tolist(), cols["cmdline"]))
    assert argv[11] == LONG_ARGV                                      # the seed's, read whole
    born = [argv[pid] for pid in range(20, 30)]
    assert all(a is born[0] for a in born)                           # one copy for one command
    assert len(_raw(born[0])) <= COMMAND_KEY_BYTES + 1 and born[0][0] == "worker"
    assert LONG_ARGV[1].startswith(born[0][1])
    assert command_key(born[0]) == command_key(LONG_ARGV)            # the same command both ways
    assert command_key(argv[30]) != command_key(LONG_ARGV)
    assert argv[30][0] == "other" and len(_raw(argv[30])) <= COMMAND_KEY_BYTES + 1


def test_command_keys_of_a_cut_command_line_match_wherever_the_cut_falls():
    """The sampler's cut can fall inside an argument or just after its NUL."""
    for size in (COMMAND_KEY_BYTES - 2, COMMAND_KEY_BYTES - 1, COMMAND_KEY_BYTES, COMMAND_KEY_BYTES + 1):
        argv = ("cmd", "a" * (size - 5), "tail", "more")               # "cmd\0" + the first argument + "\0"
        raw = _raw(argv)[:COMMAND_KEY_BYTES]
        cut = tuple(raw.rstrip(b"\0").decode().split("\0"))          # what split_argv makes of the cut
        assert command_key(cut) == command_key(argv), size
    for pad in range(COMMAND_KEY_BYTES - 16, COMMAND_KEY_BYTES):       # the cut splits a 3-byte character
        argv = ("cmd", "a" * pad + "\u65e5\u672c\u8a9e")
        raw = _raw(argv)[:COMMAND_KEY_BYTES]
        cut = tuple(raw.rstrip(b"\0").decode("utf-8", "backslashreplace").split("\0"))
        assert command_key(cut) == command_key(argv), pad
    assert command_key(None) == -1 and command_key(()) != command_key(None)
    assert command_key(("a", "b")) != command_key(("a", "c"))


@linux
def test_a_real_fork_loop_with_a_long_command_line_costs_the_sampler_little():
    from pt.collect import collect
    from pt.collect._lifecycle import LifeSampler
    loop = ("import os, time\nprint('ready', flush=True)\nwhile True:\n    if os.fork() == 0:\n"
            "        time.sleep(0.05); os._exit(0)\n    os.wait()\n")
    proc = subprocess.Popen([sys.executable, "-c", loop, *LONG_ARGV[1:]], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        first = collect()
        sampler = LifeSampler(b"/proc")
        sampler.seed(first["pid"], first["ppid"], first["start_ticks"], first["kernel_thread"], first["comm"],
                     first["cmdline"], first.host.monotonic)

        def children():
            sampler.tick()
            cols = sampler.lives()
            return [a for p, r, a in zip(cols["ppid"].tolist(), cols["row0"].tolist(), cols["cmdline"])
                    if p == proc.pid and r < 0 and a]                # born after the seed (whose argv is whole)
        wait_for(lambda: len(children()) >= 3, timeout=60, interval=0.02)
        kids = children()
        assert all(len(_raw(a)) <= COMMAND_KEY_BYTES + 1 for a in kids)
        assert len({id(a) for a in kids}) == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()


# --- a fork storm that is one process's fan-out ------------------------------------------

def _host(t: float) -> HostInfo:
    return HostInfo("h", "linux", "k", "boot", 1000.0, 100.0 + t, 2000.0 + t, 50.0 + t, 100, 4096, 2)


def _read(t: float, rows: list[tuple]) -> Snapshot:
    """A read at ``t`` seconds: rows of (pid, ppid, start_s, argv)."""
    pid, ppid, start, argv = zip(*rows)
    cmd = np.empty(len(rows), dtype=object)
    cmd[:] = [tuple(a) for a in argv]
    return Snapshot(_host(t), {
        "pid": np.array(pid, dtype=np.int32), "ppid": np.array(ppid, dtype=np.int32),
        "start_ticks": np.round(np.array(start, dtype=float) * 100).astype(np.uint64),
        "kernel_thread": np.zeros(len(rows), dtype=bool),
        "comm": np.array([a[0] for a in argv], dtype=object), "cmdline": cmd})


def test_one_recent_process_fanning_out_is_no_fork_storm_of_its_parent():
    """An old, idle parent (a shell, a CI runner, a supervisor) started one
    job half a second ago; the job runs 20 short commands a second, one at a
    time, none of which has a child. That is the job's flood (throttle the
    job), not a storm propagating itself: the anchor's own fan-out is
    already excluded, a fan-out one generation lower should be too. Seen
    live: a sleeping parent that started one fork loop during ``pt
    incidents`` got fork_storm, offspring mean 41, remedy 'pause' on its
    whole tree (its shell's, its runner's)."""
    reads = []
    for k in range(30):                       # a read every 0.1 s for 3 s
        t = k * 0.1
        rows = [(1, 0, 1.0, ["init"]), (10, 1, 50.0, ["runner"]), (20, 10, 99.5, ["job"])]
        rows += [(100 + 2 * k + j, 20, 100.0 + t - 0.03 * j, ["true"]) for j in range(2)]
        reads.append(_read(t, rows))
    found = detect(reads)
    assert any(i.kind in ("short_job_flood", "respawn_loop") and i.pid == 20 for i in found), found
    assert not [i for i in found if i.kind == "fork_storm"], found


# --- pt duck why's target -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["1_0", "\u0663", "+10", " 1_0:5", "10:5_0", "10:-5", "-5", "1e3"])
def test_a_why_target_is_ascii_digits_or_a_clear_error(text):
    """``pt duck why 1_0`` reported pid 10's decision and ``pt duck why ٣``
    (Arabic-Indic three) pid 3's: int() reads underscores and other scripts'
    digits, while the identity form BOOT:START:PID already refused them."""
    from pt.telemetry.duck import parse_target
    with pytest.raises(ValueError, match="why wants PID"):
        parse_target(text)


def test_a_why_target_in_each_of_its_forms():
    from pt.telemetry.duck import parse_target
    assert parse_target(" 10 ") == {"pid": 10, "start": None, "boot": None}
    assert parse_target("10:5") == {"pid": 10, "start": 5, "boot": None}
    assert parse_target("b-1:5:10") == {"pid": 10, "start": 5, "boot": "b-1"}


# --- the watcher's cgroup walk ------------------------------------------------------------

def test_a_user_flood_of_limited_cgroups_cannot_hide_a_containers_processes(tmp_path):
    """The breadth-first walk (last session) keeps a user's 2,500 plain
    cgroups from hiding a container. But a user may set memory.max in its
    own delegated subtree too: with MAX_DIRS limited cgroups of the user's,
    the container's share is 1 directory, so a container (or a Kubernetes
    pod) whose processes live in child cgroups (cgroup v2 allows no
    processes in an inner node with controllers enabled) is listed with
    none of them: its forecast could propose no rescue within it. The
    watcher now also places each process by the unified cgroup path it
    reads with the process (cgroup.members), which no cgroup count bounds."""
    from pt.watch import cgroup
    from tests.test_watch_cgroup import MB, v2_group, v2_tree
    root = v2_tree(tmp_path)
    v2_group(root, "system.slice/docker-1.scope", limit=256 * MB, current=100 * MB)
    v2_group(root, "system.slice/docker-1.scope/init", pids=(42,))
    v2_group(root, "system.slice/docker-1.scope/app", pids=(43,))
    for i in range(cgroup.MAX_DIRS):
        v2_group(root, f"user.slice/user@1000.service/g{i}", limit=32 * MB, current=MB)
    groups = {g.path: g for g in cgroup.limited_cgroups(str(root))}
    docker = groups["/system.slice/docker-1.scope"]
    assert len(docker.pids) < 2                                   # the walk's share: its own directory
    pids = np.array([42, 43, 50, 51], dtype=np.int32)
    paths = np.array(["/system.slice/docker-1.scope/init", "/system.slice/docker-1.scope/app",
                      "/user.slice/user@1000.service/g7", None], dtype=object)
    index = cgroup.ancestor_rows(paths)
    assert cgroup.members(docker, pids, index).tolist() == [True, True, False, False]
    assert cgroup.members(groups["/user.slice/user@1000.service/g7"], pids, index).tolist() == [False, False, True,
                                                                                                False]
