"""The isolated host's child processes: the load process that runs the scenarios and the server it measures.

    python -m netmem_gui.core.running.worker load CONFIG_JSON   # events to stdout, one JSON object a line
    python -m netmem_gui.core.running.worker serve [--trace] [--server MODULE:ATTR --app-dir DIR]
                                                        # the server, commands on stdin

The parent starts `load`; `load` starts `serve` and measures it by PID. Each child ignores Ctrl-C (the
terminal sends it to the whole process group) and ends when its parent says `stop` or its stdin closes,
so no child outlives the run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import events
from ..children import spawn_options, worker_command
from ..config import RunConfig
from ..errors import WorkloadError
from ..load import blocking
from ..load.blocking import LoopWatch
from ..load.scenarios import run_scenarios
from ..load.userserver import ServerLoadError, make_server
from ..load.workload import watch_lag
from ..measuring.memory import MemoryReader, ProcessGone
from ..measuring.tracing import Tracer
from .allocator import pin_malloc_thresholds
from .limits import raise_fd_limit

PARENT_CHECK_S = 0.25


def _watch_stdin(loop: asyncio.AbstractEventLoop, on_line: Callable[[str], None]) -> None:
    """Feed stdin lines to on_line on the loop; an empty line stands for end of input."""

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(on_line, line.strip() or "noop")
        loop.call_soon_threadsafe(on_line, "")

    threading.Thread(target=pump, name="netmem-stdin", daemon=True).start()
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this process at once when its parent is gone (killed, crashed): it was reparented, so its parent PID
    changed. The end of stdin says so too, but only once every copy of the pipe's other end has closed; a killed
    `netmem run` left its load and server processes running in 2 of about a dozen tries here
    (tests/core/test_killed_run.py)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="netmem-parent", daemon=True).start()


class _ServerChild:
    """Talks to the `serve` child: a Target whose memory is read by PID."""

    role = "server"

    def __init__(self, proc: asyncio.subprocess.Process, emit: Callable[[dict[str, Any]], None]) -> None:
        self._proc = proc
        self.pid = proc.pid
        self._reader = MemoryReader(proc.pid)
        self._emit = emit
        self._replies: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listening = asyncio.ensure_future(self._listen())
        self._target: dict[str, Any] | None = None
        self.server_errors: dict[str, Any] | None = None  # exceptions in the user's server code, as last reported

    def memory(self) -> tuple[int, int]:
        try:
            return self._reader.read()
        except ProcessGone:
            raise WorkloadError("the server process ended unexpectedly") from None

    async def _listen(self) -> None:
        """Split what the server says: its loop-lag readings go on as events, the rest answers commands."""
        assert self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            message = json.loads(line)
            if "lag" in message:
                self._emit(events.lag(message["t"], message["lag"]))
            elif "blocked_s" in message:
                # Nothing more can be asked of a server whose loop is blocked, and the load waits on it: the run
                # ends here, with the reason, and this process with it (the parent keeps what came before).
                self._emit(events.end(False, blocking.describe(message["blocked_s"], message.get("where"))))
                self._proc.kill()
                os._exit(1)
            else:
                self._replies.put_nowait(message)
        self._replies.put_nowait(None)

    async def ready(self) -> str | None:
        """None once the server process is ready; else why it could not start."""
        reply = await self._replies.get()
        if reply is None:
            return "the server process failed to start"
        if not reply.get("ok"):
            return str(reply.get("error") or "the server process failed to start")
        self._target = reply.get("target")
        return None

    def describe(self) -> dict[str, Any] | None:
        """What the server process serves (the record's target block), as it said when it was ready."""
        return self._target

    async def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps(command) + "\n").encode())
        await self._proc.stdin.drain()
        reply = await self._replies.get()
        if reply is None:
            raise WorkloadError("the server process ended unexpectedly")
        if not reply.get("ok"):
            raise WorkloadError(reply.get("error", "the server process refused a command"))
        return reply

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        return int((await self._ask({"cmd": "start", "port": port, "leak_bytes": leak_bytes}))["port"])

    async def traced_memory(self) -> tuple[int, int] | None:
        traced = (await self._ask({"cmd": "traced"}))["traced"]
        return None if traced is None else (int(traced[0]), int(traced[1]))

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        return (await self._ask({"cmd": "snapshot", "which": which}))["sites"]

    async def collect_garbage(self) -> None:
        await self._ask({"cmd": "collect"})

    async def stop_server(self) -> None:
        await self._ask({"cmd": "stop"})

    async def settle(self, connections: int) -> None:
        reply = await self._ask({"cmd": "settle", "connections": connections})
        self.server_errors = reply.get("errors")

    async def close(self) -> None:
        self._reader.close()
        if self._proc.returncode is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()


