"""Plain asyncio reference: an echo server and N held client connections in one process, nothing of netmem.

    python benchmarks/asyncio_reference.py [--connections 1000] [--rounds 20] [--loop asyncio|qasync] [--json]

It opens N connections to its own echo server on 127.0.0.1 (in batches of 500), echoes 1 KiB round trips from
min(100, N) of them, closes everything, and prints: the time to connect all, RSS growth per held connection
(both ends are in this process, so both are counted), the echo rate, and the RSS still held above the starting
point after every connection was closed and garbage was collected. `--loop qasync` runs the same coroutine on
stock qasync (offscreen Qt, no window) to show what qasync's one-notifier-per-socket costs.

benchmarks/scale.py runs `hold_and_echo` below as its reference row, in the same run as the rows it sets beside
it; docs/measured.md says what the figures mean and what they were on the project's machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time

PAYLOAD = b"x" * 1024
BATCH = 500
# Descriptors the interpreter and the listener need besides the two per connection.
SPARE_FDS = 64


async def hold_and_echo(connections: int, rounds: int) -> dict:
    """Connect N clients to an echo server in this process, echo from min(100, N) of them, then close all."""
    import psutil

    proc = psutil.Process()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    gc.collect()
    base = proc.memory_info().rss
    started = time.perf_counter()
    clients: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for first in range(0, connections, BATCH):
        step = min(BATCH, connections - first)
        clients += await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(step)))
    connect_s = time.perf_counter() - started
    held = proc.memory_info().rss

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(rounds):
            writer.write(PAYLOAD)
            await reader.readexactly(len(PAYLOAD))

    active = clients[:100]
    started = time.perf_counter()
    await asyncio.gather(*(pump(r, w) for r, w in active))
    echo_s = time.perf_counter() - started

    for _, writer in clients:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for _, writer in clients), return_exceptions=True)
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.2)  # let the server's handlers see EOF and drop their transports
    gc.collect()
    return {
        "connections": connections,
        "connect_s": connect_s,
        "echo_msgs_per_s": len(active) * rounds / echo_s,
        "rss_per_connection_bytes": (held - base) / max(connections, 1),
        "rss_kept_after_close_bytes": proc.memory_info().rss - base,
    }


def raise_fd_limit(connections: int) -> None:
    """Raise the soft descriptor limit to the hard one; refuse, in one line, a count that can't fit."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return
    # macOS reports an unlimited hard limit but refuses more than OPEN_MAX (10240) per process.
    target = 10240 if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if 2 * connections + SPARE_FDS > soft:
        print(f"asyncio_reference: {connections} connections in one process need {2 * connections + SPARE_FDS} "
              f"file descriptors; the limit here is {soft}: at most {(soft - SPARE_FDS) // 2}", file=sys.stderr)
        raise SystemExit(2)


def run_on_qasync(connections: int, rounds: int) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        return loop.run_until_complete(hold_and_echo(connections, rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--loop", choices=["asyncio", "qasync"], default="asyncio")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args()
    if args.connections < 1 or args.rounds < 1:
        parser.error("--connections and --rounds must be at least 1")
    raise_fd_limit(args.connections)
    if args.loop == "qasync":
        result = run_on_qasync(args.connections, args.rounds)
    else:
        result = asyncio.run(hold_and_echo(args.connections, args.rounds))
    result["loop"] = args.loop
    result["python"] = sys.version.split()[0]
    if args.json:
        print(json.dumps(result))
        return
    active = min(100, args.connections)
    print(f"{args.loop} on Python {result['python']}: {args.connections:,} held connections, "
          f"echo from {active} x {args.rounds} rounds of 1 KiB")
    print(f"connect all:               {result['connect_s']:.2f} s")
    print(f"RSS per held connection:   {result['rss_per_connection_bytes'] / 1024:.1f} KB (both ends)")
    print(f"echo rate:                 {result['echo_msgs_per_s']:,.0f} msg/s")
    print(f"RSS kept after closing:    {result['rss_kept_after_close_bytes'] / 2**20:.1f} MB above the start")


if __name__ == "__main__":
    main()
