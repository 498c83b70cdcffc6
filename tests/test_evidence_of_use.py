"""Evidence of use and of service shape, on hand-made socket tables and columns."""
import numpy as np

from pt.collect.net import TCP_ESTABLISHED, TCP_LISTEN, SocketTable
from pt.features.quick import daemon_shape, serving_counts


def table(rows):
    inode, proto, state, lport, rport = zip(*rows)
    return SocketTable(np.array(inode, np.uint64), np.array(proto), np.array(state, np.uint8),
                       np.array(lport, np.int32), np.array(rport, np.int32))


def test_a_client_on_its_own_port_is_serving_an_outgoing_connection_is_not():
    sockets = table([(10, "tcp", TCP_LISTEN, 8000, 0),            # process 0 listens on 8000
                     (11, "tcp", TCP_ESTABLISHED, 8000, 50000),   # ... and accepted a client
                     (12, "tcp", TCP_ESTABLISHED, 50000, 8000),   # process 1: the client side
                     (13, "tcp", TCP_LISTEN, 9000, 0),            # process 1 listens on 9000 too
                     (14, "tcp6", TCP_ESTABLISHED, 40000, 443)])  # process 2: outgoing only
    rows = np.array([0, 0, 1, 1, 2, 3], np.int32)
    inodes = np.array([10, 11, 12, 13, 14, 99], np.uint64)       # 99: not an inet socket
    assert serving_counts(4, rows, inodes, sockets).tolist() == [1, 0, 0, 0]
    assert serving_counts(2, np.empty(0, np.int32), np.empty(0, np.uint64), sockets).tolist() == [0, 0]


def test_daemon_shape_needs_root_cwd_null_stdio_no_terminal_and_unreadable_is_unknown():
    cwd = np.array(["/", "/", "/home/a/repo", "/", None, "/"], dtype=object)
    null = np.array([1, 1, 1, 0, 1, -1], np.int8)
    listening = np.array([1, 0, 1, 1, 1, 1])
    tty = np.zeros(6, bool)
    assert daemon_shape(cwd, null, listening, tty).tolist() == [2, 1, 0, 0, -1, -1]
    assert daemon_shape(cwd[:1], null[:1], listening[:1], np.ones(1, bool)).tolist() == [0]


def test_terminal_activity_bins_and_ages_with_at():
    from pt.infer.posterior import Evidence
    n = 4
    ev = Evidence(**{k: np.zeros(n, np.int64) for k in ("cpu_ticks", "window_ticks", "orphaned", "io_active",
                                                        "cpu_lifetime", "tty", "state", "command", "cwd",
                                                        "children", "network")},
                  age_s=np.full(n, 100.0), tty_idle_s=np.array([np.nan, 10.0, 7200.0, 2e5]))
    assert ev.activity.tolist() == [-1, 0, 1, 2]
    assert ev.later(86400.0).activity.tolist() == [-1, 2, 2, 2]


def test_terminal_idle_time_is_read_from_the_device():
    import os
    import time

    from pt.features.quick import tty_idle_seconds
    master, slave = os.openpty()
    try:
        rdev = os.fstat(slave).st_rdev
        major, minor = os.major(rdev), os.minor(rdev)
        tty_nr = (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)    # new_encode_dev
        idle = tty_idle_seconds(np.array([0, tty_nr], np.int32), time.time())
        assert np.isnan(idle[0]) and 0 <= idle[1] < 3600
    finally:
        os.close(master)
        os.close(slave)
