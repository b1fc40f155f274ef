"""The Allocation sites tab: tracemalloc's table, or a native tool's sites (heaptrack, LeakSanitizer) and stacks."""

from __future__ import annotations

import html
import os
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.records.record import Record
from ..core.reports import sites as core_sites
from ..core.reports.tables import size

COLUMNS = (
    ("Scenario", "The scenario whose steady-state checkpoints were compared."),
    ("Site", "Where the memory was allocated (file:line, as tracemalloc saw it)."),
    ("Growth", "Live bytes allocated at this site that were added between the first and the last "
               "steady-state checkpoint (garbage collected first)."),
    ("Blocks added", "Live allocations (memory blocks) added at this site over the same span."),
    ("Live at end", "Bytes live at this site at the last checkpoint."),
    ("Blocks at end", "Live allocations at this site at the last checkpoint."),
)

NATIVE_COLUMNS = (
    ("Site", "The first frame of the stack worth naming (allocator, runtime and event-library frames skipped); "
             "expand a site for its whole stack, innermost frame first."),
    ("File:line", "Where in the source, when the binary has debug info; else the module."),
    ("Bytes per cycle", "Bytes still allocated at the server's exit from this site, divided by the run's cycles."),
    ("Calls per cycle", "Allocation calls still allocated at exit, divided by the cycles."),
    ("Grows", "Yes when at least half a call per cycle is still allocated: it grows with the cycles."),
    ("Left at exit", "Bytes still allocated from this site when the server exited."),
    ("Calls at exit", "Allocation calls still allocated when the server exited."),
    ("Kind", "LeakSanitizer's kind of leak: direct (nothing points to it) or indirect (reachable from a leak)."),
)
BYTES_PER_CYCLE = 2  # the native tree's column it is sorted by

TIP = ("With Advanced → Trace allocations (or an AddressSanitizer build): the allocation sites that tracemalloc saw "
       "grow, or what heaptrack or LeakSanitizer found still allocated at the server's exit, per cycle")


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


def is_native(rec: Record | None) -> bool:
    """True when a native tool (heaptrack, LeakSanitizer) named the record's sites."""
    blocks = (rec or {}).get("allocations") or {}
    return any((b.get("tool") or "tracemalloc") != "tracemalloc" for b in blocks.values())


class AllocationTable(QTableWidget):
    """tracemalloc's sites: one row per site, sorted by growth (click a header to sort by another column)."""

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


class _Site(QTreeWidgetItem):
    """A native site's row: sorted by the numbers it was made from, not by their text; its frames stay in order."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        mine, theirs = self.data(column, Qt.ItemDataRole.UserRole), other.data(column, Qt.ItemDataRole.UserRole)
        if mine is None or theirs is None:
            return self.text(column) < other.text(column)
        return mine < theirs


def _place(frame: dict[str, Any]) -> str:
    """file:line where known, else the module's file name, else nothing."""
    if frame.get("file"):
        return f"{os.path.basename(frame['file'])}:{frame['line']}" if frame.get("line") is not None \
            else os.path.basename(frame["file"])
    return os.path.basename(frame.get("module") or "")


