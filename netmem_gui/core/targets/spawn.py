"""A server netmem starts for --spawn: started in a session of its own, waited for until it listens, the process to
measure found in its tree, and its whole tree stopped at the end."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

import psutil

from ..addresses import check_local, free_port, parse_address
from ..children import WORKER_FLAG
from ..config import RunConfig, TargetError
from ..measuring import heaptrack
from .guard import Guard
from .processes import listeners, tree

STOP_GRACE_S = 5.0  # a spawned server gets this long to exit after SIGTERM before it is killed
TRACE_FINISH_S = 120.0  # heaptrack's interpreter and compressor finish its file after the server exits
OUTPUT_TAIL_LINES = 8
OUTPUT_TAIL_BYTES = 64 * 1024
OUTPUT_LINE_CHARS = 200
# Linux: while a spawned command runs, netmem is a "child subreaper" (prctl), so a process the command leaves behind
# (a server that daemonizes, the child of a launcher script that exited) becomes netmem's child instead of init's:
# netmem can measure it and stop it. Elsewhere such a process is out of reach.
PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on: bool) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class OutputTail:
    """The last OUTPUT_TAIL_BYTES a command wrote (stdout and stderr together), read off its pipe by a thread of its
    own. Memory stays bounded however much it prints: kept whole, 600 MB printed before listening once took 2.4 GB
    of netmem's memory and 18 s, and a file of it grew for the whole run."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._data = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, name="netmem-spawn-output", daemon=True).start()

    def _pump(self) -> None:
        try:
            while chunk := self._pipe.read1(65536):  # type: ignore[attr-defined]
                with self._lock:
                    self._data += chunk
                    if len(self._data) > 2 * OUTPUT_TAIL_BYTES:
                        del self._data[:-OUTPUT_TAIL_BYTES]
        except (OSError, ValueError):
            pass  # closed at the end of the run
        finally:
            with contextlib.suppress(OSError):
                self._pipe.close()

    def text(self) -> str:
        with self._lock:
            return bytes(self._data[-OUTPUT_TAIL_BYTES:]).decode(errors="replace")


def shorten(line: str) -> str:
    """One line of a command's output as an error message quotes it: at most OUTPUT_LINE_CHARS characters."""
    return line if len(line) <= OUTPUT_LINE_CHARS else line[:OUTPUT_LINE_CHARS] + f"… ({len(line):,} characters)"


