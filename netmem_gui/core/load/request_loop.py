"""The messages scenario's hot path: a connection driven from its transport's callbacks, each checked reply
sending the next request at once, with no task to wake per message (docs/scale.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .protocols import ReplyWatch

# Why a RequestLoop stopped: no request left to claim; the count asked for a checkpoint (the loop keeps the transport,
# paused); the server sent bytes other than the expected reply, or closed. After the last two the connection is the
# stream's again; after IRREGULAR its request is still owed a reply, after LOST it may be.
DONE, CHECKPOINT, IRREGULAR, LOST = "done", "checkpoint", "irregular", "lost"


def takes_over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """Whether a RequestLoop may take this connection: its stream holds no unread bytes, no end and no error (they
    would never reach the loop), and the transport is open."""
    # StreamReader has no public way to ask for its buffer's length; _buffer has been its buffer since 3.4.
    buffered = len(getattr(reader, "_buffer", b""))
    return not (buffered or reader.at_eof() or reader.exception() or writer.transport.is_closing())


class RequestLoop(asyncio.Protocol):
    """Sends `request` and waits for exactly `expected`, again and again, while `claim()` allows.

    It takes the connection's transport over from its stream (see `takes_over`) for as long as the replies are the
    expected bytes, every byte compared as the stream code compares them, and keeps it through checkpoints, so
    that nothing the server sends meanwhile goes past it. Anything but the expected bytes, and the connection's
    end, are handed back to the stream with the bytes read so far: the general code reads that reply, says what is
    wrong with it and goes on with the connection. This loop only ever counts right replies.
    """

    def __init__(self, writer: asyncio.StreamWriter, request: bytes, expected: bytes, claim: Callable[[], bool],
                 count: Callable[[bool], Any], watch: ReplyWatch | None) -> None:
        self._transport: Any = writer.transport
        self._stream: Any = self._transport.get_protocol()
        self._request = request
        self._expected = expected
        self._claim = claim
        self._count = count  # counts one right reply; what a checkpoint due then is taken at, else None
        self._watch = watch
        self._got = 0  # bytes of the awaited reply received so far
        self._pending = b""  # bytes that came while paused at a checkpoint, unasked: the next reply's first
        self._lost = False  # the connection ended while paused (already told to the stream)
        self._stopped: asyncio.Future[str] | None = None
        self.answered = 0
        self.checkpoint_due: Any = None  # what the count returned when it asked for the checkpoint

    def run(self) -> asyncio.Future[str]:
        """Take (or resume) the transport and send requests; the future says why it stopped (DONE, CHECKPOINT,
        IRREGULAR, LOST), or holds what a count raised (a stop the user asked for)."""
        self._stopped = asyncio.get_running_loop().create_future()
        if self._transport.get_protocol() is not self:
            self._transport.set_protocol(self)
        if self._lost:
            self._stop(LOST)
            return self._stopped
        self._send_next()
        pending, self._pending = self._pending, b""
        if pending and not self._stopped.done():
            self.data_received(pending)
        return self._stopped

    def give_back(self) -> None:
        """Hand the transport back to the stream, with any bytes that came while paused."""
        if self._transport.get_protocol() is self:
            self._transport.set_protocol(self._stream)
            pending, self._pending = self._pending, b""
            if pending and not self._lost:
                self._stream.data_received(pending)

    def _running(self) -> bool:
        return self._stopped is not None and not self._stopped.done()

    def _stop(self, why: str | None, error: BaseException | None = None) -> None:
        if why != CHECKPOINT:
            self.give_back()
        if self._running():
            assert self._stopped is not None
            if error is not None:
                self._stopped.set_exception(error)
            else:
                self._stopped.set_result(why)  # type: ignore[arg-type]

    def _send_next(self) -> None:
        try:
            claimed = self._claim()
        except BaseException as exc:  # handed to the waiting task, which raises it (a stop the user asked for)
            self._stop(None, exc)
            return
        if not claimed:
            self._stop(DONE)
            return
        if self._transport.is_closing():  # uvloop raises on a write to a closed transport; asyncio drops it
            self._stop(LOST)
            return
        if self._watch is not None:
            self._watch.sent += 1
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        if not self._running():  # paused at a checkpoint: kept for after the next request
            self._pending += data
            return
        expected = self._expected
        while data:
            need = len(expected) - self._got
            chunk, data = data[:need], data[need:]
            if expected[self._got:self._got + len(chunk)] != chunk:
                self._stop(IRREGULAR)
                self._stream.data_received(expected[:self._got] + chunk + data)
                return
            self._got += len(chunk)
            if self._got < len(expected):
                return
            self._got = 0
            self.answered += 1
            if self._watch is not None:
                self._watch.answered += 1
            try:
                due = self._count(True)
            except BaseException as exc:  # handed to the waiting task, which raises it (a stop the user asked for)
                self._stop(None, exc)
                return
            if due:
                self.checkpoint_due = due
                self._pending = data
                self._stop(CHECKPOINT)
                return
            self._send_next()
            if not self._running():
                return

    def eof_received(self) -> bool | None:
        self._end()
        return self._stream.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        self._stream.connection_lost(exc)

    def _end(self) -> None:
        if self._running():
            self._stop(LOST)
        elif not self._lost:
            self._lost = True  # told to the stream now, after what came before it; the next run stops at once
            pending, self._pending = self._pending, b""
            if pending:
                self._stream.data_received(pending)

    def pause_writing(self) -> None:
        self._stream.pause_writing()

    def resume_writing(self) -> None:
        self._stream.resume_writing()
