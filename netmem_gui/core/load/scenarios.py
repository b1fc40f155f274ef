"""The scenarios (connections, messages, stability, all): what the clients do and where checkpoints fall."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .. import events
from ..config import RunConfig
from ..events import Emit
from . import backpressure
from .protocols import Client, ReplyWatch, make_client
from .request_loop import CHECKPOINT, DONE, RequestLoop, takes_over
from .workload import CONNECT_TIMEOUT_S, LOOPBACK, ClientPool, make_payload

PROGRESS_EVERY_S = 0.25
# How long a run in a process of its own waits for its parent to start sampling the target before it goes on.
SAMPLING_WAIT_S = 10.0
STABILITY_MESSAGE = b"ping"
# Per-cycle memory readings travel to the parent in batches of this many: the load process holds at most one
# batch, and nothing of the series is ever stored in the process being measured.
CYCLE_BATCH = 100
# The first fifth of the cycles is warm-up (allocator arenas, free lists, caches); analysis.WARMUP_FRACTION
# leaves the same share out of the fit, and --trace-allocations takes its first snapshot there. A copy, not an
# import: analysis imports numpy, which the server process (it imports this module) must not load.
WARMUP_FRACTION = 0.2


class Target(Protocol):
    """The process whose memory is measured, and the echo server inside it.

    A target may also have `protocol` (the clients then speak it, see protocols.py, to `client_host`),
    `owns_server = False` (netmem did not start its server and does not stop it), `describe()` (what it is, for
    the record), `processes()` (a per-process breakdown at each checkpoint) and `connections()` (established TCP
    connections it holds); targets.external.ExternalTarget has all of them, netmem's own echo server none.
    """

    pid: int
    role: str  # "app" (in-app: everything in one process), "server" (isolated: the server's own process), "target"

    def memory(self) -> tuple[int, int]:
        """RSS and VMS of the measured process, in bytes."""

    async def start_server(self, port: int, leak_bytes: int = 0) -> int: ...

    async def traced_memory(self) -> tuple[int, int] | None:
        """tracemalloc in the server's process: (live traced bytes, its own memory), or None when not tracing."""

    async def snapshot(self, which: str) -> list[dict[str, Any]] | None:
        """tracemalloc snapshot in the server's process: "first" keeps one, "last" returns the sites grown since."""

    async def collect_garbage(self) -> None:
        """Run Python's cyclic garbage collector in the server's process."""

    async def stop_server(self) -> None: ...

    async def settle(self, connections: int) -> None:
        """Return once the server holds `connections` connections, or after a few seconds."""


class StopRequested(Exception):
    """Raised inside a scenario at its next step once a stop was asked for."""