@dataclass
class Spawned:
    """A server netmem started in a process group (session) of its own, with its output in a temporary file."""

    proc: subprocess.Popen
    argv: list[str]
    host: str
    port: int
    _output: OutputTail | None = None
    measured_pid: int = 0
    earlier: frozenset[int] = frozenset()  # this process's children before the command started
    guard: Guard = field(default_factory=Guard)  # stops the tree if netmem dies without stopping it (guard.py)
    traced: bool = False  # started under heaptrack: its wrapper script is `proc`, the server its child
    trace_note: str | None = None  # why heaptrack's data may be incomplete (the server had to be killed)
    _stopped: bool = field(default=False)

    def track(self) -> None:
        """Tell the guard about every process of the command's tree and what it left behind, as they are now."""
        try:
            procs = tree(self.proc.pid) if self.proc.poll() is None else []
        except psutil.Error:
            procs = []
        self.guard.watch([p.pid for p in procs + self.adopted()], group=self.proc.pid)

    def adopted(self) -> list[psutil.Process]:
        """What the command left outside its tree, adopted by this process (see PR_SET_CHILD_SUBREAPER), with
        their own descendants; netmem's own children (its workers, a record being opened) are never among them."""
        found: list[psutil.Process] = []
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return found
        for child in children:
            if child.pid in self.earlier or child.pid == self.proc.pid:
                continue
            try:
                if _ours(child.cmdline()):
                    continue  # one of netmem's own children
                found += tree(child.pid)
            except psutil.Error:
                continue
        return found

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        """The last lines the command wrote (stdout and stderr together), as one line for an error message."""
        if self._output is None:
            return ""
        text = self._output.text()
        tail = collections.deque((shorten(t.strip()) for t in text.splitlines() if t.strip()), maxlen=lines)
        return " | ".join(tail)

    def stop(self) -> None:
        """Terminate the whole tree (SIGTERM to the process group), then kill what is left after the grace period."""
        if self._stopped:
            return
        self._stopped = True
        if self.traced:
            self._stop_traced_server()
        try:
            procs = tree(self.proc.pid)
        except psutil.Error:
            procs = []
        known = {p.pid for p in procs}
        procs += [p for p in self.adopted() if p.pid not in known]  # daemons and orphans of a launcher
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
        _each(procs, "terminate")
        _, alive = psutil.wait_procs(procs, timeout=STOP_GRACE_S)
        if alive or self.proc.poll() is None:
            _signal_group(self.proc, getattr(signal, "SIGKILL", signal.SIGTERM))
            _each(alive, "kill")
            psutil.wait_procs(alive, timeout=STOP_GRACE_S)
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        _subreaper(False)
        self.guard.done()

    def _stop_traced_server(self) -> None:
        """Under heaptrack: SIGTERM to the server alone (a SIGTERM to the group would end heaptrack's interpreter
        and compressor too, leaving an empty file), SIGKILL after the grace period; then heaptrack's wrapper gets
        TRACE_FINISH_S to finish its file. What is left is stopped with the group as usual."""
        try:
            server = [p for p in tree(self.proc.pid)
                      if p.pid != self.proc.pid and not heaptrack.is_own_process(p.name())]
        except psutil.Error:
            server = []
        _each(server, "terminate")
        _, alive = psutil.wait_procs(server, timeout=STOP_GRACE_S)
        if alive:
            self.trace_note = (f"the server did not exit within {STOP_GRACE_S:g} s of SIGTERM and was killed:"
                               " heaptrack's data may miss its last allocations")
            _each(alive, "kill")
            psutil.wait_procs(alive, timeout=STOP_GRACE_S)
        try:
            self.proc.wait(timeout=TRACE_FINISH_S)
        except subprocess.TimeoutExpired:
            self.trace_note = f"heaptrack did not finish its file within {TRACE_FINISH_S:g} s of the server's exit"


def _each(procs: list[psutil.Process], how: str) -> None:
    """Call terminate() or kill() on each process, whichever have gone meanwhile."""
    for p in procs:
        try:
            getattr(p, how)()
        except psutil.Error:
            pass


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if sys.platform == "win32":
            proc.send_signal(sig)
        else:
            os.killpg(proc.pid, sig)  # the child leads its own session, so its group id is its pid
    except (OSError, ProcessLookupError):
        pass


class StoppedStarting(Exception):
    """A stop (Ctrl-C, SIGTERM, the Stop button) came while the command was starting; it has been stopped."""


async def start(config: RunConfig, stop: asyncio.Event | None = None, wrapper: list[str] | None = None,
                env: dict[str, str] | None = None) -> Spawned:
    """Start --spawn's command and wait until its port accepts a connection (within --start-timeout).

    TargetError with the command's last output lines when it exits first or never listens, or when another process
    listens on the port (before it starts, or instead of it); StoppedStarting when `stop` is set meanwhile. Nothing
    it started is left running then. `wrapper`: words run before the command (heaptrack's); `env`: its environment.
    """
    assert config.spawn is not None
    if "{port}" in config.spawn:
        host, port = "127.0.0.1", free_port()
    else:
        assert config.address is not None
        host, port = parse_address(config.address)
    check_local(host)
    argv = config.spawn_argv(port)
    taken = _others_listening(port)
    if taken:
        # The load would go to that process while netmem measured the command (which may never listen at all).
        raise TargetError(f"--spawn: port {port} is taken already by {taken}: stop it, or give another port")
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform == "win32":
        options = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    guard = Guard()
    guard.start()  # before `earlier`: the guard is one of netmem's own children, never adopted
    earlier = frozenset(c.pid for c in psutil.Process().children())
    _subreaper(True)
    try:
        proc = subprocess.Popen([*(wrapper or []), *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, **options)
    except OSError as exc:
        _subreaper(False)
        guard.done()
        raise TargetError(f"--spawn: cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    spawned = Spawned(proc, argv, host, port, OutputTail(proc.stdout), proc.pid, earlier, guard, bool(wrapper))
    try:
        spawned.track()
        await _wait_listening(spawned, config.start_timeout_s, stop)
        spawned.measured_pid = _listening_pid(spawned, config.include_children and not wrapper)
        if wrapper and config.include_children:
            spawned.measured_pid = _below_wrapper(spawned.proc.pid, spawned.measured_pid)
        spawned.track()
    except BaseException:
        # Off the event loop (the window's, in the app): the stop waits up to its grace periods, and under heaptrack
        # for heaptrack to finish its file.
        await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, spawned.stop))
        raise
    return spawned


