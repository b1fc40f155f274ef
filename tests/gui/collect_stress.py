"""The app while other threads make garbage: every collection must run on the window's thread.

Run as a script (the regression test starts it as a child, so a crash shows as a failed exit status instead of
taking pytest down). For STRESS_SECONDS, on the window's thread, Qt objects with live timers die in reference
cycles (as a closed qasync loop's timer object does), so only a garbage collection frees them; meanwhile
- the window runs in-app runs whose workload thread asks for collections (a baseline each, one per round of a
  `connections` run, one per cycle of a `stability` run with --trace-allocations);
- a plain thread makes cyclic garbage of its own, as an export or a pipe reader does, which on plain Python
  starts automatic collections on that thread.
Before core/running/collector.py those collections freed the window's objects on the wrong thread: Qt printed
"Timers cannot be stopped from another thread" and the process died with SIGSEGV within seconds.
Prints one JSON line of counts; exit status 0 only if everything ran to the end.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("NETMEM_GUI_SETTINGS", os.path.join(tempfile.mkdtemp(), "settings.ini"))
os.environ.setdefault("NETMEM_DATA_DIR", tempfile.mkdtemp())

from PySide6.QtCore import QObject, QTimer
from stress_window import run_in_window

from netmem_gui.core.config import RunConfig
from netmem_gui.gui.window import MainWindow

SECONDS = float(os.environ.get("STRESS_SECONDS", "8"))
OTHER_THREAD = os.environ.get("STRESS_OTHER_THREAD", "1") == "1"  # 0: the in-app workload's collections alone
DOOMED_PER_TICK, TIMERS_EACH = 20, 5
RUNS = [
    RunConfig(scenario="connections", connections=20, rounds=12, host="inapp", interval_ms=20),
    RunConfig(scenario="stability", duration_s=2.0, trace_allocations=True, host="inapp", interval_ms=20),
    RunConfig(scenario="messages", messages=2000, message_size=64, host="inapp", interval_ms=20),
]

made = 0
fired = 0


class Doomed(QObject):
    """A Qt object of the window's thread with timers running, that only the cyclic collector frees."""

    def __init__(self) -> None:
        super().__init__()
        self.me = self
        for _ in range(TIMERS_EACH):
            self.startTimer(1)

    def timerEvent(self, event) -> None:
        global fired
        fired += 1


def make_doomed() -> None:
    global made
    for _ in range(DOOMED_PER_TICK):
        Doomed()
    made += DOOMED_PER_TICK


def other_thread_garbage(until: float, counts: dict) -> None:
    while time.monotonic() < until:
        for _ in range(1000):
            cycle: list = []
            cycle.append(cycle)
        counts["other_thread_cycles"] += 1000
        time.sleep(0.001)


async def stress(window: MainWindow) -> dict:
    counts: dict = {"runs": 0, "completed": 0, "other_thread_cycles": 0, "reasons": []}
    until = time.monotonic() + SECONDS
    ticker = QTimer()
    ticker.timeout.connect(make_doomed)
    ticker.start(5)
    garbage = threading.Thread(target=other_thread_garbage, args=(until if OTHER_THREAD else 0, counts), daemon=True)
    garbage.start()
    try:
        while time.monotonic() < until:
            config = RUNS[counts["runs"] % len(RUNS)]
            entry = window.start_run(config)
            assert entry is not None
            await window.wait_idle()
            rec = entry.record()
            counts["runs"] += 1
            counts["completed"] += bool(rec["completed"])
            if not rec["completed"]:
                counts["reasons"].append(rec["stop_reason"])
    finally:
        ticker.stop()
    await asyncio.get_running_loop().run_in_executor(None, garbage.join)
    counts.update(made=made, fired=fired)
    return counts


def main() -> int:
    counts = run_in_window(stress)
    ok = counts["runs"] >= len(RUNS) and counts["completed"] == counts["runs"] and counts["made"] > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
