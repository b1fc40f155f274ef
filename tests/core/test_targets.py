"""Targets without a server: the address rule, the options that fit together, the protocols' parsing."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from netmem_gui.core import addresses
from netmem_gui.core.addresses import check_local, parse_address
from netmem_gui.core.config import ConfigError, RunConfig, TargetError
from netmem_gui.core.load import protocols


def test_addresses_of_this_machine_are_accepted():
    assert check_local("127.0.0.1") == "127.0.0.1"
    assert check_local("127.0.0.53") == "127.0.0.53"  # all of 127/8 is loopback
    assert check_local("::1") == "::1"
    own = addresses.local_addresses()
    assert "127.0.0.1" in own
    for address in own:
        assert check_local(address) == address


@pytest.mark.parametrize("host", ["8.8.8.8", "192.0.2.7", "2001:db8::1", "10.255.255.254"])
def test_other_machines_are_refused_before_any_socket(host, monkeypatch):
    # A function test only: no packet leaves this machine. A socket opened here would be a bug.
    def no_sockets(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", no_sockets)
    with pytest.raises(TargetError, match="is not this machine"):
        check_local(host, own={"127.0.0.1", "::1"})


def test_names_are_refused_localhost_is_loopback():
    with pytest.raises(TargetError, match="not an IP address"):
        check_local("example.com")
    assert parse_address("localhost:6379") == ("127.0.0.1", 6379)
    assert parse_address("[::1]:8080") == ("::1", 8080)


@pytest.mark.parametrize("text", ["6379", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:http", "127.0.0.1:70000",
                                  "127.0.0.1:0", "127.0.0.1:²", "127.0.0.1:٣٠"])  # digits int() refuses or reads
def test_bad_addresses(text):
    with pytest.raises(TargetError, match="--address"):
        parse_address(text)


@pytest.mark.parametrize(("fields", "message"), [
    ({"attach_pid": 1}, "--attach needs --address"),
    ({"attach_pid": 1, "spawn": "x", "address": "127.0.0.1:1"}, "give one target: --attach or --spawn, not both"),
    ({"attach_pid": 1, "server": "m:a", "address": "127.0.0.1:1"}, "give one target: --attach or --server"),
    ({"spawn": "redis-server"}, "needs {port}"),
    ({"spawn": "redis-server --port {port}", "address": "127.0.0.1:1"}, "drop --address"),
    ({"spawn": "  "}, "needs a command"),
    ({"spawn": "'unterminated"}, "cannot split the command line: No closing quotation"),  # said before {port}
    ({"protocol": "redis"}, "--protocol is for a server of your own"),
    ({"include_children": True}, "--include-children is for a server of your own"),
    ({"memory": "uss"}, "--memory is for a server of your own"),
    ({"address": "127.0.0.1:1"}, "--address is for a server of your own"),
    ({"scenario": "observe"}, "observe scenario watches"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "inject_leak_bytes": 10}, "--inject-leak"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "trace_allocations": True}, "--trace-allocations"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "protocol": "idle", "scenario": "messages"}, "idle sends nothing"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "protocol": "ftp"}, "unknown protocol"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "memory": "pss"}, "unknown memory kind"),
    ({"attach_pid": 0, "address": "127.0.0.1:1"}, "--attach must be at least 1"),
    ({"spawn": "x {port}", "start_timeout_s": 0}, "--start-timeout"),
    ({"attach_pid": 1, "address": "127.0.0.1:1", "protocol": "http", "path": "no-slash"}, "--path"),
])
def test_target_options_that_dont_fit(fields, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        RunConfig(**{"scenario": "connections", **fields}).validate()


def test_target_kinds():
    assert RunConfig().target_kind() == "builtin"
    assert RunConfig(attach_pid=5, address="127.0.0.1:1").target_kind() == "attach"
    assert RunConfig(spawn="x {port}").target_kind() == "spawn"
    observe = RunConfig(scenario="observe", attach_pid=5).validate()  # observe needs no address
    assert observe.scenario_list() == ("observe",) and "observe" not in RunConfig(scenario="all").scenario_list()


def test_protocol_guesses_and_hints():
    assert protocols.guess(b"+PONG\r\n") == "redis"
    assert protocols.guess(b"-ERR unknown command\r\n") == "redis"
    assert protocols.guess(b"HTTP/1.1 400 Bad Request\r\n") == "http"
    assert protocols.guess(b"HTTP") == "http"
    assert protocols.guess(b"hello") is None
    msg = str(protocols.mismatch("127.0.0.1:6379", "echo", b"-ERR unknown command\r\n"))
    assert msg == "replies from 127.0.0.1:6379 do not look like echo; try --protocol redis"


async def _serve_once(reply: bytes, close: bool = False) -> tuple[asyncio.Server, int]:
    """A loopback server that answers any request with `reply` (and then closes, if asked)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(reply)
        await writer.drain()
        if close:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(("reply", "ok", "keep"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", True, True),
    (b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", True, True),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n", True,
     True),
    (b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno", False, True),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", True, False),
    (b"HTTP/1.0 200 OK\r\n\r\nthe body ends when the server closes", True, False),
])
def test_http_responses(reply, ok, keep):
    async def go() -> tuple[bool, bool]:
        server, port = await _serve_once(reply, close=reply.startswith(b"HTTP/1.0"))
        client = protocols.HttpClient("127.0.0.1", port, "/")
        reader, writer = await client.connect()
        try:
            return await client.response(reader, writer, fresh=True)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(go()) == (ok, keep)


