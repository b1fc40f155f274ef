"""Two asyncio streams echo servers for the backpressure tests: one writes without awaiting drain() (its memory
follows what a slow client leaves unread), one awaits it (it stops reading instead). Run as a script to serve one
on a port: python slow_readers.py drain|no_drain PORT."""

import asyncio
import sys


async def no_drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)  # never waits: the transport's buffer grows with what the client does not read
    finally:
        writer.close()


async def drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()  # waits while the client does not read: the server stops reading too
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(kind: str, port: int) -> None:
    server = await asyncio.start_server(no_drain if kind == "no_drain" else drain, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
