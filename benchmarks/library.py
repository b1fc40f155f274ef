"""Big-library benchmark: `netmem runs` and the app's library dialog with thousands of records.

    python benchmarks/library.py [--records 2000] [--seconds 10]

Makes one real record (an isolated `stability` run of --seconds at 100 ms: about 10 samples a second, like a
short real run), copies it into a fresh library --records times under distinct IDs, then times, in the same run:
- "every record read": the list with its index removed first, so that each record is read and validated, as
  every list did before the index (the reference);
- "from the index": the list again, the index up to date (what a user sees from the second list on);
- the same two for `netmem runs` as a command (wall time, Python start included) and for the library dialog
  (QT_QPA_PLATFORM=offscreen; building the dialog and its table);
- what starting costs, for scale: `netmem --version` (Python, the imports of the command line, argument parsing)
  and `python -c pass`.
Goal: at most 0.5 s for `netmem runs` and the dialog with 2,000 records. Absolute times are noisy on a shared
machine; the ratio is what the index buys. The times from the index and the start-up times are medians of --repeat.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_library(folder: Path, count: int, seconds: float) -> int:
    """`count` copies of one real record in `folder`; returns the size of one, in bytes."""
    env = {**os.environ, "NETMEM_DATA_DIR": str(folder.parent / "seed"), "PYTHONPATH": str(ROOT)}
    folder.parent.mkdir(parents=True, exist_ok=True)
    seed = folder.parent / "seed.json"
    subprocess.run([sys.executable, "-m", "netmem_gui.cli", "run", "stability", "--duration", f"{seconds:g}",
                    "--json", str(seed), "--no-save"], env=env, check=True, capture_output=True)
    text = seed.read_text()
    rec = json.loads(text)
    folder.mkdir(parents=True)
    for i in range(count):
        # IDs as the library makes them: one a minute, newest last.
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(1_700_000_000 + 60 * i))
        (folder / f"{stamp}-{rec['config']['scenario']}-{i:06x}.json").write_text(text)
    return len(text.encode())


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_of(repeat: int, fn) -> float:
    return statistics.median(timed(fn) for _ in range(max(1, repeat)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run each record is a copy of")
    parser.add_argument("--repeat", type=int, default=5, help="times each quick measurement is taken (median)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from netmem_gui.core.runs import library

    with tempfile.TemporaryDirectory(prefix="netmem-library-") as tmp:
        folder = Path(tmp, "data", "runs")
        size = make_library(folder, args.records, args.seconds)
        index = folder / library.INDEX_NAME
        env = {**os.environ, "NETMEM_DATA_DIR": str(folder.parent), "PYTHONPATH": str(ROOT)}

        def command(*args: str) -> None:
            subprocess.run([sys.executable, "-m", "netmem_gui.cli", *(args or ("runs",))], env=env, check=True,
                           capture_output=True)

        def cold(fn) -> float:
            index.unlink(missing_ok=True)
            return timed(fn)

        rows = {}
        rows["library.list_runs"] = (cold(lambda: library.list_runs(folder)),
                                     median_of(args.repeat, lambda: library.list_runs(folder)))
        rows["netmem runs (wall)"] = (cold(command), median_of(args.repeat, command))
        version = median_of(args.repeat, lambda: command("--version"))
        python = median_of(args.repeat, lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))

        from PySide6.QtWidgets import QApplication

        from netmem_gui.gui.library_view import LibraryDialog

        app = QApplication.instance() or QApplication([])

        def dialog() -> None:
            shown = LibraryDialog(folder=folder)
            shown.show()
            app.processEvents()
            assert shown.table.rowCount() == args.records
            shown.close()

        rows["library dialog"] = (cold(dialog), median_of(args.repeat, dialog))
        print(f"{args.records:,} records of {size / 1024:,.0f} KB each (a {args.seconds:g} s stability run)\n")
        print("| what | every record read | from the index | ratio |")
        print("|---|---|---|---|")
        for name, (before, after) in rows.items():
            print(f"| {name} | {before:.2f} s | {after:.2f} s | {before / after:.0f}x |")
        print(f"\nStarting: `netmem --version` {version:.2f} s, `python -c pass` {python:.3f} s (wall, medians);"
              f" `netmem runs` from the index {rows['netmem runs (wall)'][1]:.2f} s against the goal of 0.5 s.")


if __name__ == "__main__":
    main()
