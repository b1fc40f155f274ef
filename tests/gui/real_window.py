"""Drive the real app in a real X window with the mouse (xdotool), as a user found issue 26; print what it saw as JSON.

Run by tests/gui/test_real_window.py in a child process, on an Xvfb display with a window manager (DISPLAY set).
Every click is a real X pointer event sent by xdotool to where the widget is on the screen; the state checked
after each is read from the window's widgets. `python real_window.py OUT.json [SHOTS_DIR]`; with SHOTS_DIR it also
saves the whole screen at each step, as a user would see it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QProgressBar,
    QWidget,
)

from netmem_gui.core.config import RunConfig
from netmem_gui.core.reports.tables import MIB
from netmem_gui.gui.loop import close_loop, make_loop
from netmem_gui.gui.settings import make_settings
from netmem_gui.gui.window import MainWindow

SHOTS: Path | None = None


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not reached in {timeout:g} s")
        await asyncio.sleep(0.03)


async def xdotool(*args: str) -> None:
    """Run xdotool while the Qt loop goes on (the app must answer the X events it sends)."""
    proc = subprocess.Popen(["xdotool", *args])
    await until(lambda: proc.poll() is not None, 10, f"xdotool {' '.join(args)}")
    assert proc.returncode == 0, f"xdotool {args} exited {proc.returncode}"
    await asyncio.sleep(0.25)  # the events reach the app and are handled


async def click(widget: QWidget, at: QPoint | None = None, modifier: str | None = None) -> None:
    """A real left click at the middle of `widget` (or at `at`, in its coordinates), as the screen has it."""
    point = widget.mapToGlobal(at if at is not None else widget.rect().center())
    keys = (["keydown", modifier] if modifier else [])
    await xdotool(*keys, "mousemove", str(point.x()), str(point.y()), "click", "1",
                  *(["keyup", modifier] if modifier else []))


async def shot(name: str) -> None:
    if SHOTS is not None:
        await asyncio.sleep(0.3)
        proc = subprocess.Popen(["import", "-window", "root", str(SHOTS / f"{name}.png")])
        await until(lambda: proc.poll() is not None, 20, "import")


def clipped_in_left_column(window: MainWindow) -> list[str]:
    """The visible controls of the left column whose right edge is beyond what its viewport shows."""
    column = window.left_column
    viewport = column.viewport()
    out = []
    for w in column.widget().findChildren(QWidget):
        control = isinstance(w, (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QProgressBar))
        if not control or not w.isVisibleTo(column):
            continue
        left = w.mapTo(viewport, QPoint(0, 0)).x()
        if left < 0 or left + w.width() > viewport.width():
            text = w.text() if hasattr(w, "text") and isinstance(w.text(), str) else ""
            out.append(f"{type(w).__name__} {text!r}: x {left}..{left + w.width()} of {viewport.width()}")
    return out


def left_state(window: MainWindow) -> dict[str, Any]:
    column = window.left_column
    return {"h_scroll": column.horizontalScrollBar().value(), "content_width": column.widget().width(),
            "viewport_width": column.viewport().width(), "clipped": clipped_in_left_column(window)}


async def run_by_click(window: MainWindow, config: RunConfig, name: str) -> dict[str, Any]:
    """Start a run with a mouse click on Start; the left column's state while it runs and after."""
    window.form.set_config(config)
    count = len(window.entries)
    await click(window.start_button)
    await until(lambda: len(window.entries) > count, 10, "a run started by the click")
    during = left_state(window)
    await shot(f"{name}-running")
    await window.wait_idle()
    await asyncio.sleep(0.3)
    after = left_state(window)
    await shot(f"{name}-done")
    return {"during": during, "after": after}


