"""netmem's load driver against redis-benchmark and plain asyncio, on the same redis-server, in one run.

    python benchmarks/load_rate.py [--requests 100000] [--repeat 3]

For 1 and 50 connections it measures requests per second of:
- redis-benchmark's PING (-t ping_mbulk) and ECHO of a 16-byte argument (its custom-command mode), each reply
  checked by redis-benchmark only for being a reply;
- plain asyncio: a minimal client written for this benchmark (request, read the whole reply, check it), the
  ceiling of a Python driver on one loop;
- netmem: `netmem run messages --attach PID --protocol redis --message-size 16` (ECHO, every reply checked), its
  record's messages_per_s, with its load process on asyncio and, where uvloop is installed, on uvloop
  (`--load-loop`).
It prints the best of --repeat tries of each and the ratios to redis-benchmark's ECHO. The rows that need
redis-benchmark are skipped with a note where it is missing. Issue #27's goal: netmem >= 0.8x redis-benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAYLOAD = b"x" * 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def redis_benchmark(port: int, clients: int, requests: int, echo: bool) -> float:
    what = ["ECHO", PAYLOAD.decode()] if echo else ["-t", "ping_mbulk"]
    done = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(clients), "-n",
                           str(requests), "-q", *what], capture_output=True, text=True, timeout=300)
    rates = re.findall(r"([\d.]+) requests per second", done.stdout.replace("\r", "\n"))
    if not rates:
        raise SystemExit(f"redis-benchmark said: {done.stdout[-300:]} {done.stderr[-300:]}")
    return float(rates[-1])


async def _asyncio_client(port: int, clients: int, requests: int) -> float:
    request = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%b\r\n" % (len(PAYLOAD), PAYLOAD)
    expected = b"$%d\r\n%b\r\n" % (len(PAYLOAD), PAYLOAD)
    left = requests

    async def one() -> None:
        nonlocal left
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left > 0:
            left -= 1
            writer.write(request)
            if await reader.readexactly(len(expected)) != expected:
                raise SystemExit("a wrong reply")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return requests / (time.perf_counter() - started)


def netmem_rate(pid: int, port: int, clients: int, requests: int, loop: str) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.json"
        done = subprocess.run([sys.executable, "-m", "netmem_gui.cli", "run", "messages", "--attach", str(pid),
                               "--address", f"127.0.0.1:{port}", "--protocol", "redis", "--message-size",
                               str(len(PAYLOAD)), "--messages", str(requests), "--connections", str(clients),
                               "--load-loop", loop, "--json", str(out), "--no-save"],
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"netmem failed: {done.stderr.strip()[-300:]}")
        messages = json.loads(out.read_text())["scenarios"]["messages"]
        if messages["messages_echoed"] != requests:
            raise SystemExit(f"netmem on {loop}: {messages['messages_echoed']} of {requests} replies right")
        return float(messages["messages_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    have_benchmark = shutil.which("redis-benchmark") is not None
    loops = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])
    if not have_benchmark:
        print("redis-benchmark is not on this machine (Debian: apt-get install redis-tools): its rows say n/a")
    if len(loops) == 1:
        print("uvloop is not installed (pip install 'netmem[fast]'): netmem runs on asyncio only")
    proc, port = start_redis()
    try:
        print("| connections | redis-benchmark PING | redis-benchmark ECHO | plain asyncio ECHO | "
              + " | ".join(f"netmem ECHO on {loop} | / redis-benchmark ECHO" for loop in loops)
              + " | netmem on asyncio / plain asyncio |")
        print("|---|---|---|---|" + "---|---|" * len(loops) + "---|")
        for clients in (1, 50):
            ping = echo = None
            if have_benchmark:
                ping = max(redis_benchmark(port, clients, args.requests, echo=False) for _ in range(args.repeat))
                echo = max(redis_benchmark(port, clients, args.requests, echo=True) for _ in range(args.repeat))
            plain = max(asyncio.run(_asyncio_client(port, clients, args.requests)) for _ in range(args.repeat))
            # Alternated, so that a busy spell of the machine falls on both loops alike.
            tries: dict[str, list[float]] = {loop: [] for loop in loops}
            for _ in range(args.repeat):
                for loop in loops:
                    tries[loop].append(netmem_rate(proc.pid, port, clients, args.requests, loop))
            ours = {loop: max(rates) for loop, rates in tries.items()}

            def cell(x: float | None) -> str:
                return "n/a" if x is None else f"{x:,.0f}/s"

            cells = [f"{cell(ours[loop])} | {f'{ours[loop] / echo:.2f}x' if echo else 'n/a'}" for loop in loops]
            print(f"| {clients} | {cell(ping)} | {cell(echo)} | {plain:,.0f}/s | " + " | ".join(cells)
                  + f" | {ours['asyncio'] / plain:.2f}x |", flush=True)
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
