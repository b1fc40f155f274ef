"""Opening and exporting run records from the main window: a big one opens in a child process and exports in a
thread, while the window goes on (the status bar says how far it has got, and Cancel stops an opening)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Any

from PySide6.QtWidgets import QFileDialog

from ..core.records import opening, record
from ..core.records.record import Record, RecordError
from ..core.reports import tables
from . import exporting
from .session import SessionRun


class RecordFiles:
    """The main window's part that reads and writes records (MainWindow inherits it; it needs the window's run
    list, status bar, plot and open_label, open_bar and open_cancel)."""

    opening: opening.Opening | None
    _openings: list[opening.Opening]
    _opening_turn: asyncio.Lock
    _open_tasks: set[asyncio.Task]
    open_label: Any
    open_bar: Any
    open_cancel: Any
    plot: Any

    def _init_record_files(self) -> None:
        self.opening = None  # the big record being opened in a child process, if any
        self._openings = []  # the one being opened and those waiting, in the order asked
        self._opening_turn = asyncio.Lock()
        self._open_tasks = set()

    def open_record(self, path: str) -> bool:
        """Add a saved run record to the run list and show it; an error dialog (and False) if it isn't one.

        A big record (core.opening.needs_child) opens in a child process while the window goes on, with its progress
        and a Cancel button in the status bar: this returns True at once and the record (or the error dialog)
        follows; `open_file` is the same, awaited."""
        if opening.needs_child(path):
            task = asyncio.ensure_future(self.open_file(path))
            self._open_tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._open_tasks.discard)
            return True
        try:
            rec = record.load(path)
        except RecordError as exc:
            self._error("Cannot open the run record", str(exc))
            return False
        self._add_record(path, rec)
        return True

    async def open_file(self, path: str) -> bool:
        """Open a record as open_record does, and return once it is shown (True) or refused or cancelled (False)."""
        if not opening.needs_child(path):
            return self.open_record(path)
        try:
            job = opening.Opening(path)
        except (RecordError, OSError) as exc:
            self._error("Cannot open the run record", str(exc))
            return False
        # One at a time: each child takes a core and a record's memory; the others wait their turn, in order (an
        # asyncio.Lock wakes its waiters first come, first served).
        self._openings.append(job)
        try:
            async with self._opening_turn:
                return False if job.cancelled else await self._open_in_child(job)
        finally:
            self._openings.remove(job)

    async def _open_in_child(self, job: opening.Opening) -> bool:
        self.opening = job
        name = os.path.basename(job.path)
        waiting = asyncio.get_running_loop().run_in_executor(None, job.result)
        started = time.monotonic()
        for widget in (self.open_label, self.open_bar, self.open_cancel):
            widget.show()
        try:
            while not waiting.done():
                text = f"Opening {name} ({tables.size(job.size)}): {job.stage}… {time.monotonic() - started:.1f} s"
                if self.open_label.text() != text:
                    self.open_label.setText(text)
                await asyncio.wait({waiting}, timeout=0.1)
        finally:
            self.opening = None
            for widget in (self.open_label, self.open_bar, self.open_cancel):
                widget.hide()
        try:
            rec = waiting.result()
        except opening.Cancelled:
            self.statusBar().showMessage(f"Opening {job.path} cancelled")
            return False
        except RecordError as exc:
            self._error("Cannot open the run record", str(exc))
            return False
        self._add_record(job.path, rec)
        return True

    def cancel_opening(self) -> None:
        """Stop opening the big record being opened, and those waiting their turn."""
        for job in list(self._openings):
            job.cancel()

    def _add_record(self, path: str, rec: Record) -> None:
        label = rec.get("label")
        title = (f"{os.path.basename(path)}{' · ' + label if label else ''} · {rec['config']['scenario']}"
                 f" · {tables.target_text(rec['config'], rec.get('target'))}")
        self._add_entry(SessionRun(title=f"{title} · {'done' if rec['completed'] else 'incomplete'}", rec=rec))
        self.statusBar().showMessage(f"Opened {path}")

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a run record", "", "Run record (*.json);;All files (*)")
        if path:
            self.open_record(path)

    def export_to(self, path: str, kind: str | None = None) -> bool:
        """Export the selected run to `path` (the kind from its suffix unless given); False with a dialog if not.

        A big record's JSON or CSV (exporting.in_thread) is written in a worker thread while the window goes on:
        this returns True at once, and the status bar (or the error dialog) follows; `export_file` is the same,
        awaited."""
        prepared = self._export_of(path, kind)
        if prepared is None:
            return False
        rec, kind = prepared
        if exporting.in_thread(rec, kind):
            task = asyncio.ensure_future(self._export_in_thread(rec, path, kind))
            self._open_tasks.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._open_tasks.discard)
            return True
        return self._export_now(rec, path, kind)

    async def export_file(self, path: str, kind: str | None = None) -> bool:
        """Export as export_to does, and return once the file is written (True) or refused (False)."""
        prepared = self._export_of(path, kind)
        if prepared is None:
            return False
        rec, kind = prepared
        return (await self._export_in_thread(rec, path, kind)) if exporting.in_thread(rec, kind) \
            else self._export_now(rec, path, kind)

    def _export_of(self, path: str, kind: str | None) -> tuple[Record, str] | None:
        """The selected run's record and the export's kind, or None after saying why there is nothing to export."""
        entry = self.current_entry()
        if entry is None or entry.live:
            self._error("Nothing to export", "Select a finished run first (runs export once they end).")
            return None
        try:
            return entry.record(), kind or exporting.kind_of(path)
        except exporting.ExportError as exc:
            self._error("Cannot export", str(exc))
            return None

    def _export_now(self, rec: Record, path: str, kind: str) -> bool:
        try:
            exporting.export(rec, self.plot, path, kind)
        except (exporting.ExportError, RecordError, OSError) as exc:
            return self._export_failed(path, exc)
        self.statusBar().showMessage(f"Exported {path}")
        return True

    async def _export_in_thread(self, rec: Record, path: str, kind: str) -> bool:
        samples = len(rec["samples"]["t_s"])
        self.statusBar().showMessage(f"Exporting {os.path.basename(path)} ({samples:,} samples)…")
        try:
            await asyncio.get_running_loop().run_in_executor(None, exporting.export, rec, None, path, kind)
        except (exporting.ExportError, RecordError, OSError) as exc:
            return self._export_failed(path, exc)
        self.statusBar().showMessage(f"Exported {path}")
        return True

    def _export_failed(self, path: str, exc: Exception) -> bool:
        text = f"{path}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
        self._error("Cannot export", text)
        return False

    def export_dialog(self, kind: str | None = None) -> None:
        entry = self.current_entry()
        if entry is None or entry.live:
            self._error("Nothing to export", "Select a finished run first (runs export once they end).")
            return
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        default = f"netmem-{entry.record()['config']['scenario']}-{stamp}{kind or '.json'}"
        chosen = exporting.KINDS[kind] if kind else exporting.KINDS[".json"]
        path, used = QFileDialog.getSaveFileName(self, "Export the run", default, exporting.FILTERS, chosen)
        if not path:
            return
        try:
            final_kind = exporting.kind_of(path, used)
        except exporting.ExportError as exc:
            self._error("Cannot export", str(exc))
            return
        self.export_to(exporting.with_suffix(path, final_kind), final_kind)
