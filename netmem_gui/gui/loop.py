"""The app's asyncio loop: qasync's QEventLoop, set up to avoid the PySide6 crash paths we know of."""

from __future__ import annotations

import asyncio
import concurrent.futures

import qasync
from PySide6.QtWidgets import QApplication


def make_loop(app: QApplication) -> qasync.QEventLoop:
    """A qasync loop for `app`, installed as the current event loop.

    qasync's default executor is a pool of QThreads started from Python; qasync issue #154 (PYSIDE-3165)
    traces random crashes since PySide6 6.8 to that path. Nothing of ours needs a QThread: the loop's
    blocking helpers (getaddrinfo and friends) get a plain thread pool instead.

    On Windows this is qasync's IOCP proactor loop, which has no add_reader/add_writer: nothing in netmem needs them
    (the in-app host uses streams and servers, the isolated host pipes read by threads; tests/core/test_portable.py
    keeps it so).
    """
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="netmem-exec"))
    asyncio.set_event_loop(loop)
    return loop


def close_loop(loop: qasync.QEventLoop) -> None:
    """Close the loop (shutting down its executor) and forget it as the current loop."""
    if not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)