async def drive(window: MainWindow) -> dict[str, Any]:
    result: dict[str, Any] = {}
    await until(lambda: window.windowHandle() is not None and window.windowHandle().isExposed(), 15, "window shown")
    await asyncio.sleep(0.5)  # the window manager's placement and the first paint
    geometry = window.frameGeometry()
    screen = window.screen().geometry()
    result["window"] = [geometry.x(), geometry.y(), geometry.width(), geometry.height()]
    result["screen"] = [screen.width(), screen.height()]
    result["at_start"] = left_state(window)
    await shot("start")
    # Two runs whose baselines differ: the echo server's own process, then the whole app (in-app host).
    result["run1"] = await run_by_click(window, RunConfig(scenario="connections", connections=50), "run1")
    result["run2"] = await run_by_click(window, RunConfig(scenario="connections", connections=50, host="inapp"),
                                        "run2")
    baselines = [e.record()["summary"]["baseline_rss_bytes"] for e in window.entries]
    result["baselines"] = [f"baseline {b / MIB:.2f} MB" for b in baselines]
    result["label_run2"] = window.plot.baseline.label.toPlainText()
    # Select run #1 with the mouse: its own baseline must be labelled, not run #2's.
    run_list = window.run_list
    column = window.left_column
    bar = column.verticalScrollBar()
    if bar.maximum() > 0:  # on a short screen the run list is below the fold: the wheel brings it up
        point = column.mapToGlobal(column.rect().center())
        await xdotool("mousemove", str(point.x()), str(point.y()), "click", "--repeat", "15", "--delay", "20", "5")
        await until(lambda: bar.value() == bar.maximum(), 5, "the left column scrolled down by the wheel")
    await click(run_list.viewport(), run_list.visualItemRect(run_list.item(0)).center())
    result["selected_row"] = run_list.currentRow()
    result["label_run1"] = window.plot.baseline.label.toPlainText()
    # Each plot's title fits over its data area (cut short with … rather than running off the window).
    result["titles"] = []
    for plot in (window.plot, window.lag_plot):
        label = plot.getPlotItem().titleLabel
        right = label.mapToScene(label.item.boundingRect().topRight()).x()
        result["titles"].append([plot.shown_title, right, plot.width()])
    result["baseline_line_mb"] = window.plot.baseline.value()
    await shot("run1-selected")

    # The library: select both runs with the mouse (click, ctrl+click), then press Compare…
    dialog = window.show_library()
    await until(lambda: dialog.windowHandle() is not None and dialog.windowHandle().isExposed(), 10, "library")
    await asyncio.sleep(0.4)
    table = dialog.table
    await click(table.viewport(), table.visualRect(table.model().index(0, 1)).center())
    await click(table.viewport(), table.visualRect(table.model().index(1, 1)).center(), modifier="ctrl")
    result["library_selected"] = [e.id for e in dialog.selected()]
    await shot("library")
    await click(dialog.compare_button)
    view = window.compare_view
    await until(lambda: view is not None and view.isVisible(), 10, "the compare view")
    view = window.compare_view
    assert view is not None
    await until(lambda: view.windowHandle() is not None and view.windowHandle().isExposed(), 10, "compare shown")
    result["compare_ticked"] = view.chosen()
    result["compare_table_rows"] = view.table.rowCount()
    frame = view.frameGeometry()
    result["compare_window"] = [frame.x(), frame.y(), frame.width(), frame.height()]
    await shot("compare")
    await xdotool("key", "Escape")
    result["compare_closed_by_esc"] = not view.isVisible()
    return result


def main() -> int:
    global SHOTS
    out = Path(sys.argv[1])
    SHOTS = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
    assert os.environ.get("DISPLAY"), "needs an X display"
    app = QApplication([sys.argv[0], "-platform", "xcb"])
    app.setQuitOnLastWindowClosed(False)
    loop = make_loop(app)
    window = MainWindow(make_settings(), persist=False)
    window.show()
    try:
        result = loop.run_until_complete(asyncio.wait_for(drive(window), 90))
    finally:
        if window.active is not None:
            window.stop_run()
            loop.run_until_complete(window.wait_idle())
        window.close()
        close_loop(loop)
    out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
