"""The live RSS curve: new samples go to a short tail, the history is kept, and together they are every sample."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtWidgets import QApplication

from netmem_gui.gui.live_curve import TAIL_SAMPLES
from netmem_gui.gui.plot import RssPlot

RNG = np.random.default_rng(7)
T = np.arange(2_000) * 0.1
RSS = (40_000_000 + np.cumsum(RNG.integers(-40_000, 40_001, T.size))).astype(np.int64)


class GrowingSource:
    """A run in progress as the plot sees it: the same arrays, longer each time."""

    def __init__(self) -> None:
        self.live = True
        self.n = 0
        self.checkpoints: list[dict[str, Any]] = []
        self.phases = [{"scenario": "stability", "phase": "start", "t_s": 0.0}]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return T[: self.n], RSS[: self.n]

    def baseline_bytes(self) -> int | None:
        return None

    def measured(self) -> dict[str, Any]:
        return {"role": "server", "pid": 1}

    def target(self) -> dict[str, Any] | None:
        return None


def _tail_length(plot: RssPlot) -> int:
    x, _ = plot.curve.tail.getData()
    return 0 if x is None else len(x)


def _drawn(plot: RssPlot) -> tuple[np.ndarray, np.ndarray]:
    """What the curve holds: the history, then the tail without the sample it shares with the history."""
    hx, hy = plot.curve.history.getOriginalDataset()
    tx, ty = plot.curve.tail.getData()
    hx = np.empty(0) if hx is None else hx
    hy = np.empty(0) if hy is None else hy
    if tx is None or len(tx) == 0:
        return hx, hy
    assert tx[0] == hx[-1] and ty[0] == hy[-1], "the tail starts where the history ends"
    return np.concatenate([hx, tx[1:]]), np.concatenate([hy, ty[1:]])


def test_a_growing_run_is_drawn_whole_with_a_short_tail_and_all_history_once_it_ends(qapp: QApplication) -> None:
    plot = RssPlot()
    plot.resize(900, 500)
    plot.show()
    source = GrowingSource()
    source.n = 5
    plot.show_source(source)
    tails = []
    for _ in range(700):
        source.n += 1
        plot.refresh()
        qapp.processEvents()
        tails.append(_tail_length(plot))
        x, y = _drawn(plot)
        # Every sample handed over, in order, each once: no gap and no double at the seam.
        assert np.array_equal(x, T[: plot.sample_count()])
        assert np.allclose(y, RSS[: plot.sample_count()] / 2**20)
    # Samples that would not move the curve by a pixel yet wait (at most a second): here less than a pixel's worth.
    view = plot.getPlotItem().getViewBox()
    (x0, x1), width = view.viewRange()[0], view.width()
    assert T[source.n - 1] - T[plot.sample_count() - 1] < (x1 - x0) / width
    assert max(tails) <= TAIL_SAMPLES + 1
    assert any(tails), "new samples were drawn as a tail while the run went on"
    source.live = False
    source.n += 3
    plot.refresh()
    assert _tail_length(plot) == 0
    assert len(plot.curve.history.getOriginalDataset()[0]) == source.n
    plot.close()


def test_the_pixmap_cache_follows_the_plots_on_screen(qapp: QApplication) -> None:
    """Room for every shown plot's cached layers, never under Qt's default; a plot that shrinks or is hidden gives
    its share back (a least-recently-used cache fills to its limit with layers no longer shown)."""
    import shiboken6
    from PySide6.QtGui import QPixmapCache

    from netmem_gui.gui import plot as plot_module
    from netmem_gui.gui.lag_plot import LagPlot
    from netmem_gui.gui.plot import CACHE_HEADROOM, CACHED_LAYERS_PER_PLOT, QT_DEFAULT_CACHE_KB, RssPlot

    def room(*plots) -> int:
        # Plots other tests left on screen count too.
        shown = [p for p in plot_module._PLOTS if shiboken6.isValid(p) and p.isVisible() and p not in (rss, lag)]
        pixels = sum(p.width() * p.height() * p.devicePixelRatioF() ** 2 for p in [*shown, *plots])
        return max(QT_DEFAULT_CACHE_KB, int(CACHE_HEADROOM * CACHED_LAYERS_PER_PLOT * pixels * 4 / 1024))

    before = QPixmapCache.cacheLimit()
    rss, lag = RssPlot(), LagPlot()
    try:
        rss.resize(1800, 900)
        rss.show()
        qapp.processEvents()
        assert QPixmapCache.cacheLimit() == room(rss) >= 37_968  # 1,800 x 900: four 6.3 MB layers and headroom
        lag.resize(1800, lag.height())
        lag.show()
        qapp.processEvents()
        both = QPixmapCache.cacheLimit()
        assert both == room(rss, lag) > room(rss)
        rss.resize(400, 300)
        qapp.processEvents()
        assert QPixmapCache.cacheLimit() == room(rss, lag) < both
        lag.hide()
        rss.resize(300, 200)
        qapp.processEvents()
        assert QPixmapCache.cacheLimit() == room(rss)  # the hidden plot's share is given back
    finally:
        rss.close()
        lag.close()
        QPixmapCache.setCacheLimit(before)
