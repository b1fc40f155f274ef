"""Scale benchmark: netmem's hosts against plain asyncio and stock qasync, side by side in one run.

    python benchmarks/scale.py [--connections 9000] [--rounds 20] [--samples 1000000]

Each loop setup runs in a child process of its own (fresh memory, fresh descriptors) and does the same work,
`hold_and_echo` from benchmarks/asyncio_reference.py: hold N echo connections (server and clients in one
process), then echo 1 KiB round trips from min(100, N) of them. Rows:

- asyncio         plain asyncio.run of asyncio_reference.py: the reference every ratio is against, measured in
                  the same run
- qasync          the same coroutine straight on stock qasync, with netmem's live plot repainting (the before)
- netmem in-app   netmem's in-app design: the workload on its own plain loop (hosts.start_workload_thread),
                  the window on qasync with the live plot repainting at 25 fps
- netmem isolated `netmem run connections` and `netmem run messages` on the isolated host (separate server
                  and load processes), read from their records

For the window rows it also measures the GUI loop's lag (a 10 ms Qt timer, scheduled against actual), and
separately: the live plot at --samples samples (setData plus a forced repaint, median of 60 frames) and the
sampler's own CPU at 100 Hz. Absolute numbers are noisy on a shared 2-core machine; read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from asyncio_reference import hold_and_echo  # this folder: the script's own directory is on sys.path


def raise_fd_limit() -> None:
    from netmem_gui.core.running.limits import raise_fd_limit as raise_it

    raise_it()


def child_asyncio(args: argparse.Namespace) -> dict:
    return asyncio.run(hold_and_echo(args.connections, args.rounds))


def child_window(args: argparse.Namespace, mode: str) -> dict:
    """A window with netmem's live plot repainting, and the workload on qasync or on netmem's workload thread."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from netmem_gui.core.config import RunConfig
    from netmem_gui.core.measuring.sampler import Sampler
    from netmem_gui.core.running.hosts import start_workload_thread
    from netmem_gui.core.runs.run import Run
    from netmem_gui.gui.loop import make_loop
    from netmem_gui.gui.plot import RssPlot, RunSource

    app = QApplication.instance() or QApplication([])
    loop = make_loop(app)
    plot = RssPlot()
    plot.resize(1000, 500)
    plot.show()
    run = Run(RunConfig(scenario="connections", host="inapp", interval_ms=10))
    run.measured = {"pid": os.getpid(), "role": "app"}
    sampler = Sampler(os.getpid(), 0.01, run.t0, run.samples)
    sampler.start()
    plot.show_source(RunSource(run))
    frames = QTimer()
    frames.timeout.connect(plot.refresh)
    frames.start(40)
    lags: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        lags.append(max(0.0, now - last[0] - 0.010))
        last[0] = now

    probe.timeout.connect(tick)
    probe.start(10)

    async def main() -> dict:
        if mode == "qasync":
            return await hold_and_echo(args.connections, args.rounds)
        result: dict = {}
        finished: list[bool] = []

        async def work() -> None:
            result.update(await hold_and_echo(args.connections, args.rounds))

        # The workload thread must not wake this loop (see hosts._Inbox): poll for its end, as the host does.
        start_workload_thread(work, lambda: finished.append(True))
        while not finished:
            await asyncio.sleep(0.01)
        if not result:
            raise RuntimeError("the workload thread failed")
        return result

    result = loop.run_until_complete(main())
    sampler.stop()
    probe.stop()
    frames.stop()
    result["gui_lag_p99_s"] = float(np.percentile(lags, 99)) if lags else None
    result["gui_lag_max_s"] = max(lags) if lags else None
    result["plotted_samples"] = plot.sample_count()
    return result


