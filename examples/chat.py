"""A small chat relay: whatever a client sends goes to every client in the room, the sender included.

Each client gets a session: a name, the last messages it sent and a receive buffer. `room` is the server as
it should be; `leaky_room` forgets to drop a session when its client disconnects (the memory profiling guide's
"session cleanup not happening"), so every connection leaves a few KB behind for good.

    netmem run stability --server chat:leaky_room --app-dir examples --fail-on-leak   # POSSIBLE LEAK, exit 3
    netmem run stability --server chat:room --app-dir examples --fail-on-leak         # OK, exit 0

Both are factories: netmem calls one once when its server starts and serves the handler it returns, just as
`asyncio.start_server(room(), host, port)` would.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

HISTORY = 32  # messages kept per client (a /history command would send them back)
RECEIVE_BUFFER = 4096


@dataclass
class Session:
    """What the room keeps about one connected client."""

    name: str
    writer: asyncio.StreamWriter
    history: deque[bytes] = field(default_factory=lambda: deque(maxlen=HISTORY))
    buffer: bytearray = field(default_factory=lambda: bytearray(b"\0" * RECEIVE_BUFFER))


class Room:
    """Every client connected, by id; a message from one is relayed to all."""

    def __init__(self, forget_to_drop: bool = False) -> None:
        self.sessions: dict[int, Session] = {}
        self.forget_to_drop = forget_to_drop
        self._ids = itertools.count(1)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sid = next(self._ids)
        session = Session(f"guest{sid}", writer)
        self.sessions[sid] = session
        try:
            while data := await reader.read(RECEIVE_BUFFER):
                session.history.append(data)
                for other in list(self.sessions.values()):
                    if not other.writer.is_closing():
                        other.writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass  # the client went away mid-message: same as a clean goodbye
        finally:
            if not self.forget_to_drop:
                del self.sessions[sid]
            writer.close()


def room() -> object:
    """The chat server, fixed: a session is dropped when its client disconnects."""
    return Room().handle


def leaky_room() -> object:
    """The same server with the bug: sessions of clients that left are never dropped."""
    return Room(forget_to_drop=True).handle
