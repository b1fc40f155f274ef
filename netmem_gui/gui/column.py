"""The window's left column (the settings, scrolling up and down only) and the names of its runs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QStyle, QWidget

from ..core.reports import tables


def run_title(number: int | None, label: str | None, config: dict[str, Any], target: dict[str, Any] | None = None
              ) -> str:
    """A run's name in the run list, the compare view and its legend: '#3 stability · redis-server attached ·
    isolated' (what was measured, not only how)."""
    return (f"#{number} {label + ' · ' if label else ''}{config['scenario']} · {tables.target_text(config, target)}"
            f" · {config['host']}")


class LeftColumn(QScrollArea):
    """The settings column: scrolls up and down on a short screen, never sideways.

    It is always as wide as its content's minimum plus a vertical scroll bar, so nothing in it is cut on the right,
    and its horizontal position stays at 0: a scroll area scrolls to show the widget that gets the focus, and when
    Start disabled itself under the mouse that moved the whole column left for good (issue 26)."""

    def __init__(self, content: QWidget) -> None:
        super().__init__()
        self.setWidget(content)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.horizontalScrollBar().valueChanged.connect(lambda v: v and self.horizontalScrollBar().setValue(0))
        content.installEventFilter(self)

    def needed_width(self) -> int:
        """The content's minimum width, with room for the vertical scroll bar whether it is shown or not."""
        content = self.widget()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return content.minimumSizeHint().width() + bar + 2 * self.frameWidth() + 2

    def minimumSizeHint(self) -> QSize:
        return QSize(self.needed_width(), 120)

    def sizeHint(self) -> QSize:
        return QSize(self.needed_width(), super().sizeHint().height())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            # The content's minimum changed (Advanced opened, another target chosen): so does the column's.
            if self.width() < self.needed_width():
                self.setMinimumWidth(self.needed_width())
            self.updateGeometry()
        return super().eventFilter(watched, event)