async def _load_main(config: RunConfig) -> None:
    def emit(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    if config.is_external:
        # A server of the user's, already listening (the parent started a --spawn command): measured by PID.
        from ..targets.external import on_external_target

        await on_external_target(config, lambda target: _run_until_stopped(config, target, emit), emit)
        return
    serve = [*worker_command("serve"), f"--lag-ms={config.interval_ms}",
             *(["--trace"] if config.trace_allocations else []),
             *([f"--server={config.server}", f"--app-dir={config.app_dir or os.curdir}"] if config.server else [])]
    proc = await asyncio.create_subprocess_exec(
        *serve, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, **spawn_options()
    )
    target = _ServerChild(proc, emit)
    problem = await target.ready()
    if problem is not None:
        emit(events.end(False, problem))
        await target.close()
        return
    try:
        await _run_until_stopped(config, target, emit)
    finally:
        await target.close()


async def _run_until_stopped(config: RunConfig, target: Any, emit: Callable[[dict[str, Any]], None]) -> None:
    """Run the scenarios until they end or the parent says `stop` (or closes stdin)."""
    stopping = threading.Event()
    sampling = asyncio.Event()  # the parent says "sampling" once it samples the target
    task = asyncio.ensure_future(run_scenarios(config, target, emit, stopping, sampling))

    def on_line(line: str) -> None:
        if line == "sampling":
            sampling.set()
        elif line in ("stop", ""):
            stopping.set()
            if config.scenario != "observe" or line == "":
                task.cancel()  # observe ends by itself at its next reading: a stop is how it is meant to end

    _watch_stdin(asyncio.get_running_loop(), on_line)
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _serve_main(trace: bool, lag_ms: int, spec: str | None = None, app_dir: str | None = None) -> None:
    tracer = Tracer()
    if trace:
        # Before the server exists (and before a user's module is imported), so that all of its allocations are traced.
        tracer.start()
    commands: asyncio.Queue[str] = asyncio.Queue()
    _watch_stdin(asyncio.get_running_loop(), commands.put_nowait)
    # stdout carries the replies; what the user's server prints goes to stderr instead of breaking them.
    channel, sys.stdout = sys.stdout, sys.stderr

    lock = threading.Lock()  # the loop watch replies from a thread of its own

    def reply(**fields: Any) -> None:
        with lock:
            channel.write(json.dumps(fields) + "\n")
            channel.flush()

    watch = LoopWatch(lambda stale, where: reply(blocked_s=round(stale, 1), where=where), app_dir)

    def report_lag(t: float, lag: float) -> None:
        reply(t=t, lag=lag)

    try:
        server = make_server(spec, app_dir, server_process=True)
    except ServerLoadError as exc:
        reply(ok=False, error=str(exc))
        return
    describe = getattr(server, "describe", None)
    reply(ok=True, ready=True, pid=os.getpid(), target=describe() if describe else None)
    lag_probe = asyncio.ensure_future(watch_lag(lag_ms / 1000, report_lag))
    if spec:
        watch.start()  # only a user's server can block this loop
    while (line := await commands.get()) != "":
        if line == "noop":
            continue
        command = json.loads(line)
        try:
            if command["cmd"] == "start":
                port = await server.start(int(command["port"]), int(command.get("leak_bytes", 0)))
                reply(ok=True, port=port)
            elif command["cmd"] == "settle":
                settled = await server.settle(int(command["connections"]))
                errors = getattr(server, "errors", None)
                reply(ok=True, settled=settled, errors=errors.to_dict() if errors and errors.connections else None)
            elif command["cmd"] == "traced":
                reply(ok=True, traced=tracer.traced_bytes())
            elif command["cmd"] == "collect":
                gc.collect()
                reply(ok=True)
            elif command["cmd"] == "snapshot":
                reply(ok=True, sites=tracer.snapshot(str(command["which"])))
            elif command["cmd"] == "stop":
                await server.stop()
                reply(ok=True)
            else:
                reply(ok=False, error=f"unknown command {command['cmd']!r}")
        except WorkloadError as exc:
            reply(ok=False, error=str(exc))
    watch.stop()
    lag_probe.cancel()
    server.abort()


def main(argv: list[str]) -> int:
    """Run the load or the serve role; argv is what follows the module name (entry.run_worker routes the rest)."""
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    pin_malloc_thresholds()  # before the first read: its cost must not depend on what came first
    role = argv[0] if argv else ""
    if role == "load" and len(argv) == 2:
        config = RunConfig.from_dict(json.loads(argv[1]))
        if config.effective_load_loop() == "uvloop":
            import uvloop  # the extra `fast`: the same load with fewer cycles per request (docs/scale.md)

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_load_main(config))
        else:
            asyncio.run(_load_main(config))
        return 0
    if role == "serve":
        options = argparse.ArgumentParser(prog="netmem worker serve")
        options.add_argument("--trace", action="store_true")
        options.add_argument("--lag-ms", type=int, default=100)
        options.add_argument("--server")
        options.add_argument("--app-dir")
        parsed = options.parse_args(argv[1:])
        asyncio.run(_serve_main(trace=parsed.trace, lag_ms=parsed.lag_ms, spec=parsed.server, app_dir=parsed.app_dir))
        return 0
    print(f"netmem worker: unknown role {argv!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
