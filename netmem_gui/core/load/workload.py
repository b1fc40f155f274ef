"""The network workload: an asyncio TCP echo server and the pool of clients that load it, on loopback."""

from __future__ import annotations

import asyncio
import errno
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..errors import WorkloadError

LOOPBACK = "127.0.0.1"
CONNECT_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 5.0


def make_payload(size: int) -> bytes:
    """The C++ guide's message body: byte i is i % 256."""
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, server: EchoServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._server.transports.add(transport)  # type: ignore[arg-type]
        if self._server.leak_bytes:
            self._server.keep_leak()

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.transports.discard(self._transport)  # type: ignore[arg-type]
        self._server.connections_closed += 1
        self._transport = None


async def settle(held: Callable[[], int], connections: int, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
    """Wait until held() is `connections`; False if it isn't within timeout_s (a server's accepts and closes
    lag its clients')."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while held() != connections:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


@dataclass
class EchoServer:
    """Echoes every byte back on every connection; one listener, bound to loopback."""

    transports: set[asyncio.Transport] = field(default_factory=set)
    connections_closed: int = 0
    leak_bytes: int = 0  # --inject-leak: bytes kept for good per accepted connection
    leaked: list[bytearray] = field(default_factory=list)
    _server: asyncio.Server | None = None

    def keep_leak(self) -> None:
        """The injected leak: a live, zero-filled (so its pages are touched) buffer nobody frees."""
        self.leaked.append(bytearray(self.leak_bytes))

    @property
    def open_connections(self) -> int:
        return len(self.transports)

    async def settle(self, connections: int, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait until the server holds `connections` connections (accepts and closes lag the clients')."""
        return await settle(lambda: len(self.transports), connections, timeout_s)

    async def start(self, port: int = 0, leak_bytes: int = 0) -> int:
        """Listen on 127.0.0.1:port (0: an ephemeral port); return the port bound."""
        self.leak_bytes = leak_bytes
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _EchoProtocol(self), LOOPBACK, port, backlog=4096
            )
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise WorkloadError(f"cannot listen on {LOOPBACK}:{port}: {reason}") from None
        return self._server.sockets[0].getsockname()[1]

    def abort(self) -> None:
        """Close the listener and every connection now, without waiting."""
        if self._server is not None:
            self._server.close()
        for transport in list(self.transports):
            transport.abort()
        self.transports.clear()

    async def stop(self) -> None:
        """Close the listener and every connection, and wait until the listener is gone."""
        server = self._server
        self.abort()
        self._server = None
        if server is not None:
            await server.wait_closed()
        # Let the transports' connection_lost callbacks run, so their buffers are freed before a checkpoint.
        await asyncio.sleep(0)


@dataclass
class ClientPool:
    """The clients that connect to the server: opened in bounded batches, closed all together.

    `greet`, when given, runs on each new connection (a protocol's first request); a connection it fails on
    counts as failed, and a reply in the wrong protocol ends the run (it raises).
    """

    port: int
    host: str = LOOPBACK
    greet: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]] | None = None
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    attempted: int = 0
    created: int = 0
    failed: int = 0
    last_error: str | None = None

    @property
    def open_connections(self) -> int:
        return len(self.clients)

    async def _connect_one(self) -> None:
        try:
            pair = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S)
            if self.greet is not None:
                try:
                    await self.greet(*pair)
                except BaseException as exc:
                    pair[1].transport.abort()
                    if isinstance(exc, Exception):  # a wrong protocol: it ends the run, and this one failed
                        self.failed += 1
                        self.last_error = str(exc) or type(exc).__name__
                    raise
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            self.failed += 1
            self.last_error = str(exc) or type(exc).__name__
            return
        self.created += 1
        self.clients.append(pair)

    async def open(self, count: int, batch: int) -> None:
        """Open `count` more connections, at most `batch` connecting at once; failures are counted, not raised."""
        remaining = count
        while remaining > 0:
            step = min(batch, remaining)
            self.attempted += step
            await asyncio.gather(*(self._connect_one() for _ in range(step)))
            remaining -= step

    def abort(self) -> None:
        """Close every client connection now, without waiting (safe while being cancelled)."""
        clients, self.clients = self.clients, []
        for _, writer in clients:
            writer.transport.abort()

    async def close(self) -> None:
        """Close every client connection and wait until each is closed."""
        clients, self.clients = self.clients, []
        for _, writer in clients:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for _, w in clients), return_exceptions=True)


def check_port(port: int) -> None:
    """Fail now if a fixed port can't be bound on loopback (port 0 always can)."""
    if port == 0:
        return
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":
            # As asyncio's create_server does on Unix; on Windows the option would let us steal the port.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((LOOPBACK, port))
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise WorkloadError(f"cannot listen on {LOOPBACK}:{port}: {reason}") from None
    finally:
        probe.close()


async def watch_lag(interval_s: float, report: Callable[[float, float], None]) -> None:
    """Until cancelled: sleep `interval_s` on the running loop and report (when, how late it woke up), in s.

    A loop busy with callbacks wakes late; that lateness is what every socket and timer on it waits too.
    """
    while True:
        due = time.monotonic() + interval_s
        await asyncio.sleep(interval_s)
        woke = time.monotonic()
        report(woke, max(0.0, woke - due))
