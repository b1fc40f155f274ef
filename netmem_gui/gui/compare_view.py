"""The compare view: two or more runs' RSS curves overlaid and the core's diff of every figure, exportable."""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QGuiApplication, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.records import files, opening, record
from ..core.records.record import Record
from ..core.reports import compare, tables
from ..core.reports.tables import MIB
from ..core.runs import library
from . import exporting
from .plot import CachedPlot, style_plot

# Colour-blind-safe (Okabe-Ito), BASE first in a neutral dark blue so that the new runs stand out against it.
PALETTE = ("#0b3d91", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#f0e442", "#000000")
ALIGNMENTS = {"run start": "start", "start of each phase": "phases", "Locust users (no time)": "users"}
REGRESSED_BRUSH = QBrush(QColor("#f6c5c3"))
SCOPE_BRUSH = QBrush(QColor("#eef1f5"))
EXPORTS = {".png": "Picture of the view (*.png)", ".md": "Markdown, as `netmem compare --format markdown` (*.md)",
           ".json": "JSON, as `netmem compare --format json` (*.json)"}


@dataclass(frozen=True)
class Candidate:
    """A run the view can compare: a library run (named by its ID) or one of the window's runs (by its title)."""

    name: str
    text: str
    started_at: str
    load: Callable[[], Record]
    path: Path | None = None  # a library run's file: a big one is read in a child process (core.opening)
    says_what: bool = False  # its name (a session run's title, column.run_title) says what it measured already


def library_candidates(folder: Path | None = None, skip: set[str] | frozenset[str] = frozenset()) -> list[Candidate]:
    """Every good record of the run library, newest first, except the IDs in `skip`."""
    out = []
    for entry in library.list_runs(folder):
        if entry.damaged or entry.running or entry.unsaved or entry.id in skip:
            continue  # a run in progress (another window, a terminal) is compared once it has ended
        state = "" if entry.completed else f" · {entry.state_text()}"
        when = (entry.started_at or "")[:19].replace("T", " ")
        measured = f" · {entry.target}" if entry.target else ""
        text = f"{entry.label or entry.id}\n{when} · {entry.scenario}{measured} · {entry.host}{state} · library"
        out.append(Candidate(entry.id, text, entry.started_at or "", lambda p=entry.path: record.load(p), entry.path))
    return out


class CompareView(QWidget):
    """Choose runs on the left; their curves, the diff table and the notes on the right."""

    def __init__(self, candidates: list[Candidate], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Compare runs – netmem")
        self.candidates: list[Candidate] = []
        self.records: dict[str, Record] = {}  # loaded once per name
        self.opening: dict[str, opening.Opening] = {}  # big records being read in a child process, by name
        self._open_tasks: set[asyncio.Task] = set()
        self.comparison: compare.Comparison | None = None
        self.curves: list[pg.PlotDataItem] = []
        self._phase_lines: list[pg.InfiniteLine] = []
        self._updating = False
        self._build()
        self.set_candidates(candidates)
        self.resize(1280, 800)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc closes the view, as it would a dialog."""
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        """Never larger than the screen's free area (a 1280x800 window overflowed a 1024x700 or 900-pixel screen)."""
        super().showEvent(event)
        screen = self.screen()
        if screen is not None and QGuiApplication.platformName() != "offscreen":
            room = screen.availableGeometry()
            width, height = min(self.width(), room.width() - 8), min(self.height(), room.height() - 32)
            if (width, height) != (self.width(), self.height()):
                self.resize(width, height)  # the window manager places it, now that it fits

    # --- building ----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.run_list = QListWidget()
        self.run_list.setToolTip("Tick two or more runs to compare them")
        self.run_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.run_list.itemChanged.connect(lambda _: self._on_choice())
        self.base_box = QComboBox()
        self.base_box.setToolTip("The run the others are compared against (BASE); the oldest chosen run at first")
        self.base_box.currentIndexChanged.connect(lambda _: self.update_view())
        self.align_box = QComboBox()
        self.align_box.addItems(list(ALIGNMENTS))
        self.align_box.setToolTip("Overlay the curves from each run's start, or shift each phase of a run to "
                                  "where the same phase began in BASE; runs under Locust's load (--locust) can "
                                  "also be overlaid by user count")
        self.align_box.currentIndexChanged.connect(lambda _: self._draw_curves())
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1000.0)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" %")
        self.threshold.setValue(compare.DEFAULT_THRESHOLD_PERCENT)
        self.threshold.setToolTip("A gated figure regressed when it grew by more than this (and past its "
                                  "noise floor), as `netmem compare --threshold`")
        self.threshold.valueChanged.connect(lambda _: self._update_table())
        options = QFormLayout()
        options.addRow("Base run", self.base_box)
        options.addRow("Align curves at", self.align_box)
        options.addRow("Threshold", self.threshold)
        exports = QHBoxLayout()
        for kind, text in ((".png", "PNG…"), (".md", "Markdown…"), (".json", "JSON…")):
            button = QPushButton(text)
            button.setToolTip(f"Export: {EXPORTS[kind]}")
            button.clicked.connect(lambda _=False, k=kind: self.export_dialog(k))
            exports.addWidget(button)
        self.run_list.setWordWrap(True)
        self.run_list.setSpacing(3)
        self.run_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        choose_box = QGroupBox("Runs to compare (tick two or more)")
        choose = QVBoxLayout(choose_box)
        choose.addWidget(self.run_list, 1)
        choose.addLayout(options)
        choose.addWidget(QLabel("Export the comparison as"))
        choose.addLayout(exports)
        self.export_state = QLabel()  # where the last export went, or why it could not be written
        self.export_state.setWordWrap(True)
        self.export_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        choose.addWidget(self.export_state)

        self.plot = CachedPlot()
        self.plot.setToolTip("Each run's RSS in its own colour. Grey lines: where BASE's scenarios (solid) and "
                             "phases (dotted) begin. Drag to pan, wheel to zoom.")
        item = self.plot.getPlotItem()
        style_plot(item, "RSS (MB)")
        # The key (each run's colour and name) is in the title lines, not a legend box that hid a curve.
        self.key: list[str] = []
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 2)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        # The runs' allocation sites side by side (runs with --trace-allocations): a leak site gone after a fix.
        self.sites_title = QLabel(f"<b>{html.escape(compare.SITES_TITLE)}</b>")
        self.sites = QTableWidget(0, 2)
        self.sites.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sites.verticalHeader().setVisible(False)
        self.sites.setToolTip("Each run's bytes per cycle still allocated at the server's exit (heaptrack, "
                              "LeakSanitizer) or growth (tracemalloc) at the same site; 'none left': the run left "
                              "nothing allocated there")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes.setStyleSheet("color: #444")
        diff = QWidget()
        diff_column = QVBoxLayout(diff)
        diff_column.setContentsMargins(0, 0, 0, 0)
        diff_column.addWidget(self.verdict)
        diff_column.addWidget(self.table, 1)
        diff_column.addWidget(self.sites_title)
        diff_column.addWidget(self.sites)
        diff_column.addWidget(self.notes)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plot)
        right.addWidget(diff)
        right.setSizes([420, 380])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(choose_box)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([270, 1010])
        QHBoxLayout(self).addWidget(main)

    # --- choosing ------------------------------------------------------------------------------------------

    def set_candidates(self, candidates: list[Candidate]) -> None:
        """The runs to choose from (the ticked ones stay ticked when they are still offered)."""
        ticked = set(self.chosen())
        self._updating = True
        self.candidates = list(candidates)
        self.run_list.clear()
        for c in self.candidates:
            item = QListWidgetItem(c.text)
            item.setToolTip(c.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if c.name in ticked else Qt.CheckState.Unchecked)
            self.run_list.addItem(item)
        self._updating = False
        self._on_choice()

    def choose(self, names: list[str], base: str | None = None) -> None:
        """Tick exactly these runs (by name); `base` is BASE, else the oldest of them."""
        self._updating = True
        for i, c in enumerate(self.candidates):
            self.run_list.item(i).setCheckState(Qt.CheckState.Checked if c.name in names else Qt.CheckState.Unchecked)
        self._updating = False
        self._on_choice(base)

    def chosen(self) -> list[str]:
        return [c.name for i, c in enumerate(self.candidates)
                if self.run_list.item(i) is not None and self.run_list.item(i).checkState() == Qt.CheckState.Checked]

    def _on_choice(self, base: str | None = None) -> None:
        if self._updating:
            return
        names = self.chosen()
        for name, job in list(self.opening.items()):
            if name not in names:
                job.cancel()  # unticked while it was being read: no need to wait for it any longer
        current = base or self.base_box.currentData() or ""
        if current not in names:
            # The oldest run is the natural BASE: the diff then reads "what changed since".
            by_start = {c.name: c.started_at for c in self.candidates}
            current = min(names, key=lambda n: by_start[n]) if names else ""
        shown = {c.name: c.text.split("\n", 1)[0] for c in self.candidates}
        self.base_box.blockSignals(True)
        self.base_box.clear()
        for name in names:
            self.base_box.addItem(shown[name], name)
        self.base_box.setCurrentIndex(max(0, names.index(current)) if current in names else -1)
        self.base_box.blockSignals(False)
        self.update_view()

    def ordered(self) -> list[str]:
        """The chosen runs, BASE first, the others oldest first."""
        names = self.chosen()
        base = self.base_box.currentData()
        by_start = {c.name: c.started_at for c in self.candidates}
        if base not in names:
            return []
        return [base, *sorted((n for n in names if n != base), key=lambda n: by_start[n])]

    def _load(self, names: list[str]) -> list[Record] | None:
        """The runs' records; None if one can't be read (a dialog says why) or a big one is still being read in a
        child process (the view is updated again once it has been)."""
        by_name = {c.name: c for c in self.candidates}
        try:
            for name in names:
                path = by_name[name].path
                if name in self.records or name in self.opening:
                    continue
                if path is not None and opening.needs_child(path):
                    self._open_later(name, path)
                else:
                    self.records[name] = by_name[name].load()
        except (record.RecordError, OSError) as exc:
            QMessageBox.critical(self, "Cannot load the run", str(exc))
            return None
        if any(name not in self.records for name in names):
            return None
        return [self.records[n] for n in names]

    def _open_later(self, name: str, path: Path) -> None:
        job = opening.Opening(path)
        self.opening[name] = job
        task = asyncio.ensure_future(self._receive(name, job))
        self._open_tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._open_tasks.discard)

    async def _receive(self, name: str, job: opening.Opening) -> None:
        try:
            self.records[name] = await asyncio.get_running_loop().run_in_executor(None, job.result)
        except opening.Cancelled:
            return
        except record.RecordError as exc:
            QMessageBox.critical(self, "Cannot load the run", str(exc))
            self._untick(name)  # or every later update would try it again
            return
        finally:
            del self.opening[name]
        self.update_view()

    def _untick(self, name: str) -> None:
        for i, c in enumerate(self.candidates):
            if c.name == name:
                self.run_list.item(i).setCheckState(Qt.CheckState.Unchecked)

    def cancel_opening(self) -> None:
        """Stop reading the big records still being read (the view is closing)."""
        for job in list(self.opening.values()):
            job.cancel()

    # --- showing -------------------------------------------------------------------------------------------

    def update_view(self) -> None:
        """Redraw the curves and the diff for the chosen runs."""
        self._draw_curves()
        self._update_table()

    def _draw_curves(self) -> None:
        item = self.plot.getPlotItem()
        for c in self.curves + self._phase_lines:
            item.removeItem(c)
        self.key = []
        self.curves, self._phase_lines = [], []
        names = self.ordered()
        records = self._load(names) if len(names) >= 2 else None
        at = ALIGNMENTS[self.align_box.currentText()]
        item.setLabel("bottom", {"start": "Time since the run began (s)", "users": "Locust users"}.get(
            at, "Time, each phase shifted to where it began in BASE (s)"), color="#222")
        if records is None:
            self.plot.getPlotItem().setTitle(None)
            return
        curves = compare.align_curves(records, names, at=at)
        titled = {c.name for c in self.candidates if c.says_what}
        for i, curve in enumerate(curves):
            role = "BASE" if i == 0 else ("NEW" if len(curves) == 2 else f"RUN {i + 1}")
            config = records[i]["config"]
            name, what = records[i].get("label") or curve.name, tables.target_text(config, records[i].get("target"))
            # What was measured, unless the name (a session run's title) says it already.
            said = name == curve.name and curve.name in titled
            title = f"{role}: {name}" + ("" if said else f" ({config['scenario']}, {what}, {config['host']})")
            pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2.5 if i else 2)
            if at == "users":  # one point per poll: memory read at that user count
                data = self.plot.plot(curve.t_s, curve.rss_bytes / MIB, pen=None, symbol="o", symbolSize=5,
                                      symbolPen=None, symbolBrush=PALETTE[i % len(PALETTE)], name=title)
            else:
                data = self.plot.plot(curve.t_s, curve.rss_bytes / MIB, pen=pen, name=title, connect="finite")
            self.curves.append(data)
            self.key.append(title)
        self._draw_key()
        # BASE's phase starts: where the phases of every aligned run begin, too.
        seen = set()
        for x, phase in curves[0].phase_starts:
            scenario = phase.split("/", 1)[0]
            first = scenario not in seen
            seen.add(scenario)
            line = pg.InfiniteLine(x, angle=90, movable=False,
                                   pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.SolidLine if first
                                                else Qt.PenStyle.DotLine),
                                   label=scenario if first else None,
                                   labelOpts={"position": 0.97, "color": "#555", "anchors": [(0, 0), (0, 0)]})
            line.setToolTip(f"BASE: {phase} begins at {x:.2f} s")
            item.addItem(line, ignoreBounds=True)
            self._phase_lines.append(line)
        item.enableAutoRange()

    def _draw_key(self) -> None:
        """Each run's colour and name, one line each above the plot, cut short (…) to its width."""
        font = QFont(self.plot.font())
        font.setPointSizeF(9.0)
        metrics = QFontMetrics(font)
        room = max(120, self.plot.width() - 60)
        lines = [f"<span style='color:{PALETTE[i % len(PALETTE)]}'>━━</span> "
                 f"{html.escape(metrics.elidedText(text, Qt.TextElideMode.ElideRight, room), quote=False)}"
                 for i, text in enumerate(self.key)]
        self.plot.getPlotItem().setTitle("<br>".join(lines), color="#222", size="9pt")

    def _update_table(self) -> None:
        names = self.ordered()
        records = self._load(names) if len(names) >= 2 else None
        if records is None:
            self.comparison = None
            self.table.setRowCount(0)
            waiting = [f"{html.escape(name)} ({tables.size(job.size)})" for name, job in self.opening.items()
                       if name in names]
            self.verdict.setText(f"Opening {', '.join(waiting)}…; the comparison follows (untick a run to stop"
                                 " reading it)." if waiting
                                 else "Tick two or more runs on the left to compare them.")
            self.notes.setText("")
            self._show_sites(None)
            return
        cmp = compare.compare(records, names, self.threshold.value())
        self.comparison = cmp
        header = [h.replace("%", "% change") if h.startswith("%") else h for h in compare.table_header(cmp)]
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        rows = compare.table_rows(cmp, "plain")  # the CLI's own columns and wording
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for col, text in enumerate(row.cells):
                if col >= 2 and (col - 2) % 4 == 3 and (col - 2) // 4 in row.regressed:
                    text = "▲ REGRESSED"  # said in words as well as in colour
                cell = QTableWidgetItem(text)
                if col > 0:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if row.is_scope:
                    font = QFont()
                    font.setBold(True)
                    cell.setFont(font)
                    cell.setBackground(SCOPE_BRUSH)
                group = (col - 2) // 4 if col >= 2 else None
                if group is not None and group in row.regressed:
                    cell.setBackground(REGRESSED_BRUSH)
                if group is not None and row.notes.get(group):
                    cell.setToolTip(row.notes[group])
                self.table.setItem(r, col, cell)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        colour = "#a0151b" if cmp.regressed else "#1a5e2a"
        heads = "<br>".join(html.escape(h) for h in compare.run_headings(cmp))
        line = html.escape(compare.verdict_line(cmp))
        self.verdict.setText(f"{heads}<br><b style='color:{colour}'>{line}</b>")
        self.notes.setText("\n".join(f"Note: {n}" for n in cmp.notes))
        self._show_sites(cmp)

    def _show_sites(self, cmp: compare.Comparison | None) -> None:
        """The runs' allocation sites side by side, as `netmem compare` prints them; hidden when none traced."""
        table = compare.sites_table(cmp) if cmp is not None else None
        self.sites_title.setVisible(table is not None)
        self.sites.setVisible(table is not None)
        self.sites.clear()
        if table is None:
            self.sites.setRowCount(0)
            return
        header, rows = table
        more = compare.sites_more(cmp) if cmp is not None else None
        self.sites.setColumnCount(len(header))
        self.sites.setHorizontalHeaderLabels(header)
        self.sites.setRowCount(len(rows) + (1 if more else 0))
        for r, cells in enumerate([*rows, [more, *[""] * (len(header) - 1)]] if more else rows):
            for col, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if col >= 2:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.sites.setItem(r, col, cell)
        head = self.sites.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # As tall as its rows (a few), so the figures' table above keeps the room.
        height = self.sites.horizontalHeader().height() + 2 * self.sites.frameWidth()
        self.sites.setMaximumHeight(height + sum(self.sites.rowHeight(r) for r in range(min(6, self.sites.rowCount()))))

    # --- exporting -----------------------------------------------------------------------------------------

    def export_to(self, path: str | os.PathLike[str], kind: str | None = None) -> None:
        """Write a PNG of the view, or the comparison as the CLI prints it (.md, .json); OSError/ValueError if not."""
        kind = kind or Path(path).suffix.lower()
        if kind == ".png":
            exporting.save_picture(self.grab(), path)
            return
        if self.comparison is None:
            raise ValueError("choose two or more runs first")
        fmt = {".md": "markdown", ".json": "json"}.get(kind)
        if fmt is None:
            raise ValueError(f"{os.fspath(path)}: unknown export type; use .png, .md or .json")
        files.write_user_file(path, compare.render(self.comparison, fmt) + "\n", exporting.ExportError)

    def export_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the comparison", f"netmem-compare{kind}", EXPORTS[kind])
        if not path:
            return
        if Path(path).suffix.lower() != kind:
            path += kind
        try:
            self.export_to(path, kind)
        except (OSError, ValueError) as exc:
            self.export_state.setText("Not exported.")
            QMessageBox.critical(self, "Cannot export", str(exc))
        else:
            self.export_state.setText(f"Saved {path}")


def session_candidates(entries: list[Any]) -> list[Candidate]:
    """The window's finished runs and opened records (SessionRun objects), in list order."""
    out = []
    for e in entries:
        if e.live or e.rec is None:
            continue
        when = e.rec.get("started_at", "")[:19].replace("T", " ")
        out.append(Candidate(e.title, f"{e.title}\n{when} · this session", e.rec.get("started_at", ""),
                             lambda r=e.rec: r, says_what=True))
    return out
