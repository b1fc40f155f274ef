"""The kernel's share of the measured process's sockets, read on a thread of its own less often than RSS."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .sampler import ColumnBuffer
from .sockets import available, read

# Read less often than RSS: a dump of every TCP socket of the machine costs more than one read of statm.
EVERY_INTERVALS = 10
MIN_PERIOD_S = 0.5


class KernelBuffer(ColumnBuffer):
    """Kernel socket samples: time (s since the run began), sockets, receive and send queue bytes, receive and send
    memory (bytes)."""

    COLUMNS = ("t_s", "sockets", "recv_queue_bytes", "send_queue_bytes", "recv_memory_bytes", "send_memory_bytes")

    def __init__(self) -> None:
        super().__init__((np.float64, np.int64, np.int64, np.int64, np.int64, np.int64), 256)
        self.unavailable: str | None = None  # why nothing was read, when nothing could be
        self.period_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record's `kernel_sockets`."""
        cols = self.view()
        out: dict[str, Any] = {"available": self.unavailable is None, "reason": self.unavailable,
                               "period_s": self.period_s}
        for name, col in zip(self.COLUMNS, cols, strict=True):
            out[name] = [round(x, 4) for x in col.tolist()] if name == "t_s" else col.tolist()
        return out


def period(interval_s: float) -> float:
    """How often kernel socket memory is read when RSS is read every `interval_s`."""
    return max(MIN_PERIOD_S, interval_s * EVERY_INTERVALS)


class KernelSampler:
    """Reads the kernel's share of the measured processes' sockets every `period(interval)` on a thread of its own."""

    def __init__(self, pids: Callable[[], list[int]], interval_s: float, t0: float, buffer: KernelBuffer) -> None:
        self._pids = pids
        self._t0 = t0
        self.buffer = buffer
        buffer.period_s = period(interval_s)
        buffer.unavailable = available()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="netmem-kernel-sockets", daemon=True)

    def start(self) -> None:
        if self.buffer.unavailable is None and not self.sample_once() and not len(self.buffer):
            self.buffer.unavailable = "not available: the measured server is no process of this machine"
        if self.buffer.unavailable is None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=3)

    def sample_once(self) -> bool:
        try:
            pids = self._pids()
        except Exception:  # the process (tree) has just gone: the run ends and says so
            return False
        if not pids:
            return False
        try:
            row = read(pids)
        except (OSError, ValueError) as exc:
            self.buffer.unavailable = self.buffer.unavailable or f"not available: {exc}"
            return False
        self.buffer.append(time.monotonic() - self._t0, *row)
        return True

    def _loop(self) -> None:
        assert self.buffer.period_s is not None
        while not self._stop.wait(self.buffer.period_s):  # the first reading was start()'s
            if not self.sample_once() and self.buffer.unavailable is not None:
                return
