"""The main window: settings, Start/Stop, progress, live figures, the plot, the summary and the run list."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core import events
from ..core.config import ConfigError, RunConfig
from ..core.errors import NetmemError
from ..core.records.record import Record
from ..core.running import lifecycle
from ..core.running.execute import execute
from ..core.runs.run import Run
from . import exporting, live
from .allocations import AllocationSites
from .column import LeftColumn, run_title
from .compare_view import Candidate, CompareView, library_candidates, session_candidates
from .form import FormError, RunForm
from .icon import app_icon
from .kernel_plot import KernelPlot
from .lag_plot import LagPlot
from .library_view import LibraryDialog
from .load_plot import LoadPlot
from .panels import LivePanel, SummaryPanel
from .plot import RecordSource, RssPlot, RunSource
from .record_files import RecordFiles
from .session import PROGRESS_STEPS, SessionRun, progress_text, progress_value

FRAME_MS = 40  # 25 frames a second, whatever the sampling interval
FIGURES_EVERY = 5  # the figures panel and progress bar look 5 times a second (the analysis reruns at most once)
LAG_MIN_FRAMES = 5
LAG_EVERY = 25  # frames: the lag strip catches up at least once a second
AXIS_WIDTH_PX = 64  # both plots' left axes, so their time axes line up


class _RunList(QListWidget):
    """The run list; a small size hint, so the scrolling left column only scrolls when it must."""

    def sizeHint(self) -> QSize:
        return QSize(200, 60)


class MainWindow(RecordFiles, QMainWindow):
    """The netmem window. Runs are asyncio tasks on the app's (qasync) loop; the UI never waits on them."""

    closed = Signal()
    runFinished = Signal(object)
    librarySaved = Signal(str)  # a run's library ID, once it is saved there

    def __init__(self, settings: QSettings | None = None, persist: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("netmem – memory profiler for network workloads")
        self.setWindowIcon(app_icon())
        self.settings = settings
        self.persist = persist and settings is not None
        self.entries: list[SessionRun] = []
        self.active: SessionRun | None = None
        self._closing = False
        self.stopped_by: int | None = None  # the signal (SIGINT, SIGTERM) that closed the window, if one did
        self._frame = 0
        self._lag_frame = 0  # the frame the lag and load strips last caught up
        self.library_dialog: LibraryDialog | None = None
        self.compare_view: CompareView | None = None
        self._init_record_files()
        self._build()
        self._build_actions()
        if settings is not None:
            self.form.load(settings)
            geometry = settings.value("window/geometry") if self.persist else None
            if geometry is not None:  # scripted runs keep 1280x800, so their screenshots match
                self.restoreGeometry(geometry)
        self._fit_screen()
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self._update_buttons()

    # --- building ----------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.form = RunForm()
        settings_box = QGroupBox("Run settings")
        QVBoxLayout(settings_box).addWidget(self.form)

        # Enter in the settings starts the run, as the default button of a dialog would.
        for key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            QShortcut(QKeySequence(key), self.form, lambda: self.start_run(),
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start a run with these settings (Enter in the settings, or Ctrl+R)")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start_run())
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run: closes every socket, ends the child process and keeps "
                                    "the partial run, marked incomplete (Esc or Ctrl+.)")
        self.stop_button.clicked.connect(self.stop_run)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setToolTip("The current scenario, its phase and how far it has got")

        self.live_panel = LivePanel()

        self.run_list = _RunList()
        self.run_list.setToolTip("Every run of this session and every record opened; select one to see "
                                 "its plot and summary")
        self.run_list.currentRowChanged.connect(self._on_select)
        self.run_list.setMinimumHeight(44)
        runs_box = QGroupBox("Runs this session")
        QVBoxLayout(runs_box).addWidget(self.run_list)

        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(6, 6, 6, 6)
        column.addWidget(settings_box)
        column.addLayout(buttons)
        column.addWidget(self.progress)
        column.addWidget(self.live_panel)
        column.addWidget(runs_box, 1)
        # Scrolls rather than squeezing its controls when the Advanced section opens on a short screen.
        self.left_column = left_scroll = LeftColumn(left)

        self.plot = RssPlot()
        self.plot.setToolTip("Drag to pan, wheel to zoom (right-drag zooms one axis); A or 'Follow data' "
                             "goes back to following the run. Hover a checkpoint to read its label.")
        self.plot.followChanged.connect(self._on_follow_changed)
        self.follow_button = QPushButton("Follow data (A)")
        self.follow_button.setToolTip("Zoom to all the data and follow new samples again (A)")
        self.follow_button.clicked.connect(self.plot.follow)
        self.follow_state = QLabel("following the data")
        self.follow_state.setStyleSheet("color: #555")
        plot_bar = QHBoxLayout()
        plot_bar.addWidget(self.follow_state, 1)
        plot_bar.addWidget(self.follow_button)
        self.lag_plot = LagPlot()
        self.lag_plot.setToolTip("How late the workload's event loop woke from a timer, probed every sampling "
                                 "interval: long lags mean the loop was too busy to serve its sockets on time. "
                                 "Shares the time axis with the RSS plot.")
        self.lag_plot.setXLink(self.plot)
        self.load_plot = LoadPlot()
        self.load_plot.setToolTip("Runs under a Locust cluster's load (--locust, Advanced → Locust master): "
                                  "users (green, left axis) and requests per second (orange, right axis) as the "
                                  "master reported them. Shares the time axis with the RSS plot.")
        self.load_plot.setXLink(self.plot)
        self.kernel_plot = KernelPlot()  # what the kernel holds for the process's sockets (docs/backpressure.md)
        self.kernel_plot.setToolTip("What the kernel holds for the measured process's own TCP sockets, read about "
                                    "once a second; RSS counts none of it. Shares the time axis with the RSS plot.")
        self.kernel_plot.setXLink(self.plot)
        for widget in (self.plot, self.lag_plot, self.load_plot, self.kernel_plot):
            widget.getPlotItem().getAxis("left").setWidth(AXIS_WIDTH_PX)
        plot_box = QWidget()
        plot_column = QVBoxLayout(plot_box)
        plot_column.setContentsMargins(0, 0, 0, 0)
        plot_column.setSpacing(2)
        plot_column.addWidget(self.plot, 1)
        plot_column.addWidget(self.load_plot)
        plot_column.addWidget(self.kernel_plot)
        plot_column.addWidget(self.lag_plot)
        plot_column.addLayout(plot_bar)

        self.summary = SummaryPanel()
        self.allocations = AllocationSites()
        self.details = QTabWidget()
        self.details.addTab(self.summary, "Summary")
        self.details.addTab(self.allocations, "Allocation sites")
        self._show_allocations(None)
        summary_box = QWidget()
        box_layout = QVBoxLayout(summary_box)
        box_layout.setContentsMargins(0, 4, 0, 0)
        box_layout.addWidget(self.details)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(plot_box)
        right.addWidget(summary_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([480, 300])

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left_scroll)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setCollapsible(0, False)
        main.setSizes([left_scroll.needed_width(), 1280 - left_scroll.needed_width()])
        self.setCentralWidget(main)
        self.statusBar().showMessage("Ready: choose a scenario and press Start (Ctrl+R)")
        # Shown while a big record opens in a child process: what and how far, a busy bar, and Cancel.
        self.open_label = QLabel()
        self.open_bar = QProgressBar()
        self.open_bar.setRange(0, 0)  # busy: parsing is one call of the child's, with no steps to count
        self.open_bar.setMaximumWidth(160)
        self.open_cancel = QPushButton("Cancel")
        self.open_cancel.setToolTip("Stop opening this record")
        self.open_cancel.clicked.connect(self.cancel_opening)
        for widget in (self.open_label, self.open_bar, self.open_cancel):
            self.statusBar().addPermanentWidget(widget)
            widget.hide()
        self.resize(1280, 800)

    def _fit_screen(self) -> None:
        """On a screen smaller than the window (1024x700), the window fits its free area rather than overflow it.
        Not offscreen, whose 800x600 screen is no screen: scripted screenshots keep 1280x800."""
        screen = self.screen()
        if screen is None or QGuiApplication.platformName() == "offscreen":
            return
        room = screen.availableGeometry()
        # The window manager's frame and title bar take a little of the free area too.
        width, height = min(self.width(), room.width() - 8), min(self.height(), room.height() - 32)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)

    def _action(self, text: str, keys: list[QKeySequence | str], slot: Any, tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(k) for k in keys])
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("&Start run", ["Ctrl+R"], lambda: self.start_run(), "Start a run")
        self.stop_action = self._action("S&top run", ["Esc", "Ctrl+."], self.stop_run, "Stop the running run")
        self.open_action = self._action("&Open run record…", [QKeySequence.StandardKey.Open],
                                        self.open_dialog, "Open a saved run record (JSON)")
        self.export_action = self._action("&Export…", ["Ctrl+E"], self.export_dialog,
                                          "Export the selected run: JSON record, plot PNG/SVG or samples CSV")
        self.follow_action = self._action("&Follow data", ["A"], self.plot.follow,
                                          "Zoom to all the data and follow new samples")
        self.library_action = self._action("Run &library…", ["Ctrl+L"], self.show_library,
                                           "Every saved run: open, label, delete or compare them")
        self.compare_action = self._action("&Compare runs…", ["Ctrl+K"], lambda: self.show_compare(),
                                           "Overlay two or more runs' RSS curves and diff their figures")
        quit_action = self._action("&Quit", [QKeySequence.StandardKey.Quit], self.close, "Close the window")
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.export_action)
        for kind, name in exporting.KINDS.items():
            action = QAction(f"Export {name.split(' (')[0].lower()}…", self)
            action.triggered.connect(lambda _=False, k=kind: self.export_dialog(k))
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        run_menu = menu.addMenu("&Run")
        run_menu.addAction(self.start_action)
        run_menu.addAction(self.stop_action)
        run_menu.addSeparator()
        run_menu.addAction(self.library_action)
        run_menu.addAction(self.compare_action)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.follow_action)
        view_menu.addAction(self.kernel_plot.toggle_action)

    # --- runs ----------------------------------------------------------------------------------------------

    def start_run(self, config: RunConfig | None = None, label: str | None = None,
                  export: str | None = None, prepared: bool = False) -> SessionRun | None:
        """Start a run (the form's settings unless given); None, with an error dialog, if it can't start.

        `export`: a file the record is written to when the run ends, beside the run library. `prepared`: the
        caller has run lifecycle.prepare on `config` with that export and keep=True (the scripted mode, before
        the window opened); a --server module is then not imported once more."""
        if self.active is not None:
            return None
        try:
            if config is None:
                config, label = self.form.config(), self.form.run_label()
            if not prepared:
                config = lifecycle.prepare(config, [export] if export else [], keep=True)
        except NetmemError as exc:
            self._error("Cannot start the run", str(exc))
            if isinstance(exc, FormError):
                self.form.focus_field(exc.field)  # straight to the control to fix
            return None
        # The form shows what is running, whoever started it (the Start button, the scripted mode, a test).
        self.form.set_config(config, label)
        if self.persist:
            self.form.save(self.settings)  # type: ignore[arg-type]
        run = Run(config, label=label)
        problem = lifecycle.begin(run, keep=True)
        number = sum(1 for e in self.entries if e.run is not None) + 1
        entry = SessionRun(title=run_title(number, label, config.to_dict()), run=run, stop=asyncio.Event(),
                           export=export, number=number)
        self.active = entry
        self._add_entry(entry)
        entry.task = asyncio.ensure_future(execute(run, entry.stop))
        entry.task.add_done_callback(lambda task, e=entry: self._on_run_done(e, task))
        self.statusBar().showMessage(f"Running {config.scenario} on the {config.host} host…"
                                     + (f" ({problem})" if problem else ""))
        self._update_buttons()
        return entry

    def stop_run(self) -> None:
        if self.active is not None and self.active.stop is not None and not self.active.stop.is_set():
            self.active.stop.set()
            self.statusBar().showMessage("Stopping: closing sockets and ending the workload…")
            self.progress.setFormat("stopping…")

    async def wait_idle(self) -> None:
        """Wait until no run is active."""
        while self.active is not None and self.active.task is not None:
            await asyncio.wait({self.active.task})

    def _on_run_done(self, entry: SessionRun, task: asyncio.Task) -> None:
        run = entry.run
        assert run is not None
        if not task.cancelled() and isinstance(task.exception(), NetmemError) and not run.checkpoints:
            self._never_began(entry, task.exception())  # type: ignore[arg-type]
            return
        if task.cancelled():
            entry.error = "cancelled"
        elif task.exception() is not None:
            exc = task.exception()
            entry.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not run.ended:
                run.handle(events.end(False, entry.error))
        entry.outcome = lifecycle.finish(run, json_path=entry.export, stopped_by=self.stopped_by)
        entry.rec = entry.outcome.record
        entry.library_id = entry.outcome.library_id
        self.active = None
        # Now the target has a name (the attached process's, the command's): the title says what was measured.
        entry.title = run_title(entry.number, run.label, entry.rec["config"], entry.rec.get("target"))
        state = "done" if run.completed else "incomplete"
        self._item_of(entry).setText(f"{entry.title} · {state}")
        if self.current_entry() is entry:
            self._show_entry(entry)
        self.progress.setValue(PROGRESS_STEPS if run.completed else self.progress.value())
        self.progress.setFormat("finished" if run.completed else f"incomplete: {run.stop_reason}")
        self.statusBar().showMessage(
            f"{entry.title}: finished" if run.completed else f"{entry.title}: incomplete ({run.stop_reason}); "
            "the partial run is kept")
        self._report_keeping(entry.outcome)
        self._update_buttons()
        self.runFinished.emit(entry)
        if self._closing:
            self.close()

    def _never_began(self, entry: SessionRun, exc: NetmemError) -> None:
        """The run's target could not start (a --spawn command that exits or never listens): as on the command
        line, no run is kept, in the list or the library; the error says why (the scripted mode exits with it)."""
        run = entry.run
        assert run is not None
        lifecycle.abandon(run)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        entry.error = message
        entry.outcome = lifecycle.Outcome(record=run.record(), status=exc.status, verdict=f"error: {message}")
        row = self.entries.index(entry)
        self.entries.remove(entry)
        self.run_list.takeItem(row)
        self.active = None
        self.progress.setFormat("could not start")
        self._update_buttons()
        self.runFinished.emit(entry)
        self._error("Cannot start the run", message)
        if self._closing:
            self.close()

    def _report_keeping(self, outcome: lifecycle.Outcome) -> None:
        """Say in the status bar where the run was kept, and what could not be written (a warning only)."""
        message = self.statusBar().currentMessage()
        if outcome.library_id is not None:
            message += f"; saved to the run library as {outcome.library_id}"
        for problem in outcome.problems:
            message += f"; {problem}"
        self.statusBar().showMessage(message)
        if outcome.library_id is not None:
            self.librarySaved.emit(outcome.library_id)

    # --- the run library and the compare view -------------------------------------------------------------

    def show_library(self) -> LibraryDialog:
        """Show the run library (one dialog per window, read again each time it is shown)."""
        if self.library_dialog is None:
            self.library_dialog = LibraryDialog(self)
            self.library_dialog.openRequested.connect(self.open_record)
            self.library_dialog.compareRequested.connect(lambda ids: self.show_compare(ids))
            self.librarySaved.connect(lambda _: self.library_dialog and self.library_dialog.refresh())
        else:
            self.library_dialog.refresh()
        self.library_dialog.show()
        self.library_dialog.raise_()
        return self.library_dialog

    def compare_candidates(self) -> list[Candidate]:
        """This session's finished runs, then the library's runs that aren't among them."""
        saved = {e.library_id for e in self.entries if e.library_id}
        try:
            stored = library_candidates(skip=saved)
        except OSError as exc:
            self.statusBar().showMessage(f"Cannot read the run library: {exc}")
            stored = []
        return session_candidates(self.entries) + stored

    def show_compare(self, names: list[str] | None = None) -> CompareView:
        """Show the compare view, offering every run there is; `names` ticks those runs."""
        if self.compare_view is None:
            self.compare_view = CompareView(self.compare_candidates(), self)
        else:
            self.compare_view.set_candidates(self.compare_candidates())
        if names:
            # The library names runs by their ID; this session's runs are offered by their title (and not again
            # as library runs): a library ID of one of them ticks it.
            titles = {e.library_id: e.title for e in self.entries if e.library_id and e.rec is not None}
            self.compare_view.choose([titles.get(name, name) for name in names])
        self.compare_view.show()
        self.compare_view.raise_()
        return self.compare_view

    # --- the run list --------------------------------------------------------------------------------------

    def _add_entry(self, entry: SessionRun) -> None:
        self.entries.append(entry)
        item = QListWidgetItem(entry.title + (" · running…" if entry.live else ""))
        item.setToolTip(entry.title)
        self.run_list.addItem(item)
        self.run_list.setCurrentRow(len(self.entries) - 1)

    def _item_of(self, entry: SessionRun) -> QListWidgetItem:
        return self.run_list.item(self.entries.index(entry))

    def current_entry(self) -> SessionRun | None:
        row = self.run_list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _on_select(self, row: int) -> None:
        if 0 <= row < len(self.entries):
            self._show_entry(self.entries[row])
        self._update_buttons()

    def _show_entry(self, entry: SessionRun) -> None:
        if entry.live:
            assert entry.run is not None
            self.plot.show_source(RunSource(entry.run))
            self.lag_plot.show_run(entry.run)
            self.load_plot.show_run(entry.run)
            self.kernel_plot.show_run(entry.run)
            self._align_right_axes()
            self.summary.show_running(entry.title)
            self._show_allocations(None)
            self._refresh_figures()
        else:
            rec = entry.record()
            self.plot.show_source(RecordSource(rec))
            self.lag_plot.show_record(rec)
            self.load_plot.show_record(rec)
            self.kernel_plot.show_record(rec)
            self._align_right_axes()
            self.summary.show_record(rec, entry.title)
            self._show_allocations(rec)
            self.live_panel.show_figures(live.from_record(rec))

    def _align_right_axes(self) -> None:
        """With the load strip shown, the plots above and below it get a blank right axis as wide as its
        requests/s axis, so one second is the same width in all three."""
        shown = self.load_plot.isVisibleTo(self)
        self.load_plot.getPlotItem().getAxis("right").setWidth(AXIS_WIDTH_PX)
        for widget in (self.plot, self.lag_plot, self.kernel_plot):
            item = widget.getPlotItem()
            if shown:
                item.showAxis("right")
                item.getAxis("right").setStyle(showValues=False)
                item.getAxis("right").setWidth(AXIS_WIDTH_PX)
            else:
                item.hideAxis("right")

    def _show_allocations(self, rec: Record | None) -> None:
        rows = self.allocations.show_record(rec)
        index = self.details.indexOf(self.allocations)
        traced = rec is not None and bool(rec.get("allocations"))
        self.details.setTabText(index, f"Allocation sites ({rows})" if traced else "Allocation sites")
        self.details.setTabEnabled(index, traced)
        self.details.setTabToolTip(index, self.allocations.tab_tip(rec))
        if not traced and self.details.currentIndex() == index:
            self.details.setCurrentIndex(0)

    # --- frames --------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._frame += 1
        if self.plot.source is not None and (self.plot.source.live or self.active is not None):
            # The lag strip repaints with the RSS plot (one pass of Qt's painting rather than two), at most every
            # LAG_MIN_FRAMES frames (it is the smaller plot; each repaint of either costs 1-2 ms), and at least every
            # LAG_EVERY frames when no sample came.
            moved = self.plot.refresh()
            due = self._frame - self._lag_frame
            if (moved and due >= LAG_MIN_FRAMES) or due >= LAG_EVERY:
                self._lag_frame = self._frame
                self.lag_plot.refresh()
                self.load_plot.refresh()  # its polls come at most 4 times a second
                self.kernel_plot.refresh()  # a reading about once a second
        if self.active is not None and self._frame % FIGURES_EVERY == 0:
            self._refresh_figures()

    def _refresh_figures(self) -> None:
        entry = self.active
        if entry is None or entry.run is None:
            return
        run = entry.run
        if self.current_entry() is entry:
            self.live_panel.show_figures(live.from_run(run, time.monotonic() - run.t0))
        text = progress_text(run)
        if self.progress.format() != text:
            self.progress.setFormat(text)
        self.progress.setValue(progress_value(run))  # repaints only when the value changes

    def _on_follow_changed(self, following: bool) -> None:
        self.follow_state.setText("following the data" if following
                                  else "zoomed by hand: auto-follow paused (press A or 'Follow data')")

    def _update_buttons(self) -> None:
        running = self.active is not None
        # The button that is about to be enabled first, and the focus handed to it from the one (or the form) about
        # to be disabled: otherwise Qt passes the focus on down the column (to the run list) and scrolls there.
        now, then = (self.stop_button, self.start_button) if running else (self.start_button, self.stop_button)
        now.setEnabled(True)
        focus = self.focusWidget()
        if focus is not None and (focus is then or (running and self.form.isAncestorOf(focus))):
            now.setFocus(Qt.FocusReason.OtherFocusReason)
        then.setEnabled(False)
        self.start_action.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.form.setEnabled(not running)
        entry = self.current_entry()
        self.export_action.setEnabled(entry is not None and not entry.live)

    def _error(self, title: str, text: str) -> None:
        self.statusBar().showMessage(text)
        QMessageBox.critical(self, title, text)

    def _stop_to_close(self) -> bool:
        """Whether the user wants the running run stopped so that the window can close."""
        answer = QMessageBox.question(
            self, "Stop the run and close?",
            "A run is going on. Stop it and close the window? The partial run is kept, marked incomplete.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # --- closing -------------------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.active is not None:
            # Asked first (not when a signal closes it, nor a second time): a close button is easily hit.
            if not self._closing and self.stopped_by is None and not self._stop_to_close():
                event.ignore()
                return
            # Stop first (sockets closed, child ended, partial run kept); the window closes when the run has.
            self._closing = True
            self.stop_run()
            event.ignore()
            return
        self.cancel_opening()
        if self.compare_view is not None:
            self.compare_view.cancel_opening()
        if self.persist:
            assert self.settings is not None
            try:
                self.form.save(self.settings)
            except ConfigError:
                pass  # the form can't hold an invalid value for long; keep the last good settings
            self.settings.setValue("window/geometry", self.saveGeometry())
            self.settings.sync()
        self.timer.stop()
        event.accept()
        self.closed.emit()