async def _wait_listening(spawned: Spawned, timeout_s: float, stop: asyncio.Event | None) -> None:
    deadline = time.monotonic() + timeout_s
    name = os.path.basename(spawned.argv[0])
    while True:
        if stop is not None and stop.is_set():
            raise StoppedStarting(f"stopped while {name} was starting, before it listened on {spawned.address}")
        code = spawned.proc.poll()
        spawned.track()  # a daemon forks and its parent exits: the guard must hear of the child in between
        if code == 0 and _daemon(spawned) is not None:
            code = None  # it daemonized: what it left behind is the server, waited for as the command would be
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
    """The process to measure: the one started, unless only a descendant of it listens (a launcher script), or it
    has left the tree (a server that daemonized: the process it left behind, listening)."""
    pid = spawned.proc.pid
    if spawned.proc.poll() is not None:
        daemon = _daemon(spawned)
        if daemon is not None:
            return daemon
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
    if mine:
        return mine[0]
    if found:  # someone answered on the port, but not the command nor anything it started
        others = ", ".join(f"{p} ({n})" if p else n for p, n in found.items())
        raise TargetError(f"--spawn: {os.path.basename(spawned.argv[0])} does not listen on port {spawned.port};"
                          f" {others} does: netmem would measure one process and load another")
    return pid


def _below_wrapper(wrapper: int, pid: int) -> int:
    """The wrapper's child that `pid` descends from: the server's whole tree without heaptrack's processes."""
    try:
        proc = psutil.Process(pid)
        while proc.ppid() != wrapper and proc.ppid() > 1:
            proc = psutil.Process(proc.ppid())
        return proc.pid if proc.ppid() == wrapper else pid
    except psutil.Error:
        return pid


def _ours(cmdline: list[str]) -> bool:
    """Whether a command line is one netmem starts for itself (children.worker_command, module_command): `python -m
    netmem_gui.…` or `EXECUTABLE --netmem-worker ROLE`. Only these: a user's server may well have netmem in its path."""
    head = cmdline[:4]
    return WORKER_FLAG in head or any(a == "-m" and b.startswith("netmem_gui.") for a, b in itertools.pairwise(head))


def _daemon(spawned: Spawned) -> int | None:
    """The process the command left running outside its tree (it daemonized, or its launcher exited), listening on
    the port, if any."""
    left = [p.pid for p in spawned.adopted()]
    try:
        found = listeners(spawned.port)
    except psutil.Error:
        return None
    mine = [p for p in left if p in found]
    if mine:
        return mine[0]
    # Not listening yet: what it left behind is waited for (a daemon may still be binding its port).
    return left[0] if left else None


def _others_listening(port: int) -> str:
    """Who listens on `port` now, in words ("" when nobody this user can see)."""
    try:
        found = listeners(port)
    except psutil.Error:
        return ""
    return ", ".join(f"{n} (pid {p})" if p else n for p, n in found.items())
