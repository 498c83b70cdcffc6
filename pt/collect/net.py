"""Sockets of the machine from ``/proc/net``, joined to processes by inode.

``/proc/net/{tcp,tcp6,udp,udp6}`` list every socket of the reader's network
namespace with its state and inode (man 5 proc); ``read_fd_sockets`` gives the
socket inodes each process holds. Joining the two says which processes listen
and which have live connections.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: TCP states (include/net/tcp_states.h) as they appear in /proc/net/tcp.
TCP_ESTABLISHED = 0x01
TCP_LISTEN = 0x0A
#: UDP sockets report 07 (TCP_CLOSE) when unconnected, i.e. bound and serving.
UDP_UNCONNECTED = 0x07

NET_TABLES = ("tcp", "tcp6", "udp", "udp6")


@dataclass(frozen=True)
class SocketTable:
    """One row per inet socket: ``inode`` (uint64), ``proto`` (``"tcp"``...),
    ``state`` (uint8), ``local_port`` and ``remote_port`` (int32)."""

    inode: np.ndarray
    proto: np.ndarray
    state: np.ndarray
    local_port: np.ndarray
    remote_port: np.ndarray

    def tcp(self) -> np.ndarray:
        """Which sockets are TCP (``tcp``, ``tcp6``); by equality, not
        ``np.char`` (whose import, ~2 ms, came after every scan's window)."""
        proto = self.proto.astype(str)
        return (proto == "tcp") | (proto == "tcp6")

    def listening(self) -> np.ndarray:
        """Inodes of sockets that accept traffic: TCP LISTEN and unconnected UDP."""
        tcp = self.tcp()
        mask = (tcp & (self.state == TCP_LISTEN)) | (~tcp & (self.state == UDP_UNCONNECTED))
        return self.inode[mask]

    def established(self) -> np.ndarray:
        """Inodes of TCP connections in ESTABLISHED state."""
        return self.inode[self.tcp() & (self.state == TCP_ESTABLISHED)]


def _parse_table(text: str, proto: str) -> list[tuple]:
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        try:
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            row = (int(parts[9]), proto, int(parts[3], 16), local_port, remote_port)
        except (IndexError, ValueError):
            continue  # a malformed line is skipped, never fatal
        if 0 <= row[0] < 2**64 and 0 <= row[2] < 256 and 0 <= local_port < 65536 and 0 <= remote_port < 65536:
            rows.append(row)                   # else it is out of its field's range: skipped too
    return rows


def read_sockets(root: str | os.PathLike = "/proc") -> SocketTable:
    """All inet sockets in ``<root>/net/{tcp,tcp6,udp,udp6}``; missing tables are empty."""
    rows = []
    for proto in NET_TABLES:
        try:
            text = Path(root, "net", proto).read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        rows.extend(_parse_table(text, proto))
    if not rows:
        empty_i = np.empty(0, np.int32)
        return SocketTable(np.empty(0, np.uint64), np.empty(0, "U4"), np.empty(0, np.uint8),
                           empty_i, empty_i)
    inode, proto, state, lport, rport = zip(*rows)
    return SocketTable(np.array(inode, np.uint64), np.array(proto), np.array(state, np.uint8),
                       np.array(lport, np.int32), np.array(rport, np.int32))


def count_per_process(n_rows: int, socket_row: np.ndarray, socket_inode: np.ndarray,
                      inodes: np.ndarray) -> np.ndarray:
    """How many of each process's socket fds are among ``inodes`` (vectorised)."""
    hit = np.isin(socket_inode, inodes)
    return np.bincount(socket_row[hit], minlength=n_rows).astype(np.int32)
