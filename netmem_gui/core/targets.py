"""Targets other than netmem's echo server: a running process (attach) or a command netmem starts (spawn)."""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from .config import ConfigError, RunConfig
from .memory import MemoryReader, ProcessGone
from .workload import WorkloadError

STOP_GRACE_S = 5.0  # a spawned server gets this long to exit after SIGTERM before it is killed
OUTPUT_TAIL_LINES = 8
CHILDREN_REFRESH_S = 1.0  # --include-children: how often the process tree is walked again
SETTLE_TIMEOUT_S = 2.0
RECOUNT_S = 5.0  # observe: the exact count of established connections, between cheap counts of socket descriptors
ESTABLISHED = "01"  # the state column of /proc/net/tcp


class TargetError(ConfigError):
    """A target that can't be measured (no such process, not listening, a command that never listened)."""


# ---- the address ------------------------------------------------------------------------------------------------

def parse_address(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT) to (host, port); TargetError in one line for anything else."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
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


def check_local(host: str, own: set[str] | None = None) -> str:
    """Refuse any host that is not this machine: netmem reads the target's memory by PID, so it must run here.

    Only literal addresses are accepted (no name lookup), and the check is made before any socket is opened.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise TargetError(f"--address host {host!r} is not an IP address; give 127.0.0.1, ::1 or one of this"
                          " machine's own addresses") from None
    own = local_addresses() if own is None else own
    if ip.is_loopback or str(ip) in own:
        return str(ip)
    raise TargetError(f"--address {host} is not this machine: netmem measures a process by PID here, so the"
                      " target must listen on loopback or on one of this machine's own addresses")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- a record's target, in words ------------------------------------------------------------------------------

KIND_WORDS = {"attach": "attached", "spawn": "started by netmem"}


def target_name(rec: dict[str, Any]) -> str | None:
    """The user's server a run measured, in a few words ("redis-server (pid 4242)"); None for netmem's own."""
    t = rec.get("target")
    if not t or t.get("kind") not in ("attach", "spawn"):
        return None
    return f"{t.get('name') or 'process'} (pid {t.get('pid')})"


def target_text(rec: dict[str, Any]) -> str:
    """What a run measured, in words, to set runs side by side ("redis-server, attached, protocol redis, RSS")."""
    name = target_name(rec)
    t = rec.get("target") or {}
    if t.get("kind") == "server":
        return f"your server {t.get('module')}:{t.get('attr')}, in netmem's server process"
    if name is None:
        return "netmem's built-in echo server"
    tree = " with its children" if t.get("include_children") else ""
    return (f"{t.get('name') or 'process'}{tree}, {KIND_WORDS.get(t['kind'], t['kind'])}, protocol"
            f" {t.get('protocol')}, {str(t.get('memory', 'rss')).upper()}")


def same_target(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two runs measured the same kind of server the same way (a PID may differ between runs)."""
    return target_text(a) == target_text(b)



# ---- the process ------------------------------------------------------------------------------------------------

def listeners(port: int) -> dict[int | None, str]:
    """Processes listening on TCP `port` on any address: {pid: name}; pid None for ones this user can't see.

    Every holder of a listening socket counts: a pre-fork server's master and workers share one (psutil's
    net_connections names one process per socket, so on Linux the /proc tables are read directly).
    """
    if not sys.platform.startswith("linux"):
        found: dict[int | None, str] = {}
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                found[conn.pid] = _name(conn.pid) if conn.pid else "a process netmem may not see"
        return found
    inodes = _listening_inodes(port)
    found = {}
    if not inodes:
        return found
    seen: set[bytes] = set()
    for pid in psutil.pids():
        held = _socket_inodes(pid) & inodes
        if held:
            found[pid] = _name(pid)
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
            for inode in _socket_inodes(pid) & sockets.keys():
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
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{name}", "rb") as fh:
                next(fh, None)
                for line in fh:
                    cols = line.split(None, 10)
                    if len(cols) > 9 and cols[3] == b"0A":
                        hex_host, hex_port = cols[1].split(b":")
                        table[cols[9]] = (_proc_address(hex_host), int(hex_port, 16))
        except OSError:
            continue
    return table


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


def guess_protocol(name: str) -> str:
    """The protocol a listener most likely speaks, from its process name (the app preselects it)."""
    lowered = name.lower()
    if "redis" in lowered or "valkey" in lowered or "keydb" in lowered:
        return "redis"
    if any(word in lowered for word in ("nginx", "httpd", "apache", "gunicorn", "uvicorn", "hypercorn", "caddy",
                                         "node", "lighttpd")):
        return "http"
    return "idle"


