"""Soak benchmark: the app's and the CLI's own CPU and memory while they watch the same long run.

    python benchmarks/soak.py [--duration 60] [--warmup 10] [--only app|cli] [--together] [--interval MS]

Runs one isolated `stability` run of --duration seconds with `netmem run` and then the same run in the app's
scripted mode (`python -m netmem_gui --run stability ... --export x.json --quit`, QT_QPA_PLATFORM=offscreen),
each with NETMEM_DATA_DIR in a temporary folder. The parent process (the one that watches the run: its samples,
plot, figures; not the server and load children) is read from outside with psutil every 0.5 s from --warmup s
on. For each it prints the CPU used as a % of one core, the least-squares slope of its RSS (KB/s and MB/hour),
and the bytes the run itself keeps in that process (samples, loop lag and cycles, as the core stores them), so
the growth beyond what the run must keep can be read off. Then the app/CLI ratio of CPU. Absolute numbers are
noisy on a shared machine; compare the two rows of one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
PERIOD_S = 0.5
# What the core keeps per value (sampler.py): samples are t, RSS, VMS (8 bytes each); lag t, lag; cycles are
# preallocated columns of cycle, RSS and traced bytes (CycleSeries, 32,768 rows, fixed).
SAMPLE_ROW_BYTES, LAG_ROW_BYTES, CYCLE_ROW_BYTES = 24, 16, 24
# A checkpoint is a dict of seven small values: about 470 bytes each (tracemalloc over 3,065 of them, as a
# stability run makes in an hour at one per 100 cycles).
CHECKPOINT_BYTES = 470


def command(kind: str, duration: float, interval: int, out: Path) -> list[str]:
    common = ["--duration", f"{duration:g}", "--interval", str(interval)]
    if kind == "cli":
        return [sys.executable, "-m", "netmem_gui.cli", "run", "stability", *common, "--json", str(out)]
    return [sys.executable, "-m", "netmem_gui", "--run", "stability", *common, "--export", str(out), "--quit"]


def watch(kind: str, duration: float, warmup: float, interval: int) -> dict:
    """Run one `kind` ("app" or "cli") and read its parent process from outside until it exits."""
    with tempfile.TemporaryDirectory(prefix=f"netmem-soak-{kind}-") as tmp:
        out = Path(tmp, "run.json")
        env = {**os.environ, "NETMEM_DATA_DIR": str(Path(tmp, "data")), "QT_QPA_PLATFORM": "offscreen",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        started = time.monotonic()
        child = subprocess.Popen(command(kind, duration, interval, out), env=env, cwd=tmp,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        proc = psutil.Process(child.pid)
        times, cpu, rss, anon = [], [], [], []
        deadline = started + duration + 120
        next_read = started + warmup
        while child.poll() is None and time.monotonic() < deadline:
            now = time.monotonic()
            # Stop reading a couple of seconds before the run's end: the end (report, record, library) is not
            # what is being measured here.
            if now >= next_read and now - started < duration - 2:
                try:
                    c = proc.cpu_times()
                    times.append(now - started)
                    cpu.append(c.user + c.system)
                    mem = proc.memory_info()
                    rss.append(mem.rss)
                    # Anonymous memory (Linux: RSS minus file-backed and shared pages): the process's own heap, which
                    # a machine short of memory can't shrink by dropping library pages, as it can RSS.
                    anon.append(mem.rss - getattr(mem, "shared", 0))
                except psutil.NoSuchProcess:
                    break
                next_read += PERIOD_S
            time.sleep(0.05)
        if child.poll() is None:
            child.kill()
        _, err = child.communicate()
        if child.returncode != 0 or not out.exists():
            raise SystemExit(f"{kind}: exit {child.returncode}: {err.decode(errors='replace').strip()[-400:]}")
        rec = json.loads(out.read_text())
    t, r, a = np.asarray(times), np.asarray(rss, dtype=np.float64), np.asarray(anon, dtype=np.float64)
    slope = least_squares_slope(t, r)  # bytes/s
    half = len(t) // 2  # the second half alone: does the growth level off?
    late = least_squares_slope(t[half:], r[half:])
    anon_slope = least_squares_slope(t, a)
    cycles = rec["cycle_series"].get("stability") or {"cycle": []}
    kept = (len(rec["samples"]["t_s"]) * SAMPLE_ROW_BYTES + len(rec["loop_lag"]["t_s"]) * LAG_ROW_BYTES
            + len(rec["checkpoints"]) * CHECKPOINT_BYTES)
    span = t[-1] - t[0] if len(t) > 1 else float("nan")
    return {
        "kind": kind, "seconds_read": span,
        "cpu_percent": 100 * (cpu[-1] - cpu[0]) / span if len(t) > 1 else float("nan"),
        "rss_start_mb": r[0] / 2**20 if len(r) else float("nan"),
        "rss_end_mb": r[-1] / 2**20 if len(r) else float("nan"),
        "rss_slope_kb_s": slope / 1024, "rss_slope_mb_h": slope * 3600 / 2**20,
        "rss_late_slope_kb_s": late / 1024,
        "anon_start_mb": a[0] / 2**20 if len(a) else float("nan"),
        "anon_end_mb": a[-1] / 2**20 if len(a) else float("nan"),
        "anon_slope_kb_s": anon_slope / 1024, "anon_slope_mb_h": anon_slope * 3600 / 2**20,
        "anon_late_slope_kb_s": least_squares_slope(t[half:], a[half:]) / 1024,
        "rss_growth_mb": (r[-1] - r[0]) / 2**20 if len(r) else float("nan"),
        "samples": len(rec["samples"]["t_s"]), "lag_points": len(rec["loop_lag"]["t_s"]),
        "cycles": rec["scenarios"].get("stability", {}).get("cycles_ok"),
        "kept_bytes": kept, "kept_bytes_per_h": kept * 3600 / rec["samples"]["t_s"][-1],
        # What the goal is about: the slope less what the run must keep (the cycles' columns are preallocated).
        "own_mb_h": slope * 3600 / 2**20 - kept * 3600 / rec["samples"]["t_s"][-1] / 2**20,
        "cycle_bytes": len(cycles["cycle"]) * CYCLE_ROW_BYTES,
    }


def least_squares_slope(t: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against t (per second); NaN with too few points."""
    return float(np.polyfit(t, y, 1)[0]) if len(t) > 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="length of the stability run (s)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the first reading")
    parser.add_argument("--interval", type=int, default=100, help="sampling interval of the run (ms)")
    parser.add_argument("--only", choices=["app", "cli"])
    parser.add_argument("--together", action="store_true",
                        help="run the CLI's and the app's runs at the same time (a long soak in half the time)")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["cli", "app"]
    if args.together:
        with concurrent.futures.ThreadPoolExecutor(len(kinds)) as pool:
            futures = {k: pool.submit(watch, k, args.duration, args.warmup, args.interval) for k in kinds}
            rows = {k: f.result() for k, f in futures.items()}
    else:
        rows = {k: watch(k, args.duration, args.warmup, args.interval) for k in kinds}
    print(f"isolated stability run of {args.duration:g} s at {args.interval} ms, read every {PERIOD_S} s"
          f" from {args.warmup:g} s on ({psutil.cpu_count()} cores)\n")
    print("| watcher | CPU (% of a core) | RSS start -> end | RSS slope | per hour | 2nd half"
          " | anonymous start -> end | its slope | per hour | 2nd half | samples | run keeps | run keeps per hour"
          " | its own (RSS slope less what the run keeps) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['cpu_percent']:.1f} % | {r['rss_start_mb']:.1f} -> {r['rss_end_mb']:.1f} MB"
              f" | {r['rss_slope_kb_s']:+.1f} KB/s | {r['rss_slope_mb_h']:+.1f} MB/h"
              f" | {r['rss_late_slope_kb_s']:+.1f} KB/s"
              f" | {r['anon_start_mb']:.1f} -> {r['anon_end_mb']:.1f} MB | {r['anon_slope_kb_s']:+.1f} KB/s"
              f" | {r['anon_slope_mb_h']:+.1f} MB/h | {r['anon_late_slope_kb_s']:+.1f} KB/s | {r['samples']:,}"
              f" | {(r['kept_bytes'] + r['cycle_bytes']) / 1024:,.0f} KB"
              f" | {r['kept_bytes_per_h'] / 2**20:.2f} MB/h + cycles {r['cycle_bytes'] / 1024:,.0f} KB"
              f" | {r['own_mb_h']:+.1f} MB/h |")
    if len(rows) == 2:
        print(f"\napp/CLI CPU: {rows['app']['cpu_percent'] / rows['cli']['cpu_percent']:.1f}x")
    print("\n'run keeps': samples (24 B) and loop-lag points (16 B) in the core's buffers, checkpoints (about"
          f" {CHECKPOINT_BYTES} B) and the stability cycles kept (24 B each; their columns are preallocated, so they"
          " don't grow RSS).")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
