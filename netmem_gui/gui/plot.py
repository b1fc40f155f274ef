"""The live RSS plot: RSS in MB against run time, with phase and checkpoint markers and the baseline."""

from __future__ import annotations

import copy
import html
import time
import weakref
from typing import Any, Protocol

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPixmapCache, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QGraphicsItem, QWidget

from ..core.records.record import Record
from ..core.reports.tables import MIB
from ..core.runs.run import Run
from .live_curve import LiveCurve

# Phase labels sit in rows along the top of the plot (fractions of its height), each about this wide per letter.
LABEL_ROWS = (0.97, 0.90, 0.83)
LABEL_CHAR_PX = 7.5
SCENARIO_COLOURS = {"connections": "#1f77b4", "messages": "#2ca02c", "stability": "#9467bd"}
CURVE_COLOUR = "#d62728"
# While following a live run the view grows in steps with this much room ahead of the data, so the axes (costly
# to redraw: ~20 ms a frame offscreen against ~3 ms for the curve alone) change a few times a run, not every frame.
HEADROOM = 0.5
MAX_STALE_S = 1.0  # new samples that move the curve by less than a pixel are still drawn within this
MIN_Y_SPAN_MB = 0.1
# Room above the data for the phase labels' rows (a share of the data's span): the labels sit over empty plot.
LABEL_ROOM = 0.32
BASELINE_LABEL_ROOM = 0.08
PLOT_KEY = (f"<span style='color:{CURVE_COLOUR}'>━━</span> RSS (sampled) &nbsp; "
            "<span style='color:#b8860b'>◆</span> checkpoint &nbsp; <span style='color:#555'>╌╌</span> baseline"
            " &nbsp; <span style='color:#777'>│</span> scenario / phase begins")


class PlotSource(Protocol):
    """What the plot draws: a live run or a finished record, seen the same way."""

    live: bool
    checkpoints: list[dict[str, Any]]
    phases: list[dict[str, Any]]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Time (s) and RSS (bytes) of every sample so far."""

    def baseline_bytes(self) -> int | None: ...

    def measured(self) -> dict[str, Any]:
        """The record's `measured` (which process, pid and role, the samples are of) and its `target`."""

    def target(self) -> dict[str, Any] | None:
        """The record's `target`: what that process is (None in records made before targets)."""


# pyqtgraph's global look, set once for every plot of the app (before any is made): white, with dark text.
pg.setConfigOptions(background="w", foreground="#222")

