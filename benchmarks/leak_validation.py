"""Validation of the leak verdict against a known answer: clean runs and runs with an injected leak, per host.

Not a test: it takes minutes. For each host it runs `netmem run stability` K times clean and K times with each
injected leak size, then prints, for the new verdict and the baseline rule side by side, how often each said
POSSIBLE LEAK (the false-positive rate on clean runs, the detection rate on leaking ones), plus the slopes seen.

    python benchmarks/leak_validation.py --hosts isolated --k 20 --leaks 1024 --duration 10
    python benchmarks/leak_validation.py --hosts isolated --k 10 --leaks 1024 --rounds 20   # connections, 100 x 20
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

ROUND_CONNECTIONS = 100


def one_run(host: str, leak: int, duration: float, extra: list[str], rounds: int = 0) -> dict[str, Any]:
    """One `netmem run` in a fresh process; returns the verdicts and slopes (per connection cycle) from its record.

    rounds 0: a stability run of `duration` seconds; else a connections run of ROUND_CONNECTIONS x `rounds`.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.json")
        what = (["stability", "--duration", str(duration)] if not rounds else
                ["connections", "--connections", str(ROUND_CONNECTIONS), "--rounds", str(rounds)])
        cmd = [sys.executable, "-m", "netmem_gui.cli", "run", *what, "--host", host, "--inject-leak", str(leak),
               "--json", path, *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
        with open(path, encoding="utf-8") as handle:
            rec = json.load(handle)
    lv = rec["scenarios"]["connections" if rounds else "stability"]["leak_verdict"]
    traced = lv["traced"]
    per = lv["connections_per_cycle"]

    def each(value: float | None) -> float | None:
        return None if value is None else value / per

    return {
        "verdict": lv["verdict"],
        "baseline_rule": rec["summary"]["baseline_rule"]["verdict"],
        "slope": each(lv["rss"]["slope_bytes_per_cycle"]),
        "ci_low": each(lv["rss"]["ci_low_bytes_per_cycle"]),
        "ci_high": each(lv["rss"]["ci_high_bytes_per_cycle"]),
        "traced_slope": each(traced["slope_bytes_per_cycle"]) if traced else None,
        "cycles": lv["rss"]["cycles"],
        "scenario": f"connections x{rounds}" if rounds else "stability",
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
    parser.add_argument("--rounds", type=int, default=0,
                        help=f"instead of stability runs, connections runs of {ROUND_CONNECTIONS} connections x ROUNDS")
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
            name = f"{result['host']}, {result.get('scenario', 'stability')}"
            cells.setdefault((name, result["leak"]), []).append(result)
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
                result = one_run(host, leak, args.duration, extra, args.rounds)
                result.update(host=host, leak=leak, i=i)
                runs.append(result)
                print(json.dumps(result), file=sys.stderr, flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(result) + "\n")
            rows.append((f"{host}, {runs[0].get('scenario', 'stability')}", leak, runs))
    what = (f"connections runs, {ROUND_CONNECTIONS} connections x {args.rounds} rounds" if args.rounds
            else f"{args.duration:g} s stability runs")
    print(f"leak validation: {what}, K per cell as shown,"
          f" {time.monotonic() - started:.0f} s in all{' (with --trace-allocations)' if extra else ''}")
    print_table(rows)
    return 0


def print_table(rows: list[tuple[str, int, list[dict[str, Any]]]]) -> None:
    """Markdown table: per host and injected size, how often each rule said POSSIBLE LEAK, and the slopes."""
    print()
    print("| host, scenario | injected B per connection cycle | runs | new verdict: POSSIBLE LEAK | INCONCLUSIVE"
          " | baseline rule: POSSIBLE LEAK | RSS slope B per connection cycle, median [min..max] | CI low | CI high"
          " | traced slope |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for host, leak, runs in rows:
        good = [r for r in runs if "error" not in r]
        errors = len(runs) - len(good)
        kind = "clean (false positives)" if leak == 0 else f"{leak:,} (detections)"
        print(f"| {host} | {kind} | {len(good)}{f' (+{errors} failed)' if errors else ''}"
              f" | {rate(runs, 'verdict', 'POSSIBLE LEAK')} | {rate(runs, 'verdict', 'INCONCLUSIVE')}"
              f" | {rate(runs, 'baseline_rule', 'POSSIBLE LEAK')} | {fmt([r['slope'] for r in good])}"
              f" | {fmt([r['ci_low'] for r in good])} | {fmt([r['ci_high'] for r in good])}"
              f" | {fmt([r['traced_slope'] for r in good])} |")


if __name__ == "__main__":
    sys.exit(main())
