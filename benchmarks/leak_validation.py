"""Validation of the leak verdict against a known answer: clean runs and runs with an injected leak, per host.

Not a test: it takes minutes. For each host it runs `netmem run stability` K times clean and K times with each
injected leak size, then prints, for the new verdict and the seed's rule side by side, how often each said
POSSIBLE LEAK (the false-positive rate on clean runs, the detection rate on leaking ones), plus the slopes seen.

    python benchmarks/leak_validation.py --hosts isolated --k 20 --leaks 1024 --duration 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def one_run(host: str, leak: int, duration: float, extra: list[str]) -> dict[str, Any]:
    """One `netmem run stability` in a fresh process; returns the verdicts and slopes from its record."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.json")
        cmd = [sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--host", host, "--duration",
               str(duration), "--inject-leak", str(leak), "--json", path, *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
        with open(path, encoding="utf-8") as handle:
            rec = json.load(handle)
    lv = rec["scenarios"]["stability"]["leak_verdict"]
    traced = lv["traced"]
    return {
        "verdict": lv["verdict"],
        "seed": rec["summary"]["seed_leak_rule"]["verdict"],
        "slope": lv["rss"]["slope_bytes_per_cycle"],
        "ci_low": lv["rss"]["ci_low_bytes_per_cycle"],
        "ci_high": lv["rss"]["ci_high_bytes_per_cycle"],
        "traced_slope": traced["slope_bytes_per_cycle"] if traced else None,
        "cycles": lv["rss"]["cycles"],
    }


def rate(runs: list[dict[str, Any]], key: str, value: str) -> str:
    ok = [r for r in runs if "error" not in r]
    hits = sum(1 for r in ok if r[key] == value)
    return f"{hits}/{len(ok)}" if ok else "n/a"


def fmt(values: list[float | None]) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    return f"{statistics.median(vals):,.0f} [{min(vals):,.0f}..{max(vals):,.0f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="isolated,inapp", help="comma-separated hosts (default both)")
    parser.add_argument("--k", type=int, default=20, help="runs per cell (default 20)")
    parser.add_argument("--k-inapp", type=int, default=None, help="runs per cell on the in-app host (default --k)")
    parser.add_argument("--leaks", default="256,1024,4096", help="comma-separated injected bytes per cycle")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per stability run (default 10)")
    parser.add_argument("--no-clean", action="store_true", help="skip the clean runs (leaking runs only)")
    parser.add_argument("--trace-allocations", action="store_true", help="pass --trace-allocations to every run")
    parser.add_argument("--jsonl", help="also append every run's result to this file, one JSON object a line")
    parser.add_argument("--table-from", metavar="JSONL",
                        help="run nothing: print the table of the results saved by --jsonl")
    args = parser.parse_args()
    if args.table_from:
        with open(args.table_from, encoding="utf-8") as handle:
            saved = [json.loads(line) for line in handle if line.strip()]
        cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for result in saved:
            cells.setdefault((result["host"], result["leak"]), []).append(result)
        print_table([(host, leak, runs) for (host, leak), runs in cells.items()])
        return 0
    extra = ["--trace-allocations"] if args.trace_allocations else []
    leaks = ([] if args.no_clean else [0]) + [int(x) for x in args.leaks.split(",") if x]
    rows = []
    started = time.monotonic()
    for host in args.hosts.split(","):
        k = args.k_inapp if host == "inapp" and args.k_inapp else args.k
        for leak in leaks:
            runs = []
            for i in range(k):
                result = one_run(host, leak, args.duration, extra)
                result.update(host=host, leak=leak, i=i)
                runs.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
            rows.append((host, leak, runs))
    print(f"leak validation: {args.duration:g} s stability runs, K per cell as shown,"
          f" {time.monotonic() - started:.0f} s in all{' (with --trace-allocations)' if extra else ''}")
    print_table(rows)
    return 0


def print_table(rows: list[tuple[str, int, list[dict[str, Any]]]]) -> None:
    """Markdown table: per host and injected size, how often each rule said POSSIBLE LEAK, and the slopes."""
    print()
    print("| host | injected B/cycle | runs | new verdict: POSSIBLE LEAK | INCONCLUSIVE | seed's rule: POSSIBLE LEAK"
          " | RSS slope B/cycle, median [min..max] | CI low | CI high | traced slope B/cycle |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for host, leak, runs in rows:
        good = [r for r in runs if "error" not in r]
        errors = len(runs) - len(good)
        kind = "clean (false positives)" if leak == 0 else f"{leak:,} (detections)"
        print(f"| {host} | {kind} | {len(good)}{f' (+{errors} failed)' if errors else ''}"
              f" | {rate(runs, 'verdict', 'POSSIBLE LEAK')} | {rate(runs, 'verdict', 'INCONCLUSIVE')}"
              f" | {rate(runs, 'seed', 'POSSIBLE LEAK')} | {fmt([r['slope'] for r in good])}"
              f" | {fmt([r['ci_low'] for r in good])} | {fmt([r['ci_high'] for r in good])}"
              f" | {fmt([r['traced_slope'] for r in good])} |")


if __name__ == "__main__":
    sys.exit(main())
