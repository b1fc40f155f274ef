"""Objects --server must refuse, each with a one-line error saying what it found."""

from __future__ import annotations

import asyncio

NUMBER = 3


def wsgi_app(environ, start_response):
    start_response("200 OK", [])
    return [b"hello"]


async def asgi_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200})


def sync_handler(reader, writer):
    writer.write(b"hi")


async def one_argument(connection):
    return connection


class NeedsArguments(asyncio.Protocol):
    def __init__(self, room: str) -> None:
        self.room = room


class Datagrams(asyncio.DatagramProtocol):
    pass
