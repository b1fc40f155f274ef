"""The Pick… dialog: this machine's listening TCP sockets and their processes, to attach to one in two clicks."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.targets.processes import Listener, listening_sockets

COLUMNS = ("Port", "Address", "PID", "Process", "Command line")


def merged(listeners: list[Listener]) -> list[Listener]:
    """One listener per port and process, the IPv4 one first when a server listens on IPv4 and IPv6 alike."""
    out: dict[tuple[int, int | None], Listener] = {}
    for item in listeners:
        key = (item.port, item.pid)
        if key not in out or (":" in out[key].host and ":" not in item.host):
            out[key] = item
    return sorted(out.values(), key=lambda x: (x.port, x.pid or 0))


def listening_address(pid: int) -> Listener | None:
    """The one address a process listens on (IPv4 first), or None if it listens on none or on several ports."""
    mine = merged([x for x in listening_sockets() if x.pid == pid])
    return mine[0] if len(mine) == 1 else None


class PickDialog(QDialog):
    """Lists every listening TCP socket with its process; a double click (or OK) picks one into `chosen`.

    Sockets whose process this user may not see are listed greyed out: netmem could not measure them.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pick a running server")
        self.resize(820, 420)
        self.chosen: Listener | None = None
        self._listeners: list[Listener] = []
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("filter by port, PID, name or command line")
        self.filter.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("&Refresh")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.status = QLabel()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.filter.textChanged.connect(self._show)
        self.refresh_button.clicked.connect(self.refresh)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda row, _: self._choose(row))
        self.buttons.accepted.connect(lambda: self._choose(self.table.currentRow()))
        self.buttons.rejected.connect(self.reject)
        self.refresh()

    def refresh(self) -> None:
        """Read the machine's listening sockets again."""
        self._listeners = listening_sockets()
        self._hosts: dict[tuple[int, int | None], list[str]] = {}
        for item in self._listeners:
            hosts = self._hosts.setdefault((item.port, item.pid), [])
            if item.host not in hosts:
                hosts.append(item.host)
        self._show()

    def shown(self) -> list[Listener]:
        """The listeners the filter lets through, in table order: one per port and process (a server listening on
        both 0.0.0.0 and :: is one row; the one kept is the IPv4 socket, so clients connect to 127.0.0.1)."""
        words = self.filter.text().lower().split()
        return [item for item in merged(self._listeners)
                if all(w in f"{item.port} {' '.join(self._hosts[item.port, item.pid])} {item.pid} {item.name} "
                            f"{item.cmdline}".lower() for w in words)]

    def _show(self) -> None:
        rows = self.shown()
        self.table.setRowCount(len(rows))
        for r, item in enumerate(rows):
            hosts = ", ".join(self._hosts[item.port, item.pid])
            if item.pid is None:
                cells = (str(item.port), hosts, "–", "another user's process", "netmem can't measure it")
            else:
                cells = (str(item.port), hosts, str(item.pid), item.name, item.cmdline)
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if c in (0, 2):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if item.pid is None:
                    cell.setFlags(Qt.ItemFlag.NoItemFlags)  # not this user's: netmem can't measure it
                self.table.setItem(r, c, cell)
        hidden = len(self._listeners) - len(rows)
        self.status.setText(f"{len(rows)} listening socket(s)" + (f", {hidden} hidden by the filter" if hidden else "")
                            + ". Double-click one to measure it.")
        self._selection_changed()

    def _selection_changed(self) -> None:
        row = self.table.currentRow()
        rows = self.shown()
        ok = 0 <= row < len(rows) and rows[row].pid is not None and bool(self.table.selectedItems())
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def _choose(self, row: int) -> None:
        rows = self.shown()
        if 0 <= row < len(rows) and rows[row].pid is not None:
            self.chosen = rows[row]
            self.accept()
