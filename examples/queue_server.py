"""An echo server whose replies go through a bounded queue per connection, with backpressure both ways.

The memory profiling guide's answer to "message queue growing unbounded" is to set queue limits. Here each
connection queues at most MAX_QUEUED chunks; when its queue is full the server stops reading from that client
(`pause_reading`) until the queue has drained to half, and it stops taking chunks off the queue while the
socket's own write buffer is full (`pause_writing`). A slow or stuck client then costs a bounded amount of
memory instead of everything it sends.

    netmem run all --server queue_server:QueuedEcho --app-dir examples

QueuedEcho is an asyncio.Protocol subclass: netmem hands it to `loop.create_server`, one instance a connection.
"""

from __future__ import annotations

import asyncio

MAX_QUEUED = 64  # chunks queued per connection, at most


class QueuedEcho(asyncio.Protocol):
    """Echoes every chunk back through this connection's bounded queue."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MAX_QUEUED)
        self.writable = asyncio.Event()
        self.writable.set()
        self.reading = True
        self.sender = asyncio.get_running_loop().create_task(self._send())

    def data_received(self, data: bytes) -> None:
        self.queue.put_nowait(data)  # never full here: reading pauses the moment it fills
        if self.queue.full():
            self.transport.pause_reading()
            self.reading = False

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    async def _send(self) -> None:
        while True:
            data = await self.queue.get()
            await self.writable.wait()
            self.transport.write(data)
            if not self.reading and self.queue.qsize() <= MAX_QUEUED // 2:
                self.transport.resume_reading()
                self.reading = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.sender.cancel()