class Reporter:
    """Turns what a scenario does into events: phases, checkpoints, progress and raw results.

    It also carries the stop request: every scenario reports progress after each step, and that is
    where a requested stop takes effect. Cancelling the task alone is not enough, since a cancellation
    can be lost in `asyncio.wait_for` on Python 3.11 when the awaited operation finishes at the same time.
    """

    def __init__(self, emit: Emit, target: Target, stop: threading.Event | None = None,
                 tracing: bool = False) -> None:
        self._emit = emit
        self._target = target
        self._stop = stop or threading.Event()
        self._tracing = tracing
        self._last_progress = 0.0
        self._batch_scenario = ""
        self._batch_first = 0
        self._batch_rss: list[int] = []
        self._batch_traced: list[int] = []
        self._batch_t: list[float] = []
        self._first_label: str | None = None
        self._errors: dict[str, Any] | None = None

    async def cycle(self, scenario: str, index: int) -> None:
        """Read the server's memory after cycle `index` (one RSS read by PID, ~7 µs) and queue it for the parent."""
        rss, _ = self._target.memory()
        if not self._batch_rss:
            self._batch_scenario, self._batch_first = scenario, index
        if self._tracing:
            traced = await self._target.traced_memory()
            if traced is not None:
                # RSS is kept as read: tracemalloc's own memory (traced[1]) is what it has allocated, not what is
                # resident, and subtracting it made RSS slopes of leaking runs negative.
                self._batch_traced.append(traced[0])
        self._batch_rss.append(rss)
        self._batch_t.append(time.monotonic())
        if len(self._batch_rss) >= CYCLE_BATCH:
            self.flush_cycles()

    def flush_cycles(self) -> None:
        """Send the queued per-cycle readings as one `cycles` event."""
        if not self._batch_rss:
            return
        traced = self._batch_traced if len(self._batch_traced) == len(self._batch_rss) else None
        self._emit(events.cycles(self._batch_scenario, self._batch_first, self._batch_rss, traced, self._batch_t))
        self._batch_rss, self._batch_traced, self._batch_t = [], [], []

    async def allocations(self, scenario: str, which: str, label: str) -> None:
        """--trace-allocations: snapshot at the first ("first") and last ("last") steady-state checkpoint."""
        if not self._tracing:
            return
        sites = await self._target.snapshot(which)
        if which == "first":
            self._first_label = label
        elif sites is not None:
            self._emit(events.allocations(scenario, self._first_label, label, sites))

    def phase(self, scenario: str, phase: str) -> None:
        self._emit(events.phase(scenario, phase, time.monotonic()))

    async def checkpoint(self, scenario: str, label: str, connections: int, messages: int = 0,
                         settle: bool = True) -> None:
        # The server accepts and closes connections after the clients see them done: wait for it to catch
        # up, so that a checkpoint measures the state it is labelled with.
        if settle:
            await self._target.settle(connections)
        errors = getattr(self._target, "server_errors", None)
        if errors is not None and errors != self._errors:
            self._errors = errors
            self._emit(events.server_errors(errors["connections"], errors["first"]))
        rss, vms = self._target.memory()
        processes = getattr(self._target, "processes", None)
        self._emit(events.checkpoint(scenario, label, time.monotonic(), rss, vms, connections, messages,
                                     processes() if processes is not None else None))

    def observations(self, scenario: str, t: list[float], connections: list[int], memory: list[int]) -> None:
        """A batch of the observe scenario's readings: (time, established connections, memory)."""
        self._emit(events.observations(scenario, t, connections, memory))

    def sent(self, scenario: str, t: list[float], sent: list[int], memory: list[int], kernel: list[int] | None) -> None:
        """A batch of the backpressure scenario's readings: (time, bytes its clients had sent, memory, the kernel's
        share of the server's sockets or None)."""
        self._emit(events.sent(scenario, t, sent, memory, kernel))

    def progress(self, scenario: str, done: float, total: float, unit: str, force: bool = False) -> None:
        if self._stop.is_set():
            raise StopRequested
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_EVERY_S:
            self._last_progress = now
            self._emit(events.progress(scenario, done, total, unit))

    def result(self, scenario: str, **counts: Any) -> None:
        self._emit(events.result(scenario, counts))


async def _baseline_and_start(name: str, cfg: RunConfig, target: Target, rep: Reporter) -> int:
    rep.phase(name, "start")
    await target.collect_garbage()  # in the measured process, on the thread that may collect there
    await rep.checkpoint(name, "Baseline", 0)
    port = await target.start_server(cfg.port, cfg.inject_leak_bytes)
    await rep.checkpoint(name, "After server start", 0)
    return port


