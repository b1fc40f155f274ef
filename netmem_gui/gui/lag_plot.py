"""The event-loop lag plot: a small strip under the RSS plot, on the same time axis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..core.records.record import Record
from ..core.runs.run import Run
from .live import loop_name
from .live_curve import LiveCurve
from .plot import HEADROOM, CachedPlot, style_plot

HEIGHT_PX = 120  # modest, so the RSS plot stays the dominant one at 1280x800
LAG_COLOUR = "#1f6fb4"
FILL_COLOUR = "#d2e2f0"
EMPTY = np.empty(0, dtype=np.float64)
MIN_TOP_MS = 1.0


def run_lag(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """A run's lag so far: views of the core's buffer (seconds)."""
    return run.lag.view()


def record_lag(rec: Record) -> tuple[np.ndarray, np.ndarray] | None:
    """A record's lag (seconds), or None for records made before it was kept."""
    lag = rec.get("loop_lag")
    if not lag:
        return None
    return np.asarray(lag["t_s"], dtype=np.float64), np.asarray(lag["lag_s"], dtype=np.float64)


class LagPlot(CachedPlot):
    """Lag (ms) against run time; its X axis follows the RSS plot's (setXLink), its Y axis fits the data."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(HEIGHT_PX)
        item = self.getPlotItem()
        style_plot(item, "lag (ms)")
        item.hideButtons()
        item.setMouseEnabled(x=True, y=False)
        # The Y axis is ours: from 0 (lag is never negative, so one late wake-up doesn't look like a trend) to the
        # worst lag, with room above while the run goes on so that it changes a few times a run, not every frame
        # (an axis that moves is redrawn, text and grid; see HEADROOM in plot.py).
        item.disableAutoRange()
        item.getViewBox().setLimits(yMin=0)
        self._top = 0.0
        # The fill is opaque (the lag colour at 20 % on white): a translucent fill doubled the cost of each repaint.
        self.curve = LiveCurve(item, pen=pg.mkPen(LAG_COLOUR, width=1), fillLevel=0, brush=pg.mkBrush(FILL_COLOUR))
        self._get: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None  # None: no lag in the record
        self._measured_of: Callable[[], dict[str, Any]] = dict
        self._live: Callable[[], bool] = lambda: False
        self._note = ""
        self._shown = -1
        self._ms = EMPTY
        self.set_title(None)

    def set_title(self, measured: dict[str, Any] | None, note: str = "") -> None:
        what = f" of {loop_name(measured)}" if measured else ""
        self.set_fitting_title(f"Event-loop lag (ms){what}{note}", size="9pt")

    def show_run(self, run: Run) -> None:
        self._get = lambda: run_lag(run)
        self._measured_of = lambda: {**run.measured, "target": run.target_info}
        self._live = lambda: not run.ended
        self._restart()

    def show_record(self, rec: Record) -> None:
        arrays = record_lag(rec)
        self._get = None if arrays is None else (lambda: arrays)
        self._measured_of = lambda: {**rec["measured"], "target": rec.get("target")}
        self._live = lambda: False
        note = (": not in this record (made before it was kept)" if arrays is None
                else ": none recorded for this run" if not len(arrays[0]) else "")
        self._restart(note)

    def _restart(self, note: str = "") -> None:
        self._shown = -1
        self._top = 0.0
        self.curve.clear()
        self._note = note
        self.set_title(self._measured_of(), note)
        self.refresh()

    def point_count(self) -> int:
        return self.curve.count()

    def refresh(self) -> None:
        """Hand new lag samples to the curve; nothing to do when none arrived since the last frame."""
        if self._get is None:
            return
        t, lag = self._get()
        if len(t) == self._shown:
            return
        if self._shown <= 0:
            self.set_title(self._measured_of(), self._note)  # the measured role arrives after the run starts
        n, done = len(t), max(self._shown, 0)
        if n > len(self._ms):
            grown = np.empty(max(n, 2 * len(self._ms), 4096), dtype=np.float64)
            grown[:done] = self._ms[:done]
            self._ms = grown
        # Only the new samples are converted to ms; the curve gets views, not copies (as in the RSS plot).
        fresh = self._ms[done:n]
        np.multiply(lag[done:n], 1000.0, out=fresh)
        self._shown = n
        self.curve.set_data(t, self._ms[:n], growing=self._live())
        worst = float(fresh.max()) if fresh.size else 0.0
        if worst > self._top or done == 0:
            self._top = max(worst * (1 + HEADROOM if self._live() else 1.05), MIN_TOP_MS)
            self.getPlotItem().setYRange(0, self._top, padding=0)