class NativeSites(QWidget):
    """A native tool's sites: a line per block (the tool, the scope, the leak beside RSS growth, why incomplete),
    then a tree: one row per site, the most bytes per cycle first, its stack as children."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.head = QLabel()
        self.head.setWordWrap(True)
        self.head.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(NATIVE_COLUMNS))
        self.tree.setHeaderLabels([name for name, _ in NATIVE_COLUMNS])
        for i, (_, tip) in enumerate(NATIVE_COLUMNS):
            self.tree.headerItem().setToolTip(i, tip)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.head)
        column.addWidget(self.tree, 1)

    def show_record(self, rec: Record | None) -> int:
        """Fill the tree from a record's allocations; the number of sites."""
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        heads = []
        count = 0
        for scenario, block in ((rec or {}).get("allocations") or {}).items():
            heads.append(self._head(scenario, block))
            for site in block["sites"]:
                self.tree.addTopLevelItem(self._site(site))
                count += 1
        self.head.setText("<br>".join(heads))
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(BYTES_PER_CYCLE, Qt.SortOrder.DescendingOrder)
        # LeakSanitizer's kind only where a tool said one.
        self.tree.setColumnHidden(len(NATIVE_COLUMNS) - 1, not any(
            self.tree.topLevelItem(i).text(len(NATIVE_COLUMNS) - 1) for i in range(count)))
        self._fit_names()
        return count

    def _fit_names(self) -> None:
        """The first column as wide as its longest name, frames included (indented, and not laid out while
        collapsed), up to half the view: C++ names are long, and the figures must stay in sight."""
        metrics = self.tree.fontMetrics()
        widest = metrics.horizontalAdvance(NATIVE_COLUMNS[0][0]) + 24
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            widest = max(widest, metrics.horizontalAdvance(item.text(0)) * 11 // 10 + self.tree.indentation() + 16)
            for j in range(item.childCount()):
                text = item.child(j).text(0)
                widest = max(widest, metrics.horizontalAdvance(text) * 11 // 10 + 2 * self.tree.indentation() + 16)
        self.tree.setColumnWidth(0, min(widest, max(320, self.tree.viewport().width() // 2)))

    @staticmethod
    def _head(scenario: str, block: dict[str, Any]) -> str:
        tool = core_sites.TOOL_WORDS.get(block.get("tool") or "tracemalloc", block.get("tool"))
        cycles = block.get("cycles")
        scope = (f"per cycle over {cycles:,} cycles" if cycles and block.get("growing_bytes_per_cycle") is not None
                 else "no cycles to divide by")
        text = (f"<b>{html.escape(str(tool))}</b> · {html.escape(scenario)} · still allocated at the server's exit, "
                f"the whole run; {scope}")
        sentence = core_sites.leak_sentence(block)
        if sentence:
            text += f"<br>{html.escape(sentence)}"
        if not block.get("complete", True) or block.get("reason"):
            why = block.get("reason") or "incomplete"
            text += f"<br><span style='color:#b00'>incomplete: {html.escape(why)}</span>"
        return text

    @staticmethod
    def _site(site: dict[str, Any]) -> _Site:
        per_cycle = site.get("bytes_per_cycle")
        calls = site.get("calls_per_cycle")
        place = _place(site)
        cells = [site.get("function") or place or "an unknown frame", place if site.get("function") else "",
                 f"{size(per_cycle)}" if per_cycle is not None else "–",
                 f"{calls:.2f}" if calls is not None else "–",
                 "yes" if site.get("grows") else "", size(site["size_bytes"]), f"{site['count']:,}",
                 site.get("kind") or ""]
        item = _Site(cells)
        # Sort keys: a site without cycles sorts below every per-cycle figure.
        for column, key in ((BYTES_PER_CYCLE, -1.0 if per_cycle is None else float(per_cycle)),
                            (3, -1.0 if calls is None else float(calls)), (4, 1.0 if site.get("grows") else 0.0),
                            (5, float(site["size_bytes"])), (6, float(site["count"]))):
            item.setData(column, Qt.ItemDataRole.UserRole, key)
        for column in range(2, 7):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        item.setToolTip(0, core_sites.where(site))
        if site.get("grows"):
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
        named = core_sites.named_frame(site.get("stack") or [])
        for depth, frame in enumerate(site.get("stack") or []):
            child = QTreeWidgetItem([f"#{depth} {frame.get('function') or '??'}", _place(frame)])
            child.setToolTip(0, (frame.get("function") or "??") + (
                "\n(the frame this site is named after)" if frame is named else ""))
            if frame is named:
                font = child.font(0)
                font.setBold(True)
                child.setFont(0, font)
            child.setToolTip(1, " ".join(str(p) for p in (
                frame.get("file") and f"{frame['file']}:{frame.get('line')}", frame.get("module")) if p))
            item.addChild(child)
        return item


class AllocationSites(QStackedWidget):
    """The tab: tracemalloc's table, or the native sites when a native tool named them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = AllocationTable()
        self.native = NativeSites()
        self.addWidget(self.table)
        self.addWidget(self.native)
        self.setToolTip(TIP)

    def show_record(self, rec: Record | None) -> int:
        """Show a record's sites (tracemalloc's table, or the native tree); the number of sites."""
        native = is_native(rec)
        rows = self.native.show_record(rec if native else None)
        rows += self.table.show_record(None if native else rec)
        self.setCurrentWidget(self.native if native else self.table)
        return rows

    def tab_tip(self, rec: Record | None) -> str:
        """The tab's tooltip for this record."""
        blocks = (rec or {}).get("allocations") or {}
        if not blocks:
            return "Runs with Advanced → Trace allocations list their allocation sites here"
        tools = sorted({core_sites.TOOL_WORDS.get(b.get("tool") or "tracemalloc", "?") for b in blocks.values()})
        if is_native(rec):
            return f"What {', '.join(tools)} found still allocated at the server's exit, per cycle, with stacks"
        return "The allocation sites that grew most (tracemalloc)"

    # The table's names, as when the tab was tracemalloc's table alone.
    def rowCount(self) -> int:
        """The sites shown: the table's rows, or the native tree's sites."""
        if self.currentWidget() is self.native:
            return self.native.tree.topLevelItemCount()
        return self.table.rowCount()

    def item(self, row: int, column: int) -> QTableWidgetItem | None:
        """A cell of tracemalloc's table."""
        return self.table.item(row, column)
