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
        if info.rss == 0:
            # An exiting process (a zombie on Linux) still answers, with zeros: it is gone, not using 0 bytes.
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
