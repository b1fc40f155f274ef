"""This machine's processes as netmem sees them: the tree under a PID, names, which process listens where (every
holder of a shared socket), and the established connections a process holds (/proc on Linux, psutil elsewhere)."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from ..measuring.sockets import socket_inodes as held_socket_inodes

LISTEN, ESTABLISHED = b"0A", b"01"  # the state column of /proc/net/tcp


def listeners(port: int) -> dict[int | None, str]:
    """Processes listening on TCP `port` on any address: {pid: name}; pid None for ones this user can't see.

    Every holder of a listening socket counts: a pre-fork server's master and workers share one (psutil's
    net_connections names one process per socket, so on Linux the /proc tables are read directly).
    """
    if not sys.platform.startswith("linux"):
        found: dict[int | None, str] = {}
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                found[conn.pid] = process_name(conn.pid) if conn.pid else "a process netmem may not see"
        return found
    inodes = _listening_inodes(port)
    found = {}
    if not inodes:
        return found
    seen: set[bytes] = set()
    for pid in psutil.pids():
        held = socket_inodes(pid) & inodes
        if held:
            found[pid] = process_name(pid)
            seen |= held
    if inodes - seen:
        found[None] = "a process netmem may not see"
    return found


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket of this machine and the process that holds it (for the app's Pick… dialog)."""

    host: str
    port: int
    pid: int | None
    name: str
    cmdline: str

    @property
    def address(self) -> str:
        """Where clients connect: loopback for a socket bound to every address."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def accepts(bound: str, host: str) -> bool:
    """Whether a socket listening at address `bound` takes connections made to `host` (both as text): the same
    address, the IPv4 wildcard for an IPv4 host, or the IPv6 wildcard for any (Linux's dual-stack default)."""
    if bound == host or bound == "::":
        return True
    return bound == "0.0.0.0" and ipaddress.ip_address(host).version == 4


def listening_sockets() -> list[Listener]:
    """Every listening TCP socket of this machine with its process (pid None: one this user can't see), by port.

    On Linux every holder of a shared socket is listed (a pre-fork server's master and workers), from /proc
    read once; elsewhere psutil, which names one process per socket.
    """
    found: list[Listener] = []
    if sys.platform.startswith("linux"):
        sockets = _listening_table()
        holders: dict[bytes, list[int]] = {}
        for pid in psutil.pids():
            for inode in socket_inodes(pid) & sockets.keys():
                holders.setdefault(inode, []).append(pid)
        for inode, (host, port) in sockets.items():
            for pid in holders.get(inode) or [None]:
                info = describe(pid) if pid else {"name": None, "cmdline": None}
                found.append(Listener(host, port, pid, info["name"] or "?", info["cmdline"] or ""))
    else:
        try:
            conns = psutil.net_connections(kind="tcp")
        except psutil.AccessDenied:  # macOS without root: this user's own processes only
            conns = [c for p in psutil.process_iter() for c in _own_connections(p)]
        for conn in conns:
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                info = describe(conn.pid) if conn.pid else {"name": None, "cmdline": None}
                found.append(Listener(conn.laddr.ip, conn.laddr.port, conn.pid, info["name"] or "?",
                                      info["cmdline"] or ""))
    return sorted(set(found), key=lambda x: (x.port, x.host, x.pid or 0))


def _listening_table() -> dict[bytes, tuple[str, int]]:
    """inode -> (host, port) of every listening TCP socket in /proc/net/tcp and tcp6."""
    table: dict[bytes, tuple[str, int]] = {}
    for local, state, inode in _tcp_rows("/proc/net"):
        if state == LISTEN:
            hex_host, hex_port = local.split(b":")
            table[inode] = (_proc_address(hex_host), int(hex_port, 16))
    return table


def _tcp_rows(folder: str) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(local address in hex HOST:PORT, state, inode) of every socket in FOLDER/tcp and tcp6: the one reader of
    the kernel's TCP tables; a table that can't be read gives nothing."""
    for name in ("tcp", "tcp6"):
        try:
            with open(f"{folder}/{name}", "rb") as fh:
                next(fh, None)
                for line in fh:
                    cols = line.split(None, 10)
                    if len(cols) > 9:
                        yield cols[1], cols[3], cols[9]
        except OSError:
            continue


def _proc_address(hex_host: bytes) -> str:
    """An address as /proc/net/tcp writes it (hex, in host byte order per 32-bit word) as text."""
    raw = bytes.fromhex(hex_host.decode())
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
    return str(ipaddress.ip_address(words))


def _own_connections(proc: psutil.Process) -> list[Any]:
    try:
        return [c._replace(pid=proc.pid) if hasattr(c, "_replace") else c for c in proc.net_connections("tcp")]
    except psutil.Error:
        return []


def _listening_inodes(port: int) -> set[bytes]:
    """Inodes of the sockets listening on `port` (in /proc/net/tcp and tcp6)."""
    suffix = b":%04X" % port
    return {inode for local, state, inode in _tcp_rows("/proc/net") if state == LISTEN and local.endswith(suffix)}


def socket_inodes(pid: int) -> set[bytes]:
    """Inodes of the sockets a process holds (empty if unreadable), as the kernel's TCP tables spell them."""
    return {str(inode).encode() for inode in held_socket_inodes([pid])}


def process_name(pid: int) -> str:
    """A process's name, or "?" when it is gone or hidden."""
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return "?"


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (those still alive)."""
    root = psutil.Process(pid)
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def describe(pid: int) -> dict[str, Any]:
    """Name and command line of a process, for the record and the report."""
    try:
        proc = psutil.Process(pid)
        # Not shlex-quoted: servers such as redis rewrite their argv into one title padded with empty strings.
        return {"name": proc.name(), "cmdline": " ".join(a for a in proc.cmdline() if a)}
    except psutil.Error:
        return {"name": None, "cmdline": None}


def established_connections(pids: list[int]) -> int:
    """Established TCP connections held by these processes.

    On Linux: the socket inodes of each process's descriptors (/proc/PID/fd), matched against the established
    entries of /proc/PID/net/tcp and tcp6 (the process's network namespace): a few ms for thousands of sockets,
    where psutil's net_connections walks every process of the machine. Elsewhere, psutil per process.
    """
    if not sys.platform.startswith("linux"):
        return _established_psutil(pids)
    inodes: set[bytes] = set()
    for pid in pids:
        inodes |= socket_inodes(pid)
    if not inodes or not pids:
        return 0
    # The process's own network namespace: a server in a container sees its own tables.
    return sum(state == ESTABLISHED and inode in inodes for _, state, inode in _tcp_rows(f"/proc/{pids[0]}/net"))


def _established_psutil(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += sum(c.status == psutil.CONN_ESTABLISHED for c in psutil.Process(pid).net_connections("tcp"))
        except psutil.Error:
            continue
    return count
