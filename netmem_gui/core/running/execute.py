"""Executing a run: the host's workload, the sampler, a spawned target and the Locust watch, until the run ends."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
from typing import Any

import psutil

from .. import events
from ..events import Event
from ..measuring.locust import LocustWatch, check_url
from ..measuring.memory import MemoryReader, ProcessGone
from ..measuring.native import NativeTrace
from ..measuring.sampler import Sampler
from ..measuring.socket_sampler import KernelSampler
from ..measuring.sockets import process_tree
from ..runs.run import Run
from ..targets import external, processes, prometheus, spawn
from .hosts import Host, make_host


async def execute(run: Run, stop: asyncio.Event | None = None, host: Host | None = None) -> Run:
    """Run the workload on `host` (the config's, by default), sampling the measured process until it ends.

    Setting `stop` ends the run early: every socket is closed, any child process ends, and the run is kept,
    marked incomplete.
    """
    host = host or make_host(run.config.host)
    stop = stop or asyncio.Event()
    sampler: Sampler | None = None
    kernel: KernelSampler | None = None  # the kernel's share of the target's sockets, read less often than RSS
    config = run.config
    spawned: spawn.Spawned | None = None
    native: NativeTrace | None = None  # heaptrack's file (--trace-allocations), LeakSanitizer's reports
    if config.target_kind() == "spawn":
        # Started here, in the process that outlives the run, so that it is stopped whatever happens to the
        # load; the load side then sees a running process, as with --attach. TargetError if it never listens.
        native = NativeTrace(config.trace_allocations)
        try:
            spawned = await spawn.start(config, stop, native.wrapper(), native.environment())
        except spawn.StoppedStarting as exc:
            native.close()
            run.handle(events.end(False, str(exc)))
            return run
        except BaseException:
            native.close()
            raise
        # The load side runs no tracemalloc here: the sites come from heaptrack, read once the server has exited.
        config = dataclasses.replace(config, attach_pid=spawned.measured_pid, spawn=None, address=spawned.address,
                                     trace_allocations=False)
        run.target_info["command"] = shlex.join(spawned.argv)

    def on_event(event: Event) -> None:
        nonlocal sampler, kernel
        if event["type"] == "target" and config.target_kind() == "prometheus":
            # No PID here: the readings arrive as the observe scenario's (targets/prometheus.py); Locust is polled.
            if run.config.locust_url and run.load is None:
                run.load = watch_locust(run, event["pid"], stop)
                run.load.start()
        elif event["type"] == "target" and sampler is None:
            try:
                reader = external.memory_reader(event["pid"], config) if config.is_external else None
                sampler = Sampler(event["pid"], config.interval_ms / 1000, run.t0, run.samples, reader)
                sampler.start()
                kernel = KernelSampler(process_tree(event["pid"], config.include_children),
                                       config.interval_ms / 1000, run.t0, run.kernel)
                kernel.start()
                if run.config.locust_url and run.load is None:
                    run.load = watch_locust(run, event["pid"], stop)
                    run.load.start()
            except psutil.Error:
                pass  # the server process has just gone: the load side ends the run and says so
        elif event["type"] == "end":
            if sampler is not None:
                sampler.stop()
            if kernel is not None:
                kernel.stop()
            if run.load is not None:
                run.load.stop()
        run.handle(event)

    if run.journal is not None:
        run.journal.start(JOURNAL_FLUSH_S)
    try:
        await host.run(config, on_event, stop)
    finally:
        if spawned is not None:
            # Off the loop (it may wait out the grace period), and finished even if this task is cancelled again.
            await asyncio.shield(asyncio.get_running_loop().run_in_executor(None, spawned.stop))
        if spawned is not None and native is not None:
            run.native_sites = await asyncio.shield(asyncio.get_running_loop().run_in_executor(
                None, native.read, spawned.trace_note))
        if sampler is not None:
            sampler.stop()
            run.sampler_cpu_s = sampler.cpu_s
        if kernel is not None:
            kernel.stop()
        if run.load is not None:
            run.load.stop()
        if not run.ended:
            run.handle(events.end(False, "stopped before the end"))
        if run.journal is not None:
            run.journal.close()  # complete up to the end, until the final record replaces it
    return run


JOURNAL_FLUSH_S = 1.0


def watch_locust(run: Run, pid: int, stop: asyncio.Event) -> LocustWatch:
    """The Locust watch of a run: polls at the sampling interval; its checkpoints and stop reach the run on the
    loop's thread, as every event does."""
    loop = asyncio.get_running_loop()
    remote = run.config.target_kind() == "prometheus"
    if remote:  # memory (and connections, when queried) from Prometheus at each poll
        latest = prometheus.LatestMemory(run.config)
        reader: Any = latest

        def count() -> int | None:
            return latest.connections()
    elif run.config.is_external:  # the same memory as the samples (a process tree, USS ...)
        tree = external.memory_reader(pid, run.config)
        reader = tree

        def count() -> int | None:
            return processes.established_connections(tree.pids())
    else:
        reader = MemoryReader(pid)

        def count() -> int | None:
            return processes.established_connections([pid])

    def mark(label: str, when: float) -> None:
        try:
            rss, vms = reader.read()
        except ProcessGone:
            return
        event = events.checkpoint(run.scenario or run.config.scenario_list()[0], label, when, rss, vms,
                                  count() or 0, 0)
        loop.call_soon_threadsafe(run.handle, event)

    on_stopped = (lambda: loop.call_soon_threadsafe(stop.set)) if run.config.until_locust_stops else None
    assert run.config.locust_url is not None
    return LocustWatch(check_url(run.config.locust_url, remote=remote), run.config.interval_ms / 1000, run.t0,
                       reader.read, count, mark, on_stopped)
