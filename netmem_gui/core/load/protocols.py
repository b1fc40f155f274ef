"""What the clients say to a target that is not netmem's echo server: echo, redis (RESP), http (HTTP/1.1), idle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from ..errors import WorkloadError
from .workload import CONNECT_TIMEOUT_S

REPLY_TIMEOUT_S = 5.0  # a reply slower than this ends the run: the server likely speaks another protocol
MAX_HEADER_BYTES = 64 * 1024
# A response is read to its end and thrown away, never kept: these bound what one may cost. A body past the size,
# or a response still coming after the time (an endless stream, a chunked body that never ends), ends the run.
MAX_BODY_BYTES = 64 * 1024 * 1024
RESPONSE_LIMIT_S = 30.0
_CHUNK = 256 * 1024

T = TypeVar("T")
Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter


class ProtocolMismatch(WorkloadError):
    """The target's replies don't parse as the protocol asked for; the message says what to try instead."""


def guess(data: bytes) -> str | None:
    """The protocol a reply looks like, from its first bytes."""
    if data.startswith(b"HTTP/") or (len(data) >= 4 and b"HTTP/".startswith(data)):
        return "http"
    if data[:1] in (b"+", b"-", b":", b"$", b"*") and b"\r\n" in data:
        return "redis"
    return None


def mismatch(address: str, protocol: str, data: bytes, likely: str | None = None) -> ProtocolMismatch:
    likely = likely or guess(data)
    hint = f"try --protocol {likely}" if likely and likely != protocol else "try --protocol idle (connect only)"
    if not data:
        return ProtocolMismatch(f"{address} closed the connection without replying to {protocol}; {hint}")
    return ProtocolMismatch(f"replies from {address} do not look like {protocol}; {hint}")


SNIFF_TIMEOUT_S = 1.0
SNIFFS = (b"*1\r\n$4\r\nPING\r\n", b"GET / HTTP/1.0\r\n\r\n")  # a redis PING, an HTTP GET


async def sniff(host: str, port: int) -> str | None:
    """After a reply that didn't come: which protocol the server does answer (a PING, then a GET, on new
    connections to the same local address), for the hint."""
    for probe in SNIFFS:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), SNIFF_TIMEOUT_S)
        except (OSError, TimeoutError):
            return None
        try:
            writer.write(probe)
            reply = await asyncio.wait_for(reader.read(64), SNIFF_TIMEOUT_S)
        except (OSError, TimeoutError):
            reply = b""
        finally:
            writer.transport.abort()
        if guess(reply) is not None:
            return guess(reply)
    return None


LINE_LIMIT = 64 * 1024  # asyncio's StreamReader limit: a line or a head longer than this is not read


async def _no_reply(client: Client) -> ProtocolMismatch:
    """What a reply that did not come within REPLY_TIMEOUT_S says: the protocol the server does answer, if any."""
    likely = await sniff(client.host, client.port)
    if likely and likely != client.name:
        return mismatch(client.address, client.name, b"?", likely)
    others = ", ".join(f"--protocol {p}" for p in ("echo", "redis", "http") if p != client.name)
    return ProtocolMismatch(f"no reply from {client.address} within {REPLY_TIMEOUT_S:g} s to {client.name};"
                            f" if the server speaks another protocol, try {others}, or --protocol idle"
                            " (connect only)")


def _endless(client: Client) -> ProtocolMismatch:
    # asyncio says "Separator is not found, and chunk exceed the limit": a line that never ends.
    return ProtocolMismatch(f"{client.address} sent a {client.name} line longer than {LINE_LIMIT // 1024} KiB"
                            f" without ending it (an endless stream, or not {client.name})")


async def _timed(awaitable, client: Client):  # type: ignore[no-untyped-def]
    # asyncio.timeout, not wait_for: wait_for wraps each read in a task of its own, and that was most of the
    # driver's time (15.9k ECHO requests/s on one connection to redis; ~25k without). The messages scenario's
    # requests go under a ReplyWatch instead.
    try:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            return await awaitable
    except TimeoutError:
        raise await _no_reply(client) from None
    except (asyncio.LimitOverrunError, ValueError):
        raise _endless(client) from None


class ReplyWatch:
    """One connection's deadline for its replies: one timer per connection, not one per request.

    A timer per request (asyncio.timeout) was a fifth of the load driver's time against redis (py-spy,
    docs/scale.md). This one looks every REPLY_TIMEOUT_S whether the request that was waiting at its last look is
    still waiting, and then cancels the connection's task; the client turns that into the "no reply" error. A reply
    that doesn't come ends the run between REPLY_TIMEOUT_S and twice that after its request. Made in the task that
    sends the requests.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._every = REPLY_TIMEOUT_S
        self.sent = self.answered = 0
        self._last = (-1, -1)
        self._expired = False
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(self._every, self._look)

    def _look(self) -> None:
        now = (self.sent, self.answered)
        if self.sent > self.answered and now == self._last and self._task is not None:
            self._expired = True
            self._timer = None
            self._task.cancel()
            return
        self._last = now
        self._timer = self._loop.call_later(self._every, self._look)

    def expired(self) -> bool:
        """Whether the cancellation being handled is this watch's alone; its own is taken back either way, so that
        a stop asked for at the same moment still ends the task."""
        if not self._expired or self._task is None:
            return False
        self._expired = False
        return self._task.uncancel() == 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Client:
    """One protocol's client side. `greet` runs once on each new connection, `exchange` sends one message and
    checks its reply, `cycle` is one connect-request-close of the stability scenario."""

    name = "idle"

    def __init__(self, host: str, port: int, path: str = "/") -> None:
        self.host = host
        self.port = port
        self.path = path
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def connect(self) -> tuple[Reader, Writer]:
        return await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_TIMEOUT_S)

    async def greet(self, reader: Reader, writer: Writer) -> None:
        """On connect: nothing for echo and idle; one request for redis and http."""

    async def exchange(self, reader: Reader, writer: Writer, payload: bytes,
                       watch: ReplyWatch | None = None) -> tuple[bool, bool]:
        """Send one message; (reply was right, connection still open). ProtocolMismatch when it doesn't parse.
        With the connection's `watch` its deadline is the reply's; without, the reply gets a timeout of its own."""
        raise NotImplementedError

    def request_and_reply(self, payload: bytes) -> tuple[bytes, bytes] | None:
        """The request that carries `payload` and the exact reply it must get, for protocols whose reply is known
        in advance (echo, redis ECHO): the messages scenario then drives them from callbacks (RequestLoop)."""
        return None

    async def reply(self, reader: Reader, payload: bytes, watch: ReplyWatch | None) -> bool:
        """Read and check the reply to a request for `payload` already sent (and counted by `watch`)."""
        raise NotImplementedError

    async def _replied(self, reply: Awaitable[T], watch: ReplyWatch | None, new_request: bool = True) -> T:
        """The awaited reply, under the connection's watch or, without one, a timeout of its own."""
        if watch is None:
            return await _timed(reply, self)
        if new_request:
            watch.sent += 1
        try:
            got = await reply
        except asyncio.CancelledError:
            if not watch.expired():
                raise
            raise await _no_reply(self) from None
        except (asyncio.LimitOverrunError, ValueError):
            raise _endless(self) from None
        watch.answered += 1
        return got

    async def request(self, reader: Reader, writer: Writer) -> bool:
        """The protocol's smallest request (stability cycles and greetings); True when answered as expected."""
        return True

    async def no_reply(self) -> ProtocolMismatch:
        """What a reply that did not come in time says (and which protocol the server does answer, if any)."""
        return await _no_reply(self)

    async def closed_without_reply(self) -> ProtocolMismatch:
        return mismatch(self.address, self.name, b"", await sniff(self.host, self.port))

    async def cycle(self) -> bool:
        reader, writer = await self.connect()
        try:
            return await self.request(reader, writer)
        except asyncio.IncompleteReadError as exc:
            # A fresh connection closed before any reply: the server didn't understand the request.
            if not exc.partial:
                raise await self.closed_without_reply() from None
            raise
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


