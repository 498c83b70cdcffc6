"""Per-process details: ticks re-read, IO counters, cwd/exe links, sockets."""
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from pt.collect import collect
from pt.collect._procfs import read_fd_sockets, read_io, read_links, read_stat_ticks
from pt.collect.net import count_per_process, read_sockets
from pt.testing import add_proc, make_tree, sleepers, spinner, start_ticks, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


def pids_of(*procs):
    return np.array([p.pid for p in procs], dtype=np.int32)


def test_stat_ticks_follow_a_spinner_and_flag_the_dead():
    with spinner() as busy, sleepers(1) as (idle,):
        pids = pids_of(busy, idle)
        starts = np.array([start_ticks(busy.pid), start_ticks(idle.pid)], dtype=np.uint64)
        first, _, alive = read_stat_ticks("/proc", pids, starts)
        assert alive.all()
        # The spinner gains ticks (however loaded the machine is), the sleeper none.
        wait_for(lambda: read_stat_ticks("/proc", pids, starts)[0][0] - first[0] >= 5)
        second, state, _ = read_stat_ticks("/proc", pids, starts)
        assert second[1] == first[1]
        assert chr(state[1]) == "S"
    _, _, alive = read_stat_ticks("/proc", pids, starts)
    assert not alive.any()                         # both reaped now


def test_stat_ticks_detect_pid_reuse(tmp_path):
    root = make_tree(tmp_path)
    add_proc(root, 10, start=500)
    ticks, _, alive = read_stat_ticks(root, np.array([10, 10], np.int32),
                                      np.array([500, 499], np.uint64))
    assert alive.tolist() == [True, False]
    assert ticks[1] == 0


def test_io_counters_see_a_write(tmp_path):
    target = tmp_path / "out.bin"
    code = f"f = open({str(target)!r}, 'wb'); f.write(b'x' * 1_000_000); f.flush(); import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_for(lambda: target.exists() and target.stat().st_size == 1_000_000)
        io = read_io("/proc", pids_of(proc))
        assert io["wchar"][0] >= 1_000_000
        assert io["syscw"][0] >= 1
        assert io["rchar"][0] > 0
    finally:
        proc.kill()
        proc.wait()
    assert read_io("/proc", pids_of(proc))["wchar"][0] == -1  # gone


def test_io_of_a_fake_tree_and_missing_file(tmp_path):
    root = make_tree(tmp_path)
    d = add_proc(root, 10)
    (d / "io").write_text("rchar: 11\nwchar: 22\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\n"
                          "write_bytes: 8192\ncancelled_write_bytes: 0\n")
    add_proc(root, 11)
    io = read_io(root, np.array([10, 11], np.int32))
    assert [io[k][0] for k in ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")] \
        == [11, 22, 3, 4, 4096, 8192]
    assert all(io[k][1] == -1 for k in io)


def test_cwd_and_exe_links_including_a_deleted_cwd(tmp_path):
    doomed = tmp_path / "doomed"
    doomed.mkdir()
    proc = subprocess.Popen([shutil.which("sleep"), "600"], cwd=doomed)
    try:
        wait_for(lambda: os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep"))
        assert read_links("/proc", pids_of(proc), "cwd")[0] == str(doomed)
        doomed.rmdir()
        assert read_links("/proc", pids_of(proc), "cwd")[0] == f"{doomed} (deleted)"
        assert read_links("/proc", pids_of(proc), "exe")[0] == os.path.realpath(shutil.which("sleep"))
    finally:
        proc.kill()
        proc.wait()
    assert read_links("/proc", pids_of(proc), "cwd")[0] is None


def test_listening_server_and_established_client_are_counted():
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import socket, sys, time\n"
         "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
         "print(s.getsockname()[1], flush=True)\n"
         "c, _ = s.accept(); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        client = socket.create_connection(("127.0.0.1", port))
        try:
            pids = np.array([server.pid, os.getpid()], np.int32)
            table = read_sockets("/proc")

            def counts():
                fd_count, rows, inodes = read_fd_sockets("/proc", pids)
                return (fd_count, count_per_process(2, rows, inodes, read_sockets("/proc").listening()),
                        count_per_process(2, rows, inodes, read_sockets("/proc").established()))

            wait_for(lambda: counts()[2][0] == 1)          # accept() has returned
            fd_count, listening, established = counts()
            assert listening.tolist() == [1, 0]
            assert established.tolist() == [1, 1]          # the server's peer and our client
            assert fd_count[0] >= 5 and fd_count[1] >= 1
            assert port in table.local_port
        finally:
            client.close()
    finally:
        server.kill()
        server.wait()
        server.stdout.close()


def test_socket_table_parser_skips_garbage(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0\n"
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 778 1 0 20 4 30 10 -1\n"
        "   2: garbage line\n")
    (tmp_path / "net" / "udp6").write_text(
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        "  9: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   100        0 999 2 0 0\n")
    table = read_sockets(tmp_path)
    assert table.inode.tolist() == [777, 778, 999]
    assert table.local_port.tolist() == [8080, 8080, 5353]
    assert sorted(table.listening().tolist()) == [777, 999]
    assert table.established().tolist() == [778]
    assert len(read_sockets(tmp_path / "nowhere").inode) == 0


def test_window_measures_cpu_and_io_of_real_processes(tmp_path):
    from pt.collect import observe_window

    target = tmp_path / "w.bin"
    writer_code = ("import time\nf = open(%r, 'wb')\nwhile True:\n"
                   "    f.write(b'x' * 65536); f.flush(); time.sleep(0.01)\n" % str(target))
    writer = subprocess.Popen([sys.executable, "-c", writer_code])
    try:
        with spinner() as busy, sleepers(1) as (idle,):
            wait_for(lambda: target.exists() and target.stat().st_size > 0)
            snap = collect()
            window = observe_window(snap, 0.5)
            rows = {p: np.flatnonzero(snap["pid"] == p)[0] for p in (busy.pid, idle.pid, writer.pid)}
            assert window.duration_s >= 0.5                     # never shorter; load only lengthens it
            assert window.window_ticks == round(window.duration_s * snap.host.clock_ticks)
            # A spinner on a loaded machine gets no fixed share, but some, and a sleeper none.
            assert window.ticks[rows[busy.pid]] > window.ticks[rows[idle.pid]] == 0
            assert window.ticks[rows[busy.pid]] <= window.window_ticks + 1   # one thread: at most one CPU
            assert window.io_write_bytes[rows[writer.pid]] >= 65536
            assert window.io_write_bytes[rows[idle.pid]] == 0
            assert window.alive[list(rows.values())].all()
    finally:
        writer.kill()
        writer.wait()
