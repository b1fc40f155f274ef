"""Servers of each kind netmem serves by import path, for tests/core/test_user_server.py."""

from __future__ import annotations

import asyncio


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An asyncio streams handler: echo until the client closes."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


class EchoProtocol(asyncio.Protocol):
    """An asyncio.Protocol subclass: one instance a connection."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)  # type: ignore[attr-defined]


def make() -> object:
    """A factory (called once) returning the streams handler."""
    return handle


async def amake() -> type[asyncio.Protocol]:
    """An async factory (awaited once) returning the Protocol subclass."""
    return EchoProtocol


async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler with a bug: the stability scenario's b"ping" makes it raise."""
    while data := await reader.read(65536):
        if data == b"ping":
            raise ValueError(f"no pings here: {data!r}")
        writer.write(data)
    writer.close()


async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler that prints: what it prints must not get in the way of netmem's own channels."""
    print("client connected", flush=True)
    await handle(reader, writer)


def factory_of_nothing() -> int:
    """A factory returning what netmem can't serve."""
    return 42


class Hoarder(EchoProtocol):
    """Holds 64 KiB (touched, so resident) for each open connection, and lets it go when the connection closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.buffer = bytearray(b"\1" * 65536)

    def connection_lost(self, exc: Exception | None) -> None:
        self.buffer = bytearray()


class BrokenInit(asyncio.Protocol):
    """A protocol whose constructor raises: every connection is the server's failure, never a clean one."""

    def __init__(self) -> None:
        raise RuntimeError("no database")
