"""The app's asyncio loop: qasync's QEventLoop, set up to avoid the PySide6 crash paths we know of."""

from __future__ import annotations

import asyncio
import concurrent.futures

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..core.running.collector import COLLECTOR

# How often the window's thread runs the garbage collections that are due: often enough that garbage never piles up
# between two (CPython's own default would collect the youngest generation every 700 new objects), and each tick
# is one call into Python that reads three counts.
COLLECT_EVERY_MS = 50


def make_loop(app: QApplication) -> qasync.QEventLoop:
    """A qasync loop for `app`, installed as the current event loop.

    qasync's default executor is a pool of QThreads started from Python; qasync issue #154 (PYSIDE-3165)
    traces random crashes since PySide6 6.8 to that path. Nothing of ours needs a QThread: the loop's
    blocking helpers (getaddrinfo and friends) get a plain thread pool instead.

    On Windows this is qasync's IOCP proactor loop, which has no add_reader/add_writer: nothing in netmem needs them
    (the in-app host uses streams and servers, the isolated host pipes read by threads; tests/core/test_portable.py
    keeps it so).
    """
    loop = AppLoop(app)
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="netmem-exec"))
    asyncio.set_event_loop(loop)
    return loop


class AppLoop(qasync.QEventLoop):
    """qasync's loop that, while open, owns the process's garbage collection (core/running/collector.py).

    Every collection then runs on the window's thread: a collection on any other thread (the in-app workload's,
    an export's, a pipe reader's) could destroy the window's Qt objects there, and crash the app.
    """

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        COLLECTOR.take()
        self._collections: QTimer | None = QTimer()
        self._collections.setInterval(COLLECT_EVERY_MS)
        self._collections.timeout.connect(COLLECTOR.serve)
        self._collections.start()

    def close(self) -> None:
        super().close()
        if self._collections is not None:
            self._collections.stop()
            self._collections = None
            COLLECTOR.release()


def close_loop(loop: qasync.QEventLoop) -> None:
    """Close the loop (shutting down its executor) and forget it as the current loop."""
    if not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)
