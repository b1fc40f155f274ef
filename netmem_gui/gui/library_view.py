"""The run library dialog: every saved run listed, opened into the window, labelled, deleted, compared."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.records import opening, record
from ..core.reports import tables
from ..core.runs import library, relabel

COLUMNS = ("Date (UTC)", "Label", "Scenario", "Measured", "Host", "Conns / msgs / cycles", "Peak RSS", "Verdict",
           "Completed")
DAMAGED_BRUSH = QBrush(QColor("#fde2e1"))
RESIZE_ROWS = 200


def date_text(started_at: str | None) -> str:
    """'2026-11-26 01:50:17' from the record's ISO time (the library lists in UTC, like `netmem runs`)."""
    return (started_at or "")[:19].replace("T", " ")


def counts_text(counts: dict[str, int | None]) -> str:
    return "/".join(tables.number(counts.get(k)) if counts.get(k) is not None else "–"
                    for k in ("connections", "messages", "cycles"))


def entry_cells(entry: library.Entry) -> list[str]:
    """One table row, as `netmem runs` words it; a damaged file says so and why."""
    if entry.damaged:
        return [entry.id, "", "", "", "", "", "", f"DAMAGED: {entry.damaged}", ""]
    completed = "yes" if entry.completed else f"no ({entry.state_text()})"
    return [date_text(entry.started_at), entry.label or "", entry.scenario or "", entry.target or "", entry.host or "",
            counts_text(entry.counts), tables.size(entry.peak_rss_bytes), entry.verdict or "n/a", completed]