async def connections_scenario(cfg: RunConfig, target: Target, rep: Reporter) -> None:
    """Open N connections in batches with a checkpoint every few, then close the clients and stop the server.

    With --rounds R > 1 the open-all/close-all round is repeated; each round ends with a checkpoint and one
    reading of the per-round series that the leak verdict fits.
    """
    name = "connections"
    wanted = cfg.connections_for(name)
    rounds = cfg.rounds
    steady_from = max(1, int(rounds * WARMUP_FRACTION)) if rounds > 1 else 0
    port = await _baseline_and_start(name, cfg, target, rep)
    if steady_from == 0:
        await rep.allocations(name, "first", "After server start")
    client = _client(target, port, cfg)
    pool = ClientPool(port) if client is None else ClientPool(port, client.host, _greeting(client))
    requested = 0
    first_round_created = 0
    try:
        for r in range(1, rounds + 1):
            rep.phase(name, "connect")
            every = cfg.connections_checkpoint_every
            before = pool.attempted
            while (done := pool.attempted - before) < wanted:
                await pool.open(min(every - done % every, wanted - done), cfg.connect_batch)
                done = pool.attempted - before
                rep.progress(name, pool.attempted, wanted * rounds, "connections",
                             force=pool.attempted == wanted * rounds)
                if r == 1 and (done % every == 0 or done == wanted):
                    await rep.checkpoint(name, f"After {done} connections", pool.open_connections)
            requested += wanted
            if r == 1:
                first_round_created = pool.created
            if r > 1:
                await rep.checkpoint(name, f"Round {r}: after {wanted} connections", pool.open_connections)
            rep.phase(name, "close")
            await pool.close()
            label = "After closing clients" if r == 1 else f"Round {r}: after closing clients"
            await rep.checkpoint(name, label, 0)
            if rounds > 1:
                # A round's closed transports die in reference cycles; 100 connections' worth of garbage a round
                # piles up until the collector's oldest generation runs, which read as ~330 B per connection per
                # round of growth on a clean server. Collect it, so the reading holds what the server keeps.
                await target.collect_garbage()
                await rep.cycle(name, r)
                if r == steady_from:
                    await rep.allocations(name, "first", label)
        rep.flush_cycles()
        await rep.allocations(name, "last", label)
    finally:
        rep.flush_cycles()
        pool.abort()
        # What was asked for, whether or not the run got that far: "0 of 0 (failed: 0)" was said of a run stopped
        # before its first connection.
        rep.result(name, requested=max(requested, wanted * rounds), created=pool.created,
                   failed=pool.failed, last_error=pool.last_error, rounds=rounds,
                   first_round_created=first_round_created)
    await _stop_server(name, target, rep)


def _owns_server(target: Target) -> bool:
    return getattr(target, "owns_server", True)


async def _stop_server(name: str, target: Target, rep: Reporter, messages: int = 0) -> None:
    """Stop netmem's own server and measure after it; a server netmem did not start is left as it is."""
    if not _owns_server(target):
        return
    rep.phase(name, "stop")
    await target.stop_server()
    await rep.checkpoint(name, "After server stop", 0, messages)


def _client(target: Target, port: int, cfg: RunConfig) -> Client | None:
    """The protocol client for a server of the user's; None for echo to netmem's own server (the fast path)."""
    protocol = getattr(target, "protocol", None)
    if protocol is None and cfg.target_kind() == "server" and cfg.protocol != "echo":
        protocol = cfg.protocol  # --server: the user's code in netmem's server process, spoken to in its protocol
    if protocol is None:
        return None
    return make_client(protocol, getattr(target, "client_host", LOOPBACK), port, getattr(target, "path", "/"))


def _greeting(client: Client) -> Callable[..., Any] | None:
    return client.greet if type(client).greet is not Client.greet else None