def test_garbage_instead_of_http_or_redis_stops_with_a_hint():
    async def go(client_cls, reply) -> str:
        server, port = await _serve_once(reply, close=True)
        client = client_cls("127.0.0.1", port, "/")
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.cycle()
            return str(caught.value)
        finally:
            server.close()

    assert "do not look like http; try --protocol redis" in asyncio.run(go(protocols.HttpClient, b"+PONG\r\n"))
    assert "do not look like redis; try --protocol http" in asyncio.run(
        go(protocols.RedisClient, b"HTTP/1.1 400 Bad Request\r\n\r\n"))
    assert "redis at" in asyncio.run(go(protocols.RedisClient, b"-NOAUTH Authentication required.\r\n"))
    # A status line whose code is a digit int() refuses ("²") is not HTTP, not a traceback.
    assert "do not look like http" in asyncio.run(go(protocols.HttpClient, b"HTTP/1.1 \xb200 OK\r\n\r\n"))


async def _stream(head: bytes, piece: bytes, pieces: int, pause_s: float) -> tuple[asyncio.Server, int]:
    """A loopback server that answers with `head`, then `pieces` times `piece` (bounded: the test ends it)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(head)
        try:
            for _ in range(pieces):
                writer.write(piece)
                await writer.drain()
                if pause_s:
                    await asyncio.sleep(pause_s)
        except (ConnectionError, OSError):
            pass  # the client gave up, as it should
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _http_failure(head: bytes, piece: bytes, pieces: int, pause_s: float = 0.0) -> tuple[str, float]:
    async def go() -> tuple[str, float]:
        server, port = await _stream(head, piece, pieces, pause_s)
        client = protocols.HttpClient("127.0.0.1", port, "/big")
        reader, writer = await client.connect()
        started = asyncio.get_running_loop().time()
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.response(reader, writer, fresh=True)
            return str(caught.value), asyncio.get_running_loop().time() - started
        finally:
            writer.close()
            server.close()

    return asyncio.run(go())


def test_a_response_bigger_than_it_should_be_is_refused_not_read_whole():
    """`Content-Length: 99999999999999` and a stream made netmem read 2 GB in 5 s, then blame the server."""
    said, _ = _http_failure(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\n", b"x" * 65536, 50)
    assert "to GET /big is 99,999,999,999,999 bytes or more; netmem reads at most 64 MiB" in said
    # No length at all, the body streaming past the cap: refused as soon as it passes it, nothing kept.
    said, _ = _http_failure(b"HTTP/1.0 200 OK\r\n\r\n", b"x" * 1024 * 1024, 80)
    assert "bytes or more; netmem reads at most 64 MiB" in said


def test_an_endless_response_ends_at_the_response_limit(monkeypatch):
    """An endless chunked body got a fresh 5 s for each chunk, for ever."""
    monkeypatch.setattr(protocols, "RESPONSE_LIMIT_S", 1.0)
    said, took = _http_failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"3\r\nabc\r\n", 100, 0.05)
    assert "did not end within 1 s (an endless stream?)" in said and took < 3


def test_a_redis_reply_bigger_than_the_echo_is_refused():
    async def go() -> str:
        server, port = await _serve_once(b"$99999999999\r\n", close=False)
        client = protocols.RedisClient("127.0.0.1", port, "/")
        reader, writer = await client.connect()
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.exchange(reader, writer, b"hello")
            return str(caught.value)
        finally:
            writer.close()
            server.close()

    assert "answered ECHO of 5 bytes with 99999999999 bytes" in asyncio.run(go())


@pytest.mark.parametrize(("bound", "host", "takes"), [
    ("127.0.0.1", "127.0.0.1", True), ("127.0.0.1", "::1", False), ("0.0.0.0", "127.0.0.1", True),
    ("0.0.0.0", "::1", False), ("::", "::1", True), ("::", "127.0.0.1", True), ("::1", "127.0.0.1", False),
])
def test_which_listening_address_takes_which_connection(bound, host, takes):
    from netmem_gui.core.targets.processes import accepts

    assert accepts(bound, host) is takes


def test_only_netmems_own_children_are_told_apart_from_what_a_spawn_left():
    from netmem_gui.core.children import worker_command
    from netmem_gui.core.targets.spawn import _ours

    assert _ours(worker_command("serve")) and _ours(["/opt/netmem/netmem", "--netmem-worker", "load"])
    assert _ours(["python3", "-m", "netmem_gui.core.records.opening", "/tmp/x.json"])
    # A user's server whose path or name holds "netmem" is the user's: it is stopped with the rest.
    assert not _ours(["/home/u/netmem-demo/redis-server", "*:6379"]) and not _ours(["netmem-echo", "--port", "1"])


def test_a_line_that_never_ends_is_named_not_asyncios_words():
    """asyncio's "Separator is not found, and chunk exceed the limit" was shown as is; an endless HTTP head was
    called "closed the connection without replying"."""
    said, _ = _http_failure(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"x" * 65536, 4)
    assert "sent a http line longer than 64 KiB without ending it (an endless stream, or not http)" in said

    async def go() -> str:
        server, port = await _stream(b"+", b"x" * 65536, 4, 0.0)
        client = protocols.RedisClient("127.0.0.1", port, "/")
        reader, writer = await client.connect()
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.request(reader, writer)
            return str(caught.value)
        finally:
            writer.close()
            server.close()

    assert "sent a redis line longer than 64 KiB without ending it" in asyncio.run(go())


def test_no_reply_does_not_suggest_the_protocol_in_use(monkeypatch):
    """'try --protocol redis' was said to a run that used redis."""
    monkeypatch.setattr(protocols, "REPLY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(protocols, "SNIFF_TIMEOUT_S", 0.2)

    async def go() -> str:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(5)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        client = protocols.RedisClient("127.0.0.1", server.sockets[0].getsockname()[1], "/")
        reader, writer = await client.connect()
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.request(reader, writer)
            return str(caught.value)
        finally:
            writer.close()
            server.close()

    said = asyncio.run(go())
    assert "try --protocol echo, --protocol http, or --protocol idle" in said and "--protocol redis" not in said


def _replies_after(delay_s: float):
    """A redis-like server that answers each ECHO after delay_s (None: never)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await reader.read(1024)
            if not request:
                return
            if delay_s is None:
                continue
            await asyncio.sleep(delay_s)
            payload = request.split(b"\r\n")[-2]
            writer.write(b"$%d\r\n%b\r\n" % (len(payload), payload))

    return handle


