"""A curve that grows while a run goes on: its history drawn from a pixmap, its newest samples as a short tail."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

# Samples cut to about two points per pixel column (min and max of each bucket, "peak"), so an hour of samples costs
# a repaint what a minute does (pyqtgraph's default factor is 5).
DOWNSAMPLE_FACTOR = 1.0
# New samples are drawn as a separate tail of at most this many; then they join the history. A new sample then
# makes Qt repaint the tail's few pixels, not the whole plot: the history (and the axes and grid) are blitted from
# their pixmaps. Repainting the whole plot for each sample was most of the app's CPU while it watched a run.
TAIL_SAMPLES = 64


class LiveCurve:
    """One curve drawn as two items with the same look: `history` and `tail` (the newest samples)."""

    def __init__(self, plot: pg.PlotItem, name: str | None = None, **style: Any) -> None:
        self.history = plot.plot(name=name, **style)
        self.history.setDownsampling(auto=True, method="peak")
        self.history.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
        self.history.setClipToView(True)
        # The tail is a bare curve item: a few dozen points need no downsampling or clipping, and a PlotDataItem's
        # own bookkeeping cost more than drawing them.
        self.tail = pg.PlotCurveItem(**style)
        plot.addItem(self.tail)
        # The history's drawing is kept as a pixmap, redrawn only when it gets new samples or the view moves.
        self.history.curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._split = 0  # samples in the history
        self._count = 0

    def set_data(self, x: np.ndarray, y: np.ndarray, growing: bool) -> None:
        """Show x, y. While `growing` (a live run, the same arrays plus new samples each time), new samples go to
        the tail until it is full; otherwise everything is drawn as history."""
        n = len(x)
        if growing and self._split <= n and n - self._split <= TAIL_SAMPLES and self._split > 0:
            # One sample overlaps, so the tail joins the history without a gap.
            self.tail.setData(x[self._split - 1 : n], y[self._split - 1 : n])
        else:
            self.history.setData(x[:n], y[:n])
            if self._split != 0 or n == 0:
                self.tail.setData([], [])
            self._split = n
        self._count = n

    def clear(self) -> None:
        self.set_data(np.empty(0), np.empty(0), growing=False)

    def count(self) -> int:
        """Samples handed to the curve."""
        return self._count
