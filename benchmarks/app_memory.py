"""Where the app's memory goes while it watches runs: RSS split by kind, over consecutive runs in one window.

    python benchmarks/app_memory.py [--runs 2] [--duration 60] [--interval 100] [--repeat 1] [--without PART]

Starts the app (offscreen, a temporary NETMEM_DATA_DIR) in a child process and makes --runs isolated
`stability` runs of --duration seconds one after the other in its window, as a user pressing Start again would.
A thread inside that process reads, every 0.5 s (Linux; glibc for the malloc columns):

- file-backed RSS: pages of the libraries' code and data files, read in the first time a code path runs;
- [heap] and other anonymous RSS: glibc's main heap; the other anonymous mappings hold CPython's object
  arenas, big numpy arrays and the threads' malloc arenas;
- malloc in use and malloc free (glibc's mallinfo2, every arena): bytes the process holds, and bytes freed but
  kept by the allocator (RSS that a later allocation reuses and that no object owns).

For each run it prints the change of each from --warmup s into the run to 2 s before its end, the least-squares
slopes of RSS and of anonymous memory (RSS less file-backed pages) over that span, and the bytes the run itself
keeps (samples, lag points, checkpoints; see soak.py). The first run of a fresh process includes its warm-up: code
read in and allocators growing to their working size; a later run shows the growth that repeats. --repeat starts
that many fresh processes one after the other (a minute's slope differs from one identical run to the next), and
--without turns one part of the window off in them (its refresh does nothing), to see what that part costs:
"plots" (the RSS, lag and load plots), "rss-plot" (the RSS plot alone) or "figures" (the live figures panel and
the progress bar).
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
from soak import CHECKPOINT_BYTES, LAG_ROW_BYTES, SAMPLE_ROW_BYTES, least_squares_slope  # noqa: E402

PERIOD_S = 0.5
KINDS = ("rss", "file", "heap", "anon", "malloc_used", "malloc_free")
PARTS = ("plots", "rss-plot", "figures")


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


def _turn_off(part: str) -> None:
    """Make one part of the window do nothing when it is refreshed (a measurement, not a setting of the app)."""
    from netmem_gui.gui import lag_plot, load_plot, plot, window

    def idle(*_args: object) -> bool:
        return False

    if part == "figures":
        window.MainWindow._refresh_figures = idle
        return
    for cls in (plot.RssPlot, lag_plot.LagPlot, load_plot.LoadPlot) if part == "plots" else (plot.RssPlot,):
        cls.refresh = idle


def child(runs: int, duration: float, interval: int, out_path: str, without: str | None = None) -> int:
    """In the app's process: make the runs in one window while a thread reads memory; write rows as JSON."""

    from PySide6.QtWidgets import QApplication

    from netmem_gui.core.config import RunConfig
    from netmem_gui.gui.loop import close_loop, make_loop
    from netmem_gui.gui.settings import make_settings
    from netmem_gui.gui.window import MainWindow

    if without:
        _turn_off(without)
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


def report(processes: list[dict], duration: float, warmup: float, interval: int, without: str | None) -> None:
    kinds = KINDS if processes[0]["malloc"] else KINDS[:4]
    print(f"{len(processes)} fresh app(s), {len(processes[0]['kept'])} isolated stability run(s) of {duration:g} s"
          f" at {interval} ms in each window{f', without {without}' if without else ''}, read every {PERIOD_S} s"
          f" from {warmup:g} s into each run to 2 s before its end\n")
    print("| app | run | " + " | ".join(f"{k} change" for k in kinds)
          + " | RSS slope | anonymous slope | the run keeps |")
    print("|---|---|" + "---|" * (len(kinds) + 3))
    for p, data in enumerate(processes, 1):
        rows = data["rows"]
        for i, keep in enumerate(data["kept"]):
            span = [r for r in rows if r["run"] == i and warmup <= r["t"] <= duration - 2]
            if len(span) < 3:
                print(f"| {p} | {i + 1} | too few readings |")
                continue
            t = np.array([r["t"] for r in span])
            rss = least_squares_slope(t, np.array([r["rss"] for r in span], dtype=np.float64))
            anon = least_squares_slope(t, np.array([r["rss"] - r["file"] for r in span], dtype=np.float64))
            keeps = (keep["samples"] * SAMPLE_ROW_BYTES + keep["lag"] * LAG_ROW_BYTES
                     + keep["checkpoints"] * CHECKPOINT_BYTES) / duration
            changes = " | ".join(f"{(span[-1][k] - span[0][k]) / 1024:+,.0f} KB" for k in kinds)
            print(f"| {p} | {i + 1} | {changes} | {rss / 1024:+.1f} KB/s ({rss * 3600 / 2**20:+.1f} MB/h)"
                  f" | {anon / 1024:+.1f} KB/s | {keeps / 1024:.1f} KB/s |")
    print("\nchange: the last reading of the span minus its first. Anonymous: RSS less file-backed pages (code that"
          " the kernel can drop). 10 MB an hour is 2.8 KB/s, 167 KB a minute.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs made one after the other in one window")
    parser.add_argument("--duration", type=float, default=60.0, help="length of each stability run (s)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds into each run before the span")
    parser.add_argument("--interval", type=int, default=100, help="sampling interval of the runs (ms)")
    parser.add_argument("--repeat", type=int, default=1, help="fresh apps started one after the other")
    parser.add_argument("--without", choices=PARTS, help="turn this part of the window off in the apps")
    parser.add_argument("--child", metavar="OUT.json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        raise SystemExit(child(args.runs, args.duration, args.interval, args.child, args.without))
    if not sys.platform.startswith("linux"):
        raise SystemExit("app_memory.py: reads /proc/self/smaps, so it runs on Linux only")
    report([_one_app(args) for _ in range(args.repeat)], args.duration, args.warmup, args.interval, args.without)


def _one_app(args: argparse.Namespace) -> dict:
    """Start a fresh app in a child process with its own data folder; return what its reader thread wrote."""
    with tempfile.TemporaryDirectory(prefix="netmem-app-memory-") as tmp:
        out = Path(tmp, "rows.json")
        env = {**os.environ, "NETMEM_DATA_DIR": str(Path(tmp, "data")), "QT_QPA_PLATFORM": "offscreen",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, __file__, "--child", str(out), "--runs", str(args.runs),
               "--duration", f"{args.duration:g}", "--interval", str(args.interval),
               *(["--without", args.without] if args.without else [])]
        done = subprocess.run(cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=args.runs * (args.duration + 60) + 60)
        if done.returncode != 0 or not out.exists():
            raise SystemExit(f"app_memory.py: the app exited {done.returncode}: "
                             f"{done.stderr.decode(errors='replace').strip()[-400:]}")
        return json.loads(out.read_text())


if __name__ == "__main__":
    main()
