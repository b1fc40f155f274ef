"""Drive the app's qasync loop through tens of thousands of timer callbacks and socket events.

Run as a script (the regression test starts it as a child, so a crash in Qt or qasync shows up as a failed
exit status instead of taking pytest down): the window runs an in-app messages run of 20,000 small echoed
messages (on the in-app host's own workload thread) while, on the qasync loop itself, an echo server and
10 clients exchange 20,000 messages, chains of call_later timers fire and a thread's call_soon_threadsafe
calls arrive.
Prints one JSON line of counts; exit status 0 only if everything ran to the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETMEM_GUI_SETTINGS", os.path.join(tempfile.mkdtemp(), "settings.ini"))


from stress_window import run_in_window

from netmem_gui.core.config import RunConfig
from netmem_gui.gui.window import MainWindow

MESSAGES = int(os.environ.get("STRESS_MESSAGES", "20000"))
CHAINS, TIMERS_PER_CHAIN = 50, 600  # 30,000 call_later callbacks, 50 timers alive at a time
THREADSAFE = 10_000
LOOP_CLIENTS, LOOP_ROUNDS = 10, 2000  # 20,000 echoes through qasync's own socket notifiers


async def echo_on_this_loop() -> int:
    """Echo LOOP_CLIENTS x LOOP_ROUNDS small messages through a server and clients on the running loop."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(64):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def client() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ok = 0
        for i in range(LOOP_ROUNDS):
            message = i.to_bytes(4, "big") * 4
            writer.write(message)
            ok += await reader.readexactly(16) == message
        writer.close()
        await writer.wait_closed()
        return ok

    try:
        return sum(await asyncio.gather(*(client() for _ in range(LOOP_CLIENTS))))
    finally:
        server.close()
        await server.wait_closed()


async def stress(window: MainWindow) -> dict:
    loop = asyncio.get_running_loop()
    counts = {"timers": 0, "threadsafe": 0}
    chains_done = loop.create_future()
    threadsafe_done = loop.create_future()
    finished_chains = 0

    def step(left: int) -> None:
        nonlocal finished_chains
        counts["timers"] += 1
        if left > 1:
            loop.call_later(0.0005 * (left % 3), step, left - 1)
        else:
            finished_chains += 1
            if finished_chains == CHAINS:
                chains_done.set_result(None)

    def from_thread() -> None:
        counts["threadsafe"] += 1
        if counts["threadsafe"] == THREADSAFE:
            threadsafe_done.set_result(None)

    def pump() -> None:
        for _ in range(THREADSAFE):
            loop.call_soon_threadsafe(from_thread)

    entry = window.start_run(RunConfig(scenario="messages", messages=MESSAGES, message_size=16, host="inapp",
                                       interval_ms=10))
    assert entry is not None
    for i in range(CHAINS):
        loop.call_later(0.001 * i, step, TIMERS_PER_CHAIN)
    threading.Thread(target=pump, daemon=True).start()
    results = await asyncio.wait_for(
        asyncio.gather(chains_done, threadsafe_done, window.wait_idle(), echo_on_this_loop()), 600)
    counts["loop_echoed"] = results[-1]
    rec = entry.record()
    counts.update(
        completed=rec["completed"], reason=rec["stop_reason"],
        echoed=rec["scenarios"]["messages"]["messages_echoed"], samples=len(rec["samples"]["t_s"]),
        plotted=window.plot.sample_count(),
    )
    return counts


def main() -> int:
    counts = run_in_window(stress)
    ok = (counts["completed"] and counts["echoed"] == MESSAGES and counts["timers"] == CHAINS * TIMERS_PER_CHAIN
          and counts["threadsafe"] == THREADSAFE and counts["loop_echoed"] == LOOP_CLIENTS * LOOP_ROUNDS)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
