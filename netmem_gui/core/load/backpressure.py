"""The backpressure scenario: clients send as fast as the server takes it and read slowly or never.

Each client is an asyncio.Protocol with flow control on both sides, so netmem itself stays bounded whatever the
server does: it writes only while its transport's buffer is under WRITE_HIGH (asyncio calls pause_writing past
it), and it reads only as fast as --read-rate allows (pause_reading otherwise; with 0, never), so at most a
socket's worth of replies waits in the kernel for it. Sending stops at --duration or --send-limit, whichever
comes first, and the clients are then aborted (a close would wait for a buffer the server never drains).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from ..config import RunConfig
from ..measuring import sockets
from .protocols import Client
from .workload import CONNECT_TIMEOUT_S, LOOPBACK, make_payload

NAME = "backpressure"
WRITE_HIGH = 64 * 1024  # bytes a client's transport may hold before it waits for the server to take them
BLOCK_BYTES = 64 * 1024  # requests are written in blocks of about this many bytes, one write per block
# The clients' own socket buffers: small, so netmem holds little and the kernel's share measured is the server's.
CLIENT_BUFFER_BYTES = 64 * 1024
READ_CHUNK_S = 0.05  # with a read rate, reading resumes at most this often
SENT_BATCH = 50  # readings per `sent` event
# Memory is read every sampling interval and also every 1/READINGS_PER_LIMIT of the send limit: a server that takes
# everything gets 64 MB in a tenth of a second, which the interval alone would see as two points.
READINGS_PER_LIMIT = 64
# Once everything is sent the server may still be reading what waits in the kernel for it (tens of MB on loopback):
# readings go on until its memory has not changed for this long (or the duration ends).
SETTLE_S = 0.5


def requests(protocol: str, size: int, path: str, address: str) -> bytes:
    """One request of `protocol`: echo sends the message itself, redis an ECHO of it (its reply is as big), http
    a keep-alive GET (pipelined: the next is sent before the reply to the last)."""
    payload = make_payload(size)
    if protocol == "redis":
        return b"*2\r\n$4\r\nECHO\r\n$%d\r\n%b\r\n" % (size, payload)
    if protocol == "http":
        return (f"GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: netmem\r\nAccept: */*\r\n"
                "Connection: keep-alive\r\n\r\n").encode()
    return payload


class SlowClient(asyncio.Protocol):
    """One connection that writes while the server takes it and reads at `rate` bytes/s (0: never)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.transport: asyncio.Transport | None = None
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent = 0
        self.read = 0
        self.closed = False
        self.dropped = False  # the server closed the connection (or reset it) while netmem still used it
        self._aborted = False
        self._started = time.monotonic()
        self._resume: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=WRITE_HIGH)  # type: ignore[union-attr]
        self._started = time.monotonic()
        if self.rate == 0:
            self.transport.pause_reading()  # type: ignore[union-attr]

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def data_received(self, data: bytes) -> None:
        self.read += len(data)
        # Ahead of the rate: stop reading until the allowance catches up (what is not read waits in the kernel).
        ahead = self.read / self.rate - (time.monotonic() - self._started) if self.rate else 0.0
        if ahead > 0 and self.transport is not None:
            self.transport.pause_reading()
            self._resume = asyncio.get_running_loop().call_later(max(ahead, READ_CHUNK_S), self._read_again)

    def _read_again(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        return False  # the server closed its side: close ours too (connection_lost follows)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.dropped = not self._aborted
        self.writable.set()  # wake a sender waiting for room
        if self._resume is not None:
            self._resume.cancel()

    def abort(self) -> None:
        self._aborted = True
        if self.transport is not None:
            self.transport.abort()

    def write(self, block: bytes) -> None:
        assert self.transport is not None
        self.transport.write(block)
        self.sent += len(block)


def kernel_reader(target: Any, cfg: RunConfig) -> Callable[[], tuple[int, ...] | None]:
    """The kernel's share of the measured process's sockets, read now (measuring/sockets.py: sockets, queues,
    memories); the reader gives None where it can't be read (not Linux, or the process has just gone)."""
    if sockets.available() is not None:
        return lambda: None
    pids = sockets.process_tree(target.pid, cfg.include_children)

    def read() -> tuple[int, ...] | None:
        try:
            return sockets.read(pids())
        except Exception:  # the process has just gone, or netlink failed: the memory reading still stands
            return None
    return read


async def connect(host: str, port: int, rate: int) -> SlowClient:
    """One slow client, its own kernel buffers small (set before connecting, so the window is small from the
    start): what waits in the kernel is then on the server's side, and the bytes sent are close to what the server
    took."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_BUFFER_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_BUFFER_BYTES)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), CONNECT_TIMEOUT_S)
        _, proto = await loop.create_connection(lambda: SlowClient(rate), sock=sock)
        if rate == 0:
            # Again once connected: uvloop starts reading after connection_made returns, so a pause asked for there
            # is lost (asyncio's own form of that bug: https://github.com/python/cpython/issues/103607).
            proto.transport.pause_reading()  # type: ignore[union-attr]
    except BaseException:
        sock.close()
        raise
    return proto  # type: ignore[return-value]


async def check_protocol(client: Client | None) -> None:
    """A server of the user's answers one request of its protocol before the load begins (ProtocolMismatch if
    not): the backpressure clients themselves never read a reply they could check."""
    if client is None:
        return
    reader, writer = await client.connect()
    try:
        if not await client.request(reader, writer):
            raise ConnectionError(f"{client.address} did not answer {client.name} as expected")
    finally:
        writer.transport.abort()


async def run(cfg: RunConfig, target: Any, rep: Any, port: int, client: Client | None) -> None:
    """Connect, send until the duration or the send limit, reading the server's memory (user space and kernel)
    against the bytes sent; then abort the clients. The Reporter `rep` carries checkpoints, progress and stop."""
    await check_protocol(client)
    host = client.host if client is not None else LOOPBACK
    protocol = client.name if client is not None else "echo"
    request = requests(protocol, cfg.message_size, getattr(target, "path", cfg.path), f"{host}:{port}")
    block = request * max(1, BLOCK_BYTES // len(request))
    limit = cfg.send_limit_mb * 1024 * 1024
    wanted = cfg.connections_for(NAME)
    conns: list[SlowClient] = []
    failed, last_error = 0, None
    rep.phase(NAME, "connect")
    try:
        for done in range(wanted):
            rep.progress(NAME, done, wanted, "connections")  # a stop while connecting takes effect here
            try:
                conns.append(await connect(host, port, cfg.read_rate))
            except (OSError, TimeoutError) as exc:
                failed += 1
                last_error = str(exc) or type(exc).__name__
    except BaseException:
        for c in conns:  # a stop or a cancel while connecting: no client is left open
            c.abort()
        raise
    kernel_now = kernel_reader(target, cfg)
    total = 0  # bytes sent by all clients
    last_sent_at = started = time.monotonic()
    ended: float | None = None
    kernel: tuple[int, ...] | None = None
    first_drop: int | None = None
    batch: tuple[list[float], list[int], list[int], list[int | None]] = ([], [], [], [])
    step = max(len(block), limit // READINGS_PER_LIMIT)
    next_reading = step

    async def send(conn: SlowClient) -> None:
        nonlocal total, next_reading
        while not conn.closed and total < limit:
            if not conn.writable.is_set():
                await conn.writable.wait()
                continue
            conn.write(block)
            total += len(block)
            if total >= next_reading:
                next_reading += step
                reading()
            await asyncio.sleep(0)  # a server that takes everything must not starve the readings

    def reading() -> int:
        nonlocal first_drop, kernel
        memory, _ = target.memory()
        kernel = kernel_now()
        row = (time.monotonic(), total, memory, None if kernel is None else kernel[3] + kernel[4])
        for column, value in zip(batch, row, strict=True):
            column.append(value)  # type: ignore[attr-defined]
        if first_drop is None and any(c.dropped for c in conns):
            first_drop = total
        if len(batch[0]) >= SENT_BATCH:
            flush()
        return memory + (row[3] or 0)

    def flush() -> None:
        nonlocal batch
        if batch[0]:
            kernel_column = batch[3] if all(k is not None for k in batch[3]) else None
            rep.sent(NAME, batch[0], batch[1], batch[2], kernel_column)
            batch = ([], [], [], [])

    senders: list[asyncio.Task[None]] = []
    interval = cfg.interval_ms / 1000
    seen = 0
    try:
        await rep.checkpoint(NAME, "After connecting clients", len(conns), settle=False)
        rep.phase(NAME, "send")
        senders = [asyncio.create_task(send(c)) for c in conns]
        memory = reading()
        readings, changed_at = 1, started
        while (elapsed := time.monotonic() - started) < cfg.duration_s and not (
                all(s.done() for s in senders) and time.monotonic() - changed_at >= SETTLE_S):
            await asyncio.sleep(max(0.0, started + readings * interval - time.monotonic()))
            readings += 1
            if total != seen:
                seen, last_sent_at = total, time.monotonic()
            if (now_memory := reading()) != memory:
                memory, changed_at = now_memory, time.monotonic()
            rep.progress(NAME, round(min(elapsed, cfg.duration_s), 2), cfg.duration_s, "seconds")
        ended = time.monotonic()
        if total != seen:
            last_sent_at = ended
        reading()
        flush()
        open_now = sum(not c.closed for c in conns)
        await rep.checkpoint(NAME, "After sending", open_now, settle=False)
    finally:
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        flush()
        dropped = sum(c.dropped for c in conns)
        for c in conns:
            c.abort()
        now = time.monotonic()
        at_end = None if kernel is None else dict(zip(
            ("sockets", "recv_queue_bytes", "send_queue_bytes", "recv_memory_bytes", "send_memory_bytes"), kernel,
            strict=True))
        rep.result(NAME, connections_requested=wanted, connections_created=len(conns), connections_failed=failed,
                   last_connection_error=last_error, connections_dropped=dropped, dropped_after_bytes=first_drop,
                   sent_bytes=total, read_bytes=sum(c.read for c in conns), send_limit_bytes=limit,
                   limit_reached=total >= limit, read_rate=cfg.read_rate, protocol=protocol,
                   request_bytes=len(request), elapsed_s=(ended or now) - started, kernel_at_end=at_end,
                   idle_at_end_s=max(0.0, (ended or now) - last_sent_at) if total < limit else 0.0)
    rep.phase(NAME, "close")
    await rep.checkpoint(NAME, "After closing clients", 0)
