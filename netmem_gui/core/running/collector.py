"""Python's cyclic garbage collector, run only on the thread that owns the process (the window's, in the app)."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import gc
import threading


class Collector:
    """Where and when this process collects its cyclic garbage.

    Why: a collection finalizes whatever garbage it finds, on the thread that runs it. In the app that garbage
    includes Qt objects of the window's thread (a closed qasync loop's timer object, a dialog's wrappers); a
    collection on the in-app workload thread or an export thread destroyed them there, while the window's
    thread dispatched their timer events, and the app died with SIGSEGV (docs/measured.md, section 9).
    So while a thread owns the collector, automatic collections are off for the whole process; that thread
    collects what is due when it calls serve(), and other threads that need a full collection (a baseline, a
    per-round reading) ask for one with collect() and wait until the owner has run it.
    With no owner (the command line's isolated runs), everything is as in plain Python.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._holds = 0
        self._was_enabled = True
        self._requests: collections.deque[concurrent.futures.Future[None]] = collections.deque()

    def take(self) -> None:
        """Make the calling thread the owner (again, if it already is); pair with release()."""
        me = threading.get_ident()
        with self._lock:
            if self._holds and self._owner != me:
                raise RuntimeError("the garbage collector is owned by another thread")
            if not self._holds:
                self._owner = me
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holds += 1

    def release(self) -> None:
        """Undo one take(); the last one turns automatic collections back on (if they were) and serves waiters."""
        with self._lock:
            if not self._holds or self._owner != threading.get_ident():
                raise RuntimeError("release() without take() on this thread")
            self._holds -= 1
            if self._holds:
                return
            self._owner = None
            waiting = list(self._requests)
            self._requests.clear()
            if self._was_enabled:
                gc.enable()
        self._collect_for(waiting)

    @property
    def owned(self) -> bool:
        return self._holds > 0

    def request(self) -> concurrent.futures.Future[None]:
        """A full collection from any thread: run now if this thread may, else done once the owner has run it."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            queued = self._holds > 0 and self._owner != threading.get_ident()
            if queued:
                self._requests.append(future)
        if not queued:
            self._collect_for([future])
        return future

    async def collect(self) -> None:
        """A full collection, awaited on any asyncio loop (the in-app workload's own, or the caller's)."""
        future = self.request()
        if not future.done():
            await asyncio.wrap_future(future)

    def serve(self) -> bool:
        """On the owner's thread: run the collections asked for, else the automatic one that is due.

        Returns whether anyone was waiting. Collections due are decided as CPython decides them (a generation
        whose count passed its threshold, the oldest first), less its rule that delays full collections while
        few long-lived objects are new, which Python does not expose.
        """
        if self._owner != threading.get_ident():
            return False
        if gc.isenabled():
            gc.disable()  # something turned it back on (a library, the user's module): this thread collects
        with self._lock:
            waiting = list(self._requests)
            self._requests.clear()
        if waiting:
            self._collect_for(waiting)
            return True
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if not thresholds[0] or counts[0] <= thresholds[0]:
            return False
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                break
        return False

    @staticmethod
    def _collect_for(waiting: list[concurrent.futures.Future[None]]) -> None:
        if not waiting:
            return
        gc.collect()  # a finalizer's exception is printed by Python, never raised here
        for future in waiting:
            future.set_result(None)


COLLECTOR = Collector()
"""The process's one collector: the app's loop owns it for the app's life, the in-app host for a run's."""