class EchoClient(Client):
    name = "echo"
    PING = b"ping"

    async def exchange(self, reader: Reader, writer: Writer, payload: bytes,
                       watch: ReplyWatch | None = None) -> tuple[bool, bool]:
        writer.write(payload)
        return await self._replied(self._echoed(reader, payload), watch), True

    def request_and_reply(self, payload: bytes) -> tuple[bytes, bytes] | None:
        return payload, payload

    async def reply(self, reader: Reader, payload: bytes, watch: ReplyWatch | None) -> bool:
        return await self._replied(self._echoed(reader, payload), watch, new_request=False)

    async def _echoed(self, reader: Reader, payload: bytes) -> bool:
        got = bytearray()
        while len(got) < len(payload):
            chunk = await reader.read(len(payload) - len(got))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(got), len(payload))
            if not payload.startswith(bytes(got) + chunk):
                seen = bytes(got) + chunk
                raise mismatch(self.address, self.name, seen, guess(seen) or await sniff(self.host, self.port))
            got += chunk
        return True

    async def request(self, reader: Reader, writer: Writer) -> bool:
        return (await self.exchange(reader, writer, self.PING))[0]


class RedisClient(Client):
    """RESP: PING (expects +PONG) and ECHO (expects the payload back as a bulk string)."""

    name = "redis"
    PING = b"*1\r\n$4\r\nPING\r\n"

    async def _line(self, reader: Reader) -> bytes:
        return await _timed(self._read_line(reader), self)

    async def _read_line(self, reader: Reader) -> bytes:
        line = await reader.readline()
        if not line:
            raise asyncio.IncompleteReadError(b"", 1)
        if not line.endswith(b"\r\n") or line[:1] not in b"+-:$*":
            # What it does answer, when its reply doesn't say (an HTTP server answers "*1" with a bare HTML page).
            raise mismatch(self.address, self.name, line, guess(line) or await sniff(self.host, self.port))
        if line.startswith(b"-"):
            raise ProtocolMismatch(f"redis at {self.address} replied with an error:"
                                   f" {line[1:].decode(errors='replace').strip()}")
        return line

    async def request(self, reader: Reader, writer: Writer) -> bool:
        writer.write(self.PING)
        return await self._line(reader) == b"+PONG\r\n"

    async def greet(self, reader: Reader, writer: Writer) -> None:
        try:
            answered = await self.request(reader, writer)
        except asyncio.IncompleteReadError:
            raise await self.closed_without_reply() from None
        if not answered:
            raise ProtocolMismatch(f"{self.address} answered PING with something other than PONG")

    async def exchange(self, reader: Reader, writer: Writer, payload: bytes,
                       watch: ReplyWatch | None = None) -> tuple[bool, bool]:
        writer.write(self._echo_request(payload))
        return await self._replied(self._echo_reply(reader, payload), watch), True

    @staticmethod
    def _echo_request(payload: bytes) -> bytes:
        return b"*2\r\n$4\r\nECHO\r\n$%d\r\n%b\r\n" % (len(payload), payload)

    def request_and_reply(self, payload: bytes) -> tuple[bytes, bytes] | None:
        return self._echo_request(payload), b"$%d\r\n%b\r\n" % (len(payload), payload)

    async def reply(self, reader: Reader, payload: bytes, watch: ReplyWatch | None) -> bool:
        return await self._replied(self._echo_reply(reader, payload), watch, new_request=False)

    async def _echo_reply(self, reader: Reader, payload: bytes) -> bool:
        head = await self._read_line(reader)
        if not head.startswith(b"$"):
            raise mismatch(self.address, self.name, head)
        try:
            size = int(head[1:])
        except ValueError:
            raise mismatch(self.address, self.name, head) from None
        if size > len(payload):  # ECHO answers with what it was sent: a bigger reply is not an echo of it
            raise ProtocolMismatch(f"{self.address} answered ECHO of {len(payload)} bytes with {size} bytes")
        body = await reader.readexactly(size + 2) if size >= 0 else b""
        return body[:-2] == payload