def style_plot(item: pg.PlotItem, y_label: str) -> None:
    """The look every netmem plot shares: light grid, dark axis text, plain units (no SI prefixes).

    Each axis is kept as a pixmap (Qt's item cache) and redrawn only when its ticks move: an axis draws the grid
    too, so it covers the whole plot, and without the cache every new sample replayed all of its text and lines
    (three quarters of the app's CPU while it watched a run, by py-spy).
    """
    item.showGrid(x=True, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setTextPen("#222")
        item.getAxis(axis).setPen("#888")
        item.getAxis(axis).enableAutoSIPrefix(False)
        item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    # After setPen, which would otherwise turn the axis titles grey.
    item.setLabel("left", y_label, color="#222")


# Plot-sized pixmaps Qt's item cache holds for a plot: its two axes (they draw the grid, so they cover the plot),
# its curve's history and, on the RSS plot, the checkpoint markers.
CACHED_LAYERS_PER_PLOT = 4
CACHE_HEADROOM = 1.5  # room for layers being replaced, and for a dialog's plots
QT_DEFAULT_CACHE_KB = 10_240
_PLOTS: weakref.WeakSet[CachedPlot] = weakref.WeakSet()


def size_pixmap_cache() -> int:
    """Size Qt's pixmap cache for the cached layers of the plots on screen now; return its limit in KB.

    Item caches live in QPixmapCache, 10 MB by default: a plot 1,800 x 900 pixels wide needs about 6.5 MB per
    layer, and once the layers don't fit they push each other out and are drawn again on every repaint (16 ms
    instead of 0.7 ms per new sample, measured). The limit follows the plots on screen as they are shown and
    resized, and never goes under Qt's default. It is what the cache holds after a while, not what it needs now:
    least recently used, it keeps layers no longer shown until it is full. (It was sized for the largest screen:
    eight layers of a 4K screen at twice the pixel density came to 265 MB, where a 1,280 x 800 window needs 39.)
    """
    pixels = sum(p.width() * p.height() * p.devicePixelRatioF() ** 2 for p in list(_PLOTS)
                 if shiboken6.isValid(p) and p.isVisible())
    limit = max(QT_DEFAULT_CACHE_KB, int(CACHE_HEADROOM * CACHED_LAYERS_PER_PLOT * pixels * 4 / 1024))
    if QPixmapCache.cacheLimit() != limit:
        QPixmapCache.setCacheLimit(limit)
    return limit


class CachedPlot(pg.PlotWidget):
    """A plot whose layers Qt's item cache keeps (see style_plot): it resizes the cache when it is shown or resized.

    Not when it is hidden: Qt hides a widget while destroying it, and a Python override called then can crash
    (seen in the tests). A hidden plot's share is given back at the next show or resize of any plot.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _PLOTS.add(self)
        self._full_title: tuple[str, str, str] | None = None
        self.shown_title = ""  # the title line as drawn: the full title, or cut short with … to fit the width

    def set_fitting_title(self, title: str, size: str = "11pt", below: str = "") -> None:
        """A title cut short (…) to the plot's width rather than clipped at its edge, with `below` (HTML, e.g. the
        plot's key) on a second, smaller line; the full title is in the tooltip of the title."""
        self._full_title = (title, size, below)
        self._draw_title()

    def _draw_title(self) -> None:
        full = self.__dict__.get("_full_title")  # None too while pyqtgraph's __init__ resizes the widget
        if full is None:
            return
        title, size, below = full
        item = self.getPlotItem()
        if item is None:  # being destroyed
            return
        font = QFont(self.font())
        font.setPointSizeF(float(size.removesuffix("pt")))
        # The title is centred over the data area: the plot's width less its axes (and a margin each side).
        axes = sum(item.getAxis(side).width() for side in ("left", "right") if item.getAxis(side).isVisible())
        room = max(80, self.width() - int(axes) - 24)
        self.shown_title = QFontMetrics(font).elidedText(title, Qt.TextElideMode.ElideRight, room)
        text = html.escape(self.shown_title, quote=False) + (f"<br><span style='font-size:9pt'>{below}</span>"
                                                             if below else "")
        item.setTitle(text, color="#222", size=size)
        item.titleLabel.setToolTip(title if self.shown_title != title else "")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._draw_title()
        size_pixmap_cache()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        size_pixmap_cache()


def title_for(measured: dict[str, Any], target: dict[str, Any] | None = None) -> str:
    role, pid = measured.get("role"), measured.get("pid")
    target = target or measured.get("target") or {}
    if role == "server" and target.get("kind") == "server":
        return f"RSS of your server {target.get('module')}:{target.get('attr')}, in its own process (isolated host," \
               f" pid {pid})"
    if role == "target" and (target.get("prometheus") or target.get("kind") == "prometheus"):
        return f"Memory read from {target.get('name') or 'Prometheus'} (its memory query, summed)"
    if role == "target" and target:
        memory = "USS" if target.get("memory") == "uss" else "RSS"
        tree = " and its children" if target.get("include_children") else ""
        how = "started by netmem" if target.get("kind") == "spawn" else "attached"
        where = f", {target['address']}" if target.get("address") else ""
        return f"{memory} of {target.get('name') or 'the target'}{tree} (pid {pid}, {how}{where})"
    if role == "server":
        return f"RSS of the echo server's own process (isolated host, pid {pid})"
    if role == "app":
        return f"RSS of this app: server, clients and GUI together (in-app host, pid {pid})"
    return "RSS of the measured process"


class RunSource:
    """A run in progress: views of the core's sample buffer, read at the plot's frame rate."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.checkpoints = run.checkpoints
        self.phases = run.phases

    @property
    def live(self) -> bool:
        return not self.run.ended

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        t, rss, _ = self.run.samples.view()
        return t, rss

    def baseline_bytes(self) -> int | None:
        # The analysis takes the run's first checkpoint as its baseline; so does the plot.
        return int(self.checkpoints[0]["rss_bytes"]) if self.checkpoints else None

    def measured(self) -> dict[str, Any]:
        return {**self.run.measured, "target": self.run.target_info}

    def target(self) -> dict[str, Any] | None:
        return self.run.target()


class RecordSource:
    """A finished run, from its record."""

    live = False

    def __init__(self, rec: Record) -> None:
        self.checkpoints = rec["checkpoints"]
        self.phases = rec["phases"]
        self._t = np.asarray(rec["samples"]["t_s"], dtype=np.float64)
        self._rss = np.asarray(rec["samples"]["rss_bytes"], dtype=np.int64)
        self._baseline = rec["summary"]["baseline_rss_bytes"]
        self._measured = rec["measured"]
        self._target = rec.get("target")

    def measured(self) -> dict[str, Any]:
        return {**self._measured, "target": self._target}

    def target(self) -> dict[str, Any] | None:
        return self._target

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self._t, self._rss

    def baseline_bytes(self) -> int | None:
        return self._baseline


def _checkpoint_tip(x: float, y: float, data: Any) -> str:
    cp = data or {}
    open_now = f", {cp.get('connections')} open" if cp.get("connections") else ""
    return f"{cp.get('scenario')}: {cp.get('label')}\nRSS {y:.2f} MB at {x:.2f} s{open_now}"


class RssPlot(CachedPlot):
    """RSS over time. Follows the data until the user zooms or pans; `follow()` goes back to following."""

    followChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        item = self.getPlotItem()
        self.set_fitting_title("RSS of the measured process", below=PLOT_KEY)
        style_plot(item, "RSS (MB)")
        item.setLabel("bottom", "Time since the run began (s)", color="#222")
        # The key is a line under the title, outside the data: a legend in the plot hid the last checkpoint and the
        # start of a ramp (issue 26). How to read a checkpoint's label is said in the plot's tooltip, not in exports.
        self.curve = LiveCurve(item, pen=pg.mkPen(CURVE_COLOUR, width=2))
        # Following is ours (stepped, see HEADROOM), so pyqtgraph's own auto range and its 'A' button are off.
        item.disableAutoRange()
        item.hideButtons()
        self.checkpoint_dots = pg.ScatterPlotItem(
            size=8, symbol="d", pen=pg.mkPen("#333"), brush=pg.mkBrush("#ffd700"), hoverable=True,
            hoverSize=12, tip=_checkpoint_tip,
        )
        # Drawn from a pixmap until a checkpoint arrives or the view moves (a long run has thousands).
        self.checkpoint_dots.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        item.addItem(self.checkpoint_dots)
        self.baseline = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("#555", width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
            # Under the line, with no fill: it hid the curve where the curve ran along the baseline.
            label="baseline", labelOpts={"position": 0.5, "color": "#333", "anchors": [(0.5, 0), (0.5, 0)]},
        )
        self.baseline.setVisible(False)
        item.addItem(self.baseline, ignoreBounds=True)
        self._phase_lines: list[pg.InfiniteLine] = []
        self._source: PlotSource | None = None
        self._mb = np.empty(0, dtype=np.float64)
        self._converted = 0
        self._drawn = 0  # samples handed to the curve, and when
        self._drawn_at = 0.0
        self._low = np.inf  # lowest and highest MB converted so far, kept as samples arrive
        self._high = -np.inf
        self._checkpoints_low = np.inf  # and of the checkpoints shown
        self._checkpoints_high = -np.inf
        self._shown_checkpoints = 0
        self._shown_phases = 0
        self._following = True
        self._title = ""
        self._measured: dict[str, Any] | None = None
        item.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        item.getViewBox().sigXRangeChanged.connect(lambda *_: self._declutter())

    # --- what is shown ---------------------------------------------------------------------------------

    @property
    def source(self) -> PlotSource | None:
        return self._source

    @property
    def phase_lines(self) -> list[pg.InfiniteLine]:
        """The phase markers, in the order the phases began."""
        return list(self._phase_lines)

    @property
    def following(self) -> bool:
        return self._following

    def sample_count(self) -> int:
        """Samples currently handed to the curve."""
        return self.curve.count()

    def show_source(self, source: PlotSource | None) -> None:
        """Show a run or record from the start (clears the previous one)."""
        self._source = source
        self._converted = 0
        self._drawn = 0
        self._low, self._high = np.inf, -np.inf
        self._checkpoints_low, self._checkpoints_high = np.inf, -np.inf
        self._measured = None
        self._shown_checkpoints = 0
        self._shown_phases = 0
        for line in self._phase_lines:
            self.getPlotItem().removeItem(line)
        self._phase_lines.clear()
        self.checkpoint_dots.clear()
        self.curve.clear()
        self.baseline.setVisible(False)
        self.refresh()
        self.follow()

    def follow(self) -> None:
        """Go back to following the data: show all of it now, and keep up with new samples."""
        if not self._following:
            self._following = True
            self.followChanged.emit(True)
        self._fit(headroom=0.0)

    def _extent(self) -> tuple[float, float, float, float] | None:
        """x0, x1, y0, y1 of everything drawn: samples, checkpoints, phase lines and the baseline."""
        source = self._source
        if source is None or self._converted == 0:
            return None
        t, _ = source.arrays()
        x0, x1 = float(t[0]), float(t[self._converted - 1])
        y0, y1 = self._low, self._high
        if source.phases:
            x0 = min(x0, source.phases[0]["t_s"])
            x1 = max(x1, source.phases[-1]["t_s"])
        for cp in source.checkpoints[:1] + source.checkpoints[-1:]:
            x0, x1 = min(x0, cp["t_s"]), max(x1, cp["t_s"])
        baseline = source.baseline_bytes()
        if baseline is not None:
            y0, y1 = min(y0, baseline / MIB), max(y1, baseline / MIB)
        return x0, x1, min(y0, self._checkpoints_low), max(y1, self._checkpoints_high)

    def _fit(self, headroom: float) -> None:
        extent = self._extent()
        if extent is None:
            return
        x0, x1, y0, y1 = extent
        x_span = max(x1 - x0, 1.0)
        y_pad = max((y1 - y0) * 0.08, MIN_Y_SPAN_MB / 2)
        y_room = (y1 - y0 + 2 * y_pad) * headroom / 2
        labels = (y1 - y0 + 2 * y_pad) * LABEL_ROOM if self._phase_lines else 0.0
        # Room under the lowest point for the baseline's label, which sits under its line (so it isn't cut off).
        under = (y1 - y0 + 2 * y_pad) * BASELINE_LABEL_ROOM if self.baseline.isVisible() else 0.0
        self.getPlotItem().setRange(
            xRange=(x0, x0 + x_span * (1 + headroom) + x_span * 0.02),
            yRange=(y0 - y_pad - y_room - under, y1 + y_pad + y_room + labels), padding=0,
        )

    def _keep_up(self) -> None:
        """While following: move the view only when the data is about to leave it."""
        extent = self._extent()
        if extent is None:
            return
        x0, x1, y0, y1 = extent
        (vx0, vx1), (vy0, vy1) = self.getPlotItem().getViewBox().viewRange()
        live = self._source is not None and self._source.live
        if not live:
            self._fit(headroom=0.0)
        elif x1 > vx1 or x0 < vx0 or y0 < vy0 or y1 > vy1:
            self._fit(headroom=HEADROOM)

    def _on_manual_range(self, *_: Any) -> None:
        if self._following:
            self._following = False
            self.followChanged.emit(False)

    # --- per frame -------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring the plot up to date with its source; cheap when nothing changed. True when something did."""
        source = self._source
        if source is None:
            return False
        # The title depends on what is measured, which arrives once, early in a run: the target's block is only built
        # when that changes (it walks every checkpoint, thousands an hour in).
        measured = source.measured()
        if measured != self._measured:
            self._measured = copy.deepcopy(measured)  # the run fills its target's info in place
            title = title_for(measured, source.target())
            if title != self._title:
                self._title = title
                self.set_fitting_title(title, below=PLOT_KEY)
        t, rss = source.arrays()
        n = len(t)
        if n != self._converted:
            if n > len(self._mb):
                grown = np.empty(max(n, 2 * len(self._mb), 4096), dtype=np.float64)
                grown[: self._converted] = self._mb[: self._converted]
                self._mb = grown
            # Only the new samples are converted to MB; the curve gets views, not copies.
            fresh = self._mb[self._converted : n]
            np.divide(rss[self._converted : n], MIB, out=fresh)
            if fresh.size:
                self._low, self._high = min(self._low, float(fresh.min())), max(self._high, float(fresh.max()))
            self._converted = n
        changed = n != self._drawn and self._worth_drawing(t, n, source.live)
        if changed:
            self._drawn, self._drawn_at = n, time.monotonic()
            self.curve.set_data(t[:n], self._mb[:n], growing=source.live)
        if len(source.checkpoints) != self._shown_checkpoints:
            self._add_checkpoints(source.checkpoints)
            changed = True
        if len(source.phases) != self._shown_phases:
            self._add_phases(source.phases)
            changed = True
        if self._following and changed:
            self._keep_up()
        return changed

    def _worth_drawing(self, t: np.ndarray, n: int, live: bool) -> bool:
        """Repaint for new samples only when they show: they reach at least a pixel further right than those drawn,
        or the drawn ones are MAX_STALE_S old. Early in a run every sample is a pixel or more; an hour in, a pixel is
        seconds of samples and the plot repaints about once a second instead of at the sampling rate."""
        if not live or self._drawn == 0 or time.monotonic() - self._drawn_at >= MAX_STALE_S:
            return True
        view = self.getPlotItem().getViewBox()
        (x0, x1), width = view.viewRange()[0], view.width()
        if width <= 0 or x1 <= x0:
            return True
        return bool(t[n - 1] - t[self._drawn - 1] >= (x1 - x0) / width)

    def _add_checkpoints(self, checkpoints: list[dict[str, Any]]) -> None:
        new = checkpoints[self._shown_checkpoints :]
        self._shown_checkpoints = len(checkpoints)
        if new:
            mb = [cp["rss_bytes"] / MIB for cp in new]
            self._checkpoints_low = min(self._checkpoints_low, *mb)
            self._checkpoints_high = max(self._checkpoints_high, *mb)
        self.checkpoint_dots.addPoints(
            x=[cp["t_s"] for cp in new], y=[cp["rss_bytes"] / MIB for cp in new], data=new,
        )
        baseline = self._source.baseline_bytes() if self._source else None
        if baseline is not None:
            # Shown first: pyqtgraph's label ignores a new value or format while its line is hidden, and the label
            # then kept the previous run's baseline (issue 26).
            self.baseline.setVisible(True)
            self.baseline.setValue(baseline / MIB)
            self.baseline.label.setFormat(f"baseline {baseline / MIB:.2f} MB")
            self.baseline.label.valueChanged()

    def _add_phases(self, phases: list[dict[str, Any]]) -> None:
        for ph in phases[self._shown_phases :]:
            colour = SCENARIO_COLOURS.get(ph["scenario"], "#444")
            first = ph["phase"] == "start"
            # A scenario's first phase is named after the scenario; later phases get lighter, dashed lines.
            pen = pg.mkPen(colour, width=2 if first else 1,
                           style=pg.QtCore.Qt.PenStyle.SolidLine if first else pg.QtCore.Qt.PenStyle.DashLine)
            line = pg.InfiniteLine(
                pos=ph["t_s"], angle=90, pen=pen, label=ph["scenario"] if first else ph["phase"],
                labelOpts={"position": LABEL_ROWS[0], "color": colour, "anchors": [(0, 0), (0, 0)],
                           "fill": pg.mkBrush(255, 255, 255)},
            )
            # Each later line lies under the earlier ones, and labels are opaque: a label starts at its own line
            # and runs right, so the only lines that could cross it are later ones, which it now covers.
            line.setZValue(-10 - 1e-4 * len(self._phase_lines))
            self.getPlotItem().addItem(line, ignoreBounds=True)
            self._phase_lines.append(line)
        self._shown_phases = len(phases)
        self._declutter()

    def _declutter(self) -> None:
        """Give each phase label a row along the top where it overlaps no other; hide it if none is free.

        Scenario names are placed first, so they are always shown unless two scenarios start within a label's
        width of each other at every row; phase names take what room is left and appear as the user zooms in.
        """
        if not self._phase_lines:
            return
        view = self.getPlotItem().getViewBox()
        (x0, x1), width = view.viewRange()[0], view.width()
        if x1 <= x0 or width <= 0:
            return
        px_per_s = width / (x1 - x0)
        rows: list[list[tuple[float, float]]] = [[] for _ in LABEL_ROWS]
        ordered = sorted(self._phase_lines, key=lambda line: (line.label.format not in SCENARIO_COLOURS, line.value()))
        for line in ordered:
            at = (line.value() - x0) * px_per_s
            wide = LABEL_CHAR_PX * len(line.label.format) + 8
            # Near the right edge the label goes to the left of its line, so it isn't cut off.
            flip = at + wide > width
            span = (at - wide - 2, at + 2) if flip else (at - 2, at + wide)
            # A scenario's name may take any row; a phase's name only the top one, so that at the start of `all`
            # (three scenarios and their phases within half a second) the names don't pile up.
            usable = rows if line.label.format in SCENARIO_COLOURS else rows[:1]
            free = next((i for i, row in enumerate(usable)
                         if all(span[1] <= a or span[0] >= b for a, b in row)), None)
            line.label.setVisible(free is not None)
            if free is not None:
                rows[free].append(span)
                line.label.anchors = [(1, 0), (1, 0)] if flip else [(0, 0), (0, 0)]
                line.label.setPosition(LABEL_ROWS[free])