def netmem_isolated(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        conn, msgs = Path(tmp, "c.json"), Path(tmp, "m.json")
        base = [sys.executable, "-m", "netmem_gui.cli", "run"]
        subprocess.run([*base, "connections", "--connections", str(args.connections), "--no-save", "--json",
                        str(conn)], check=True, capture_output=True)
        active = min(100, args.connections)
        subprocess.run([*base, "messages", "--connections", str(active), "--messages", str(active * args.rounds),
                        "--no-save", "--json", str(msgs)], check=True, capture_output=True)
        c, m = json.loads(conn.read_text()), json.loads(msgs.read_text())
    at = {cp["label"]: cp["t_s"] for cp in c["checkpoints"]}
    return {
        "connect_s": at[f"After {args.connections} connections"] - at["After server start"],
        "echo_msgs_per_s": m["scenarios"]["messages"]["messages_per_s"],
        "rss_per_connection_bytes": c["scenarios"]["connections"]["per_connection_bytes"],
        "server_loop_lag_p99_s": c["summary"].get("loop_lag_p99_s"),
    }


def plot_frames(samples: int) -> dict:
    """Median time of setData plus a forced repaint with `samples` samples, 100 more each frame."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from netmem_gui.core.config import RunConfig
    from netmem_gui.core.runs.run import Run
    from netmem_gui.gui.plot import RssPlot, RunSource

    app = QApplication.instance() or QApplication([])
    run = Run(RunConfig(scenario="stability", host="inapp", interval_ms=10))
    rng = np.random.default_rng(0)
    rss = (50 << 20) + np.cumsum(rng.integers(-4096, 4097, samples + 6000))
    for i in range(samples):
        run.samples.append(i * 0.01, int(rss[i]), 0)
    plot = RssPlot()
    plot.resize(1000, 500)
    plot.show()
    plot.show_source(RunSource(run))
    app.processEvents()
    times = []
    for frame in range(60):
        for j in range(100):
            k = samples + frame * 100 + j
            run.samples.append(k * 0.01, int(rss[k]), 0)
        started = time.perf_counter()
        plot.refresh()
        plot.repaint()
        times.append(time.perf_counter() - started)
    t = run.samples.view()[0]
    return {"samples": len(t), "median_frame_ms": 1000 * statistics.median(times),
            "buffer_bytes": run.samples.nbytes, "plot_mb_bytes": plot._mb.nbytes}


def sampler_cost(seconds: float = 10.0) -> dict:
    from netmem_gui.core.measuring.sampler import SampleBuffer, Sampler

    buf = SampleBuffer()
    sampler = Sampler(os.getpid(), 0.01, time.monotonic(), buf)
    started = time.monotonic()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    wall = time.monotonic() - started
    return {"samples": len(buf), "cpu_percent_of_one_core": 100 * sampler.cpu_s / wall,
            "empty_loop_percent": empty_loop_cost(seconds)}


def empty_loop_cost(seconds: float) -> float:
    """CPU of a thread that wakes 100 times a second on the sampler's schedule and does nothing: the floor."""
    spent: list[float] = []

    def body() -> None:
        started, tick = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            tick += 1
            delay = started + tick * 0.01 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        spent.append(100 * time.thread_time() / (time.monotonic() - started))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return spent[0]


def in_child(mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--connections", str(args.connections),
           "--rounds", str(args.rounds)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--child", choices=["asyncio", "qasync", "netmem-inapp"])
    args = parser.parse_args()
    raise_fd_limit()
    if args.child:
        result = child_asyncio(args) if args.child == "asyncio" else child_window(
            args, "qasync" if args.child == "qasync" else "thread")
        print(json.dumps(result))
        return

    rows = {mode: in_child(mode, args) for mode in ("asyncio", "qasync", "netmem-inapp")}
    rows["netmem isolated"] = netmem_isolated(args)
    ref = rows["asyncio"]
    print(f"Python {sys.version.split()[0]}, {args.connections} held connections, echo from"
          f" {min(100, args.connections)} x {args.rounds} rounds of 1 KiB\n")
    print("| setup | connect all | vs asyncio | echo msg/s | vs asyncio | RSS/conn | GUI lag p99 |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        lag = r.get("gui_lag_p99_s")
        print(f"| {name} | {r['connect_s']:.2f} s | {r['connect_s'] / ref['connect_s']:.2f}x"
              f" | {r['echo_msgs_per_s']:,.0f} | {r['echo_msgs_per_s'] / ref['echo_msgs_per_s']:.2f}x"
              f" | {r['rss_per_connection_bytes'] / 1024:.1f} KB | {'' if lag is None else f'{lag * 1000:.0f} ms'} |")
    print("\nnetmem isolated: RSS/conn is the server process alone (the others count both ends in one process).")
    print(f"asyncio: after closing all {args.connections:,} connections the process still held"
          f" {ref['rss_kept_after_close_bytes'] / 2**20:.1f} MB above its start (CPython keeps freed memory)")
    plot = plot_frames(args.samples)
    print(f"\nLive plot at {plot['samples']:,} samples: median setData + repaint {plot['median_frame_ms']:.1f} ms"
          f" (goal < 16 ms); sample buffer {plot['buffer_bytes'] / 2**20:.0f} MiB,"
          f" plot's MB column {plot['plot_mb_bytes'] / 2**20:.0f} MiB")
    cost = sampler_cost()
    print(f"Sampler at 100 Hz for 10 s: {cost['samples']} samples,"
          f" {cost['cpu_percent_of_one_core']:.2f} % of one core (goal < 1 %); a thread waking as often and doing"
          f" nothing: {cost['empty_loop_percent']:.2f} % (the floor)")


if __name__ == "__main__":
    main()
