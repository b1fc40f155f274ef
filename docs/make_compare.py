"""Draw docs/compare.png: the compare view of every run in the run library (make two runs first, see below).

    export NETMEM_DATA_DIR=$(mktemp -d)
    netmem run stability --duration 8 --label clean
    netmem run stability --duration 8 --inject-leak 8192 --label "leaks 8 KiB per connection"
    QT_QPA_PLATFORM=offscreen python docs/make_compare.py docs/compare.png
"""

from __future__ import annotations

import asyncio
import sys

from PySide6.QtWidgets import QApplication

from netmem_gui.core.runs import library
from netmem_gui.gui.loop import make_loop
from netmem_gui.gui.window import MainWindow


def main(path: str) -> int:
    app = QApplication([])
    loop = make_loop(app)
    window = MainWindow(None, persist=False)
    view = window.show_compare([e.id for e in library.list_runs() if not e.damaged])
    view.resize(1280, 800)
    loop.run_until_complete(asyncio.sleep(0.5))  # let the plot and the table settle before the picture
    return 0 if view.grab().save(path) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
