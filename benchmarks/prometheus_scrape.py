"""What Prometheus's scrape interval does to netmem's figures: the same redis load read by PID and through Prometheus.

    python benchmarks/prometheus_scrape.py [--scrape 1s 5s 15s] [--clients 1500] [--ramp 15]

For each scrape interval it starts a fresh redis-server, prometheus-process-exporter watching it and a Prometheus
scraping the exporter at that interval (all on 127.0.0.1), then two `netmem run observe` at once: one
`--attach PID`, one `--prometheus URL` (memory: the exporter's resident bytes; connections: its open file
descriptors). A client opens `--clients` connections (each sends PING) in steps over `--ramp` seconds, holds them
5 s and closes them. It prints each run's readings and memory per connection, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.core.prometheus_stack import prometheus_stack  # noqa: E402  (the tests' own helpers, from the checkout)
from tests.core.servers import redis_server  # noqa: E402

MEMORY = 'namedprocess_namegroup_memory_bytes{groupname="redis",memtype="resident"}'
FDS = 'namedprocess_namegroup_open_filedesc{groupname="redis"}'


def load(port: int, clients: int, ramp_s: float) -> None:
    steps = 15
    held = []
    for _ in range(steps):
        for _ in range(clients // steps):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"PING\r\n")
            held.append(s)
        for s in held[-(clients // steps):]:
            s.recv(16)
        time.sleep(ramp_s / steps)
    time.sleep(5)
    for s in held:
        s.close()


def one(scrape: str, clients: int, ramp_s: float) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp, redis_server() as (redis, port), \
            prometheus_stack(Path(tmp), "redis", f"redis-server.*:{port}", scrape) as url:
        duration = str(ramp_s + 15)
        cmd = [sys.executable, "-m", "netmem_gui.cli", "run", "observe", "--duration", duration, "--no-save"]
        runs = {
            "pid": subprocess.Popen([*cmd, "--attach", str(redis.pid), "--json", f"{tmp}/pid.json"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
            "prometheus": subprocess.Popen([*cmd, "--prometheus", url, "--memory-query", MEMORY,
                                            "--connections-query", FDS, "--json", f"{tmp}/prometheus.json"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
        }
        time.sleep(4)
        load(port, clients, ramp_s)
        out = {}
        for name, proc in runs.items():
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise SystemExit(f"{name}: {err.strip()}")
            out[name] = json.loads(Path(f"{tmp}/{name}.json").read_text())["scenarios"]["observe"]
        return out["pid"], out["prometheus"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrape", nargs="+", default=["1s", "5s"])
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--ramp", type=float, default=15.0)
    args = parser.parse_args()
    print(f"{args.clients} redis clients (one PING each) over {args.ramp:g} s; memory per connection")
    print(f"{'scrape':>6} {'PID: readings':>14} {'per conn':>9} {'Prometheus: readings':>21} {'per conn':>9}"
          f" {'ratio':>6}")
    for scrape in args.scrape:
        pid, prom = one(scrape, args.clients, args.ramp)
        a, b = pid["per_connection_bytes"], prom["per_connection_bytes"]
        ratio = f"{b / a:.2f}" if a and b else "-"
        print(f"{scrape:>6} {pid['readings']:>14} {a / 1024 if a else 0:>7.2f}KB {prom['readings']:>21}"
              f" {b / 1024 if b else 0:>7.2f}KB {ratio:>6}" + ("" if b else f"  ({prom.get('fit_reason')})"))


if __name__ == "__main__":
    main()