def test_a_connections_watch_ends_a_reply_that_never_comes(monkeypatch):
    """One timer per connection (ReplyWatch) in place of one per request: a missing reply still ends the run with
    the "no reply" error, between the timeout and twice it, and leaves the task not cancelled."""
    monkeypatch.setattr(protocols, "REPLY_TIMEOUT_S", 0.3)
    monkeypatch.setattr(protocols, "SNIFF_TIMEOUT_S", 0.1)

    async def go() -> tuple[str, float, int]:
        server = await asyncio.start_server(_replies_after(None), "127.0.0.1", 0)
        client = protocols.RedisClient("127.0.0.1", server.sockets[0].getsockname()[1], "/")
        reader, writer = await client.connect()
        watch = protocols.ReplyWatch()
        started = time.monotonic()
        try:
            with pytest.raises(protocols.ProtocolMismatch) as caught:
                await client.exchange(reader, writer, b"hello", watch)
            return str(caught.value), time.monotonic() - started, asyncio.current_task().cancelling()
        finally:
            watch.close()
            writer.close()
            server.close()

    said, took, cancelling = asyncio.run(go())
    assert "no reply from 127.0.0.1:" in said and "within 0.3 s to redis" in said
    assert 0.3 <= took < 0.6 + 0.5  # the two sniffs after it take up to 0.1 s each
    assert cancelling == 0


def test_a_connections_watch_lets_slow_answered_replies_run_past_its_timeout(monkeypatch):
    """Each reply within the timeout, many replies in all: the connection goes on past several timeouts."""
    monkeypatch.setattr(protocols, "REPLY_TIMEOUT_S", 0.3)

    async def go() -> int:
        server = await asyncio.start_server(_replies_after(0.1), "127.0.0.1", 0)
        client = protocols.RedisClient("127.0.0.1", server.sockets[0].getsockname()[1], "/")
        reader, writer = await client.connect()
        watch = protocols.ReplyWatch()
        answered = 0
        try:
            for _ in range(10):  # 1 s: past three looks of the watch
                ok, _alive = await client.exchange(reader, writer, b"hello", watch)
                answered += ok
            return answered
        finally:
            watch.close()
            writer.close()
            server.close()

    assert asyncio.run(go()) == 10
