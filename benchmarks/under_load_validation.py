"""Validation of the leak verdict beside a real Locust cluster (master and two workers on 127.0.0.1): how often a
stability run of netmem's echo server is called POSSIBLE LEAK, clean and with an injected leak, while Locust users
ramp up and hold a connection each, or churn connections (connect, echo, close).

Not a test: each run takes ~25 s. It prints one row per case for docs/leak-verdict.md ("Under a changing load"):
the stability scenario's verdict, the verdict at steady load (per request) and the run's verdict.

    python benchmarks/under_load_validation.py --k 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.core.locust_cluster import cluster, free_port, wait_for
from tests.core.test_locust_real import _listening

CASES = (  # name, locustfile, users, injected leak per accepted connection
    ("clean, users hold a connection each", "tcp_echo.py", 150, 0),
    ("clean, users churn connections", "tcp_churn.py", 60, 0),
    ("4,096 B per connection, users churn connections", "tcp_churn.py", 60, 4096),
    ("1,024 B per connection, users hold a connection each", "tcp_echo.py", 150, 1024),
)


def one_run(locustfile: str, users: int, leak: int) -> dict[str, str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.json"
        with cluster(locustfile, f"tcp://127.0.0.1:{port}", users=users, spawn_rate=15, run_time_s=24, workers=2,
                     log_dir=Path(folder)) as locust:
            netmem = subprocess.Popen([sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--duration", "20",
                                       "--port", str(port), "--locust", locust.url, "--inject-leak", str(leak),
                                       "--json", str(out), "--no-save"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)
            wait_for(lambda: _listening(port) or netmem.poll() is not None, 20, "netmem's echo server")
            locust.start_workers()
            _, stderr = netmem.communicate(timeout=120)
        if not out.exists():
            return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else "no record"}
        rec = json.loads(out.read_text(encoding="utf-8"))
    rss = rec["scenarios"]["stability"]["leak_verdict"]["rss"]
    steady = (rec["load"]["figures"].get("steady") or {}).get("leak_verdict") or {}
    judged = "not judged" if (rss.get("reason") or "").startswith("not judged") else rss["verdict"]
    return {"stability": judged, "steady": steady.get("verdict", "n/a"),
            "run": rec["summary"]["leak_verdict"]["verdict"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5, help="runs per case")
    args = parser.parse_args()
    print("| case | runs | stability verdict | verdict at steady load | run's verdict |")
    print("|---|---|---|---|---|")
    for name, locustfile, users, leak in CASES:
        results = [one_run(locustfile, users, leak) for _ in range(args.k)]
        errors = [r["error"] for r in results if "error" in r]
        ok = [r for r in results if "error" not in r]

        def tally(key: str, runs: list[dict[str, str]] = ok) -> str:
            return ", ".join(f"{v} {n}/{len(runs)}" for v, n in sorted(Counter(r[key] for r in runs).items()))

        print(f"| {name} ({users} users) | {len(ok)}{f' ({len(errors)} failed: {errors[0]})' if errors else ''} |"
              f" {tally('stability')} | {tally('steady')} | {tally('run')} |", flush=True)


if __name__ == "__main__":
    main()
