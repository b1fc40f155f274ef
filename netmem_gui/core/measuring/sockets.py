"""Kernel memory of a process's own TCP sockets (Linux: netlink sock_diag with SKMEMINFO), read by PID.

Why netlink and not `ss -tmH` parsed: `ss` is itself a client of the same netlink call, so asking the kernel
directly gives the same figures without starting a process per sample (a few ms and a fork of the profiler's
memory each time), without depending on iproute2 being installed or on the layout of its output, which has
changed between versions. `ss` stays the reference the tests check these figures against.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Callable

NOT_AVAILABLE = "not available on this system (Linux only: netlink sock_diag)"

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_INET_DIAG_SKMEMINFO = 7
_TCP_LISTEN = 10
_ALL_BUT_LISTEN = 0xFFFFFFFF & ~(1 << _TCP_LISTEN)  # a listener's "queue" is its accept backlog, not bytes
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_REQUEST = struct.Struct("=BBBxI48x")  # inet_diag_req_v2: family, protocol, ext, states, an empty sockid
# inet_diag_msg: family, state, timer, retrans, the socket id, expires, rqueue, wqueue, uid, inode
_MESSAGE = struct.Struct("=BBBB48xIIIII")
_ATTRIBUTE = struct.Struct("=HH")  # rtattr: len, type
# SK_MEMINFO_* indexes in the SKMEMINFO attribute (ss's skmem:(r, rb, t, tb, f, w, o, bl, d)).
_RMEM_ALLOC, _WMEM_QUEUED = 0, 5


def available() -> str | None:
    """None when kernel socket memory can be read here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return NOT_AVAILABLE
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG).close()
    except (OSError, AttributeError) as exc:
        return f"not available: netlink sock_diag can't be opened ({exc})"
    return None


def socket_inodes(pids: list[int]) -> set[int]:
    """Inodes of the sockets these processes hold (their /proc/PID/fd links; the netlink dump names sockets by
    inode as a number). The one reader of them: targets.processes spells them as the TCP tables do."""
    inodes: set[int] = set()
    for pid in pids:
        try:
            with os.scandir(f"/proc/{pid}/fd") as entries:
                for entry in entries:
                    try:
                        link = os.readlink(entry.path)
                    except OSError:
                        continue
                    if link.startswith("socket:["):
                        inodes.add(int(link[8:-1]))
        except OSError:
            continue
    return inodes


def tcp_sockets() -> dict[int, tuple[int, int, int, int]]:
    """Every TCP socket of this network namespace but listeners: {inode: (receive queue bytes, send queue bytes,
    receive memory, send memory)}; the memories are SKMEMINFO's rmem_alloc and wmem_queued (buffers' true size,
    their overhead included), the queues the bytes waiting (unread; unsent or unacknowledged)."""
    found: dict[int, tuple[int, int, int, int]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(2.0)
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            body = _REQUEST.pack(family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_SKMEMINFO - 1), _ALL_BUT_LISTEN)
            nl.send(_HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST | _NLM_F_DUMP, seq, 0)
                    + body)
            _read_dump(nl, found)
    return found


def _read_dump(nl: socket.socket, found: dict[int, tuple[int, int, int, int]]) -> None:
    while True:
        data = nl.recv(1 << 16)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                return
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                raise OSError("netlink sock_diag answered with an error")
            start = offset + _HEADER.size
            _, _, _, _, _, rqueue, wqueue, _, inode = _MESSAGE.unpack_from(data, start)
            rmem = wmem = 0
            at = start + _MESSAGE.size
            while at + _ATTRIBUTE.size <= offset + length:
                size, kind = _ATTRIBUTE.unpack_from(data, at)
                if size < _ATTRIBUTE.size:
                    break
                if kind == _INET_DIAG_SKMEMINFO and size >= _ATTRIBUTE.size + 24:
                    values = struct.unpack_from(f"={(size - _ATTRIBUTE.size) // 4}I", data, at + _ATTRIBUTE.size)
                    rmem, wmem = values[_RMEM_ALLOC], values[_WMEM_QUEUED]
                at += (size + 3) & ~3
            found[inode] = (rqueue, wqueue, rmem, wmem)
            offset += (length + 3) & ~3


def read(pids: list[int]) -> tuple[int, int, int, int, int]:
    """The kernel's share of these processes' TCP sockets now: (sockets, receive queue bytes, send queue bytes,
    receive memory, send memory)."""
    held = socket_inodes(pids)
    rows = [row for inode, row in tcp_sockets().items() if inode in held]
    return (len(rows), *(sum(r[i] for r in rows) for i in range(4)))  # type: ignore[return-value]


def process_tree(pid: int, children: bool) -> Callable[[], list[int]]:
    """The processes whose sockets count: `pid`, and with `children` its descendants as they are at each reading."""
    import psutil

    def pids() -> list[int]:
        if pid <= 0:
            return []  # no process of this machine (a server read through Prometheus)
        if not children:
            return [pid]
        return [pid, *(p.pid for p in psutil.Process(pid).children(recursive=True))]
    return pids
