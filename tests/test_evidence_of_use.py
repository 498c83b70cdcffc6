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
