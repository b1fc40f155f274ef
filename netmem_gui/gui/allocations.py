"""The allocation sites table: what tracemalloc saw grow most, per scenario (`--trace-allocations`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from ..core.records.record import Record

COLUMNS = (
    ("Scenario", "The scenario whose steady-state checkpoints were compared."),
    ("Site", "Where the memory was allocated (file:line, as tracemalloc saw it)."),
    ("Growth", "Live bytes allocated at this site that were added between the first and the last "
               "steady-state checkpoint (garbage collected first)."),
    ("Blocks added", "Live allocations (memory blocks) added at this site over the same span."),
    ("Live at end", "Bytes live at this site at the last checkpoint."),
    ("Blocks at end", "Live allocations at this site at the last checkpoint."),
)


def _kib(value: int) -> str:
    return f"{value / 1024:+,.1f} KB" if value else "0"


class _Number(QTableWidgetItem):
    """A right-aligned cell shown as text but sorted by its number."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(Qt.ItemDataRole.UserRole)) < float(other.data(Qt.ItemDataRole.UserRole))


def sites_of(rec: Record) -> list[tuple[str, dict[str, Any]]]:
    """Every (scenario, site) of a record, the largest growth first."""
    rows = [(name, site) for name, alloc in (rec.get("allocations") or {}).items() for site in alloc["sites"]]
    return sorted(rows, key=lambda row: -row[1]["size_diff_bytes"])


class AllocationTable(QTableWidget):
    """One row per allocation site, sorted by growth (click a header to sort by another column)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels([name for name, _ in COLUMNS])
        for i, (_, tip) in enumerate(COLUMNS):
            self.horizontalHeaderItem(i).setToolTip(tip)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        # One line a site; long paths lose their start, so the file name and line stay readable.
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideLeft)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)

    def show_record(self, rec: Record | None) -> int:
        """Fill the table from a record's allocations; the number of rows."""
        self.setSortingEnabled(False)  # rows are filled unsorted, then sorted once
        rows = sites_of(rec) if rec is not None else []
        self.setRowCount(len(rows))
        for r, (scenario, site) in enumerate(rows):
            where = QTableWidgetItem(f"{site['file']}:{site['line']}")
            where.setToolTip(f"{site['file']}:{site['line']}")
            cells = [QTableWidgetItem(scenario), where,
                     _Number(_kib(site["size_diff_bytes"]), site["size_diff_bytes"]),
                     _Number(f"{site['count_diff']:+,}", site["count_diff"]),
                     _Number(f"{site['size_bytes'] / 1024:,.1f} KB", site["size_bytes"]),
                     _Number(f"{site['count']:,}", site["count"])]
            for c, cell in enumerate(cells):
                self.setItem(r, c, cell)
        self.setSortingEnabled(True)
        self.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        return len(rows)
