"""A redis-like test server, run as a process of its own: PING gets PONG; the n-th ECHO (from 1, over all
connections) gets its payload back, in 3-byte pieces, except as MODE says for n % N == 0 (or n == N):

    python tests/core/redis_like.py MODE N      # prints its port, then serves until killed

MODE: ok (always right), wrong (an ECHO of other bytes at n % N == 0), plus (+OK at n == N), close (closes that
connection at n == N), answer_and_close (answers the n == N-th, then closes its connection), silent (never answers
from n == N on).
"""

from __future__ import annotations

import asyncio
import sys


def main(mode: str, at: int) -> None:
    count = [0]

    def answer(n: int, payload: bytes) -> bytes | None:
        right = b"$%d\r\n%b\r\n" % (len(payload), payload)
        if mode == "wrong" and n % at == 0:
            return b"$%d\r\n%b\r\n" % (len(payload), b"w" * len(payload))
        if mode == "plus" and n == at:
            return b"+OK\r\n"
        if mode == "close" and n == at:
            return b""
        if mode == "silent" and n >= at:
            return None
        return right

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if line.startswith(b"*1"):
                    await reader.readline(), await reader.readline()
                    writer.write(b"+PONG\r\n")
                    continue
                await reader.readline(), await reader.readline()  # $4 ECHO
                size = int((await reader.readline())[1:])
                payload = (await reader.readexactly(size + 2))[:-2]  # binary: it may hold \r\n
                count[0] += 1
                reply = answer(count[0], payload)
                if reply == b"":
                    writer.close()
                    return
                if reply is None:
                    continue
                for i in range(0, len(reply), 3):  # in pieces: a reply may come in any number of reads
                    writer.write(reply[i:i + 3])
                    await writer.drain()
                if mode == "answer_and_close" and count[0] == at:
                    writer.close()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()  # at once: a socket left half-closed would hold netmem's cleanup checkpoint

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
