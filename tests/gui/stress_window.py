"""What the stress scripts share: the app's loop and a window, a coroutine run in them, its counts printed."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtWidgets import QApplication

from netmem_gui.gui.loop import close_loop, make_loop
from netmem_gui.gui.settings import make_settings
from netmem_gui.gui.window import MainWindow


def run_in_window(stress: Callable[[MainWindow], Coroutine[Any, Any, dict]]) -> dict:
    """Run stress(window) on the app's own loop in a fresh window; print its counts as one JSON line."""
    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = make_loop(app)
    window = MainWindow(make_settings(), persist=False)
    window.show()
    try:
        counts = loop.run_until_complete(stress(window))
    finally:
        window.close()
        close_loop(loop)
    print(json.dumps(counts))
    return counts