async def messages_scenario(cfg: RunConfig, target: Target, rep: Reporter) -> None:
    """Send M messages over K connections, each echoed back and checked; checkpoints every few thousand."""
    name = "messages"
    clients, total, size = cfg.connections_for(name), cfg.messages, cfg.message_size
    every = cfg.messages_checkpoint_every
    port = await _baseline_and_start(name, cfg, target, rep)
    client = _client(target, port, cfg)
    pool = ClientPool(port) if client is None else ClientPool(port, client.host)
    claimed = echoed = mismatched = broken = reconnects = 0
    elapsed = 0.0
    try:
        rep.phase(name, "connect")
        await pool.open(clients, cfg.connect_batch)
        await rep.checkpoint(name, "After connecting clients", pool.open_connections)
        payload = make_payload(size)

        def answered_one(ok: bool) -> tuple[int, int] | None:
            """Count one reply (as echoed when it was right) and report the progress it makes; when a checkpoint
            is due, the counts it is taken at (a plain function: a coroutine per message was measurable in the hot
            path, and other connections may count more before the checkpoint runs)."""
            nonlocal echoed, mismatched
            if ok:
                echoed += 1
            else:
                mismatched += 1
            done = echoed + mismatched
            rep.progress(name, done, total, "messages")
            return (done, echoed) if done % every == 0 else None

        async def checkpoint(due: tuple[int, int]) -> None:
            done, echoed_then = due
            await rep.checkpoint(name, f"After {done} messages", pool.open_connections, echoed_then)

        def check_open(writer: asyncio.StreamWriter) -> None:
            """Before a write: a closed connection is a broken one (uvloop raises on a write to a closed
            transport, asyncio drops it and the read that follows fails)."""
            if writer.transport.is_closing():
                raise ConnectionResetError("the connection is closed")

        def claim() -> bool:
            """Claim one of the messages left to send; False when none is left."""
            nonlocal claimed
            if claimed >= total:
                return False
            claimed += 1
            return True

        async def fast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, expected: bytes,
                       watch: ReplyWatch | None) -> tuple[str | None, int]:
            """Drive the connection from its transport's callbacks while its replies are right (RequestLoop).
            Returns why it stopped (DONE; IRREGULAR or LOST, after which the general code below reads the reply a
            request may be owed and goes on; None: the stream held something already, so the general code does it
            all) and how many replies were right."""
            if not takes_over(reader, writer):
                return None, 0
            driver = RequestLoop(writer, request, expected, claim, answered_one, watch)
            try:
                while (why := await driver.run()) == CHECKPOINT:
                    await checkpoint(driver.checkpoint_due)
            finally:
                driver.give_back()  # cancelled while it ran: a stop, or the watch's deadline
            return why, driver.answered

        async def client_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal broken
            why, _ = await fast(reader, writer, payload, payload, None)
            if why == DONE:
                return
            owed = why is not None  # a request sent, its reply (or the close) not yet read
            while owed or claim():
                try:
                    if not owed:
                        check_open(writer)
                        writer.write(payload)
                    owed = False
                    reply = await reader.readexactly(size)
                except (OSError, asyncio.IncompleteReadError):
                    broken += 1
                    return
                if due := answered_one(reply == payload):
                    await checkpoint(due)

        async def protocol_loop(index: int) -> None:
            """A target of the user's: its protocol's request per message; reconnects when the server closes."""
            nonlocal broken, reconnects
            assert client is not None
            reader, writer = pool.clients[index]
            watch = ReplyWatch()
            try:
                owed, answered = False, 0  # answered on this connection: one closed before its first reply didn't
                # understand the request
                exact = client.request_and_reply(payload)
                if exact is not None:
                    why, answered = await fast(reader, writer, *exact, watch)
                    if why == DONE:
                        return
                    owed = why is not None
                while owed or claim():
                    try:
                        if owed:
                            owed = False
                            ok, alive = await client.reply(reader, payload, watch), True
                        else:
                            check_open(writer)
                            ok, alive = await client.exchange(reader, writer, payload, watch)
                        answered += 1
                        if not alive:
                            writer.close()
                            reader, writer = await client.connect()
                            pool.clients[index] = (reader, writer)
                            reconnects += 1
                            answered = 0
                    except asyncio.IncompleteReadError as exc:
                        watch.close()  # what follows may take a while, and no reply is awaited any more
                        if not answered and not exc.partial:
                            raise await client.closed_without_reply() from None
                        broken += 1
                        return
                    except OSError:
                        broken += 1
                        return
                    if due := answered_one(ok):
                        await checkpoint(due)
            except asyncio.CancelledError:
                if not watch.expired():
                    raise
                raise await client.no_reply() from None
            finally:
                watch.close()

        rep.phase(name, "send")
        started = time.perf_counter()
        try:
            if client is None:
                await asyncio.gather(*(client_loop(r, w) for r, w in pool.clients))
            else:
                await asyncio.gather(*(protocol_loop(i) for i in range(len(pool.clients))))
        finally:
            elapsed = time.perf_counter() - started
        rep.progress(name, echoed + mismatched, total, "messages", force=True)
        await rep.checkpoint(name, "After processing", pool.open_connections, echoed)
        rep.phase(name, "cleanup")
        await pool.close()
    finally:
        pool.abort()
        rep.result(name, requested=total, message_size=size, clients=clients, clients_created=pool.created,
                   echoed=echoed, mismatched=mismatched, broken_connections=broken, elapsed_s=elapsed,
                   **({"reconnects": reconnects} if client is not None else {}))
    await target.stop_server()
    await rep.checkpoint(name, "After cleanup", 0, echoed)


