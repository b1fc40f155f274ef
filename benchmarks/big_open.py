"""Big-open benchmark: opening a long run's record in the app, and exporting it, and how long its window stops
repainting meanwhile.

    PYTHONPATH=. QT_QPA_PLATFORM=offscreen python benchmarks/big_open.py [--samples 1000000] [--repeat 2]

The record is big_record.py's (a real small run with --samples generated samples and loop-lag points). A real
window (offscreen, on the app's qasync loop) opens it while a 20 ms Qt timer ticks on the window's thread; each
row gives the time from the file chosen to the record shown (in the run list, plotted, and the window back in its
event loop) and the longest gap between two ticks, i.e. the longest the window could not repaint. Rows, in one run
on the same file:

- before    record.load as main had it (Python's json, then the checks) called on the window's thread
- in place  today's record.load (orjson when installed) on the window's thread
- thread    today's record.load in a thread of the app: the GIL is held for the whole parse all the same
- after     MainWindow.open_file: a child process parses and checks it, the window rebuilds the columns in a
            thread a chunk at a time (core/records/opening.py)

Then the opened record is exported as CSV and as JSON, and labelled in the library dialog, each two ways:

- in place  exporting.export, or library.set_label and the dialog's refresh, on the window's thread (as before)
- after     MainWindow.export_file: a big record's JSON or CSV is written in a worker thread (gui/exporting.py);
            LibraryDialog.label_file: a big record is relabelled by a child process (core/runs/relabel.py) that a
            worker thread waits for (gui/library_view.py)

Times are the best of --repeat; the gap is that of the same attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from big_record import big_record
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from netmem_gui.core.records import files, opening, record

TICK_MS = 20


def load_as_before(path: str) -> record.Record:
    """record.load before orjson: the strict reader, Python's json, then the same checks."""
    text = files.read_user_file(path, "a record file", record.RecordError, files.MAX_RECORD_BYTES)
    return record.validate(files.parse_json(text, path, record.RecordError), path)


class Ticks:
    """A Qt timer on the window's thread, noting the longest gap between its ticks."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.reset()
        self.timer.start()

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0
        self.count = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now
        self.count += 1


async def settle(ticks: Ticks, n: int = 3) -> None:
    """Until the timer has ticked n more times: the window is back in its event loop and has repainted."""
    target = ticks.count + n
    while ticks.count < target:
        await asyncio.sleep(0.005)


async def one(window, ticks: Ticks, how: str, path: str) -> tuple[float, float, int]:
    rows = window.run_list.count()
    await settle(ticks)
    ticks.reset()
    started = time.perf_counter()
    if how == "before":
        window._add_record(path, load_as_before(path))
    elif how == "in place":
        window._add_record(path, record.load(path))
    elif how == "thread":
        rec = await asyncio.get_running_loop().run_in_executor(None, record.load, path)
        window._add_record(path, rec)
    else:
        assert await window.open_file(path)
    await settle(ticks, 1)
    took = time.perf_counter() - started
    assert window.run_list.count() == rows + 1
    return took, ticks.longest, ticks.count


async def measure(window, path: str, repeat: int) -> None:
    ticks = Ticks()
    print(f"{'':9} {'open':>7} {'longest gap':>12} {'ticks':>6}   (a tick every {TICK_MS} ms while it opens)")
    rows = {}
    for how in ("before", "in place", "thread", "after"):
        rows[how] = best = min([await one(window, ticks, how, path) for _ in range(repeat)])
        print(f"{how:9} {best[0]:6.2f} s {best[1] * 1000:9.0f} ms {best[2]:6d}")
        window.run_list.clear()
        window.entries.clear()
    (before, before_gap, _), (after, after_gap, _) = rows["before"], rows["after"]
    print(f"after / before: open {after / before:.2f}x, longest gap {after_gap / before_gap:.2f}x"
          f" ({before_gap / after_gap:.0f} times shorter)")
    await one(window, ticks, "after", path)
    print(f"\n{'export':14} {'time':>7} {'longest gap':>12}")
    for kind in (".csv", ".json"):
        out = {}
        for how in ("in place", "after"):
            out[how] = min([await one_export(window, ticks, how, path + "-out" + kind) for _ in range(repeat)])
            print(f"{kind[1:]:6}{how:9} {out[how][0]:6.2f} s {out[how][1] * 1000:9.0f} ms")
        print(f"{kind[1:]} after / in place: longest gap {out['after'][1] / out['in place'][1]:.2f}x")
    await measure_label(path, repeat, ticks)


async def measure_label(path: str, repeat: int, ticks: Ticks) -> None:
    from netmem_gui.core.runs import library
    from netmem_gui.gui.library_view import LibraryDialog

    with tempfile.TemporaryDirectory() as folder:
        entry = library.save_run(record.load(path), Path(folder))
        dialog = LibraryDialog(None, Path(folder))
        dialog.show()
        out = {}
        for how in ("in place", "after"):
            best = None
            for attempt in range(repeat):
                label = f"{how} {attempt}"
                await settle(ticks)
                ticks.reset()
                started = time.perf_counter()
                if how == "in place":
                    library.set_label(entry.id, label, Path(folder))
                    dialog.refresh()
                else:
                    assert await dialog.label_file(entry, label)
                await settle(ticks, 1)
                took = (time.perf_counter() - started, ticks.longest)
                best = took if best is None else min(best, took)
            out[how] = best
            print(f"{'label':6}{how:9} {best[0]:6.2f} s {best[1] * 1000:9.0f} ms")
        print(f"label after / in place: longest gap {out['after'][1] / out['in place'][1]:.2f}x")
        dialog.close()


async def one_export(window, ticks: Ticks, how: str, path: str) -> tuple[float, float]:
    from netmem_gui.gui import exporting

    await settle(ticks)
    ticks.reset()
    started = time.perf_counter()
    if how == "in place":
        exporting.export(window.current_entry().record(), window.plot, path, os.path.splitext(path)[1])
    else:
        assert await window.export_file(path)
    await settle(ticks, 1)
    took = time.perf_counter() - started
    os.remove(path)
    return took, ticks.longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from netmem_gui.gui.loop import close_loop, make_loop
    from netmem_gui.gui.window import MainWindow

    loop = make_loop(app)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.json")
        record.save(big_record(args.samples), path)
        size = os.path.getsize(path)
        fast = files.parse_json_quickly(b"{}") is not None
        parser_name = "orjson" if fast else "Python's json (orjson is not installed)"
        print(f"record: {args.samples:,} samples (+ as many loop-lag points), {size / 1e6:.1f} MB; a child process"
              f" opens records from {opening.CHILD_FROM_BYTES / 1e6:g} MB; parsed by {parser_name}")
        window = MainWindow(None)
        window.show()
        try:
            loop.run_until_complete(measure(window, path, args.repeat))
        finally:
            window.close()
            close_loop(loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
