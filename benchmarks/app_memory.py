"""Where the app's memory goes while it watches runs: RSS split by kind, over consecutive runs in one window.

    python benchmarks/app_memory.py [--runs 2] [--duration 60] [--interval 100]

Starts the app (offscreen, a temporary NETMEM_DATA_DIR) in a child process and makes --runs isolated
`stability` runs of --duration seconds one after the other in its window, as a user pressing Start again would.
A thread inside that process reads, every 0.5 s (Linux; glibc for the malloc columns):

- file-backed RSS: pages of the libraries' code and data files, read in the first time a code path runs;
- [heap] and other anonymous RSS: glibc's main heap; the other anonymous mappings hold CPython's object
  arenas, big numpy arrays and the threads' malloc arenas;
- malloc in use and malloc free (glibc's mallinfo2, every arena): bytes the process holds, and bytes freed but
  kept by the allocator (RSS that a later allocation reuses and that no object owns).

For each run it prints the change of each from --warmup s into the run to 2 s before its end, the least-squares
slope of RSS over that span, and the bytes the run itself keeps (samples, lag points, checkpoints; see
soak.py). The first run of a fresh process includes its warm-up: code read in and allocators growing to their
working size; a later run shows the growth that repeats.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import CHECKPOINT_BYTES, LAG_ROW_BYTES, SAMPLE_ROW_BYTES  # noqa: E402

PERIOD_S = 0.5
KINDS = ("rss", "file", "heap", "anon", "malloc_used", "malloc_free")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _mallinfo():
    """glibc's mallinfo2, or None elsewhere (musl, macOS, glibc before 2.33)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        fn = libc.mallinfo2
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype = _MallInfo2
    return fn


def read_kinds(mallinfo) -> dict[str, int]:
    """This process's RSS split by kind, in bytes, from /proc/self/smaps."""
    out = dict.fromkeys(KINDS, 0)
    kind = None
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if not head[0].endswith(":"):  # a mapping's first line: address range, perms, offset, dev, inode, path
                path = head[5].strip() if len(head) > 5 else ""
                kind = "heap" if path == "[heap]" else "file" if path.startswith("/") else "anon"
            elif head[0] == "Rss:":
                out[kind] += int(head[1]) * 1024
    out["rss"] = out["file"] + out["heap"] + out["anon"]
    if mallinfo is not None:
        info = mallinfo()
        out["malloc_used"], out["malloc_free"] = info.uordblks + info.hblkhd, info.fordblks
    return out


def child(runs: int, duration: float, interval: int, out_path: str) -> int:
    """In the app's process: make the runs in one window while a thread reads memory; write rows as JSON."""

    from PySide6.QtWidgets import QApplication

    from netmem_gui.core.config import RunConfig
    from netmem_gui.gui.loop import close_loop, make_loop
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    app = QApplication.instance() or QApplication(["netmem-gui"])
    loop = make_loop(app)
    window = MainWindow(make_settings(), persist=False)
    window.resize(1280, 800)
    window.show()
    mallinfo = _mallinfo()
    rows: list[dict] = []
    current = {"run": -1, "t0": time.monotonic()}
    stop = threading.Event()

    def reader() -> None:
        while not stop.wait(PERIOD_S):
            if current["run"] >= 0:
                rows.append({"run": current["run"], "t": time.monotonic() - current["t0"], **read_kinds(mallinfo)})

    async def go() -> list[dict]:
        kept = []
        for i in range(runs):
            entry = window.start_run(RunConfig(scenario="stability", duration_s=duration, interval_ms=interval))
            if entry is None:
                raise SystemExit(window.statusBar().currentMessage())
            current.update(run=i, t0=time.monotonic())
            await window.wait_idle()
            run = entry.run
            kept.append({"samples": len(run.samples), "lag": len(run.lag), "checkpoints": len(run.checkpoints),
                         "completed": run.completed})
        return kept

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        kept = loop.run_until_complete(go())
    finally:
        stop.set()
        thread.join()
        window.close()
        close_loop(loop)
    Path(out_path).write_text(json.dumps({"rows": rows, "kept": kept, "malloc": mallinfo is not None}))
    return 0


def report(data: dict, duration: float, warmup: float, interval: int) -> None:
    rows, kept = data["rows"], data["kept"]
    kinds = KINDS if data["malloc"] else KINDS[:4]
    print(f"{len(kept)} isolated stability runs of {duration:g} s at {interval} ms in one window, read every"
          f" {PERIOD_S} s from {warmup:g} s into each run to 2 s before its end\n")
    print("| run | " + " | ".join(f"{k} change" for k in kinds) + " | RSS slope | run keeps |")
    print("|---|" + "---|" * (len(kinds) + 2))
    for i, keep in enumerate(kept):
        span = [r for r in rows if r["run"] == i and warmup <= r["t"] <= duration - 2]
        if len(span) < 3:
            print(f"| {i + 1} | too few readings |")
            continue
        t = np.array([r["t"] for r in span])
        rss = np.array([r["rss"] for r in span], dtype=np.float64)
        slope = float(np.polyfit(t, rss, 1)[0])
        keeps = (keep["samples"] * SAMPLE_ROW_BYTES + keep["lag"] * LAG_ROW_BYTES
                 + keep["checkpoints"] * CHECKPOINT_BYTES) * (t[-1] - t[0]) / duration
        changes = " | ".join(f"{(span[-1][k] - span[0][k]) / 1024:+,.0f} KB" for k in kinds)
        print(f"| {i + 1} | {changes} | {slope / 1024:+.1f} KB/s ({slope * 3600 / 2**20:+.1f} MB/h)"
              f" | {keeps / 1024:,.0f} KB over the span |")
    print("\nchange: the last reading of the span minus its first. 10 MB an hour is 2.8 KB/s, 167 KB a minute.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs made one after the other in one window")
    parser.add_argument("--duration", type=float, default=60.0, help="length of each stability run (s)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds into each run before the span")
    parser.add_argument("--interval", type=int, default=100, help="sampling interval of the runs (ms)")
    parser.add_argument("--child", metavar="OUT.json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        raise SystemExit(child(args.runs, args.duration, args.interval, args.child))
    if not sys.platform.startswith("linux"):
        raise SystemExit("app_memory.py: reads /proc/self/smaps, so it runs on Linux only")
    with tempfile.TemporaryDirectory(prefix="netmem-app-memory-") as tmp:
        out = Path(tmp, "rows.json")
        env = {**os.environ, "NETMEM_DATA_DIR": str(Path(tmp, "data")), "QT_QPA_PLATFORM": "offscreen",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, __file__, "--child", str(out), "--runs", str(args.runs),
               "--duration", f"{args.duration:g}", "--interval", str(args.interval)]
        done = subprocess.run(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=args.runs * (args.duration + 60) + 60)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"app_memory.py: the app exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace').strip()[-400:]}")
        report(json.loads(out.read_text()), args.duration, args.warmup, args.interval)


if __name__ == "__main__":
    main()
