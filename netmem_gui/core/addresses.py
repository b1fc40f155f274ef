"""Addresses of a target: HOST:PORT parsed, the check that a host is this machine, a free port to start on."""

from __future__ import annotations

import ipaddress
import socket

import psutil

from .config import TargetError


def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) to (host, port); TargetError in one line for anything else."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not (port_text.isascii() and port_text.isdigit()):
        raise TargetError(f"--address {text!r}: give HOST:PORT, such as 127.0.0.1:6379 or [::1]:6379")
    port = int(port_text)
    if not 0 < port < 65536:
        raise TargetError(f"--address {text!r}: port {port} is not between 1 and 65535")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        host = "127.0.0.1"
    return host, port


def local_addresses() -> set[str]:
    """Every address of this machine's own network interfaces (loopback included), as text."""
    found = {"127.0.0.1", "::1"}
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                found.add(a.address.split("%")[0])  # an IPv6 link-local address carries its zone after %
    return found


def this_machine(host: str, own: set[str] | None = None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an address if it is this machine (loopback, or one of its own interfaces' addresses), None if it
    is another machine's; ValueError if it is not a literal IP address (names are never looked up)."""
    ip = ipaddress.ip_address(host)
    own = local_addresses() if own is None else own
    return ip if ip.is_loopback or str(ip) in own else None


def check_local(host: str, own: set[str] | None = None) -> str:
    """Refuse any host that is not this machine: netmem reads the target's memory by PID, so it must run here.

    Only literal addresses are accepted (no name lookup), and the check is made before any socket is opened.
    """
    try:
        ip = this_machine(host, own)
    except ValueError:
        raise TargetError(f"--address host {host!r} is not an IP address; give 127.0.0.1, ::1 or one of this"
                          " machine's own addresses") from None
    if ip is not None:
        return str(ip)
    raise TargetError(f"--address {host} is not this machine: netmem measures a process by PID here, so the"
                      " target must listen on loopback or on one of this machine's own addresses")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
