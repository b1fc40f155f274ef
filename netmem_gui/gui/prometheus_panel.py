"""The Target section's Test button for Prometheus: reads the queries once, off the window's thread, and says the
value and how many series were summed (or the one line that would stop a run)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from ..core.errors import NetmemError
from ..core.measuring.prometheus import check_source
from ..core.reports.remote import source_text


class PrometheusTest(QObject):
    """The Test button and its answer; `answered` carries the answer from the asking thread to the window's."""

    answered = Signal(str)

    def __init__(self, url: QLineEdit, memory_query: QLineEdit, connections_query: QLineEdit,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields = (url, memory_query, connections_query)
        self.button = QPushButton("T&est")
        self.button.setToolTip("Read the memory query (and the connections query) from Prometheus once: the value"
                               " now and how many series are summed.")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.hide()  # no empty line under the button until there is an answer
        self.row = QWidget()  # the button, and its answer under it across the row
        rows = QVBoxLayout(self.row)
        rows.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(self.button)
        line.addStretch(1)
        rows.addLayout(line)
        rows.addWidget(self.result)
        self.button.clicked.connect(self.test)
        self.answered.connect(self._show)

    def test(self) -> None:
        url, memory, connections = (f.text().strip() for f in self._fields)
        if not url or not memory:
            self._show("Give Prometheus's URL and the memory query first.")
            return
        self.button.setEnabled(False)  # one question at a time: each is bounded by the API's timeouts
        self.result.setText("Asking Prometheus…")
        self.result.show()
        threading.Thread(target=self._ask, args=(url, memory, connections or None), name="netmem-prometheus-test",
                         daemon=True).start()

    def _ask(self, url: str, memory: str, connections: str | None) -> None:
        try:
            source = check_source(url, memory, connections)
        except NetmemError as exc:
            answer = f"Not usable: {exc}"
        except Exception as exc:  # a thread of its own: whatever went wrong, the button must come back
            answer = f"Not usable: {type(exc).__name__}: {exc}"
        else:
            conns = source.connections
            answer = "Now: " + source_text(source.memory.total, source.memory.series, conns.total if conns else None,
                                           conns.series if conns else None, source.scrape_interval_s)
        try:
            self.answered.emit(answer)
        except RuntimeError:  # the form was closed while Prometheus was being asked: nobody to tell
            pass

    def _show(self, text: str) -> None:
        self.button.setEnabled(True)
        self.result.setText(text)
        self.result.show()