class HttpClient(Client):
    """HTTP/1.1 keep-alive GET of --path; 2xx and 3xx are answered, anything else a failed request."""

    name = "http"

    def _request_bytes(self) -> bytes:
        return (f"GET {self.path} HTTP/1.1\r\nHost: {self.address}\r\nUser-Agent: netmem\r\nAccept: */*\r\n"
                "Connection: keep-alive\r\n\r\n").encode()

    async def response(self, reader: Reader, writer: Writer, fresh: bool = False) -> tuple[bool, bool]:
        """Send one GET and read its whole response: (status was 2xx/3xx, the server keeps the connection)."""
        try:
            async with asyncio.timeout(RESPONSE_LIMIT_S):
                return await self._response(reader, writer, fresh)
        except TimeoutError:
            raise ProtocolMismatch(f"the response of {self.address} to GET {self.path} did not end within"
                                   f" {RESPONSE_LIMIT_S:g} s (an endless stream?): give --path of a resource that"
                                   " ends") from None

    async def _response(self, reader: Reader, writer: Writer, fresh: bool) -> tuple[bool, bool]:
        writer.write(self._request_bytes())
        try:
            head = await _timed(reader.readuntil(b"\r\n\r\n"), self)
        except asyncio.IncompleteReadError as exc:
            if fresh or (exc.partial and not exc.partial.startswith(b"HTTP/")):
                raise mismatch(self.address, self.name, exc.partial, await sniff(self.host, self.port)) from None
            raise  # a kept-alive connection the server closed between requests
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isascii() and parts[1].isdigit()):
            raise mismatch(self.address, self.name, head)
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close" and parts[0] != "HTTP/1.0"
        if status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            await self._chunked(reader)
        elif "content-length" in headers:
            length = headers["content-length"]
            if not (length.isascii() and length.isdigit()):
                raise mismatch(self.address, self.name, head)
            await self._skip(reader, int(length))
        else:
            await self._skip(reader, None)  # no length: the body ends when the server closes
            keep = False
        return 200 <= status < 400, keep

    async def _skip(self, reader: Reader, size: int | None) -> None:
        """Read a body of `size` bytes (None: until the server closes) and keep none of it."""
        if size is not None and size > MAX_BODY_BYTES:
            raise self._too_big(size)
        left, total = size, 0
        while left is None or left > 0:
            chunk = await _timed(reader.read(_CHUNK if left is None else min(_CHUNK, left)), self)
            if not chunk:
                if left is None:
                    return
                raise asyncio.IncompleteReadError(b"", left)
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise self._too_big(total)
            if left is not None:
                left -= len(chunk)

    def _too_big(self, size: int) -> ProtocolMismatch:
        return ProtocolMismatch(f"the response of {self.address} to GET {self.path} is {size:,} bytes or more;"
                                f" netmem reads at most {MAX_BODY_BYTES // (1024 * 1024)} MiB: give --path of a"
                                " smaller resource")

    async def _chunked(self, reader: Reader) -> None:
        total = 0
        while True:
            size_line = await _timed(reader.readline(), self)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise mismatch(self.address, self.name, size_line) from None
            if size == 0:
                while (await _timed(reader.readline(), self)) not in (b"\r\n", b""):
                    pass  # trailers
                return
            total += size
            if total > MAX_BODY_BYTES:
                raise self._too_big(total)
            await self._skip(reader, size + 2)

    async def greet(self, reader: Reader, writer: Writer) -> None:
        await self.response(reader, writer, fresh=True)

    async def exchange(self, reader: Reader, writer: Writer, payload: bytes,
                       watch: ReplyWatch | None = None) -> tuple[bool, bool]:
        return await self.response(reader, writer)  # a response has deadlines of its own (RESPONSE_LIMIT_S)

    async def request(self, reader: Reader, writer: Writer) -> bool:
        return (await self.response(reader, writer, fresh=True))[0]


CLIENTS: dict[str, type[Client]] = {"echo": EchoClient, "redis": RedisClient, "http": HttpClient, "idle": Client}


def make_client(protocol: str, host: str, port: int, path: str = "/") -> Client:
    return CLIENTS[protocol](host, port, path)