async def _one_cycle(port: int) -> bool:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(LOOPBACK, port), CONNECT_TIMEOUT_S)
    try:
        writer.write(STABILITY_MESSAGE)
        reply = await asyncio.wait_for(reader.readexactly(len(STABILITY_MESSAGE)), CONNECT_TIMEOUT_S)
    finally:
        writer.close()
        await writer.wait_closed()
    return reply == STABILITY_MESSAGE


async def stability_scenario(cfg: RunConfig, target: Target, rep: Reporter) -> None:
    """For D seconds: connect, send 4 bytes, read the echo, close, pause; a checkpoint every C cycles.

    After every cycle the server's memory is read once and streamed to the parent for the leak verdict.
    """
    name = "stability"
    port = await _baseline_and_start(name, cfg, target, rep)
    client = _client(target, port, cfg)
    cycles = ok = failed = 0
    pause = cfg.stability_pause_ms / 1000
    warmup_s = cfg.duration_s * WARMUP_FRACTION
    warm = False
    started = time.monotonic()
    try:
        rep.phase(name, "cycles")
        while (elapsed := time.monotonic() - started) < cfg.duration_s:
            cycles += 1
            try:
                if await (_one_cycle(port) if client is None else client.cycle()):
                    ok += 1
                else:
                    failed += 1
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                failed += 1
            await rep.cycle(name, cycles)
            if cycles % cfg.stability_checkpoint_every == 0:
                rep.flush_cycles()
                await rep.checkpoint(name, f"After {cycles} cycles", 0, ok)
            if not warm and elapsed >= warmup_s:
                warm = True
                await rep.allocations(name, "first", f"After {cycles} cycles (end of warm-up)")
            rep.progress(name, round(elapsed, 2), cfg.duration_s, "seconds")
            await asyncio.sleep(pause)
        rep.flush_cycles()
        rep.progress(name, cfg.duration_s, cfg.duration_s, "seconds", force=True)
        await rep.allocations(name, "last", f"After {cycles} cycles")
        await rep.checkpoint(name, "After stability run", 0, ok)
    finally:
        rep.flush_cycles()
        rep.result(name, duration_s=time.monotonic() - started, cycles=cycles, cycles_ok=ok,
                   cycles_failed=failed)
    await _stop_server(name, target, rep, ok)


OBSERVE_BATCH = 50


