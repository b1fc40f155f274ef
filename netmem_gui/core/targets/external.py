"""Targets other than netmem's echo server (a running process, or a command netmem starts): the checks made
before a run, their memory, the Target the scenarios drive, and a record's target in words."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

from .. import events
from ..addresses import check_local, parse_address
from ..config import RunConfig, TargetError
from ..errors import NetmemError, WorkloadError
from ..measuring import heaptrack
from ..measuring.memory import MemoryReader, ProcessGone
from ..measuring.sockets import socket_inodes as held_socket_inodes
from .processes import (
    accepts,
    describe,
    established_connections,
    listeners,
    listening_sockets,
    process_name,
    tree,
)

CHILDREN_REFRESH_S = 1.0  # --include-children: how often the process tree is walked again
SETTLE_TIMEOUT_S = 2.0
RECOUNT_S = 5.0  # observe: the exact count of established connections, between cheap counts of socket descriptors


# ---- the process ------------------------------------------------------------------------------------------------

def guess_protocol(name: str) -> str:
    """The protocol a listener most likely speaks, from its process name (the app preselects it)."""
    lowered = name.lower()
    if "redis" in lowered or "valkey" in lowered or "keydb" in lowered:
        return "redis"
    if any(word in lowered for word in ("nginx", "httpd", "apache", "gunicorn", "uvicorn", "hypercorn", "caddy",
                                         "node", "lighttpd")):
        return "http"
    return "idle"


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
        raise TargetError(f"--attach {pid} ({process_name(pid)}): netmem may not read this process's memory or sockets"
                          " (permission denied); run netmem as the user who runs the server") from None
    except psutil.NoSuchProcess:
        raise TargetError(f"--attach {pid}: no such process") from None
    return proc


def check_listening(pid: int, port: int, include_children: bool, host: str | None = None) -> None:
    """Refuse a process that does not listen on `port` (nor, with include_children, any of its children), or that
    listens there only at other addresses than `host` (127.0.0.1 only, when asked for ::1: no load would arrive)."""
    ours = {p.pid for p in tree(pid)} if include_children else {pid}
    found = listeners(port)
    if ours & set(found):
        if host is not None and sys.platform.startswith("linux"):
            bound = sorted((s for s in listening_sockets() if s.port == port and s.pid in ours),
                           key=lambda s: s.host)
            if bound and not any(accepts(s.host, host) for s in bound):
                raise TargetError(f"process {pid} ({process_name(pid)}) listens on port {port} at"
                                  f" {', '.join(s.host for s in bound)} only, not at {host}: give --address"
                                  f" {bound[0].address}")
        return
    who = f"process {pid} ({process_name(pid)})" + (" and its children" if include_children else "")
    if not found:
        raise TargetError(f"{who} does not listen on port {port}, and nothing else does either")
    others = ", ".join(f"{p} ({n})" if p else n for p, n in found.items())
    hint = "" if include_children else "; add --include-children if a child process of it listens"
    raise TargetError(f"{who} does not listen on port {port}; these do: {others}{hint}")


def check_target(config: RunConfig) -> None:
    """Every check of the target that can fail before the run starts (TargetError, one line)."""
    kind = config.target_kind()
    if kind in ("builtin", "prometheus"):  # Prometheus is checked with Locust, last (lifecycle.prepare)
        return
    if config.address is not None:
        host, port = parse_address(config.address)
        check_local(host)
    if kind == "attach":
        assert config.attach_pid is not None
        check_process(config.attach_pid, config.memory)
        if config.address is not None:
            check_listening(config.attach_pid, port, config.include_children, host)
    elif kind == "spawn":
        assert config.spawn is not None
        argv = config.spawn_argv()
        if shutil.which(argv[0]) is None:
            raise TargetError(f"--spawn: command {argv[0]!r} not found")
        if config.trace_allocations:
            heaptrack.check_installed()


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
        self._base_sockets: int | None = None  # the sockets the target holds of its own (its listeners, ...)
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
        return sum(len(held_socket_inodes([pid])) for pid in self._memory.pids())

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        self._base_sockets = self.sockets()
        return self.port

    async def settle(self, connections: int) -> None:
        """Wait until the target holds the clients' connections (it accepts and closes after they see it done).

        Counted as its socket descriptors, one per accepted connection: reading the TCP table instead costs ~10 ms
        on a machine with ten thousand sockets, per poll.
        """
        if self._base_sockets is None:  # the baseline, before start_server: what the target holds now is its own
            self._base_sockets = self.sockets()
            return
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


async def on_external_target(config: RunConfig, body: Callable[[ExternalTarget], Awaitable[None]],
                             emit: Callable[[dict[str, Any]], None]) -> None:
    """Run body(target) on the config's external target, closed afterwards; one that can't be measured any more
    (it ended before the run began) ends the run with its reason instead. Both hosts start their load this way."""
    if config.target_kind() == "prometheus":
        from .prometheus import PrometheusTarget  # urllib: only in a process that reads Prometheus

        try:
            remote = PrometheusTarget(config)
        except NetmemError as exc:  # Prometheus went away between the checks and the start
            emit(events.end(False, str(exc)))
            return
        await body(remote)  # type: ignore[arg-type]
        return
    assert config.attach_pid is not None
    try:
        external = ExternalTarget(config.attach_pid, config.address, config)
    except WorkloadError as exc:
        emit(events.end(False, str(exc)))
        return
    try:
        await body(external)
    finally:
        external.close()
