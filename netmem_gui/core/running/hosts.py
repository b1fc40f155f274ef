"""Hosts, where the workload runs: `inapp` in this process (on a thread of its own), `isolated` in child processes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import psutil

from .. import events
from ..children import spawn_options, worker_command
from ..config import RunConfig
from ..events import Emit, Event
from ..load import blocking
from ..load.scenarios import run_scenarios
from ..load.userserver import ServerLoadError, make_server
from ..load.workload import EchoServer, watch_lag
from ..measuring.tracing import Tracer
from .collector import COLLECTOR

STOP_GRACE_S = 10.0


class Host(Protocol):
    name: str

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        """Run the workload, emitting its events, until it ends or `stop` is set; always emits `end`."""


class _ThisProcess:
    """The in-app target: the server runs in this process, which is the one measured."""

    role = "app"

    def __init__(self, tracer: Tracer | None = None, config: RunConfig | None = None) -> None:
        self.pid = os.getpid()
        self._ps = psutil.Process(self.pid)
        # A user's module is imported afresh for each run: edits are seen, and no state of a run before is kept.
        self._server = make_server(config.server, config.app_dir, fresh=True) if config else EchoServer()
        self._tracer = tracer or Tracer()
        self.server_errors: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any] | None:
        describe = getattr(self._server, "describe", None)
        return describe() if describe else None

    def memory(self) -> tuple[int, int]:
        info = self._ps.memory_info()
        return info.rss, info.vms

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        return await self._server.start(port, leak_bytes)

    # Collections go through the process's collector: this runs on the workload thread, which must never
    # finalize the window's objects (core/running/collector.py).
    async def traced_memory(self) -> tuple[int, int] | None:
        if not self._tracer.active:
            return None
        await COLLECTOR.collect()
        return self._tracer.traced_bytes(collect=False)

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        if self._tracer.active:
            await COLLECTOR.collect()
        return self._tracer.snapshot(which, collect=False)

    async def collect_garbage(self) -> None:
        await COLLECTOR.collect()

    async def stop_server(self) -> None:
        await self._server.stop()

    async def settle(self, connections: int) -> None:
        await self._server.settle(connections)
        errors = getattr(self._server, "errors", None)
        self.server_errors = errors.to_dict() if errors and errors.connections else None


class _Inbox:
    """Events that worker threads hand to the caller's loop, which collects them by polling.

    Why polling and not `call_soon_threadsafe`: on qasync, waking the loop from a plain Python thread emits a
    Qt signal off the Qt thread, and with PySide6 6.11 here a stream of those ended in a segfault inside Qt's
    timer dispatch. A poll every few tens of milliseconds needs no cross-thread wake-up at all, costs little,
    and behaves the same on every loop.
    """

    # 25 times a second, as often as the window draws (25 fps). On qasync each poll is a Qt timer run through
    # Python, so polling every 10 ms cost the app about 1-2 % of a core while it watched a run.
    POLL_S = 0.04
    # While the workload thread keeps asking for collections (one per cycle with --trace-allocations), it waits
    # for each: poll this often until it has asked for none for a while.
    FAST_POLL_S = 0.002
    FAST_FOR_S = 0.5

    def __init__(self) -> None:
        self._items: collections.deque[Event | None] = collections.deque()  # appends and pops are thread-safe

    def put(self, event: Event) -> None:
        self._items.append(event)

    def close(self) -> None:
        """Called by the producing thread when it has nothing more to say."""
        self._items.append(None)

    async def deliver(self, emit: Emit, stop: asyncio.Event, on_stop: Callable[[], None]) -> None:
        """Emit every event, in order, until the producer closes; call on_stop once if `stop` is set first.

        Each pass also serves the collections the producer asked for, when this thread owns the collector.
        """
        stopping = False
        fast_until = 0.0
        loop = asyncio.get_running_loop()
        while True:
            while self._items:
                event = self._items.popleft()
                if event is None:
                    return
                emit(event)
            if stop.is_set() and not stopping:
                stopping = True
                on_stop()
            if COLLECTOR.serve():
                fast_until = loop.time() + self.FAST_FOR_S
            await asyncio.sleep(self.FAST_POLL_S if loop.time() < fast_until else self.POLL_S)


class InAppHost:
    """Runs the workload in this process, on a plain asyncio loop in a thread of its own.

    Why not on the caller's loop: in the desktop app that is qasync's Qt loop, which gives every socket its
    own QSocketNotifier and has Qt poll all of them on each pass (docs/measured.md): at 9,000
    connections it echoed 22 times slower than plain asyncio and froze the window. A plain asyncio loop on its
    own thread runs at plain asyncio's speed on every OS (selector or proactor alike), uses no private asyncio
    API, and leaves the GUI thread free to repaint. The process measured is still this one.
    """

    name = "inapp"

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        inbox = _Inbox()
        stopping = threading.Event()

        cancelling: list[Callable[[], None]] = []

        def on_blocked(stale: float, where: dict[str, Any] | None) -> None:
            # The workload thread can't be stopped while its loop is blocked: the run ends without it, and its
            # workload is cancelled for when the loop turns again (in the app the thread stays until the user's call
            # returns; a CLI process exits past it, it is a daemon thread).
            inbox.put(events.end(False, blocking.describe(stale, where)))
            inbox.close()
            stopping.set()
            for cancel_workload in cancelling:
                cancel_workload()

        watch = blocking.LoopWatch(on_blocked, config.app_dir)

        def report_lag(t: float, lag: float) -> None:
            inbox.put(events.lag(t, lag))

        async def body() -> None:
            if config.server:
                watch.start()  # on the workload thread, whose loop the user's handlers run on
            if config.is_external:
                from ..targets.external import on_external_target

                await on_external_target(config, lambda target: run_scenarios(config, target, inbox.put, stopping),
                                         inbox.put)
                return
            tracer = Tracer()
            if config.trace_allocations:
                # In-app, tracemalloc traces the whole process: the host's own allocations are in its figures.
                tracer.start()
            lag = asyncio.ensure_future(watch_lag(config.interval_ms / 1000, report_lag))
            try:
                try:
                    target = _ThisProcess(tracer, config)
                except ServerLoadError as exc:
                    inbox.put(events.end(False, str(exc)))
                    return
                await run_scenarios(config, target, inbox.put, stopping)
            finally:
                lag.cancel()
                tracer.stop()

        def on_stop() -> None:
            stopping.set()
            if config.scenario != "observe":
                cancel()  # observe ends by itself at its next reading: a stop is how it is meant to end

        # This thread collects the process's garbage while the workload thread runs (core/running/collector.py); in the
        # app the window's loop already does, for the app's whole life.
        COLLECTOR.take()
        try:
            cancel = start_workload_thread(body, inbox.close)
            cancelling.append(cancel)
            try:
                await inbox.deliver(emit, stop, on_stop)
            except BaseException:
                on_stop()  # this task was cancelled, not stopped: don't leave the workload thread running
                raise
        finally:
            watch.stop()
            COLLECTOR.release()


def start_workload_thread(
    main: Callable[[], Coroutine[Any, Any, None]], finished: Callable[[], None]
) -> Callable[[], None]:
    """Run main() on a new plain asyncio loop in a thread of its own; call finished() there when it ends.

    Returns a function that cancels main() from any thread. This is the in-app host's whole threading design,
    kept in one place so that the scale benchmark measures exactly what the app runs.
    """
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task]] = []

    async def tracked() -> None:
        running.append((asyncio.get_running_loop(), asyncio.current_task()))  # type: ignore[arg-type]
        await main()

    def thread_main() -> None:
        try:
            asyncio.run(tracked())
        except asyncio.CancelledError:
            pass  # stopped: main() has already said so in its own way
        finally:
            finished()

    def cancel() -> None:
        for loop, task in running:
            try:
                loop.call_soon_threadsafe(task.cancel)  # a plain asyncio loop: safe from any thread
            except RuntimeError:
                pass  # its loop has just closed: main() ended by itself

    threading.Thread(target=thread_main, name="netmem-workload", daemon=True).start()
    return cancel


class IsolatedHost:
    """Runs the workload in a child process on a plain asyncio loop and relays its events over a pipe."""

    name = "isolated"

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        # Its own process group (POSIX): the load child and the server child it starts can be killed together,
        # whatever state they are in (a stopped child ignores everything but SIGKILL).
        group = {"start_new_session": True} if os.name == "posix" else {}
        proc = subprocess.Popen(
            [*worker_command("load"), json.dumps(config.to_dict())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **spawn_options(), **group,
        )
        inbox = _Inbox()
        errors: collections.deque[str] = collections.deque(maxlen=20)
        ended = False

        def relay(event: Event) -> None:
            nonlocal ended
            ended = ended or event.get("type") == "end"
            emit(event)
            if event.get("type") == "target":
                _tell(proc, "sampling")  # emit() has started the sampler (execute.execute): the load may begin

        def read_events() -> None:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    try:
                        inbox.put(events.from_json(line))
                    except ValueError:
                        errors.append(line.decode(errors="replace").strip())
                proc.wait()
            finally:
                inbox.close()

        def read_errors() -> None:
            assert proc.stderr is not None
            try:
                for line in proc.stderr:
                    errors.append(line.decode(errors="replace").rstrip())
            except (OSError, ValueError):
                pass  # closed under us at the end of the run: nothing more to read

        # Children that do not wind down in time after "stop" are killed, all of them.
        killer = threading.Timer(STOP_GRACE_S, lambda: _kill_all(proc))
        killer.daemon = True

        def on_stop() -> None:
            _tell(proc, "stop")
            killer.start()

        threading.Thread(target=read_events, name="netmem-events", daemon=True).start()
        error_reader = threading.Thread(target=read_errors, name="netmem-stderr", daemon=True)
        error_reader.start()
        try:
            await inbox.deliver(relay, stop, on_stop)
        finally:
            killer.cancel()
            if proc.poll() is None:
                _kill_all(proc)
                proc.wait()
            # The server child shares the load child's stderr and may outlive it by a moment.
            error_reader.join(timeout=2)
            if error_reader.is_alive():
                # Something still holds the pipe (a stopped server child whose parent died): end it. The group
                # still has a member, so its number can't have been reused.
                _kill_group(proc.pid)
                error_reader.join(timeout=2)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                # Closing a pipe that a thread is reading blocks until that read returns: leave it to that thread.
                if pipe is not None and not (pipe is proc.stderr and error_reader.is_alive()):
                    with contextlib.suppress(OSError):  # stdin may still hold a line the child never read
                        pipe.close()
        if not ended:
            last = next((e for e in reversed(errors) if e.strip()), f"exit status {proc.returncode}")
            emit(events.end(False, f"the workload process failed: {last}"))


def _kill_group(pgid: int) -> None:
    if os.name == "posix":
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL the load child and every process of its group (the server child), while the load child is
    unreaped (so that its group's number is ours); elsewhere, the load child alone."""
    if proc.poll() is not None:
        return
    if os.name == "posix":
        _kill_group(proc.pid)
    else:
        proc.kill()


def _tell(proc: subprocess.Popen, line: str) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()
    except (OSError, ValueError):
        pass


HOSTS: dict[str, type[InAppHost] | type[IsolatedHost]] = {"inapp": InAppHost, "isolated": IsolatedHost}


def make_host(name: str) -> Host:
    return HOSTS[name]()

