"""The sampler: RSS and VMS of one process by PID at a fixed interval, on a monotonic clock."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from .memory import MemoryReader, ProcessGone

FIRST_CAPACITY = 4096


class ColumnBuffer:
    """Growable numeric columns written by one thread and read by any (the GUI reads them at its frame rate).

    Readers take `view()`: the columns' first n rows. The writer fills a row before it publishes n, and a
    grown array is a new object, so a view taken earlier stays valid. Memory: 8 bytes a value, reserved by
    doubling, so at most twice what the rows need.
    """

    def __init__(self, dtypes: tuple[type, ...], capacity: int = FIRST_CAPACITY) -> None:
        self._cols = [np.empty(capacity, dtype=d) for d in dtypes]
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Memory the buffer has reserved."""
        return sum(c.nbytes for c in self._cols)

    def append(self, *row: float) -> None:
        n = self._n
        if n == len(self._cols[0]):
            self._cols = [np.concatenate([c, np.empty_like(c)]) for c in self._cols]
        for col, value in zip(self._cols, row, strict=True):
            col[n] = value
        self._n = n + 1

    def view(self) -> tuple[np.ndarray, ...]:
        n = self._n
        return tuple(c[:n] for c in self._cols)


class SampleBuffer(ColumnBuffer):
    """Memory samples: time (s since the run began), RSS and VMS (bytes)."""

    def __init__(self, capacity: int = FIRST_CAPACITY) -> None:
        super().__init__((np.float64, np.int64, np.int64), capacity)


class LagBuffer(ColumnBuffer):
    """Event-loop lag: time (s since the run began) and how late the loop woke up (s)."""

    def __init__(self, capacity: int = FIRST_CAPACITY) -> None:
        super().__init__((np.float64, np.float64), capacity)


class Sampler:
    """Samples a process's memory on its own thread, so a busy event loop does not delay the samples."""

    def __init__(self, pid: int, interval_s: float, t0: float, buffer: SampleBuffer,
                 reader: Any | None = None) -> None:
        # `reader`: anything with read() -> (memory, vms) and close(), such as targets.external.TargetMemory (a process
        # tree, or USS); by default RSS and VMS of the one process.
        self._reader = reader if reader is not None else MemoryReader(pid)
        self._interval = interval_s
        self._t0 = t0
        self.buffer = buffer
        # A lock held until stop(): waiting on it with a timeout is the cheapest interruptible sleep there is.
        self._running = threading.Lock()
        self._running.acquire()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=f"netmem-sampler-{pid}", daemon=True)
        self.cpu_s = 0.0  # CPU time the sampling thread used: the sampler's own cost, kept in the record
        self._started = 0.0

    def start(self) -> None:
        """Take the first sample now, on the caller's thread, then the others on the sampler's own.

        A tiny run's events can arrive together (the isolated host delivers them in batches): without this, a stop
        that came before the new thread first ran left the run with no sample at all.
        """
        self._started = time.monotonic()
        if self.sample_once():
            self._thread.start()
        else:
            self._reader.close()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._running.release()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def sample_once(self) -> bool:
        """Take one sample now; False when the process is gone."""
        try:
            rss, vms = self._reader.read()
        except ProcessGone:
            return False
        self.buffer.append(time.monotonic() - self._t0, rss, vms)
        return True

    def _loop(self) -> None:
        try:
            self._tick_until_stopped()
        finally:
            self.cpu_s = time.thread_time()
            self._reader.close()

    def _tick_until_stopped(self) -> None:
        # Ticks are scheduled from the start time, not from the last wake-up, so the interval does not drift;
        # a tick missed because the machine was busy is skipped rather than bunched up.
        start = self._started
        tick = 0
        while not self._stopped:
            tick = max(tick + 1, int((time.monotonic() - start) / self._interval) + 1)
            delay = start + tick * self._interval - time.monotonic()
            if delay > 0 and self._running.acquire(timeout=delay):
                return
            if not self.sample_once():
                return


CYCLE_CAPACITY = 32_768


class CycleSeries:
    """Memory after each cycle of one scenario, in fixed, preallocated columns that never grow.

    On the in-app host this storage lives in the measured process, so it must not grow with the cycles (its
    growth would read as a leak): the columns are allocated and filled (pages touched) up front. When they are
    full every other point is dropped and only every `stride`-th cycle is kept from then on.
    """

    def __init__(self, capacity: int = CYCLE_CAPACITY) -> None:
        # np.full, not np.empty/zeros: writing every page now keeps RSS from rising as the columns fill.
        self._cycle = np.full(capacity, -1, dtype=np.int64)
        self._rss = np.full(capacity, -1, dtype=np.int64)
        self._traced = np.full(capacity, -1, dtype=np.int64)
        self._t = np.full(capacity, np.nan, dtype=np.float64)
        self._n = 0
        self._seen = 0
        self.stride = 1
        self.traced = True  # until a cycle arrives without a traced value

    def __len__(self) -> int:
        return self._n

    def append(self, cycle: int, rss: int, traced: int | None, t: float | None = None) -> None:
        self._seen += 1
        if traced is None:
            self.traced = False
        if (self._seen - 1) % self.stride:
            return
        n = self._n
        if n == len(self._cycle):
            half = (n + 1) // 2
            for column in (self._cycle, self._rss, self._traced, self._t):
                column[:half] = column[0:n:2]
            self._n = n = half
            self.stride *= 2
            if (self._seen - 1) % self.stride:
                return
        self._cycle[n], self._rss[n] = cycle, rss
        self._traced[n] = -1 if traced is None else traced
        self._t[n] = np.nan if t is None else t
        self._n = n + 1

    def columns(self) -> dict[str, Any]:
        """{"stride", "cycle", "rss_bytes", "traced_bytes" (None unless every kept cycle has one), "t_s" (when each
        cycle ended, s since the run began; None unless every kept cycle has it)}, the columns as
        views of the series' arrays: what the live leak verdict is fitted on. Lists of up to 32,768 ints each,
        made and dropped at every refit, left the app's RSS about 0.1 MB higher each time (freed small objects
        don't give their memory back in order)."""
        n = self._n
        return {
            "stride": self.stride,
            "cycle": self._cycle[:n],
            "rss_bytes": self._rss[:n],
            "traced_bytes": self._traced[:n] if self.traced and n else None,
            "t_s": self._t[:n] if n and not np.isnan(self._t[:n]).any() else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """The same as lists, for the record."""
        out = {key: value.tolist() if isinstance(value, np.ndarray) else value
               for key, value in self.columns().items()}
        if out["t_s"] is not None:
            out["t_s"] = [round(x, 4) for x in out["t_s"]]
        return out
