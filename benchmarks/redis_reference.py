"""An independent measurement of redis-server's memory per client, set beside netmem's figure for the same server.

    python benchmarks/redis_reference.py [--connections 1000] [--step 50]

For each mode (idle: clients connect and send nothing; ping: each client sends one PING and reads +PONG) it
starts a fresh redis-server on a free 127.0.0.1 port, and:

1. reference: opens the clients from plain Python sockets in steps, waits until redis's own INFO says it holds
   them, reads redis's RSS with psutil, and fits the least-squares slope of RSS against clients;
2. netmem: `netmem run connections --connections N --attach PID --address 127.0.0.1:PORT --protocol redis|idle`
   on another fresh redis-server, and reads the per-connection figure from its record.

It prints both slopes and their ratio. No code is shared between the two measurements except psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
PING = b"*1\r\n$4\r\nPING\r\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
                             "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "20000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def connected_clients(control: socket.socket) -> int:
    control.sendall(b"*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n")
    data = b""
    while b"connected_clients:" not in data or not data.endswith(b"\r\n"):
        data += control.recv(65536)
    return int(data.split(b"connected_clients:")[1].split()[0])


def reference(connections: int, step: int, ping: bool) -> tuple[float, float]:
    """(slope in bytes per client, r²) from plain sockets and psutil."""
    proc, port = start_redis()
    clients: list[socket.socket] = []
    try:
        rss = psutil.Process(proc.pid)
        control = socket.create_connection(("127.0.0.1", port))  # redis counts it: it is client number 1
        xs, ys = [0], [rss.memory_info().rss]
        while len(clients) < connections:
            for _ in range(step):
                c = socket.create_connection(("127.0.0.1", port))
                if ping:
                    c.sendall(PING)
                    assert c.recv(16) == b"+PONG\r\n"
                clients.append(c)
            while connected_clients(control) != len(clients) + 1:
                time.sleep(0.005)
            xs.append(len(clients))
            ys.append(rss.memory_info().rss)
        slope, intercept = np.polyfit(xs, ys, 1)
        fitted = np.polyval([slope, intercept], xs)
        r2 = 1 - float(np.sum((np.array(ys) - fitted) ** 2)) / float(np.sum((np.array(ys) - np.mean(ys)) ** 2))
        control.close()
        return float(slope), r2
    finally:
        for c in clients:
            c.close()
        stop(proc)


def netmem(connections: int, step: int, protocol: str) -> tuple[float, float]:
    """(slope, r²) from `netmem run connections --attach` on a fresh redis-server."""
    proc, port = start_redis()
    out = Path(tempfile.mkdtemp()) / "run.json"
    try:
        command = [sys.executable, "-m", "netmem_gui.cli", "run", "connections", "--connections", str(connections),
                   "--attach", str(proc.pid), "--address", f"127.0.0.1:{port}", "--protocol", protocol,
                   "--json", str(out), "--no-save"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        fig = json.loads(out.read_text())["scenarios"]["connections"]
        return fig["per_connection_bytes"], fig["per_connection_fit"]["r_squared"]
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--step", type=int, default=50)
    args = parser.parse_args()
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    print(f"redis-server {version}, {args.connections} clients in steps of {args.step}, RSS by psutil")
    print(f"{'clients':<26} {'reference':>12} {'r²':>6} {'netmem':>12} {'r²':>6} {'netmem/ref':>10}")
    for label, ping, protocol in (("idle (connect only)", False, "idle"), ("active (one PING each)", True, "redis")):
        ref, ref_r2 = reference(args.connections, args.step, ping)
        ours, our_r2 = netmem(args.connections, args.step, protocol)
        print(f"{label:<26} {ref / 1024:>9.2f} KB {ref_r2:>6.3f} {ours / 1024:>9.2f} KB {our_r2:>6.3f}"
              f" {ours / ref:>10.2f}")


if __name__ == "__main__":
    main()