def _listening_inodes(port: int) -> set[bytes]:
    """Inodes of the sockets listening on `port` (state 0A in /proc/net/tcp and tcp6)."""
    suffix = b":%04X" % port
    inodes: set[bytes] = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/net/{table}", "rb") as fh:
                next(fh, None)
                for line in fh:
                    cols = line.split(None, 10)
                    if len(cols) > 9 and cols[3] == b"0A" and cols[1].endswith(suffix):
                        inodes.add(cols[9])
        except OSError:
            continue
    return inodes


def _socket_inodes(pid: int) -> set[bytes]:
    """Inodes of the sockets a process holds, from its descriptors in /proc/PID/fd (empty if unreadable)."""
    inodes: set[bytes] = set()
    try:
        with os.scandir(f"/proc/{pid}/fd") as entries:
            for entry in entries:
                try:
                    link = os.readlink(entry.path)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1].encode())
    except OSError:
        pass
    return inodes


def _name(pid: int) -> str:
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


def check_process(pid: int, memory: str = "rss") -> psutil.Process:
    """The process `pid` if netmem can measure it: it exists, is not a zombie, and its memory and sockets are
    readable; TargetError naming what is wrong otherwise."""
    try:
        proc = psutil.Process(pid)
        status = proc.status()
    except psutil.NoSuchProcess:
        raise TargetError(f"--attach {pid}: no such process") from None
    except psutil.AccessDenied:
        raise TargetError(f"--attach {pid}: netmem may not read this process (permission denied)") from None
    if status == psutil.STATUS_ZOMBIE:
        raise TargetError(f"--attach {pid}: the process has exited (a zombie waiting for its parent)")
    try:
        proc.memory_info()
        proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()  # sockets are counted through these
        if memory == "uss":
            proc.memory_full_info()
    except psutil.AccessDenied:
        raise TargetError(f"--attach {pid} ({_name(pid)}): netmem may not read this process's memory or sockets"
                          " (permission denied); run netmem as the user who runs the server") from None
    except psutil.NoSuchProcess:
        raise TargetError(f"--attach {pid}: no such process") from None
    return proc


def check_listening(pid: int, port: int, include_children: bool) -> None:
    """Refuse a process that does not listen on `port` (nor, with include_children, any of its children)."""
    ours = {p.pid for p in tree(pid)} if include_children else {pid}
    found = listeners(port)
    if ours & set(found):
        return
    who = f"process {pid} ({_name(pid)})" + (" and its children" if include_children else "")
    if not found:
        raise TargetError(f"{who} does not listen on port {port}, and nothing else does either")
    others = ", ".join(f"{p} ({n})" if p else n for p, n in found.items())
    hint = "" if include_children else "; add --include-children if a child process of it listens"
    raise TargetError(f"{who} does not listen on port {port}; these do: {others}{hint}")


def describe(pid: int) -> dict[str, Any]:
    """Name and command line of a process, for the record and the report."""
    try:
        proc = psutil.Process(pid)
        # Not shlex-quoted: servers such as redis rewrite their argv into one title padded with empty strings.
        return {"name": proc.name(), "cmdline": " ".join(a for a in proc.cmdline() if a)}
    except psutil.Error:
        return {"name": None, "cmdline": None}


def check_target(config: RunConfig) -> None:
    """Every check of the target that can fail before the run starts (TargetError, one line)."""
    kind = config.target_kind()
    if kind == "builtin":
        return
    if config.address is not None:
        host, port = parse_address(config.address)
        check_local(host)
    if kind == "attach":
        assert config.attach_pid is not None
        check_process(config.attach_pid, config.memory)
        if config.address is not None:
            check_listening(config.attach_pid, port, config.include_children)
    elif kind == "spawn":
        assert config.spawn is not None
        argv = _split(config.spawn)
        if shutil.which(argv[0]) is None:
            raise TargetError(f"--spawn: command {argv[0]!r} not found")


def _split(command: str, port: int | None = None) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise TargetError(f"--spawn: cannot split the command line: {exc}") from None
    if not argv:
        raise TargetError("--spawn needs a command line")
    return [a.replace("{port}", str(port)) for a in argv] if port is not None else argv


# ---- memory of the target ---------------------------------------------------------------------------------------

