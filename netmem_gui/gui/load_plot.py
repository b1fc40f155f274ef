"""The Locust load strip: users and requests per second under the RSS plot, on the same time axis (--locust)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from ..core.records.record import Record
from ..core.runs.run import Run
from .plot import CachedPlot, style_plot

HEIGHT_PX = 120  # as the lag strip: the RSS plot stays the dominant one
USERS_COLOUR = "#2a7d2a"
RPS_COLOUR = "#c0601a"
GAP_BRUSH = (200, 30, 30, 40)

Series = tuple[np.ndarray, np.ndarray, np.ndarray]  # t_s, users, rps


def run_load(run: Run) -> Series | None:
    """A run's load so far (views of the core's buffer), or None before (or without) its Locust watch."""
    if run.load is None:
        return None
    t, users, rps, *_ = run.load.series.view()
    return t, users, rps


def record_load(rec: Record) -> Series | None:
    """A record's load series, or None when the run had no --locust."""
    load = rec.get("load")
    if not load:
        return None
    s = load["series"]
    return (np.asarray(s["t_s"], dtype=np.float64), np.asarray(s["users"], dtype=np.float64),
            np.asarray(s["rps"], dtype=np.float64))


class LoadPlot(CachedPlot):
    """Users (left axis) and requests per second (right axis) against run time; hidden for runs without load.

    Its X axis follows the RSS plot's (setXLink). Spans when the master did not answer are shaded.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(HEIGHT_PX)
        item = self.getPlotItem()
        style_plot(item, "users")
        item.hideButtons()
        item.setMouseEnabled(x=True, y=False)
        item.enableAutoRange(x=False, y=True)
        item.getViewBox().setLimits(yMin=0)
        self.users = item.plot(pen=pg.mkPen(USERS_COLOUR, width=2), stepMode="left", name="users")
        # requests/s share the view, scaled onto the users' range; the right axis scales its labels back (one view
        # box: a second one, free in the scene, can outlive the plot and crash Qt when the window goes).
        item.showAxis("right")
        right = item.getAxis("right")
        right.setLabel("req/s", color=RPS_COLOUR)
        right.setTextPen(RPS_COLOUR)
        right.enableAutoSIPrefix(False)
        self.rps = item.plot(pen=pg.mkPen(RPS_COLOUR, width=1.5), name="requests/s")
        self._gaps: list[pg.LinearRegionItem] = []
        self._get: Callable[[], Series | None] = lambda: None
        self._gaps_of: Callable[[], list[dict]] = list
        self._shown = -1
        self.getPlotItem().setTitle("Locust: users and requests per second", color="#222", size="9pt")
        self.setVisible(False)

    def show_run(self, run: Run) -> None:
        self._get = lambda: run_load(run)
        self._gaps_of = lambda: run.load.series.gaps if run.load is not None else []
        self._restart(visible=bool(run.config.locust_url))

    def show_record(self, rec: Record) -> None:
        arrays = record_load(rec)
        self._get = lambda: arrays
        self._gaps_of = lambda: (rec.get("load") or {}).get("gaps") or []
        self._restart(visible=arrays is not None)

    def _restart(self, visible: bool) -> None:
        self._shown = -1
        self.users.setData([], [])
        self.rps.setData([], [])
        for region in self._gaps:
            self.getPlotItem().removeItem(region)
        self._gaps = []
        self.setVisible(visible)
        self.refresh()

    def point_count(self) -> int:
        x, _ = self.users.getOriginalDataset()
        return 0 if x is None else len(x)

    def refresh(self) -> None:
        """Hand new polls to the curves; nothing to do when none arrived since the last frame."""
        series = self._get()
        if series is None or len(series[0]) == self._shown:
            return
        t, users, rps = series
        self._shown = len(t)
        if len(t):
            self.users.setData(t, users)
            scale = max(1.0, float(rps.max())) / max(1.0, float(users.max()))
            self.rps.setData(t, rps / scale)
            self.getPlotItem().getAxis("right").setScale(scale)
        gaps = self._gaps_of()
        for gap in gaps[len(self._gaps):]:
            end = gap["to_s"] if gap["to_s"] is not None else (float(t[-1]) if len(t) else gap["from_s"])
            region = pg.LinearRegionItem((gap["from_s"], end), movable=False, brush=pg.mkBrush(*GAP_BRUSH))
            region.setToolTip("The Locust master did not answer here; the run went on")
            self.getPlotItem().addItem(region, ignoreBounds=True)
            self._gaps.append(region)
