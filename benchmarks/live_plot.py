"""Live-plot benchmark: the CPU the RSS plot costs per new sample, at two window sizes, with Qt's default pixmap
cache and with the one netmem sizes for its plots.

    python benchmarks/live_plot.py [--samples 400]

Each case runs in a child process of its own (QT_QPA_PLATFORM=offscreen): a real RssPlot following a growing run
(300 samples, then --samples more, one at a time, each followed by Qt's event processing, which paints), and
prints the main thread's CPU per new sample. The plot's axes, its curve's history and its markers are drawn from
Qt's item cache; at 10 MB (Qt's default) the layers of a big plot don't fit and are drawn again on every repaint.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT_DEFAULT_KB = 10_240


def measure(width: int, height: int, cache: str, samples: int) -> float:
    """CPU ms per new sample in this process (run in a child)."""
    import numpy as np
    from PySide6.QtGui import QPixmapCache
    from PySide6.QtWidgets import QApplication

    from netmem_gui.gui.plot import RssPlot

    app = QApplication.instance() or QApplication([])
    n = 300 + samples + 50
    t = np.arange(n) * 0.1
    rss = (40_000_000 + np.cumsum(np.random.default_rng(1).integers(-4096, 4097, n))).astype(np.int64)

    class Growing:
        live = True

        def __init__(self) -> None:
            self.checkpoints = [{"scenario": "stability", "label": "Baseline", "t_s": 0.0,
                                 "rss_bytes": int(rss[0]), "connections": 0}]
            self.phases = [{"scenario": "stability", "phase": "start", "t_s": 0.0}]
            self.n = 300

        def arrays(self) -> tuple[np.ndarray, np.ndarray]:
            return t[: self.n], rss[: self.n]

        def baseline_bytes(self) -> int:
            return int(rss[0])

        def measured(self) -> dict:
            return {"role": "server", "pid": os.getpid()}

        def target(self) -> None:
            return None

    plot = RssPlot()
    plot.resize(width, height)
    plot.show()
    source = Growing()
    plot.show_source(source)
    app.processEvents()
    if cache != "netmem":  # the plot sized the cache as it was shown; put Qt's default back
        QPixmapCache.setCacheLimit(QT_DEFAULT_KB)

    def step(k: int) -> None:
        for _ in range(k):
            source.n += 1
            plot.refresh()
            app.processEvents()

    step(50)
    started = time.thread_time()
    step(samples)
    return 1000 * (time.thread_time() - started) / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--child", nargs=3, metavar=("WxH", "CACHE", "SAMPLES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, cache, samples = args.child
        width, height = map(int, size.split("x"))
        print(json.dumps(measure(width, height, cache, int(samples))))
        return
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    print("| plot size | Qt's default cache (10 MB) | netmem's cache | default / netmem |")
    print("|---|---|---|---|")
    for size in ("900x500", "1800x900"):
        ms = {}
        for cache in ("default", "netmem"):
            out = subprocess.run([sys.executable, __file__, "--child", size, cache, str(args.samples)], env=env,
                                 capture_output=True, text=True, check=True).stdout
            ms[cache] = json.loads(out.strip().splitlines()[-1])
        print(f"| {size} | {ms['default']:.2f} ms | {ms['netmem']:.2f} ms | {ms['default'] / ms['netmem']:.1f}x |")
    print("\nCPU of the main thread per new sample (setData of the tail, Qt's repaint), offscreen.")


if __name__ == "__main__":
    main()