class TargetMemory:
    """Memory of the target (RSS or USS; with include_children, of its whole process tree), read by PID.

    RSS of one process reads /proc/PID/statm through an open descriptor (MemoryReader, a few us). USS walks the
    process's page map (psutil's memory_full_info: ten or more times the cost). With include_children the tree is
    walked again at most every CHILDREN_REFRESH_S, so a server that forks workers on demand is followed.
    """

    def __init__(self, pid: int, include_children: bool = False, memory: str = "rss") -> None:
        self.pid = pid
        self._children = include_children
        self._uss = memory == "uss"
        self._readers: dict[int, MemoryReader] = {pid: MemoryReader(pid)}
        self._procs: dict[int, psutil.Process] = {pid: psutil.Process(pid)}
        self._walked = 0.0

    def _refresh(self) -> None:
        if not self._children or time.monotonic() - self._walked < CHILDREN_REFRESH_S:
            return
        self._walked = time.monotonic()
        try:
            kids = {p.pid: p for p in self._procs[self.pid].children(recursive=True)}
        except psutil.Error:
            return
        for gone in set(self._procs) - set(kids) - {self.pid}:
            self._drop(gone)
        for pid, proc in kids.items():
            if pid not in self._procs:
                try:
                    self._readers[pid] = MemoryReader(pid)
                    self._procs[pid] = proc
                except psutil.Error:
                    continue

    def _drop(self, pid: int) -> None:
        self._procs.pop(pid, None)
        reader = self._readers.pop(pid, None)
        if reader is not None:
            reader.close()

    def _one(self, pid: int) -> tuple[int, int]:
        rss, vms = self._readers[pid].read()
        if self._uss:
            try:
                return self._procs[pid].memory_full_info().uss, vms
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                raise ProcessGone from None
        return rss, vms

    def read(self) -> tuple[int, int]:
        """(memory, VMS) in bytes, summed over the tree; ProcessGone once the target itself has exited."""
        self._refresh()
        memory, vms = self._one(self.pid)
        for pid in list(self._procs):
            if pid != self.pid:
                try:
                    m, v = self._one(pid)
                except ProcessGone:
                    self._drop(pid)
                    continue
                memory, vms = memory + m, vms + v
        return memory, vms

    def pids(self) -> list[int]:
        self._refresh()
        return list(self._procs)

    def breakdown(self) -> list[dict[str, Any]]:
        """Each process of the tree: pid, name, RSS and (where the OS gives it) USS."""
        out = []
        for pid, proc in list(self._procs.items()):
            try:
                with proc.oneshot():
                    name = proc.name()
                    try:
                        full = proc.memory_full_info()
                        rss, uss = full.rss, getattr(full, "uss", None)
                    except psutil.AccessDenied:
                        rss, uss = proc.memory_info().rss, None
            except psutil.Error:
                continue
            out.append({"pid": pid, "name": name, "rss_bytes": int(rss), "uss_bytes": None if uss is None
                        else int(uss)})
        return out

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


def memory_reader(pid: int, config: RunConfig) -> TargetMemory:
    return TargetMemory(pid, config.include_children, config.memory)


# ---- connections of the target ----------------------------------------------------------------------------------

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
        inodes |= _socket_inodes(pid)
    if not inodes or not pids:
        return 0
    count = 0
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pids[0]}/net/{table}", "rb") as fh:
                next(fh, None)
                for line in fh:
                    cols = line.split(None, 10)
                    if len(cols) > 9 and cols[3] == b"01" and cols[9] in inodes:
                        count += 1
        except OSError:
            continue
    return count


def _established_psutil(pids: list[int]) -> int:
    count = 0
    for pid in pids:
        try:
            count += sum(c.status == psutil.CONN_ESTABLISHED for c in psutil.Process(pid).net_connections("tcp"))
        except psutil.Error:
            continue
    return count


# ---- a command netmem starts ------------------------------------------------------------------------------------

