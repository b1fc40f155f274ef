"""The sampler: RSS and VMS of one process by PID at a fixed interval, on a monotonic clock."""

from __future__ import annotations

import threading
import time

import numpy as np
import psutil

FIRST_CAPACITY = 4096


class SampleBuffer:
    """Growable columns of samples (time in s, RSS and VMS in bytes) written by one thread, read by any.

    Readers take `view()`: arrays of the first n samples. The writer fills a slot before it publishes n,
    and a grown array is a new object, so a view taken earlier stays valid.
    """

    def __init__(self, capacity: int = FIRST_CAPACITY) -> None:
        self._t = np.empty(capacity, dtype=np.float64)
        self._rss = np.empty(capacity, dtype=np.int64)
        self._vms = np.empty(capacity, dtype=np.int64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Memory the buffer has reserved (it grows by doubling)."""
        return self._t.nbytes + self._rss.nbytes + self._vms.nbytes

    def append(self, t: float, rss: int, vms: int) -> None:
        n = self._n
        if n == len(self._t):
            self._t, self._rss, self._vms = (
                np.concatenate([a, np.empty_like(a)]) for a in (self._t, self._rss, self._vms)
            )
        self._t[n], self._rss[n], self._vms[n] = t, rss, vms
        self._n = n + 1

    def view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self._n
        return self._t[:n], self._rss[:n], self._vms[:n]


class Sampler:
    """Samples a process's memory on its own thread, so a busy event loop does not delay the samples."""

    def __init__(self, pid: int, interval_s: float, t0: float, buffer: SampleBuffer) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval_s
        self._t0 = t0
        self.buffer = buffer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"netmem-sampler-{pid}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def sample_once(self) -> bool:
        """Take one sample now; False when the process is gone."""
        try:
            info = self._process.memory_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            return False
        self.buffer.append(time.monotonic() - self._t0, info.rss, info.vms)
        return True

    def _loop(self) -> None:
        # Ticks are scheduled from the start time, not from the last wake-up, so the interval does not drift;
        # a tick missed because the machine was busy is skipped rather than bunched up.
        start = time.monotonic()
        tick = 0
        while not self._stop.is_set():
            if not self.sample_once():
                return
            tick = max(tick + 1, int((time.monotonic() - start) / self._interval) + 1)
            delay = start + tick * self._interval - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)


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
        self._n = 0
        self._seen = 0
        self.stride = 1
        self.traced = True  # until a cycle arrives without a traced value

    def __len__(self) -> int:
        return self._n

    def append(self, cycle: int, rss: int, traced: int | None) -> None:
        self._seen += 1
        if traced is None:
            self.traced = False
        if (self._seen - 1) % self.stride:
            return
        n = self._n
        if n == len(self._cycle):
            half = (n + 1) // 2
            for column in (self._cycle, self._rss, self._traced):
                column[:half] = column[0:n:2]
            self._n = n = half
            self.stride *= 2
            if (self._seen - 1) % self.stride:
                return
        self._cycle[n], self._rss[n] = cycle, rss
        self._traced[n] = -1 if traced is None else traced
        self._n = n + 1

    def to_dict(self) -> dict[str, object]:
        """{"stride", "cycle", "rss_bytes", "traced_bytes" (None unless every kept cycle has one)}."""
        n = self._n
        return {
            "stride": self.stride,
            "cycle": self._cycle[:n].tolist(),
            "rss_bytes": self._rss[:n].tolist(),
            "traced_bytes": self._traced[:n].tolist() if self.traced and n else None,
        }
