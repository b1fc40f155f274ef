"""The kernel socket memory strip: what the kernel holds for the measured process's TCP sockets, on the RSS plot's
time axis (receive and send memory, read about once a second; RSS counts none of it)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from ..core.records.record import Record
from ..core.runs.run import Run
from .live_curve import LiveCurve
from .plot import HEADROOM, CachedPlot, style_plot

HEIGHT_PX = 100
RECV_COLOUR = "#2e7d32"
SEND_COLOUR = "#8e44ad"
MIN_TOP_MB = 0.25
Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # time (s), receive memory, send memory (bytes)


def run_kernel(run: Run) -> Series:
    """A run's kernel readings so far: views of the core's buffer."""
    t, _, _, _, rmem, wmem = run.kernel.view()
    return t, rmem, wmem


def record_kernel(rec: Record) -> tuple[Series | None, str]:
    """A record's kernel readings, or None and why there are none (older records, other systems)."""
    kernel = rec.get("kernel_sockets")
    if not kernel:
        return None, ": not in this record (made before it was kept)"
    if not kernel.get("available"):
        return None, f": {kernel.get('reason') or 'not available'}"
    arrays = tuple(np.asarray(kernel[k], dtype=np.float64) for k in ("t_s", "recv_memory_bytes", "send_memory_bytes"))
    return arrays, ""  # type: ignore[return-value]


class KernelPlot(CachedPlot):
    """Receive and send memory (MB) of the measured process's sockets against run time; X follows the RSS plot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(HEIGHT_PX)
        item = self.getPlotItem()
        style_plot(item, "kernel (MB)")
        item.hideButtons()
        item.setMouseEnabled(x=True, y=False)
        item.disableAutoRange()
        item.getViewBox().setLimits(yMin=0)
        self.recv = LiveCurve(item, pen=pg.mkPen(RECV_COLOUR, width=1))
        self.send = LiveCurve(item, pen=pg.mkPen(SEND_COLOUR, width=1))
        self._get: Callable[[], Series] | None = None
        self._live: Callable[[], bool] = lambda: False
        self._shown = -1
        self._top = 0.0
        self.set_title("")
        # Shown for backpressure runs, where the kernel's share is the point, and on demand (View menu) for the
        # others: three strips under the RSS plot squeezed it to a few pixels in a 1280x800 window.
        self._wanted_by_run = False
        self.toggle_action = QAction("&Kernel socket memory strip", self)
        self.toggle_action.setCheckable(True)
        self.toggle_action.setStatusTip("Show what the kernel holds for the measured process's sockets under every"
                                        " run (it is always shown for backpressure runs)")
        self.toggle_action.toggled.connect(lambda _: self._show_if_wanted())
        self.setVisible(False)

    def _show_if_wanted(self) -> None:
        self.setVisible(self._wanted_by_run or self.toggle_action.isChecked())

    def set_title(self, note: str) -> None:
        key = (f"<span style='color:{RECV_COLOUR}'>receive</span> and"
               f" <span style='color:{SEND_COLOUR}'>send</span> memory")
        self.set_fitting_title(f"Kernel socket memory of the measured process{note}", size="9pt",
                               below="" if note else key)

    def show_run(self, run: Run) -> None:
        self._wanted_by_run = run.config.scenario == "backpressure"
        self._show_if_wanted()
        self._get = lambda: run_kernel(run)
        self._live = lambda: not run.ended
        self._restart(f": {run.kernel.unavailable}" if run.kernel.unavailable else "")

    def show_record(self, rec: Record) -> None:
        self._wanted_by_run = (rec.get("config") or {}).get("scenario") == "backpressure"
        self._show_if_wanted()
        arrays, note = record_kernel(rec)
        self._get = None if arrays is None else (lambda: arrays)
        self._live = lambda: False
        self._restart(note)

    def _restart(self, note: str) -> None:
        self._shown, self._top = -1, 0.0
        self.recv.clear()
        self.send.clear()
        self.set_title(note)
        self.refresh()

    def point_count(self) -> int:
        return self.recv.count()

    def refresh(self) -> None:
        """Redraw when a reading arrived (about once a second: the whole series is converted again)."""
        if self._get is None:
            return
        t, rmem, wmem = self._get()
        if len(t) == self._shown:
            return
        self._shown = len(t)
        recv_mb, send_mb = rmem / 2**20, wmem / 2**20
        self.recv.set_data(t, recv_mb, growing=self._live())
        self.send.set_data(t, send_mb, growing=self._live())
        worst = float(max(recv_mb.max(), send_mb.max())) if len(t) else 0.0
        if worst > self._top or self._top == 0.0:
            self._top = max(worst * (1 + HEADROOM if self._live() else 1.05), MIN_TOP_MB)
            self.getPlotItem().setYRange(0, self._top, padding=0)