async def observe_scenario(cfg: RunConfig, target: Target, rep: Reporter) -> None:
    """No load: for D seconds (or until stopped), read the target's memory and count its established TCP
    connections every interval, so that memory can be fitted against connections someone else makes."""
    name = "observe"
    count = target.connections_now  # type: ignore[attr-defined]  # only the user's servers are observed (config)
    rep.phase(name, "observe")
    await rep.checkpoint(name, "Start of observation", count(), settle=False)
    interval = cfg.interval_ms / 1000
    started = time.monotonic()
    samples = ticks = 0
    batch: tuple[list[float], list[int], list[int]] = ([], [], [])
    stopped = False
    # A remote source (targets/prometheus.py) gives no row, or a gap's rows at once: (time, connections, memory).
    readings = getattr(target, "readings", None)
    try:
        while (elapsed := time.monotonic() - started) < cfg.duration_s:
            rows = readings() if readings is not None else [(time.monotonic(), count(), target.memory()[0])]
            for row in rows:
                for column, value in zip(batch, row, strict=True):
                    column.append(value)  # type: ignore[attr-defined]
            samples += len(rows)
            ticks += 1
            if len(batch[0]) >= OBSERVE_BATCH:
                rep.observations(name, *batch)
                batch = ([], [], [])
            try:
                rep.progress(name, round(elapsed, 1), cfg.duration_s, "seconds")
            except StopRequested:
                stopped = True  # Ctrl-C or Stop is how an open-ended observation ends: a complete run
                break
            await asyncio.sleep(max(0.0, started + ticks * interval - time.monotonic()))
    finally:
        if batch[0]:
            rep.observations(name, *batch)
        observed = getattr(target, "observed", None)  # a remote source's series count and gaps
        rep.result(name, duration_s=time.monotonic() - started, samples=samples, stopped_by_user=stopped,
                   **(observed() if observed is not None else {}))
    await rep.checkpoint(name, "End of observation", count(), settle=False)


async def backpressure_scenario(cfg: RunConfig, target: Target, rep: Reporter) -> None:
    """Clients send as fast as the server takes it and read slowly or never (load/backpressure.py)."""
    name = backpressure.NAME
    port = await _baseline_and_start(name, cfg, target, rep)
    await backpressure.run(cfg, target, rep, port, _client(target, port, cfg))
    await _stop_server(name, target, rep)


SCENARIO_STEPS = {
    "connections": connections_scenario,
    "messages": messages_scenario,
    "stability": stability_scenario,
    "observe": observe_scenario,
    "backpressure": backpressure_scenario,
}


async def run_scenarios(cfg: RunConfig, target: Target, emit: Emit, stop: threading.Event | None = None,
                        sampling: asyncio.Event | None = None) -> None:
    """Run the configured scenario(s) against `target`, always ending with one `end` event.

    Setting `stop` (Stop, Ctrl-C, a closed window), or cancelling, ends the run with `completed: false`; the
    scenarios' own `finally` blocks have closed every client by then, and the server is stopped here. With
    `sampling`, the scenarios wait after the `target` event until it is set (the parent samples the target now),
    for at most SAMPLING_WAIT_S.
    """
    rep = Reporter(emit, target, stop, tracing=cfg.trace_allocations)
    describe = getattr(target, "describe", None)
    emit(events.target(target.pid, target.role, describe() if describe else None))
    try:
        if sampling is not None:
            # In another process the sampler starts when the parent's loop gets to the target event; on a busy
            # machine a small run could be over by then, its server gone, with nothing sampled (seen in CI).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sampling.wait(), SAMPLING_WAIT_S)
        for name in cfg.scenario_list():
            await SCENARIO_STEPS[name](cfg, target, rep)
    except (asyncio.CancelledError, StopRequested) as exc:
        await _quietly_stop(target)
        emit(events.end(False, "stopped before the end"))
        if isinstance(exc, asyncio.CancelledError):
            raise
        return
    except Exception as exc:
        await _quietly_stop(target)
        # A target that died mid-run makes its clients fail in ways that look like other errors: say it died.
        gone = getattr(target, "gone", None)
        emit(events.end(False, (gone and gone()) or _one_line(exc)))
        return
    emit(events.end(True))


async def _quietly_stop(target: Target) -> None:
    try:
        await asyncio.shield(target.stop_server())
    except Exception:
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
