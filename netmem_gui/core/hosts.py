"""Hosts, where the workload runs: `inapp` on this process's asyncio loop, `isolated` in child processes."""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import subprocess
import threading
from typing import Any, Protocol

import psutil

from .config import RunConfig
from .scenarios import Emit, run_scenarios
from .tracing import Tracer
from .worker import worker_command
from .workload import EchoServer

STOP_GRACE_S = 10.0


class Host(Protocol):
    name: str

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        """Run the workload, emitting its events, until it ends or `stop` is set; always emits `end`."""


class _ThisProcess:
    """The in-app target: the server runs on this loop and this process is the one measured."""

    role = "app"

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.pid = os.getpid()
        self._ps = psutil.Process(self.pid)
        self._server = EchoServer()
        self._tracer = tracer or Tracer()

    def memory(self) -> tuple[int, int]:
        info = self._ps.memory_info()
        return info.rss, info.vms

    async def start_server(self, port: int, leak_bytes: int = 0) -> int:
        return await self._server.start(port, leak_bytes)

    async def traced_memory(self) -> tuple[int, int] | None:
        return self._tracer.traced_bytes()

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        return self._tracer.snapshot(which)

    async def collect_garbage(self) -> None:
        gc.collect()

    async def stop_server(self) -> None:
        await self._server.stop()

    async def settle(self, connections: int) -> None:
        await self._server.settle(connections)


async def _until_done_or_stopped(work: asyncio.Future, stop: asyncio.Event) -> bool:
    """Wait for `work`; True if it finished, False if `stop` was set first."""
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    return work.done()


class InAppHost:
    """Runs the workload on the running asyncio loop of this process (the GUI's, or the CLI's)."""

    name = "inapp"

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        tracer = Tracer()
        if config.trace_allocations:
            # In-app, tracemalloc traces the whole process: the host's own allocations are in its figures.
            tracer.start()
        task = asyncio.ensure_future(run_scenarios(config, _ThisProcess(tracer), emit))
        try:
            if not await _until_done_or_stopped(task, stop):
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise
        finally:
            tracer.stop()


class IsolatedHost:
    """Runs the workload in a child process on a plain asyncio loop and relays its events over a pipe."""

    name = "isolated"

    async def run(self, config: RunConfig, emit: Emit, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        proc = subprocess.Popen(
            [*worker_command("load"), json.dumps(config.to_dict())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        exited: asyncio.Future[int] = loop.create_future()
        errors: collections.deque[str] = collections.deque(maxlen=20)
        ended = False

        def relay(event: dict) -> None:
            nonlocal ended
            ended = ended or event.get("type") == "end"
            emit(event)

        def read_events() -> None:
            # Events cross from this thread to the loop one by one, in order, as they arrive.
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    errors.append(line.decode(errors="replace").strip())
                    continue
                loop.call_soon_threadsafe(relay, event)
            code = proc.wait()
            loop.call_soon_threadsafe(lambda: exited.done() or exited.set_result(code))

        def read_errors() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                errors.append(line.decode(errors="replace").rstrip())

        threading.Thread(target=read_events, name="netmem-events", daemon=True).start()
        threading.Thread(target=read_errors, name="netmem-stderr", daemon=True).start()
        try:
            if not await _until_done_or_stopped(exited, stop):
                _tell(proc, "stop")
                try:
                    await asyncio.wait_for(asyncio.shield(exited), STOP_GRACE_S)
                except TimeoutError:
                    proc.kill()
            await exited
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not ended:
            last = next((e for e in reversed(errors) if e.strip()), f"exit status {proc.returncode}")
            emit({"type": "end", "completed": False, "reason": f"the workload process failed: {last}"})


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