class LibraryDialog(QDialog):
    """Lists the run library; Open adds a run to the window's list, Compare opens the compare view."""

    openRequested = Signal(str)  # a record's path
    compareRequested = Signal(list)  # library IDs

    def __init__(self, parent: QWidget | None = None, folder: Path | None = None,
                 ask_label: Callable[[QWidget, str], str | None] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run library – netmem")
        self.folder = folder
        self.entries: list[library.Entry] = []
        self._ask_label = ask_label or _ask_label
        self.labelling: str | None = None  # the ID of the run whose big record is being relabelled
        self._tasks: set[asyncio.Task] = set()
        self.where = QLabel()
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Columns fit the first rows (the newest, the ones shown), not all of a library of thousands.
        self.table.horizontalHeader().setResizeContentsPrecision(RESIZE_ROWS)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _=None: self.open_selected())

        self.open_button = self._button("Open", "Add the selected runs to the window's run list", self.open_selected)
        self.compare_button = self._button("Compare…", "Compare the selected runs (two or more)",
                                           self.compare_selected)
        self.label_button = self._button("Label…", "Give the selected run a label (empty removes it)",
                                         lambda: self.label_selected())
        self.delete_button = self._button("Delete…", "Delete the selected runs from the library (asks first)",
                                          lambda: self.delete_selected())
        refresh = self._button("Refresh", "Read the library folder again", self.refresh)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.compare_button, self.label_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(refresh)
        column = QVBoxLayout(self)
        column.addWidget(self.where)
        column.addWidget(self.table, 1)
        column.addLayout(buttons)
        self.resize(1000, 480)
        self.refresh()

    def _button(self, text: str, tip: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(lambda _=False: slot())
        return button

    def refresh(self) -> None:
        """Read the library again (a damaged file is a row that says so, never an error)."""
        folder = self.folder or library.library_dir()
        try:
            self.entries = library.list_runs(self.folder)
        except OSError as exc:
            self.entries = []
            self.where.setText(f"Cannot read the run library {folder}: {exc.strerror or exc}")
        else:
            self.where.setText(f"Run library: {folder} ({len(self.entries)} runs; the newest first)")
        self.table.setUpdatesEnabled(False)  # one layout and paint for the whole table, not one per cell
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            for col, text in enumerate(entry_cells(entry)):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{entry.id}\n{entry.path}" + (f"\n{entry.damaged}" if entry.damaged else ""))
                if entry.damaged:
                    item.setBackground(DAMAGED_BRUSH)
                self.table.setItem(row, col, item)
        self.table.setUpdatesEnabled(True)
        self._update_buttons()

    def selected(self) -> list[library.Entry]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.entries[r] for r in rows if r < len(self.entries)]

    def select_ids(self, ids: list[str]) -> None:
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, entry in enumerate(self.entries):
            if entry.id in ids:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _update_buttons(self) -> None:
        chosen = self.selected()
        good = [e for e in chosen if not e.damaged and not e.running]  # a run in progress opens once it ends
        self.open_button.setEnabled(bool(good))
        self.compare_button.setEnabled(len(good) >= 2)
        self.label_button.setEnabled(len(good) == 1 and self.labelling is None)
        self.delete_button.setEnabled(bool(chosen) and self.labelling is None)

    def open_selected(self) -> None:
        for entry in self.selected():
            if entry.unsaved:
                self.where.setText(f"{entry.id} is not saved yet ({entry.unsaved}): free space, then reopen the"
                                   " library")
            elif not entry.damaged:
                self.openRequested.emit(str(entry.path))

    def compare_selected(self) -> None:
        ids = [e.id for e in self.selected() if not e.damaged and not e.unsaved]
        if len(ids) >= 2:
            self.compareRequested.emit(ids)

    def label_selected(self, text: str | None = None) -> bool:
        """Label the selected run (asks for the text unless given); False if nothing changed.

        A big record (one that opens in a child, core.opening.needs_child) is rewritten by a child process
        (core.relabel) that a worker thread waits for, while the dialog goes on: this returns True at once and the
        table (or the error dialog) follows; `label_file` is the same, awaited."""
        chosen = [e for e in self.selected() if not e.damaged]
        if len(chosen) != 1 or self.labelling is not None:
            return False
        entry = chosen[0]
        if text is None:
            text = self._ask_label(self, entry.label or "")
            if text is None:
                return False
        if opening.needs_child(entry.path):
            task = asyncio.ensure_future(self._label_in_thread(entry, text))
            self._tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._tasks.discard)
            return True
        return self._labelled(entry, self._label_now(entry, text))

    async def label_file(self, entry: library.Entry, text: str) -> bool:
        """Label `entry` as label_selected does, and return once its record is rewritten (True) or not (False)."""
        if not opening.needs_child(entry.path):
            return self._labelled(entry, self._label_now(entry, text))
        return await self._label_in_thread(entry, text)

    def _label_in_thread(self, entry: library.Entry, text: str) -> Awaitable[bool]:
        # Marked now, before the thread starts: no second label, and no delete (the rewrite would bring a deleted
        # file back), while the record is being rewritten.
        self.labelling = entry.id
        self._update_buttons()
        self.where.setText(f"Labelling {entry.id}…")
        writing = asyncio.get_running_loop().run_in_executor(None, self._label_now, entry, text)

        async def done() -> bool:
            try:
                failed = await writing
            finally:
                self.labelling = None
            if not shiboken6.isValid(self):
                return failed is None  # the dialog was closed meanwhile; the record is written all the same
            return self._labelled(entry, failed)

        return done()

    def _label_now(self, entry: library.Entry, text: str) -> str | None:
        """Rewrite the record with its new label (any thread); None, or why it could not be done."""
        try:
            relabel.set_label(entry.id, text.strip(), self.folder)
        except (library.LibraryError, record.RecordError, OSError) as exc:
            return str(exc)
        return None

    def _labelled(self, entry: library.Entry, failed: str | None) -> bool:
        if failed is not None:
            QMessageBox.critical(self, "Cannot label the run", failed)
            self._update_buttons()
            return False
        self.refresh()
        self.select_ids([entry.id])
        return True

    def delete_selected(self) -> int:
        """Delete the selected runs after asking; the number deleted."""
        chosen = self.selected()
        if not chosen or self.labelling is not None:
            return 0
        names = "\n".join(e.id for e in chosen[:5]) + ("\n…" if len(chosen) > 5 else "")
        answer = QMessageBox.question(
            self, "Delete runs", f"Delete {len(chosen)} run(s) from the library? This cannot be undone.\n\n{names}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return 0
        deleted = 0
        for entry in chosen:
            try:
                library.delete(entry.id, self.folder)
                deleted += 1
            except library.LibraryError as exc:
                QMessageBox.critical(self, "Cannot delete the run", str(exc))
        self.refresh()
        return deleted


def _ask_label(parent: QWidget, current: str) -> str | None:
    text, ok = QInputDialog.getText(parent, "Label the run", "Label (empty removes it):", text=current)
    return text if ok else None