@dataclass
class Spawned:
    """A server netmem started in a process group (session) of its own, with its output in a temporary file."""

    proc: subprocess.Popen
    argv: list[str]
    host: str
    port: int
    _log: Any = None
    measured_pid: int = 0
    _stopped: bool = field(default=False)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines the command wrote (stdout and stderr together), as one line for an error message."""
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0)
            text = self._log.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        tail = collections.deque((t.strip() for t in text.splitlines() if t.strip()), maxlen=lines)
        return " | ".join(tail)

    def stop(self) -> None:
        """Terminate the whole tree (SIGTERM to the process group), then kill what is left after the grace period."""
        if self._stopped:
            return
        self._stopped = True
        try:
            procs = tree(self.proc.pid)
        except psutil.Error:
            procs = []
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        if alive or self.proc.poll() is None:
            _signal_group(self.proc, getattr(signal, "SIGKILL", signal.SIGTERM))
            for p in alive:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(alive, timeout=STOP_GRACE_S)
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        if self._log is not None:
            self._log.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if sys.platform == "win32":
            proc.send_signal(sig)
        else:
            os.killpg(proc.pid, sig)  # the child leads its own session, so its group id is its pid
    except (OSError, ProcessLookupError):
        pass


async def start(config: RunConfig) -> Spawned:
    """Start --spawn's command and wait until its port accepts a connection (within --start-timeout).

    TargetError with the command's last output lines when it exits first or never listens; nothing it started is
    left running then.
    """
    assert config.spawn is not None
    if "{port}" in config.spawn:
        host, port = "127.0.0.1", free_port()
    else:
        assert config.address is not None
        host, port = parse_address(config.address)
    check_local(host)
    argv = _split(config.spawn, port)
    log = tempfile.TemporaryFile()
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform == "win32":
        options = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **options)
    except OSError as exc:
        log.close()
        raise TargetError(f"--spawn: cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    spawned = Spawned(proc, argv, host, port, log, proc.pid)
    try:
        await _wait_listening(spawned, config.start_timeout_s)
        spawned.measured_pid = _listening_pid(spawned, config.include_children)
    except BaseException:
        spawned.stop()
        raise
    return spawned


async def _wait_listening(spawned: Spawned, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    name = os.path.basename(spawned.argv[0])
    while True:
        code = spawned.proc.poll()
        if code is not None:
            tail = spawned.output_tail()
            raise TargetError(f"--spawn: {name} exited with status {code} before it listened on {spawned.address}"
                              + (f"; its last output: {tail}" if tail else ""))
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(spawned.host, spawned.port), 1.0)
            writer.close()
            return
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            tail = spawned.output_tail()
            raise TargetError(f"--spawn: {name} did not listen on {spawned.address} within {timeout_s:g} s"
                              " (--start-timeout)" + (f"; its last output: {tail}" if tail else ""))
        await asyncio.sleep(0.05)


def _listening_pid(spawned: Spawned, include_children: bool) -> int:
    """The process to measure: the one started, unless only a descendant of it listens (a launcher script)."""
    pid = spawned.proc.pid
    if include_children:
        return pid
    try:
        found = listeners(spawned.port)
        family = {p.pid for p in tree(pid)}
    except psutil.Error:
        return pid
    if pid in found:
        return pid
    mine = [p for p in found if p in family]
    return mine[0] if mine else pid


# ---- the target as the scenarios see it ---------------------------------------------------------------------------

class ExternalTarget:
    """A server netmem did not write, measured by PID; the scenarios' Target for --attach and --spawn.

    netmem neither starts nor stops it here (a spawned server is stopped by whoever started it), runs no code in
    it, and learns how many connections it holds by counting its established sockets.
    """

    role = "target"
    owns_server = False

    def __init__(self, pid: int, address: str | None, config: RunConfig) -> None:
        self.pid = pid
        self.client_host, self.port = parse_address(address) if address else ("127.0.0.1", 0)
        self.address = address
        self.protocol = config.protocol
        self.path = config.path
        self.include_children = config.include_children
        try:
            self._memory = memory_reader(pid, config)
        except psutil.Error:
            raise WorkloadError(f"the target process {pid} ended before the run began") from None
        self._info = describe(pid)
        self._base_sockets = 0
        self._offset: int | None = None
        self._counted = 0.0

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid, "address": self.address, **self._info}

    def memory(self) -> tuple[int, int]:
        try:
            return self._memory.read()
        except ProcessGone:
            raise WorkloadError(str(self.gone())) from None

    def gone(self) -> str | None:
        """Why the target can't be measured any more (it ended), or None while it runs."""
        try:
            self._memory.read()
        except ProcessGone:
            return f"the target process {self.pid} ({self._info['name']}) ended"
        return None

    def processes(self) -> list[dict[str, Any]] | None:
        return self._memory.breakdown() if self.include_children else None

    def connections(self) -> int:
        """Established TCP connections the target holds, exactly (reads the TCP table: ~10 ms with 10k sockets)."""
        return established_connections(self._memory.pids())

    def connections_now(self) -> int:
        """The observe scenario's count, cheap enough for every reading: the target's socket descriptors less
        those that are not connections (listeners, Unix sockets), counted exactly every RECOUNT_S."""
        now = time.monotonic()
        if self._offset is None or now - self._counted > RECOUNT_S:
            before = self.sockets()
            exact = self.connections()
            if self.sockets() == before:  # no connection came or went while the table was read: a true offset
                self._offset, self._counted = before - exact, now
            return exact
        return max(0, self.sockets() - self._offset)

    def sockets(self) -> int:
        """Socket descriptors the target holds (cheap: no TCP table is read; see settle)."""
        if not sys.platform.startswith("linux"):
            return self.connections()
        return sum(len(_socket_inodes(pid)) for pid in self._memory.pids())

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        self._base_sockets = self.sockets()
        return self.port

    async def settle(self, connections: int) -> None:
        """Wait until the target holds the clients' connections (it accepts and closes after they see it done).

        Counted as its socket descriptors, one per accepted connection: reading the TCP table instead costs ~10 ms
        on a machine with ten thousand sockets, per poll.
        """
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.sockets() != self._base_sockets + connections and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def traced_memory(self) -> tuple[int, int] | None:
        return None

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        return None

    async def collect_garbage(self) -> None:
        return None

    async def stop_server(self) -> None:
        return None

    def close(self) -> None:
        self._memory.close()
